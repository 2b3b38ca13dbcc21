"""Where the in-JIT optimizers pay off: scipy vs jaxopt/optax, one start and many.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/crossover.py [--starts 1 5 10 100]
        [--skip-rh] [--rh-timeout 1800] [--vmap-physical-max 5] [--vmap-max N] [--markdown FILE]

``--markdown FILE`` also writes every row as one Markdown table (the README's).

1. CH₃F from one start (QFUERZA-estimated MM3 force field, bond and angle parameters,
   the default eigenmatrix + geometry objective): scipy:lbfgsb with OpenMM and
   finite-difference gradients, scipy:lbfgsb with the JAX engine's analytical
   gradient, and the in-JIT optimizers. Every row builds a fresh objective, so its
   wall time includes its own compilation (from JAX's persistent cache when warm).
2. CH₃F multi-start, n starts from the same seeded Sobol design, the scipy:lbfgsb loop
   (the core's ``multistart``) as the baseline: jax:multistart (optax:lbfgs) as a loop
   of one compiled program and as one vmapped program. Two boxes: the parameters'
   physical bounds (what ``q2mm run`` uses; most of that box is far from any sensible
   force field) and ±20 % around the start (``fractional_bounds = 0.2``). vmap inside
   the physical box is run only up to ``--vmap-physical-max`` starts: one start whose
   relaxations fail makes every member of its batch run the relaxation's full Newton
   loop at every evaluation (measured: 48 s per start for 16 starts). ``--vmap-max``
   skips vmap rows beyond n starts in both boxes (100 vmapped starts of the MM3 fit with
   stretch-bends ran over 16 minutes in the ±20 % box without finishing). This section is
   the measurement behind ``jax:multistart``'s ``mode="auto"`` running the loop on a
   CPU (``q2mm_opt_jaxopt.multistart``): loop and vmap rows, each with its ratio to
   the scipy loop of the same run.
3. The nine Rh-enamide transition states (examples/rh-enamide/q2mm.toml: OPT section,
   eigenmatrix + geometry, method C) from one start, scipy + JAX against optax:lbfgs,
   in a subprocess bounded by ``--rh-timeout`` (its compilation is the question).

Times are wall-clock seconds on whatever this machine is doing; compile seconds are
what the objective and optimizers measured (the objective's counters and the optimizer's result).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
EXAMPLES = ROOT / "examples"
SINGLE = ["jaxopt:lbfgs", "jaxopt:lbfgsb", "optax:lbfgs", "jaxopt:gradient-descent", "optax:adam"]


def ch3f_parts():
    from q2mm.estimate import estimate_forcefield
    from q2mm.io.numpy_bundle import read_bundle
    from q2mm.model import FunctionalForm, StationaryPoint
    from q2mm.parameters import ParameterSpace
    from q2mm.topology import build_system

    d = DATA / "ch3f"
    molecule = read_bundle(
        d / "ch3f-optimized.xyz", hessian=d / "ch3f-hessian.npy", frequencies=d / "ch3f-frequencies.txt"
    ).with_(stationary_point=StationaryPoint.GROUND_STATE, name="ch3f")
    forcefield = estimate_forcefield([molecule], method="qfuerza", form=FunctionalForm.MM3)
    space = ParameterSpace.from_forcefield(forcefield, kinds=("bond", "angle"))
    narrow = ParameterSpace.from_forcefield(forcefield, kinds=("bond", "angle"), fractional_bounds=0.2)
    return [molecule], [build_system(molecule, forcefield)], space, list(narrow.bounds)


def rh_parts():
    from q2mm.config import load_config
    from q2mm.io import read_forcefield, read_structures
    from q2mm.io.macromodel import read_mmo
    from q2mm.model import StationaryPoint
    from q2mm.parameters import ParameterSpace
    from q2mm.topology import build_system

    cfg = load_config(EXAMPLES / "rh-enamide" / "q2mm.toml")
    forcefield = read_forcefield(cfg.forcefield.file)
    listing = read_mmo(cfg.structures[0].mmo)
    molecules, systems = [], []
    for spec in cfg.structures:
        molecule = read_structures(spec.file)[spec.index]
        donor = read_structures(spec.hessian)[0]
        molecule = molecule.with_(
            hessian=donor.hessian, stationary_point=StationaryPoint(spec.kind), name=spec.file.stem
        )
        molecules.append(molecule)
        systems.append(build_system(molecule, forcefield, mmo=listing[spec.mmo_index]))
    space = ParameterSpace.from_forcefield(forcefield, sections=cfg.parameters.sections)
    return molecules, systems, space, cfg.ts_method


def objective_for(parts, engine_name: str, ts_method: str = "C"):
    from q2mm.objective import Objective
    from q2mm.plugins import registry

    molecules, systems, space = parts[:3]
    engine = registry().create("engine", engine_name)
    return Objective.build(molecules, systems, engine, space, ts_method=ts_method)


def frequency_rmsd(objective, x) -> float:
    try:
        value = objective.metrics(x)["frequency_rmsd_cm1"]
    except Exception as exc:  # noqa: BLE001 - a failed final relaxation: report, don't stop
        print(f"      (metrics failed: {type(exc).__name__}: {exc})")
        return math.nan
    return math.nan if value is None else float(value)


_PHASES = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "XLA compile or cache load",
    "/jax/compilation_cache/cache_retrieval_time_sec": "of which cache read",
}
_spent: dict[str, float] = {}
#: Every row measured, for ``--markdown``: (case, way, starts, wall s, compile s, score, status).
ROWS: list[tuple[str, str, int, float, float, float, str]] = []


def markdown(rows) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| case | way | starts | wall s | compile s | score | status |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    lines += [f"| {c} | {w} | {n} | {t:.2f} | {k:.2f} | {v:.6g} | {st} |" for c, w, n, t, k, v, st in rows]
    return "\n".join(lines) + "\n"


def _on_duration(event: str, seconds: float, **kwargs) -> None:
    phase = _PHASES.get(event)
    if phase is not None:
        _spent[phase] = _spent.get(phase, 0.0) + seconds


def compile_phases() -> str:
    """Where the compile time of the last row went (JAX's own monitoring events)."""
    return ", ".join(f"{k} {v:.1f} s" for k, v in _spent.items())


def single_row(
    label: str, parts, engine_name: str, optimizer_name: str, ts_method: str = "C", case: str = "CH₃F"
) -> dict:
    from q2mm.plugins import registry

    _spent.clear()
    started = time.perf_counter()
    objective = objective_for(parts, engine_name, ts_method)
    optimizer = registry().create("optimizer", optimizer_name)
    space = parts[2]
    result = optimizer.minimize(objective, space.x0, space.bounds)
    wall = time.perf_counter() - started
    row = {
        "label": label,
        "wall": wall,
        "compile": objective.counters.compile_seconds + result.compile_seconds,
        "iterations": result.iterations,
        "evaluations": result.evaluations,
        "score": result.score,
        "rmsd": frequency_rmsd(objective, result.x) if math.isfinite(result.score) else math.nan,
        "status": result.status,
    }
    ROWS.append((case, label, 1, wall, row["compile"], result.score, result.status))
    print(
        f"  {label:<34} {wall:8.2f} {row['compile']:8.2f} {wall - row['compile']:8.2f} "
        f"{result.iterations:6d} {result.evaluations:7d} {result.score:12.6g} {row['rmsd']:9.2f}  "
        f"{result.status}",
        flush=True,
    )
    print(f"      compile phases: {compile_phases()}", flush=True)
    if result.status != "converged":
        print(f"      {result.status}: {result.message}", flush=True)
    return row


def ratio_line(row: dict, base: dict) -> str:
    wall, score = row["wall"] / base["wall"], row["score"] / base["score"]
    return f"      ratio to scipy + JAX: wall {wall:.2f}, score {score:.4f}"


SINGLE_HEADER = (
    f"  {'engine + optimizer':<34} {'wall s':>8} {'compile':>8} {'rest':>8} {'iter':>6} {'evals':>7} "
    f"{'score':>12} {'RMSD cm⁻¹':>9}  status"
)


def ch3f_single() -> None:
    print("\n1. CH₃F, one start (QFUERZA, MM3, eigenmatrix + geometry)\n" + SINGLE_HEADER)
    parts = ch3f_parts()
    try:
        single_row("openmm + scipy:lbfgsb (finite diff.)", parts, "openmm", "scipy:lbfgsb")
    except Exception as exc:  # noqa: BLE001 - the row is optional: say why it is missing
        print(f"  openmm + scipy:lbfgsb skipped: {type(exc).__name__}: {exc}")
    base = single_row("jax + scipy:lbfgsb (analytical)", parts, "jax", "scipy:lbfgsb")
    for name in SINGLE:
        row = single_row(f"jax + {name}", parts, "jax", name)
        print(ratio_line(row, base))


def multistart_row(label, objective_factory, optimizer, x0, bounds, n, baseline=None, case="") -> dict:
    started = time.perf_counter()
    objective = objective_factory()
    result = optimizer.minimize(objective, x0, bounds)
    wall = time.perf_counter() - started
    compiled = (
        objective.counters.compile_seconds + result.compile_seconds
    )  # before the metrics compile their own function
    counts = {s: sum(r.result.status == s for r in result.starts) for s in ("converged", "stopped", "failed")}
    rmsd = frequency_rmsd(objective, result.x) if math.isfinite(result.score) else math.nan
    ratio = "" if baseline is None else f"  ×{baseline / wall:.2f} vs scipy"
    status = "{}/{}/{} conv/stop/fail".format(*counts.values())
    ROWS.append((f"CH₃F multi-start, {case}", label, n, wall, compiled, result.score, status))
    print(
        f"  {label:<22} {n:5d} {wall:9.2f} {wall / n:9.3f} {compiled:8.2f} "
        f"{result.score:12.6g} {rmsd:9.2f}  "
        f"{counts['converged']:4d}/{counts['stopped']:4d}/{counts['failed']:4d}{ratio}",
        flush=True,
    )
    return {"wall": wall, "score": result.score}


def ch3f_multistart(starts: list[int], vmap_physical_max: int, vmap_max: int | None) -> None:
    from q2mm.plugins import registry

    parts = ch3f_parts()
    space, narrow = parts[2], parts[3]
    x0 = np.array(space.x0)
    header = (
        f"  {'way':<22} {'n':>5} {'wall s':>9} {'s/start':>9} {'compile':>8} {'best score':>12} "
        f"{'RMSD cm⁻¹':>9}  conv/stop/fail"
    )
    for box_name, bounds in (("physical bounds", list(space.bounds)), ("±20 % box", narrow)):
        print(f"\n2. CH₃F multi-start, {box_name} (seed 0; baseline: scipy:lbfgsb loop)\n" + header)
        for n in starts:
            scipy_ms = registry().create("optimizer", "multistart", inner="scipy:lbfgsb", starts=n, seed=0)
            base = multistart_row(
                "scipy:lbfgsb loop",
                lambda: objective_for(parts, "jax"),
                scipy_ms,
                x0,
                bounds,
                n,
                case=box_name,
            )
            loop = registry().create("optimizer", "jax:multistart", starts=n, seed=0, mode="loop")
            multistart_row(
                "optax:lbfgs loop",
                lambda: objective_for(parts, "jax"),
                loop,
                x0,
                bounds,
                n,
                base["wall"],
                box_name,
            )
            if box_name == "physical bounds" and n > vmap_physical_max:
                print(
                    f"  {'optax:lbfgs vmap':<22} {n:5d}  skipped (> --vmap-physical-max {vmap_physical_max})"
                )
                continue
            if vmap_max is not None and n > vmap_max:
                print(f"  {'optax:lbfgs vmap':<22} {n:5d}  skipped (> --vmap-max {vmap_max})")
                continue
            vmapped = registry().create("optimizer", "jax:multistart", starts=n, seed=0, mode="vmap")
            multistart_row(
                "optax:lbfgs vmap",
                lambda: objective_for(parts, "jax"),
                vmapped,
                x0,
                bounds,
                n,
                base["wall"],
                box_name,
            )


def rh_single() -> None:
    parts = rh_parts()
    molecules, _, space, ts_method = parts
    atoms = [m.n_atoms for m in molecules]
    print(
        f"  {len(molecules)} structures ({min(atoms)}–{max(atoms)} atoms), {space.size} parameters\n"
        + SINGLE_HEADER
    )
    base = single_row(
        "jax + scipy:lbfgsb (analytical)", parts, "jax", "scipy:lbfgsb", ts_method, "Rh-enamide"
    )
    row = single_row("jax + optax:lbfgs", parts, "jax", "optax:lbfgs", ts_method, "Rh-enamide")
    print(ratio_line(row, base))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, nargs="+", default=[1, 5, 10, 100])
    parser.add_argument("--skip-rh", action="store_true")
    parser.add_argument("--rh-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rh-timeout", type=float, default=1800.0)
    parser.add_argument("--vmap-physical-max", type=int, default=5)
    parser.add_argument("--vmap-max", type=int, help="Skip vmap rows of more starts in either box.")
    parser.add_argument("--markdown", type=Path, help="Also write the rows as a Markdown table here.")
    args = parser.parse_args()
    from q2mm.jax_runtime import configure

    configure()  # float64, the compilation cache and XLA's flags, before JAX starts
    import jax
    from jax import monitoring

    monitoring.register_event_duration_secs_listener(_on_duration)
    if args.rh_only:
        rh_single()
        _write_markdown(args.markdown, "a")
        return
    print(f"JAX {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}")
    ch3f_single()
    ch3f_multistart(args.starts, args.vmap_physical_max, args.vmap_max)
    _write_markdown(args.markdown, "w")
    if args.skip_rh:
        return
    print(
        f"\n3. Rh-enamide, nine transition states, one start (subprocess, timeout {args.rh_timeout:.0f} s)",
        flush=True,
    )
    try:
        markdown_args = ["--markdown", str(args.markdown)] if args.markdown else []
        subprocess.run(
            [sys.executable, __file__, "--rh-only", *markdown_args], timeout=args.rh_timeout, check=True
        )
    except subprocess.TimeoutExpired:
        print(
            f"  not finished within {args.rh_timeout:.0f} s (see the rows printed above for how far it got)"
        )
    except subprocess.CalledProcessError as exc:
        print(f"  failed with exit code {exc.returncode}")


def _write_markdown(path: Path | None, mode: str) -> None:
    """The table (``"w"``), or the Rh subprocess's rows added below it (``"a"``)."""
    if path is None:
        return
    text = markdown(ROWS)
    with path.open(mode) as f:
        f.write(text if mode == "w" else "".join(line + "\n" for line in text.splitlines()[2:]))


if __name__ == "__main__":
    main()
