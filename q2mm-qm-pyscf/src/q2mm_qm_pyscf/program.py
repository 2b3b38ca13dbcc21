"""PySCF + geomeTRIC as a q2mm ``qm`` program.

One call: read the XYZ file, (optionally) optimize with geomeTRIC — a minimum, or a
transition-state search started from the analytic Hessian — then SCF, gradient and
analytic Hessian at the final geometry, frequencies with the core's masses and
projection, and the checks: SCF and optimizer converged, the number of imaginary
modes matches the declared kind. Only then is anything written: the bundle goes into a
content-addressed entry ``<output>/.q2mm-cache/<key>/`` (made in a temporary folder
and renamed into place) and is copied from there into ``<output>``, ``meta.json``
last. A repeated call with the same inputs finds the entry and computes nothing.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import io
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from q2mm import __version__ as core_version
from q2mm.errors import ParseError, QMConvergenceError, QMError, StationaryPointError
from q2mm.io.atomic import write_bytes_atomic, write_text_atomic
from q2mm.io.xyz import read_xyz, write_xyz
from q2mm.model import Molecule
from q2mm.model.elements import mass
from q2mm.protocols import QMRequest, QMResult
from q2mm.vibrations import normal_modes

from . import __version__

CACHE_DIR = ".q2mm-cache"
META = "meta.json"
BUNDLE_SUFFIXES = ("-optimized.xyz", "-hessian.npy", "-frequencies.txt", "-energy.txt")
#: geomeTRIC's convergence sets (Eh, Eh/Bohr, Å), as its documentation states them.
CONVERGENCE_SETS = {
    "GAU": dict(energy=1e-6, grms=3e-4, gmax=4.5e-4, drms=1.2e-3, dmax=1.8e-3),
    "GAU_TIGHT": dict(energy=1e-6, grms=1e-5, gmax=1.5e-5, drms=4e-5, dmax=6e-5),
    "GAU_VERYTIGHT": dict(energy=1e-6, grms=1e-6, gmax=2e-6, drms=4e-6, dmax=6e-6),
}
_HF = {"HF", "RHF", "UHF"}
#: libxc's HYB_GGA_XC_B3LYP (VWN-RPA correlation), what PySCF ≥ 2.3 calls B3LYP and B3LYPG.
B3LYP_VWN_RPA = 402
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LOG_INI = """[loggers]
keys=root,geometric

[handlers]
keys=file_handler

[formatters]
keys=formatter

[logger_root]
level=WARNING
handlers=

[logger_geometric]
level=INFO
handlers=file_handler
qualname=geometric
propagate=0

[handler_file_handler]
class=geometric.nifty.RawFileHandler
level=INFO
formatter=formatter
args=('%(logfilename)s',)

