"""Ethane frequencies: the pyscf plugin vs the Gaussian 94 data in data/ethane (not run by CI).

    OMP_NUM_THREADS=1 nice -n 19 python data/validation/compare_ethane.py

Gaussian side: GS.log (B3LYP/6-31G(d) 6D, Opt=VTight, Freq, Gaussian 94 RevD.1) read with
q2mm's readers; its frequencies as printed, and recomputed from GS.fchk's Cartesian force
constants with q2mm's masses and projection (separates Hessian differences from mass and
projection differences). PySCF side: the same geometry, xc "B3LYPG" (libxc
HYB_GGA_XC_B3LYP, VWN-RPA as Gaussian), 6-31G* Cartesian d, for several atom grids, both
at Gaussian's geometry as it is and re-optimized (geomeTRIC GAU_TIGHT). Frequencies are
paired by normal-mode overlap, not by sorted index. Writes ethane-comparison/ (runs and
summary.json) and prints the table for the README.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parent
OUT = HERE / "ethane-comparison"
GRIDS = [(75, 302), (99, 590)]


def main() -> int:
    from q2mm.io.gaussian import read_gaussian_fchk, read_gaussian_log
    from q2mm.io.numpy_bundle import NumpyBundle
    from q2mm.io.xyz import write_xyz
    from q2mm.plugins import registry
    from q2mm.protocols import QMRequest
    from q2mm.vibrations import match_modes, normal_modes

    log = read_gaussian_log(ROOT / "ethane" / "GS.log")
    fchk = read_gaussian_fchk(ROOT / "ethane" / "GS.fchk")
    masses = fchk.masses
    ref_modes = normal_modes(fchk.hessian, fchk.coordinates, masses)
    gaussian_printed = np.sort(np.asarray(log.frequencies, dtype=float))
    OUT.mkdir(exist_ok=True)
    xyz = OUT / "ethane-gaussian.xyz"
    write_xyz(xyz, fchk.with_(name="ethane GS, Gaussian 94 B3LYP/6-31G(d) Opt=VTight geometry"))
    summary: dict = {
        "gaussian_printed_cm1": gaussian_printed.round(4).tolist(),
        "gaussian_fchk_q2mm_masses_cm1": ref_modes.frequencies.round(4).tolist(),
        "max_abs_printed_minus_recomputed_cm1": float(
            np.abs(gaussian_printed - np.sort(ref_modes.frequencies)).max()
        ),
        "runs": {},
    }
    for grid in GRIDS:
        for optimize in (False, True):
            label = f"grid{grid[0]}x{grid[1]}-{'optimized' if optimize else 'gaussian-geometry'}"
            program = registry().create("qm", "pyscf", grid=grid, progress=True)
            request = QMRequest(xyz, "B3LYPG", "6-31G*", kind="ground_state", optimize=optimize)
            result = program.run(request, OUT / label)
            mol = NumpyBundle().read(result.hessian_path)[0]
            modes = normal_modes(mol.hessian, mol.coordinates, masses)
            order = match_modes(ref_modes.vectors, modes.vectors) if not optimize else None
            paired = modes.frequencies[order] if order is not None else np.sort(modes.frequencies)
            delta = paired - (ref_modes.frequencies if order is not None else np.sort(ref_modes.frequencies))
            summary["runs"][label] = {
                "frequencies_cm1": paired.round(4).tolist(),
                "delta_vs_gaussian_fchk_cm1": delta.round(4).tolist(),
                "max_abs_delta_cm1": float(np.abs(delta).max()),
                "max_abs_delta_vs_printed_cm1": float(np.abs(np.sort(paired) - gaussian_printed).max()),
                "energy_hartree": result.meta["energy_hartree"],
                "gaussian_energy_hartree": fchk.energy / 627.5094740631,
                "grid_points": result.meta["grid"]["n_points"],
                "wall_time_s": result.meta["wall_time_s"],
                "paired_by": "normal-mode overlap" if order is not None else "sorted order",
            }
            print(f"{label}: max |dnu| = {np.abs(delta).max():.2f} cm-1", file=sys.stderr, flush=True)
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
