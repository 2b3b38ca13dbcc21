"""Benchmark of the JAX engine: compile and run time measured separately.

    .venv/bin/python benchmarks/bench_jax_engine.py [--repeats 20] [--structures 9]

Structures come through the real pipeline: CH₃F (QM bundle → QFUERZA estimate, MM3
form → build_system) and the nine Rh-enamide transition states (mol2 + MacroModel
.mmo row links + mm3.fld → build_system). For each: the locally assembled Hessian
against ``jax.hessian`` of the whole molecule in the same run (their ratio), then
batching — one topology at nine geometries, and the nine different topologies, each
as one concatenated batch against one compiled program per structure — and
relaxation. The first table is the measurement behind the engine's local Hessian
assembly (:mod:`q2mm_engine_jax.energy`): local against whole-molecule Hessians,
their ratio printed per structure and over the nine.

Compile times depend on JAX's persistent compilation cache (on by default; run twice
to see a warm cache, or set Q2MM_JAX_CACHE_DIR=off for cold numbers). On a shared or
busy CPU set OPENBLAS_NUM_THREADS=1: OpenBLAS's threads then spin against each other
and one 174×174 eigh (each Newton step of a 58-atom relaxation) took 220 ms instead
of 2.5 ms here.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import jax
import numpy as np
from q2mm.estimate import estimate_forcefield
from q2mm.io import read_structures
from q2mm.io.macromodel import read_mmo
from q2mm.io.mm3_fld import MM3Fld
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import StationaryPoint
from q2mm.topology import build_system
from q2mm_engine_jax import energy
from q2mm_engine_jax.engine import JaxEngine

DATA = Path(__file__).resolve().parent.parent / "data"


def run_time(f, *args, repeats: int) -> float:
    """Median seconds of a compiled call."""
    jax.block_until_ready(f(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compiled(f, *args):
    """(executable, seconds to trace, lower and compile)."""
    start = time.perf_counter()
    executable = jax.jit(f).lower(*args).compile()
    return executable, time.perf_counter() - start


def ch3f_system():
    folder = DATA / "ch3f"
    molecule = read_bundle(folder / "ch3f-optimized.xyz", hessian=folder / "ch3f-hessian.npy")
    ff = estimate_forcefield(
        [molecule.with_(stationary_point=StationaryPoint.GROUND_STATE)], method="qfuerza", form="mm3"
    )
    return build_system(molecule, ff), ff.vector()


def rh_systems(count: int):
    folder = DATA / "rh-enamide" / "training_set"
    molecules = read_structures(folder / "rh_enamide_training_set.mol2")[:count]
    mmo = read_mmo(folder / "rh_enamide_training_set.mmo")
    ff = MM3Fld().read(DATA / "rh-enamide" / "mm3.fld")
    systems = [
        build_system(m.with_(stationary_point=StationaryPoint.TRANSITION_STATE), ff, mmo=s)
        for m, s in zip(molecules, mmo, strict=False)
    ]
    return systems, ff.vector()


def hessians(engine, name, system, values, repeats):
    plan = engine.prepare(system).plan
    x = np.asarray(system.molecule.coordinates)[None]
    local, local_compile = compiled(energy.hessian, plan, values, x)
    whole, whole_compile = compiled(energy.whole_hessian, plan, values, x)
    difference = float(np.abs(np.asarray(local(plan, values, x)) - np.asarray(whole(plan, values, x))).max())
    t_local = run_time(local, plan, values, x, repeats=repeats)
    t_whole = run_time(whole, plan, values, x, repeats=repeats)
    print(
        f"{name:<38} {system.molecule.n_atoms:>5} {local_compile:>8.2f} {whole_compile:>8.2f} "
        f"{t_local * 1e3:>9.3f} {t_whole * 1e3:>9.3f} {t_whole / t_local:>6.1f}x {difference:>9.1e}"
    )
    return local_compile, t_local, whole_compile, t_whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--structures", type=int, default=9, help="Rh-enamide structures to use (1-9)")
    args = parser.parse_args()

    engine = JaxEngine()
    info = engine.describe()
    print(
        f"platform {info['platform']} ({info['device']}), {info['precision']}, jax {info['jax_version']}, "
        f"compilation cache {info['compilation_cache']}"
    )
    ch3f, ch3f_values = ch3f_system()
    rh, rh_values = rh_systems(args.structures)

    print("\nHessian: local per-term assembly vs jax.hessian of the whole molecule (compile s, run ms)")
    print(
        f"{'structure':<38} {'atoms':>5} {'c.local':>8} {'c.whole':>8} {'local':>9} {'whole':>9} "
        f"{'ratio':>7} {'max|Δ|':>9}"
    )
    hessians(engine, "CH3F (QFUERZA, MM3)", ch3f, ch3f_values, args.repeats)
    rows = [hessians(engine, s.molecule.name[:38], s, rh_values, args.repeats) for s in rh]
    total = np.sum(rows, axis=0)
    print(
        f"{'Rh-enamide total':<38} {'':>5} {total[0]:>8.2f} {total[2]:>8.2f} {total[1] * 1e3:>9.3f} "
        f"{total[3] * 1e3:>9.3f} {total[3] / total[1]:>6.1f}x"
    )

    print("\nOne topology, 9 geometries: one batch vs 9 calls of one compiled program (Hessian)")
    rng = np.random.default_rng(0)
    for name, system, values in [("CH3F", ch3f, ch3f_values), (rh[-1].molecule.name, rh[-1], rh_values)]:
        x0 = system.molecule.coordinates
        geometries = [x0 + rng.normal(scale=0.02, size=x0.shape) for _ in range(9)]
        batch = engine.prepare_batch([system] * 9)
        stacked = batch.stack(geometries)
        together, c_batch = compiled(energy.hessian, batch.plan, values, stacked)
        plan = engine.prepare(system).plan
        single, c_single = compiled(energy.hessian, plan, values, stacked[:1])
        t_batch = run_time(together, batch.plan, values, stacked, repeats=args.repeats)
        t_seq = statistics.median(
            sum(run_time(single, plan, values, stacked[b : b + 1], repeats=1) for b in range(9))
            for _ in range(args.repeats)
        )
        print(
            f"  {name[:30]:<30} batch: compile {c_batch:.2f} s, run {t_batch * 1e3:.3f} ms | "
            f"sequential: compile {c_single:.2f} s, run {t_seq * 1e3:.3f} ms"
        )

    print(
        f"\nDifferent topologies ({len(rh)} Rh-enamide structures): one batch vs one program each (Hessian)"
    )
    start = time.perf_counter()
    batch = engine.prepare_batch(rh)
    prepare = time.perf_counter() - start
    stacked = batch.stack()
    together, c_together = compiled(energy.hessian, batch.plan, rh_values, stacked)
    t_together = run_time(together, batch.plan, rh_values, stacked, repeats=args.repeats)
    sessions = [engine.prepare(s) for s in rh]
    own = [np.asarray(s.system.molecule.coordinates)[None] for s in sessions]
    singles = [compiled(energy.hessian, s.plan, rh_values, x)[0] for s, x in zip(sessions, own, strict=True)]
    c_seq = total[0]  # the first table's compile times (structures of equal shapes share one executable)
    t_seq = sum(
        run_time(f, s.plan, rh_values, x, repeats=args.repeats)
        for f, s, x in zip(singles, sessions, own, strict=True)
    )
    h_together = np.asarray(together(batch.plan, rh_values, stacked))
    worst = max(
        float(np.abs(h_together[b, : 3 * n, : 3 * n] - np.asarray(f(s.plan, rh_values, x))[0]).max())
        for b, (n, f, s, x) in enumerate(zip(batch.n_atoms, singles, sessions, own, strict=True))
    )
    print(
        f"  one batch ({batch.width} atoms wide): prepare {prepare:.2f} s, compile {c_together:.2f} s, "
        f"run {t_together * 1e3:.2f} ms (max |Δ| vs one at a time {worst:.1e})"
    )
    print(
        f"  one program each:          compile {c_seq:.2f} s in all (first table), "
        f"run {t_seq * 1e3:.2f} ms in all"
    )

    print("\nRelaxation (trust-region Newton on the local Hessian) from the QM geometry")
    for system, values in [(ch3f, ch3f_values), (rh[-1], rh_values)]:
        session = engine.prepare(system)
        start = time.perf_counter()
        first = session.minimize(values)
        first_call = time.perf_counter() - start
        start = time.perf_counter()
        result = session.minimize(values)
        again = time.perf_counter() - start
        print(
            f"  {system.molecule.name[:30]:<30} converged {result.converged}, {result.iterations} steps, "
            f"|g| {result.gradient_norm:.1e}: first call {first_call:.2f} s, then {again * 1e3:.1f} ms"
        )
        del first


if __name__ == "__main__":
    main()
