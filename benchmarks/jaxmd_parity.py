"""Parity of the jax-md engine (neighbour lists, cutoff beyond every distance) with the
JAX engine on the structures in data/ built through the real pipeline: CH₃F and the
S_N2 TS (QM bundle → QFUERZA, MM3) and the Rh-enamide TSs (mol2 + .mmo + mm3.fld).

    .venv/bin/python benchmarks/jaxmd_parity.py [--rh 9]

Prints, per structure, max relative differences of energy, gradient and Hessian.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from q2mm.estimate import estimate_forcefield
from q2mm.io import read_structures
from q2mm.io.macromodel import read_mmo
from q2mm.io.mm3_fld import MM3Fld
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import StationaryPoint
from q2mm.topology import build_system
from q2mm_engine_jax.engine import JaxEngine
from q2mm_engine_jaxmd.engine import JaxMdEngine

DATA = Path(__file__).resolve().parents[1] / "data"


def structures(rh: int):
    for name, kind in (("ch3f", StationaryPoint.GROUND_STATE), ("sn2-ts", StationaryPoint.TRANSITION_STATE)):
        folder = DATA / name
        molecule = read_bundle(folder / f"{name}-optimized.xyz", hessian=folder / f"{name}-hessian.npy")
        molecule = molecule.with_(stationary_point=kind)
        ff = estimate_forcefield([molecule], method="qfuerza", form="mm3")
        yield name, build_system(molecule, ff), ff.vector()
    folder = DATA / "rh-enamide" / "training_set"
    ff = MM3Fld().read(DATA / "rh-enamide" / "mm3.fld")
    molecules = read_structures(folder / "rh_enamide_training_set.mol2")
    mmos = read_mmo(folder / "rh_enamide_training_set.mmo")
    for k, (molecule, mmo) in enumerate(zip(molecules[:rh], mmos, strict=False)):
        system = build_system(molecule.with_(stationary_point=StationaryPoint.TRANSITION_STATE), ff, mmo=mmo)
        yield f"rh-enamide {k + 1}", system, ff.vector()


def _relative(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rh", type=int, default=9, help="how many Rh-enamide structures")
    args = parser.parse_args()
    jax, md = JaxEngine(), JaxMdEngine(cutoff=100.0, switch=0.0)
    print(f"{'structure':<16} {'atoms':>5} {'energy':>9} {'gradient':>9} {'hessian':>9}")
    for name, system, values in structures(args.rh):
        a, b = jax.prepare(system), md.prepare(system)
        diffs = [
            _relative(getattr(b, q)(values), getattr(a, q)(values)) for q in ("energy", "gradient", "hessian")
        ]
        print(f"{name:<16} {system.molecule.n_atoms:>5} " + " ".join(f"{d:9.1e}" for d in diffs), flush=True)


if __name__ == "__main__":
    main()