[formatter_formatter]
format=%(message)s
"""


def _versions() -> dict[str, str]:
    """From the installed metadata: the cache check imports no PySCF."""
    return {
        "q2mm-qm-pyscf": __version__,
        "q2mm-core": core_version,
        "pyscf": metadata.version("pyscf"),
        "geometric": metadata.version("geometric"),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cartesian_default(basis: str) -> bool:
    """Gaussian's convention, in which the Pople sets were defined: 6-31G-family sets
    use six Cartesian d functions (6D), 6-311G and the rest spherical ones."""
    b = basis.strip().upper()
    return b.startswith(("6-31G", "6-31+G", "6-31++G", "3-21G"))


class _Progress:
    """Plain progress lines on stderr, each with the time since the call began."""

    def __init__(self, enabled: bool, name: str) -> None:
        self.enabled = enabled
        self.name = name
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.enabled:
            elapsed = time.perf_counter() - self.start
            print(f"[q2mm qm {self.name} {elapsed:7.1f} s] {message}", file=sys.stderr, flush=True)


@attrs.frozen
class PySCFProgram:
    """The ``pyscf`` qm plugin. ``grid`` is the (radial, angular) atom grid of DFT
    methods (default (99, 590), Gaussian's UltraFine, NWChem-pruned as PySCF does by
    default); ``cartesian`` None follows Gaussian's 6D/5D choice per basis.
    ``convergence_set`` is geomeTRIC's; ``imaginary_threshold`` (cm⁻¹) is how
    negative a frequency must be to count as an imaginary mode."""

    name: str = "pyscf"
    grid: tuple[int, int] = attrs.field(default=(99, 590), converter=tuple)
    cartesian: bool | None = None
    scf_conv_tol: float = 1e-10
    scf_max_cycle: int = 100
    convergence_set: str = attrs.field(default="GAU_TIGHT", validator=attrs.validators.in_(CONVERGENCE_SETS))
    max_steps: int = 100
    imaginary_threshold: float = 20.0
    progress: bool = True

    # -- settings and cache ------------------------------------------------------------

    def settings(self, request: QMRequest) -> dict[str, Any]:
        """Everything that decides the numbers, hashed into the cache key."""
        hf = request.method.strip().upper() in _HF
        return {
            "method": request.method,
            "basis": request.basis,
            "charge": request.charge,
            "multiplicity": request.multiplicity,
            "kind": request.kind,
            "optimize": request.optimize,
            "cartesian_basis": self._cartesian(request.basis),
            "grid": None if hf else list(self.grid),
            "scf_conv_tol": self.scf_conv_tol,
            "scf_max_cycle": self.scf_max_cycle,
            "convergence_set": self.convergence_set if request.optimize else None,
            "max_steps": self.max_steps if request.optimize else None,
            "imaginary_threshold_cm1": self.imaginary_threshold,
        }

    def _cartesian(self, basis: str) -> bool:
        return _cartesian_default(basis) if self.cartesian is None else bool(self.cartesian)

    def cache_key(self, request: QMRequest) -> str:
        payload = {
            "input_sha256": _sha256(Path(request.input).read_bytes()),
            "settings": self.settings(request),
            "versions": {k: v for k, v in _versions().items() if k not in ("numpy", "python")},
        }
        return _sha256(json.dumps(payload, sort_keys=True).encode())[:32]

    # -- the call ------------------------------------------------------------------------

    def run(self, request: QMRequest, output: Path) -> QMResult:
        path = Path(request.input)
        molecule = _read_input(path)
        prefix = path.stem
        progress = _Progress(self.progress, prefix)
        output = Path(output)
        key = self.cache_key(request)
        entry = output / CACHE_DIR / key
        if (entry / META).is_file():
            progress(f"reusing cache entry {entry}")
            meta = json.loads((entry / META).read_text())
            return QMResult(_publish(entry, output, prefix), meta, cached=True)
        meta, files = self._compute(request, molecule, prefix, progress)
        meta["cache_key"] = key
        _store(entry, files, meta)
        progress(f"wrote {output} (cache entry {key})")
        return QMResult(_publish(entry, output, prefix), meta, cached=False)

    def _compute(self, request: QMRequest, molecule: Molecule, prefix: str, progress: _Progress):
        path = Path(request.input)
        t0, cpu0 = time.perf_counter(), time.process_time()
        times: dict[str, float] = {}
        mol = self._mol(request, molecule)
        progress(f"{request.method}/{request.basis}: {mol.natm} atoms, {mol.nao} basis functions")
        mf = self._scf(request, mol, path, progress, "SCF at the input geometry")
        times["scf_input"] = time.perf_counter() - t0
        optimization = None
        if request.optimize:
            t = time.perf_counter()
            mol, optimization, log = self._optimize(request, mf, path, progress)
            times["optimization"] = time.perf_counter() - t
            mf = self._scf(request, mol, path, progress, "SCF at the optimized geometry")
        t = time.perf_counter()
        gradient = mf.nuc_grad_method().kernel()
        progress("analytic Hessian")
        hessian_raw = mf.Hessian().kernel()
        times["hessian"] = time.perf_counter() - t
        n = mol.natm
        hessian = np.asarray(hessian_raw).transpose(0, 2, 1, 3).reshape(3 * n, 3 * n)
        asymmetry = float(np.abs(hessian - hessian.T).max())
        hessian = 0.5 * (hessian + hessian.T)
        coords = mol.atom_coords(unit="Angstrom")
        elements = [mol.atom_pure_symbol(i) for i in range(n)]
        masses = [mass(e) for e in elements]
        modes = normal_modes(hessian, coords, masses)
        freqs = np.asarray(modes.frequencies, dtype=float)
        imaginary = freqs[freqs < -self.imaginary_threshold]
        times["total"] = time.perf_counter() - t0
        times["cpu_total"] = time.process_time() - cpu0
        final = Molecule(
            elements, coords, name=prefix, charge=request.charge, multiplicity=request.multiplicity
        )
        meta = self._meta(request, mf, mol, path, optimization, gradient, asymmetry, masses, freqs, times)
        meta["n_imaginary"] = len(imaginary)
        meta["imaginary_frequencies_cm1"] = [round(float(f), 4) for f in imaginary]
        if len(imaginary):
            meta["imaginary_mode"] = _mode_summary(modes.displacements[0], elements)
        _check_kind(path, request.kind, freqs, self.imaginary_threshold, optimization)
        progress(f"{len(imaginary)} imaginary mode(s); lowest {freqs[0]:.1f} cm⁻¹; E = {mf.e_tot:.10f} Eh")
        files = _bundle_files(prefix, final, hessian, freqs, float(mf.e_tot), meta)
        if optimization is not None:
            files[f"{prefix}-geometric.log"] = log.encode()
        return meta, files

    # -- PySCF ---------------------------------------------------------------------------

    def _mol(self, request: QMRequest, molecule: Molecule):
        from pyscf import gto

        atoms = [
            (e, tuple(float(c) for c in xyz))
            for e, xyz in zip(molecule.elements, molecule.coordinates, strict=True)
        ]
        try:
            return gto.M(
                atom=atoms,
                unit="Angstrom",
                basis=request.basis,
                charge=request.charge,
                spin=request.multiplicity - 1,
                cart=self._cartesian(request.basis),
                symmetry=False,
                verbose=0,
            )
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise QMError(
                f"{request.input}: PySCF refused the molecule ({request.basis}, charge {request.charge}, "
                f"multiplicity {request.multiplicity}): {exc}"
            ) from None

    def _mean_field(self, request: QMRequest, mol):
        from pyscf import dft, scf

        open_shell = request.multiplicity != 1
        if request.method.strip().upper() in _HF:
            mf = scf.UHF(mol) if open_shell else scf.RHF(mol)
        else:
            mf = dft.UKS(mol) if open_shell else dft.RKS(mol)
            try:
                mf.xc = request.method
                dft.libxc.parse_xc(request.method)
            except (KeyError, ValueError) as exc:
                raise QMError(f"{request.input}: unknown method {request.method!r} ({exc})") from None
            mf.grids.atom_grid = tuple(self.grid)
        mf.conv_tol = self.scf_conv_tol
        mf.max_cycle = self.scf_max_cycle
        mf.chkfile = None
        return mf

    def _scf(self, request: QMRequest, mol, path: Path, progress: _Progress, what: str):
        progress(what)
        mf = self._mean_field(request, mol)
        energy = mf.kernel()
        if not mf.converged:
            raise QMConvergenceError(
                f"{path}: SCF did not converge in {self.scf_max_cycle} cycles ({what}; "
                f"{request.method}/{request.basis}; last energy {energy:.8f} Eh)"
            )
        return mf

    def _optimize(self, request: QMRequest, mf, path: Path, progress: _Progress):
        from pyscf.geomopt import geometric_solver

        ts = request.kind == "transition_state"
        thresholds = CONVERGENCE_SETS[self.convergence_set]
        steps: list[dict[str, float]] = []

        def callback(env: dict) -> None:
            grad = np.asarray(env["gradients"])
            steps.append({"energy": float(env["energy"]), "gmax": float(np.abs(grad).max())})
            progress(
                f"optimization step {len(steps)}: E = {env['energy']:.10f} Eh, "
                f"max |g| = {steps[-1]['gmax']:.2e} Eh/Bohr"
            )

        progress(
            ("transition-state search" if ts else "minimization") + f" (geomeTRIC, {self.convergence_set})"
        )
        with tempfile.TemporaryDirectory(prefix="q2mm-geometric-") as work:
            log_ini = Path(work) / "log.ini"
            log_ini.write_text(_LOG_INI)
            options: dict[str, Any] = dict(
                convergence_set=self.convergence_set,
                transition=ts,
                logIni=str(log_ini),
                prefix=str(Path(work) / "geometric"),
            )
            if ts:
                options["hessian"] = True  # PySCF writes the analytic Hessian for geomeTRIC's first step
                progress("analytic Hessian for the transition-state search")
            try:
                converged, mol = geometric_solver.kernel(
                    mf, assert_convergence=True, callback=callback, maxsteps=self.max_steps, **options
                )
            except RuntimeError as exc:  # an SCF inside a step did not converge
                raise QMConvergenceError(
                    f"{path}: optimization step {len(steps) + 1} failed: {exc}"
                ) from None
            log_path = Path(work) / "geometric.log"
            log = log_path.read_text() if log_path.is_file() else ""
        if not converged:
            last = steps[-1] if steps else {"energy": float("nan"), "gmax": float("nan")}
            raise QMConvergenceError(
                f"{path}: {'transition-state search' if ts else 'optimization'} did not converge in "
                f"{self.max_steps} steps (last E = {last['energy']:.8f} Eh, "
                f"max |g| = {last['gmax']:.2e} Eh/Bohr)"
            )
        info = {
            "optimizer": "geomeTRIC (TRIC internal coordinates) via pyscf.geomopt.geometric_solver",
            "transition": ts,
            "initial_hessian": "analytic (PySCF) at the input geometry" if ts else "geomeTRIC default guess",
            "convergence_set": self.convergence_set,
            "thresholds": {
                "energy_hartree": thresholds["energy"],
                "grms_hartree_per_bohr": thresholds["grms"],
                "gmax_hartree_per_bohr": thresholds["gmax"],
                "drms_angstrom": thresholds["drms"],
                "dmax_angstrom": thresholds["dmax"],
            },
            "max_steps": self.max_steps,
            "steps": len(steps),
            "converged": True,
            "energies_hartree": [s["energy"] for s in steps],
        }
        return mol, info, _ANSI.sub("", log)

    def _meta(self, request, mf, mol, path, optimization, gradient, asymmetry, masses, freqs, times):
        from pyscf import lib

        dft_method = request.method.strip().upper() not in _HF
        g = np.asarray(gradient)
        return {
            "name": path.stem,
            "input": str(path),
            "input_sha256": _sha256(path.read_bytes()),
            "program": "pyscf",
            "versions": _versions(),
            "method": request.method,
            "basis": request.basis,
            "cartesian_basis": bool(mol.cart),
            "n_basis_functions": int(mol.nao),
            "reference": type(mf).__name__,
            "xc": mf.xc if dft_method else None,
            "xc_libxc": _xc_description(mf.xc) if dft_method else None,
            "grid": _grid_description(mf) if dft_method else None,
            "charge": request.charge,
            "multiplicity": request.multiplicity,
            "kind": request.kind,
            "optimize": request.optimize,
            "scf": {
                "conv_tol_hartree": self.scf_conv_tol,
                "max_cycle": self.scf_max_cycle,
                "converged": True,
            },
            "optimization": optimization,
            "energy_hartree": float(mf.e_tot),
            "residual_gradient_hartree_per_bohr": {
                "max": float(np.abs(g).max()),
                "rms": float(np.sqrt(np.mean(g**2))),
            },
            "hessian": {
                "units": "Hartree/Bohr^2, Cartesian, not mass-weighted",
                "method": "analytic (pyscf.hessian), DFT without grid-weight response"
                if dft_method
                else "analytic (pyscf.hessian)",
                "max_asymmetry_before_symmetrizing": asymmetry,
            },
            "frequencies_cm1": [round(float(f), 4) for f in freqs],
            "imaginary_threshold_cm1": self.imaginary_threshold,
            "masses_amu": masses,
            "masses_source": "q2mm.model.elements: most abundant isotope (AME2016), as Gaussian uses",
            "frequency_method": "q2mm.vibrations.normal_modes: mass-weighted, Eckart-projected",
            "threads": lib.num_threads(),
            "wall_time_s": {k: round(v, 2) for k, v in times.items() if not k.startswith("cpu")},
            "cpu_time_s": round(times["cpu_total"], 2),
            "host": platform.node(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }


# -- helpers ---------------------------------------------------------------------------


def _read_input(path: Path) -> Molecule:
    if not path.is_file():
        raise QMError(f"{path}: input structure not found")
    frames = read_xyz(path)
    if len(frames) != 1:
        raise ParseError(path, None, "exactly one XYZ frame", f"{len(frames)} frames")
    return frames[0]


def _xc_description(xc: str) -> str:
    """The functional as libxc's canonical names, with its exact-exchange fraction."""
    from pyscf.dft import libxc

    _, terms = libxc.parse_xc(xc)
    parts = [f"{float(weight):g}*{_xc_name(int(code))}" for code, weight in terms]
    text = f"libxc {' + '.join(parts)}; exact exchange {float(libxc.hybrid_coeff(xc)):g}"
    if any(int(code) == B3LYP_VWN_RPA for code, _ in terms):
        text += " (B3LYP with VWN-RPA local correlation: Gaussian's B3LYP, not the VWN5 B3LYP5)"
    return text


