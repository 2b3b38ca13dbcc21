"""Benchmark of the OpenMM engine against the JAX engine, measured in one run.

    .venv/bin/python benchmarks/bench_openmm_engine.py [--repeats 5] [--structures 9]

Structures come through the real pipeline: CH₃F (QM bundle → QFUERZA estimate, MM3
form → build_system) and the nine Rh-enamide transition states (mol2 + MacroModel
.mmo row links + the starting MM3 force field → build_system). For each structure:
the median time of one energy and of one Hessian on OpenMM's Reference and CPU
platforms (the Hessian is 6N force evaluations of central differences) and on the JAX
engine (analytical, local-Hessian assembly, after compilation), their ratios, the
time to create a session (OpenMM compiles its custom energy expressions when the
Context is made; JAX compiles at the first call, reported separately), and the
largest Hessian difference between the engines relative to the largest element.
Without q2mm-engine-jax installed the JAX columns are left out.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from q2mm.estimate import estimate_forcefield
from q2mm.io import read_structures
from q2mm.io.macromodel import read_mmo
from q2mm.io.mm3_fld import MM3Fld
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import StationaryPoint
from q2mm.topology import build_system
from q2mm_engine_openmm.engine import OpenMMEngine

try:
    from q2mm_engine_jax.engine import JaxEngine
except ImportError:  # the benchmark still times OpenMM's two platforms
    JaxEngine = None

DATA = Path(__file__).resolve().parent.parent / "data"


def median_time(f, repeats: int) -> float:
    f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed(f):
    start = time.perf_counter()
    out = f()
    return out, time.perf_counter() - start


def structures(count: int):
    folder = DATA / "ch3f"
    ch3f = read_bundle(folder / "ch3f-optimized.xyz", hessian=folder / "ch3f-hessian.npy")
    ch3f = ch3f.with_(stationary_point=StationaryPoint.GROUND_STATE, name="CH3F")
    ff = estimate_forcefield([ch3f], method="qfuerza", form="mm3")
    yield "CH3F", build_system(ch3f, ff), ff.vector()
    training = DATA / "rh-enamide/training_set"
    molecules = read_structures(training / "rh_enamide_training_set.mol2")
    mmo = read_mmo(training / "rh_enamide_training_set.mmo")
    rh_ff = MM3Fld().read(DATA / "rh-enamide/rh_hyd_enamide_start.fld")
    for n, (molecule, links) in enumerate(list(zip(molecules, mmo, strict=True))[:count]):
        yield f"rh-{n + 1}", build_system(molecule, rh_ff, mmo=links), rh_ff.vector()


def openmm_row(engine: OpenMMEngine, system, values, repeats: int) -> dict:
    """Session creation (with the first energy: the Context is made then), energy and
    Hessian times, and the Hessian."""
    session = engine.prepare(system)
    _, prepare = timed(lambda: session.energy(values))
    prepare += timed(lambda: engine.prepare(system))[1]
    return {
        "prep": prepare,
        "E": median_time(lambda: session.energy(values), repeats),
        "H": median_time(lambda: session.hessian(values), repeats),
        "hessian": session.hessian(values),
    }


def jax_row(engine, system, values, repeats: int) -> dict:
    session = engine.prepare(system)
    _, compile_s = timed(lambda: (session.energy(values), session.hessian(values)))
    return {
        "compile": compile_s,
        "E": median_time(lambda: session.energy(values), repeats),
        "H": median_time(lambda: session.hessian(values), repeats),
        "hessian": session.hessian(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--structures", type=int, default=9, help="Rh-enamide structures (of 9)")
    args = parser.parse_args()

    reference, cpu = OpenMMEngine(platform="Reference"), OpenMMEngine(platform="CPU")
    jax_engine = JaxEngine() if JaxEngine is not None else None
    print(f"OpenMM {cpu.describe()['openmm']}; JAX engine: {'present' if jax_engine else 'not installed'}")
    print("ms, median of --repeats after a warm-up call; prep = session and Context creation, first energy")
    header = f"{'structure':<10} {'atoms':>5} | {'prep Ref':>8} "
    header += f"{'E Ref':>7} {'E CPU':>7} {'H Ref':>8} {'H CPU':>8}"
    if jax_engine is not None:
        header += (
            f" | {'compile':>7} {'E JAX':>7} {'H JAX':>7} | {'H Ref/JAX':>9} {'H CPU/JAX':>9} {'ΔH rel':>7}"
        )
    print(header)
    print("-" * len(header))
    for name, system, values in structures(args.structures):
        ref = openmm_row(reference, system, values, args.repeats)
        on_cpu = openmm_row(cpu, system, values, args.repeats)
        line = (
            f"{name:<10} {system.molecule.n_atoms:>5} | {ref['prep'] * 1e3:8.1f} {ref['E'] * 1e3:7.3f} "
            f"{on_cpu['E'] * 1e3:7.3f} {ref['H'] * 1e3:8.1f} {on_cpu['H'] * 1e3:8.1f}"
        )
        if jax_engine is not None:
            jx = jax_row(jax_engine, system, values, args.repeats)
            difference = np.abs(ref["hessian"] - jx["hessian"]).max() / np.abs(jx["hessian"]).max()
            line += (
                f" | {jx['compile'] * 1e3:7.0f} {jx['E'] * 1e3:7.3f} {jx['H'] * 1e3:7.2f} | "
                f"{ref['H'] / jx['H']:9.1f} {on_cpu['H'] / jx['H']:9.1f} {difference:7.0e}"
            )
        print(line)


if __name__ == "__main__":
    main()
