"""Objective + gradient of the two bundled fits, compile and run time apart (issue
target for Rh-enamide on 2 CPU cores: under 50 ms per objective + gradient after
compile, compile under 20 s).

For CH₃F (QFUERZA start, bond and angle parameters) and the nine Rh-enamide
transition states (all 110 OPT parameters, method C), eigenmatrix + geometry — the
examples' objectives — each built three ways in one run:

- ``local``: the engine as shipped (per-term local Hessians);
- ``whole``: the same engine with ``hessian="whole"`` (``jax.hessian`` of the whole
  energy for every Hessian, the relaxation's Newton steps included) — the baseline;
- ``unbatched``: the shipped engine without its batching (one traced program per
  structure instead of the concatenated batch), Rh-enamide only.

``compile`` is the first call (tracing, compiling or loading from JAX's persistent
cache, and a relaxation from the QM geometries); ``objective+gradient`` is the median
of later calls at points 1e-3 apart, relaxations warm-started as in a fit. Run with
``Q2MM_JAX_CACHE_DIR=off`` for cold compile times.

Run:  OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_rh_objective.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from q2mm.config import load_config
from q2mm.estimate import estimate_forcefield
from q2mm.io import read_forcefield, read_structures
from q2mm.io.macromodel import read_mmo
from q2mm.model import FunctionalForm, StationaryPoint
from q2mm.objective import Objective
from q2mm.parameters import ParameterSpace
from q2mm.testing.unbatched import Unbatched
from q2mm.topology import build_system
from q2mm.topology.perception import perceive
from q2mm_engine_jax.engine import JaxEngine

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def ch3f_problem():
    cfg = load_config(EXAMPLES / "ch3f" / "q2mm.toml")
    molecule = read_structures(cfg.structures[0].file)[0]
    molecule = molecule.with_(bonds=perceive(molecule).bonds, stationary_point=StationaryPoint.GROUND_STATE)
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
        molecule = molecule.with_(hessian=donor.hessian, stationary_point=StationaryPoint(spec.kind))
        molecules.append(molecule)
        systems.append(build_system(molecule, ff, mmo=listing[spec.mmo_index]))
    space = ParameterSpace.from_forcefield(ff, sections=cfg.parameters.sections)
    return cfg, molecules, systems, space


def measure(problem, engine, repeats: int) -> dict:
    cfg, molecules, systems, space = problem
    objective = Objective.build(
        molecules=molecules,
        systems=systems,
        engine=engine,
        space=space,
        terms=[(o.kind, o.weight, o.options) for o in cfg.objective],
        ts_method=cfg.ts_method,
    )
    start = time.perf_counter()
    score, grad = objective.value_and_grad(space.x0)
    first = time.perf_counter() - start
    times = []
    for k in range(repeats):
        x = space.x0 * (1 + 1e-3 * (1 + k % 5))
        start = time.perf_counter()
        objective.value_and_grad(x)
        times.append(time.perf_counter() - start)
    return {"first": first, "steady": float(np.median(times)), "score": score, "grad": grad}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    info = JaxEngine().describe()
    print(
        f"platform {info['platform']}, jax {info['jax_version']}, "
        f"compilation cache {info['compilation_cache']}"
    )
    print(f"{'problem':<28} {'way':<10} {'compile s':>10} {'obj+grad ms':>12} {'vs whole':>9}  score")
    for label, problem, ways in (
        ("CH3F (9 parameters)", ch3f_problem(), ("whole", "local")),
        ("Rh-enamide (9 TS, 110 par.)", rh_problem(), ("whole", "local", "unbatched")),
    ):
        engines = {
            "whole": JaxEngine(hessian="whole"),
            "local": JaxEngine(),
            "unbatched": Unbatched(JaxEngine()),
        }
        rows = {way: measure(problem, engines[way], args.repeats) for way in ways}
        base = rows["whole"]
        for way, row in rows.items():
            assert abs(row["score"] - base["score"]) <= 1e-9 * abs(base["score"])
            assert np.allclose(row["grad"], base["grad"], rtol=1e-6, atol=1e-9 * np.abs(base["grad"]).max())
            print(
                f"{label:<28} {way:<10} {row['first']:>10.2f} {1e3 * row['steady']:>12.1f} "
                f"{base['steady'] / row['steady']:>8.1f}x  {row['score']:.6g}",
                flush=True,
            )


if __name__ == "__main__":
    main()