def _xc_name(code: int) -> str:
    """libxc's canonical name (LDA_/GGA_/MGGA_/HYB_ prefix) for a functional number."""
    from pyscf.dft import libxc

    names = sorted(k for k, v in libxc.XC_CODES.items() if v == code and "_" in k)
    canonical = [n for n in names if n.startswith(("LDA_", "GGA_", "MGGA_", "HYB_"))]
    return (canonical or names or [f"libxc#{code}"])[0]


def _grid_description(mf) -> dict[str, Any]:
    grids = mf.grids
    if grids.coords is None:
        grids.build()
    return {
        "atom_grid": list(grids.atom_grid) if isinstance(grids.atom_grid, tuple) else grids.atom_grid,
        "prune": getattr(grids.prune, "__name__", str(grids.prune)),
        "radial": getattr(grids.radi_method, "__name__", str(grids.radi_method)),
        "becke_scheme": getattr(grids.becke_scheme, "__name__", str(grids.becke_scheme)),
        "n_points": int(grids.weights.size),
    }


def _mode_summary(displacement: np.ndarray, elements: list[str]) -> dict[str, Any]:
    """The imaginary mode's Cartesian displacement (unit length) and the atoms that
    move most, so the motion can be checked against the intended reaction."""
    d = np.asarray(displacement, dtype=float).reshape(-1, 3)
    amplitude = np.linalg.norm(d, axis=1)
    order = np.argsort(-amplitude)
    return {
        "displacement": np.round(d, 5).tolist(),
        "atoms_by_amplitude": [
            {"index": int(i), "element": elements[i], "amplitude": round(float(amplitude[i]), 4)}
            for i in order[: min(6, len(order))]
        ],
    }


