"""The default configuration on every structure we have QM data for, judged against
the targets of a physically right fit — the release check of "right by default".

    .venv/bin/python benchmarks/validation.py [--methods C D E] [--only NAME ...]

Structures: every system of ``data/validation/`` (made by q2mm-qm-pyscf; kind and
charge from its ``meta.json``) and the small systems of ``data/`` (CH₃F, ethane GS
and rotation TS, the F⁻ + CH₃F S_N2 TS). Each is fitted alone with the default
configuration — QFUERZA estimate without a template, the default objective and
parameters, the JAX engine, the default optimizer (``auto``: trust-region least
squares at these sizes) — from a cold start of the run. JAX's persistent cache may
hold compiled programs from earlier runs, and compiling is most of a cold fit's time:
say which when timing (``Q2MM_JAX_CACHE_DIR=off`` for a cold cache).
Transition states are fitted once per TS method asked for (default: all three); the
default method's row decides whether the structure meets the targets.

Each row also gives the lowest MM frequency at the MM minimum (cm⁻¹), the seconds of
the wall time spent compiling and the optimizer's iterations.

Targets (a row meets them when all hold): status converged, quality good under the
default :class:`q2mm.residuals.quality.QualityThresholds` (eigenmatrix R² ≥ 0.99,
frequency MAE ≤ 40 cm⁻¹, MM minimum within 0.005 Å / 0.5° / 2°), wall time ≤ 30 s.
The last line counts the structures that meet every target.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from q2mm.config import load_config
from q2mm.errors import Q2MMError
from q2mm.estimate.curvature import DEFAULT_TS_METHOD
from q2mm.run import run_fit

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
MAX_SECONDS = 30.0
_BUILT_IN = {
    "ch3f": (DATA / "ch3f" / "ch3f-hessian.npy", "ground_state"),
    "ethane-gs": (DATA / "ethane" / "GS.fchk", "ground_state"),
    "ethane-ts": (DATA / "ethane" / "TS.fchk", "transition_state"),
    "sn2-ts": (DATA / "sn2-ts" / "sn2-ts-hessian.npy", "transition_state"),
}


def structures() -> dict[str, tuple[Path, str]]:
    found = dict(_BUILT_IN)
    for meta in sorted((DATA / "validation").glob("*/meta.json")):
        info = json.loads(meta.read_text())
        (hessian,) = meta.parent.glob("*-hessian.npy")
        found[meta.parent.name] = (hessian, info["kind"])
    return found


def fit(name: str, file: Path, kind: str, method: str, folder: Path) -> dict:
    config = folder / f"{name}-{method}.toml"
    config.write_text(
        f'ts_method = "{method}"\noutput = "{name}-{method}"\n'
        f'[forcefield]\nestimate = "qfuerza"\n'
        f'[[structures]]\nfile = "{file}"\nkind = "{kind}"\nname = "{name}"\n'
    )
    started = time.perf_counter()
    try:
        result = run_fit(load_config(config))
    except Q2MMError as exc:
        refused = {"status": "refused", "quality": "poor", "metrics": {}, "reasons": [str(exc)]}
        return {**refused, "seconds": 0.0, "compile_seconds": 0.0, "iterations": 0}
    (structure,) = result["structures"]
    return {
        "status": result["status"],
        "quality": result["quality"],
        "metrics": structure["metrics"],
        "reasons": structure["reasons"],
        "seconds": time.perf_counter() - started,
        "compile_seconds": result["timing"]["compile_s"],
        "iterations": result["iterations"],
    }


def meets(row: dict) -> bool:
    return row["status"] == "converged" and row["quality"] == "good" and row["seconds"] <= MAX_SECONDS


def _cell(value, fmt: str) -> str:
    return f"{'-' if value is None else format(value, fmt):>9}"


def line(name: str, kind: str, method: str, row: dict) -> str:
    m = row["metrics"]
    cells = [
        _cell(m.get("eigenmatrix_diagonal_r2"), ".4f"),
        _cell(m.get("frequency_mae_cm1"), ".1f"),
        _cell(m.get("bond_rmsd_angstrom"), ".4f"),
        _cell(m.get("angle_rmsd_degree"), ".2f"),
        _cell(m.get("dihedral_rmsd_degree"), ".2f"),
        _cell(m.get("lowest_mm_frequency_cm1"), ".0f"),
    ]
    flag = "meets" if meets(row) else "misses"
    why = f"  ({row['reasons'][0]})" if row["status"] == "refused" else ""
    return (
        f"{name:<24} {kind[:2].upper():>2} {method:>2} {' '.join(cells)} {row['seconds']:7.1f} "
        f"{row['compile_seconds']:7.1f} {row['iterations']:5d} "
        f"{row['status']:<9} {row['quality']:<5} {flag}{why}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=["C", "D", "E"])
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    chosen = {k: v for k, v in structures().items() if not args.only or k in args.only}
    print(
        f"{'structure':<24} {'':>2} TS {'R²':>9} {'freq MAE':>9} {'bond Å':>9} {'angle °':>9} "
        f"{'dihed °':>9} {'low ν':>9} {'time s':>7} {'comp s':>7} {'iter':>5} status    qual"
    )
    good = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (file, kind) in chosen.items():
            methods = args.methods if kind == "transition_state" else [DEFAULT_TS_METHOD.value]
            rows = {method: fit(name, file, kind, method, Path(tmp)) for method in methods}
            for method, row in rows.items():
                print(line(name, kind, method, row), flush=True)
            default = rows.get(DEFAULT_TS_METHOD.value)
            good += bool(default is not None and meets(default))
    print(
        f"{good} of {len(chosen)} structures meet every target with the default configuration "
        f"(TS method {DEFAULT_TS_METHOD.value})"
    )


if __name__ == "__main__":
    main()
