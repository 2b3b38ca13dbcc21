"""Evaluations per second of the Tinker engine: the persistent driver against one
Tinker program start per call (the predecessor's way), measured in one run.

    TINKER_DIR=… .venv/bin/python benchmarks/bench_tinker_engine.py [--repeats 20] [--baseline-repeats 2]

One *evaluation* of a structure is what a finite-difference objective asks of it at
each point: a new parameter vector (each one different, as parameter steps are), the
energy and the analytical Hessian at the QM geometry, and a relaxation from it
(Tinker's L-BFGS, then Newton steps to |∇E| < 1e-8). Structures come through the real
pipeline: CH₃F (QM bundle → QFUERZA MM3 estimate → build_system) and the nine
Rh-enamide transition states (mol2 + .mmo + starting MM3 force field), less the two
improper torsions per structure Tinker cannot hold (the engine refuses them by name)
and with no reduced vdW centre for the hydrogen bonded to both Rh and C. Rates are for
one process on one core; sessions run concurrently over the core's executor.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: one BLAS thread per process

import argparse
import time
import warnings
from pathlib import Path

import attrs
import numpy as np
from q2mm.estimate import estimate_forcefield
from q2mm.io import read_structures
from q2mm.io.macromodel import read_mmo
from q2mm.io.mm3_fld import MM3Fld
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import MMSystem, StationaryPoint, TermSet
from q2mm.topology import build_system
from q2mm_engine_tinker.engine import TinkerEngine
from q2mm_engine_tinker.keyfile import neighbours, torsion_form

DATA = Path(__file__).resolve().parent.parent / "data"


def expressible(system: MMSystem) -> MMSystem:
    """Without the terms Tinker cannot hold (as the parity tests do)."""
    nb = neighbours(system)
    t = system.terms["torsion"]
    keep = np.array([torsion_form(tuple(a), nb) is not None for a in t.atoms.tolist()])
    torsions = TermSet(
        "torsion", t.atoms[keep], t.slots[keep], t.fields, {k: v[keep] for k, v in t.constants.items()}
    )
    partners = system.nonbonded.reduction_partner.copy()
    partners[[i for i, p in enumerate(partners.tolist()) if p >= 0 and nb[i] != [p]]] = -1
    nonbonded = attrs.evolve(system.nonbonded, reduction_partner=partners)
    return attrs.evolve(system, terms={**system.terms, "torsion": torsions}, nonbonded=nonbonded)


def ch3f():
    folder = DATA / "ch3f"
    mol = read_bundle(folder / "ch3f-optimized.xyz", hessian=folder / "ch3f-hessian.npy")
    mol = mol.with_(stationary_point=StationaryPoint.GROUND_STATE, name="ch3f")
    ff = estimate_forcefield([mol], form="mm3")
    return [build_system(mol, ff)], ff.vector()


def rh():
    folder = DATA / "rh-enamide"
    molecules = read_structures(folder / "training_set/rh_enamide_training_set.mol2")
    mmo = read_mmo(folder / "training_set/rh_enamide_training_set.mmo")
    ff = MM3Fld().read(folder / "rh_hyd_enamide_start.fld")
    systems = [expressible(build_system(m, ff, mmo=s)) for m, s in zip(molecules, mmo, strict=True)]
    return systems, ff.vector()


def rate(sessions, values, repeats: int, relax: bool) -> float:
    """Evaluations per second of the whole set of structures."""
    rng = np.random.default_rng(0)
    for s in sessions:  # start the processes
        s.energy(values)
    start = time.perf_counter()
    for _ in range(repeats):
        v = values * rng.uniform(0.999, 1.001, values.shape)
        for s in sessions:
            s.energy(v)
            s.hessian(v)
            if relax:
                s.minimize(v)
    return repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--baseline-repeats", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    driver, programs = TinkerEngine(backend="driver"), TinkerEngine(backend="programs")
    print(f"Tinker {driver.describe()['tinker']}; driver {driver.settings.driver}")
    print(f"{'set':<12}{'evaluation':<28}{'driver /s':>12}{'per call /s':>14}{'ratio':>9}")
    for name, (systems, values) in {"CH3F": ch3f(), "Rh-enamide 9": rh()}.items():
        for relax, what in ((False, "energy + Hessian"), (True, "energy + Hessian + relax")):
            fast = rate([driver.prepare(s) for s in systems], values, args.repeats, relax)
            slow = rate([programs.prepare(s) for s in systems], values, args.baseline_repeats, relax)
            print(f"{name:<12}{what:<28}{fast:>12.2f}{slow:>14.3f}{fast / slow:>9.0f}")


if __name__ == "__main__":
    main()