def _check_kind(path: Path, kind: str, freqs: np.ndarray, threshold: float, optimization) -> None:
    imaginary = freqs[freqs < -threshold]
    listed = ", ".join(f"{f:.1f}" for f in imaginary) or "none"
    where = "optimized geometry" if optimization else "input geometry"
    if kind == "ground_state" and len(imaginary):
        raise StationaryPointError(
            f"{path}: declared ground_state, but the Hessian at the {where} has {len(imaginary)} imaginary "
            f"mode(s) below -{threshold:g} cm⁻¹: {listed} cm⁻¹"
        )
    if kind == "transition_state" and len(imaginary) != 1:
        raise StationaryPointError(
            f"{path}: declared transition_state, but the Hessian at the {where} has {len(imaginary)} "
            f"imaginary modes below -{threshold:g} cm⁻¹ (exactly one expected): {listed}; lowest "
            f"frequency {freqs[0]:.1f} cm⁻¹"
        )


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


def _bundle_files(
    prefix: str, molecule: Molecule, hessian, freqs, energy: float, meta: dict
) -> dict[str, bytes]:
    level = f"{meta['method']}/{meta['basis']}"
    with tempfile.TemporaryDirectory() as tmp:
        xyz = Path(tmp) / "x.xyz"
        write_xyz(xyz, molecule)
        xyz_bytes = xyz.read_bytes()
    freq_text = (
        f"# {prefix}: harmonic frequencies in cm^-1 (imaginary negative), {level}, PySCF analytic Hessian,\n"
        "# masses of the most abundant isotopes; translations and rotations projected out\n"
        + "".join(f"{f:.4f}\n" for f in freqs)
    )
    energy_text = f"# {prefix}: total energy in Hartree, {level}\n{energy:.12f}\n"
    return {
        f"{prefix}-optimized.xyz": xyz_bytes,
        f"{prefix}-hessian.npy": _npy_bytes(hessian),
        f"{prefix}-frequencies.txt": freq_text.encode(),
        f"{prefix}-energy.txt": energy_text.encode(),
    }


def _store(entry: Path, files: dict[str, bytes], meta: dict) -> None:
    """The cache entry appears whole or not at all: written in a sibling temporary
    folder, then renamed into place."""
    meta["files"] = {name: _sha256(data) for name, data in files.items()}
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.parent / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n")
        if entry.exists():  # a concurrent identical call finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish(entry: Path, output: Path, prefix: str) -> Path:
    """Copy the cache entry's files into the output folder, each atomically, meta.json
    last (so a folder whose meta.json names this cache key is complete)."""
    meta = json.loads((entry / META).read_text())
    for name, digest in meta["files"].items():
        data = (entry / name).read_bytes()
        if _sha256(data) != digest:
            raise QMError(f"{entry / name}: cache entry corrupted (checksum differs); delete {entry}")
        target = output / name
        if not target.is_file() or _sha256(target.read_bytes()) != digest:
            write_bytes_atomic(target, data)
    write_text_atomic(output / META, (entry / META).read_text())
    return output / f"{prefix}-hessian.npy"
