"""Objective + gradient cost of the two bundled fits (issue target for Rh-enamide:
under 50 ms per objective + gradient after compile, compile under 20 s).

For CH₃F and the nine Rh-enamide transition states (all active OPT parameters,
eigenmatrix + geometry): compile time (first call, from the QM geometries) and
steady objective + gradient time (later calls a step of 1e-3 away, relaxations warm
started as in a fit). The Rh structures (36–62 atoms, seven topologies) are timed
twice: padded into one batch (what the engine does) and one structure at a time
(the engine seen without its batching), the measurement behind that choice.
The engine has no switch between its local-Hessian assembly and ``jax.hessian`` of the
whole energy, so the Hessian part is timed alone both ways (value, and the parameter
gradient of a scalar of the Hessian, which is what the objective's gradient needs).

Run:  OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_rh_objective.py \
          [--skip-rh-objective] [--rh-structures N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from q2mm.config import load_config
from q2mm.estimate import estimate_forcefield
from q2mm.io import read_forcefield, read_structures
from q2mm.io.macromodel import read_mmo
from q2mm.model import FunctionalForm, StationaryKind
from q2mm.objective import Objective
from q2mm.parameters import ParameterSpace
from q2mm.testing.unbatched import Unbatched
from q2mm.topology import build_system
from q2mm.topology.perception import perceive
from q2mm_engine_jax import energy as jax_energy
from q2mm_engine_jax.engine import JaxEngine

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
REPEATS = 5


def ch3f_problem():
    cfg = load_config(EXAMPLES / "ch3f" / "q2mm.toml")
    molecule = read_structures(cfg.structures[0].file)[0]
    molecule = molecule.with_(bonds=perceive(molecule).bonds, kind=StationaryKind.GROUND_STATE)
    ff = estimate_forcefield([molecule], method="qfuerza", form=FunctionalForm.MM3)
    space = ParameterSpace.from_forcefield(ff, kinds=cfg.parameters.kinds)
    return cfg, [molecule], [build_system(molecule, ff)], space


def rh_problem():
    cfg = load_config(EXAMPLES / "rh-enamide" / "q2mm.toml")
    ff = read_forcefield(cfg.forcefield.file)
    listing = read_mmo(cfg.structures[0].mmo)
    molecules, systems = [], []
    for spec in cfg.structures:
        molecule = read_structures(spec.file)[spec.index]
        donor = read_structures(spec.hessian)[0]
        molecule = molecule.with_(hessian=donor.hessian, kind=StationaryKind(spec.kind))
        molecules.append(molecule)
        systems.append(build_system(molecule, ff, mmo=listing[spec.mmo_index]))
    space = ParameterSpace.from_forcefield(ff, sections=cfg.parameters.sections)
    return cfg, molecules, systems, space


def time_objective(label, problem, engine=None):
    cfg, molecules, systems, space = problem
    t0 = time.perf_counter()
    objective = Objective.build(
        molecules=molecules,
        systems=systems,
        engine=engine or JaxEngine(),
        space=space,
        terms=[(o.kind, o.weight, o.options) for o in cfg.objective],
        ts_method=cfg.ts_method,
    )
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    value, grad = objective.value_and_grad(space.x0)
    first = time.perf_counter() - t0
    times = []
    for k in range(REPEATS):
        x = space.x0 * (1 + 1e-3 * (k + 1))
        t0 = time.perf_counter()
        objective.value_and_grad(x)
        times.append(time.perf_counter() - t0)
    steady = float(np.median(times))
    print(
        f"{label}: {space.size} parameters, build {build:.2f} s, compile+first {first:.2f} s "
        f"(objective.compile_seconds {objective.compile_seconds:.2f} s), objective+gradient "
        f"{1e3 * steady:.1f} ms (median of {REPEATS}), score {value:.6g}, |grad| {np.linalg.norm(grad):.3g}"
    )


def time_call(fn, *args):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return first, float(np.median(times))


def time_hessians(label, problem):
    """Local assembly vs jax.hessian of the whole energy, per structure, plus the
    parameter gradient of sum(H²) through each (reverse over the Hessian)."""
    _, molecules, systems, space = problem
    engine = JaxEngine()
    values = jnp.asarray(space.forcefield_at(space.x0).vector())
    totals = {}
    for molecule, system in zip(molecules, systems, strict=True):
        plan = engine.prepare(system).plan
        x = jnp.asarray(molecule.coordinates)
        for way, fn in (("local", jax_energy.hessian), ("whole", jax_energy.whole_hessian)):
            value = jax.jit(lambda v, c, fn=fn, plan=plan: fn(plan, v, c))
            grad = jax.jit(jax.grad(lambda v, c, fn=fn, plan=plan: jnp.sum(fn(plan, v, c) ** 2)))
            for part, f in (("hessian", value), ("d(sum H²)/dp", grad)):
                first, steady = time_call(f, values, x)
                acc = totals.setdefault((way, part), [0.0, 0.0])
                acc[0] += first
                acc[1] += steady
                print(
                    f"  {molecule.n_atoms} atoms, {way} {part}: compile+first {first:.2f} s, "
                    f"steady {1e3 * steady:.2f} ms",
                    flush=True,
                )
        h_local = jax_energy.hessian(plan, values, x)
        h_whole = jax_energy.whole_hessian(plan, values, x)
        assert np.allclose(h_local, h_whole, atol=1e-6 * float(jnp.abs(h_whole).max()))
    print(f"{label}: Hessian part alone, summed over {len(molecules)} structure(s)")
    for part in ("hessian", "d(sum H²)/dp"):
        (lc, ls), (wc, ws) = totals[("local", part)], totals[("whole", part)]
        print(
            f"  {part:14s} local: compile+first {lc:7.2f} s, steady {1e3 * ls:8.2f} ms | "
            f"whole: compile+first {wc:7.2f} s, steady {1e3 * ws:8.2f} ms | "
            f"whole/local steady {ws / ls:5.2f}x, compile {wc / lc:5.2f}x"
        )


def main() -> None:
    """Flags: ``--skip-rh-objective``; ``--rh-structures N`` (first N, default 9)."""
    count = int(sys.argv[sys.argv.index("--rh-structures") + 1]) if "--rh-structures" in sys.argv else 9
    ch3f = ch3f_problem()
    time_objective("CH3F", ch3f)
    time_hessians("CH3F", ch3f)
    cfg, molecules, systems, space = rh_problem()
    time_hessians("Rh-enamide", (cfg, molecules[:count], systems[:count], space))
    rh = (cfg, molecules, systems, space)
    if "--skip-rh-objective" not in sys.argv:
        time_objective("Rh-enamide (9 TS), padded batch", rh)
        time_objective("Rh-enamide (9 TS), structure by structure", rh, Unbatched(JaxEngine()))


if __name__ == "__main__":
    main()
