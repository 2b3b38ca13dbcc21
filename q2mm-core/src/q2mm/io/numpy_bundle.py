"""QM data stored as a bundle of files sharing a prefix (what Psi4/PySCF scripts write):

- ``<prefix>-optimized.xyz`` — the geometry (Å), plain XYZ, one frame;
- ``<prefix>-hessian.npy`` — the Cartesian Hessian (3N, 3N) in Hartree/Bohr², not
  mass-weighted;
- ``<prefix>-frequencies.txt`` — optional, cm⁻¹, whitespace separated, ``#`` comments;
- ``<prefix>-energy.txt`` — optional, one energy in Hartree, ``#`` comments.

The reader is chosen by the ``.npy`` suffix and finds the siblings from its name;
:func:`read_bundle` takes explicit paths instead. The bundle holds no charge or
multiplicity, so they stay at the Molecule defaults (0, 1). The name is the XYZ
comment line, or the prefix when that is empty.
"""

from __future__ import annotations

import tokenize
from pathlib import Path

import attrs
import numpy as np
from numpy.lib import format as npformat

from ..errors import ParseError
from ..model import Molecule
from ..model.units import HARTREE_TO_KCALMOL
from .textlines import read_lines
from .xyz import read_xyz

HESSIAN_SUFFIX = "-hessian.npy"
#: Largest relative asymmetry accepted in a stored Hessian.
SYMMETRY_TOLERANCE = 1e-6


def _numbers(path: Path) -> list[float]:
    lines = read_lines(path)
    values = []
    for i, line in enumerate(lines.lines):
        text = line.partition("#")[0]
        values += [lines.number(i, token) for token in text.split()]
    return values


def _hessian(path: Path, n_atoms: int) -> np.ndarray:
    """The header is checked before the data is loaded, so a corrupted shape cannot
    ask for an absurd allocation."""
    expected = (3 * n_atoms, 3 * n_atoms)
    try:
        with path.open("rb") as handle:
            version = npformat.read_magic(handle)
            header = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
            shape, _, dtype = header(handle)
            if shape != expected or dtype.kind != "f":
                raise ParseError(
                    path, None, f"a {expected} float Hessian for {n_atoms} atoms", f"{shape} of {dtype}"
                )
            array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, SyntaxError, tokenize.TokenError) as exc:  # numpy's header parsing
        raise ParseError(path, None, "a NumPy .npy array", f"{type(exc).__name__}: {exc}") from None
    array = np.asarray(array, dtype=float)
    if not np.isfinite(array).all():
        raise ParseError(path, None, "finite Hessian elements", "NaN or infinity")
    scale = max(float(np.abs(array).max()), 1e-300)
    if float(np.abs(array - array.T).max()) > SYMMETRY_TOLERANCE * scale:
        raise ParseError(path, None, "a symmetric Hessian", "an asymmetric matrix")
    return array


def read_bundle(
    xyz: str | Path,
    hessian: str | Path | None = None,
    frequencies: str | Path | None = None,
    energy: str | Path | None = None,
) -> Molecule:
    """One structure from explicit paths (any of the QM files may be omitted)."""
    frames = read_xyz(xyz)
    if len(frames) != 1:
        raise ParseError(xyz, None, "exactly one XYZ frame", f"{len(frames)} frames")
    molecule = frames[0]
    changes: dict = {
        "source": str(hessian if hessian is not None else xyz),
        "name": molecule.name or Path(xyz).stem.removesuffix("-optimized"),
    }
    if hessian is not None:
        changes["hessian"] = _hessian(Path(hessian), molecule.n_atoms)
    if frequencies is not None:
        values = _numbers(Path(frequencies))
        if not values or len(values) > 3 * molecule.n_atoms:
            raise ParseError(
                frequencies, None, f"1 to {3 * molecule.n_atoms} frequencies", f"{len(values)} values"
            )
        changes["frequencies"] = values
    if energy is not None:
        values = _numbers(Path(energy))
        if len(values) != 1:
            raise ParseError(energy, None, "one energy in Hartree", f"{len(values)} values")
        changes["energy"] = values[0] * HARTREE_TO_KCALMOL
    return molecule.with_(**changes)


@attrs.frozen
class NumpyBundle:
    name: str = "numpy-bundle"
    suffixes: tuple[str, ...] = (".npy",)

    def read(self, path: Path) -> list[Molecule]:
        path = Path(path)
        if not path.name.endswith(HESSIAN_SUFFIX):
            raise ParseError(path, None, f"a Hessian named <prefix>{HESSIAN_SUFFIX}", path.name)
        prefix = path.name[: -len(HESSIAN_SUFFIX)]

        def sibling(suffix: str) -> Path:
            return path.with_name(prefix + suffix)

        xyz = sibling("-optimized.xyz")
        if not xyz.is_file():
            raise ParseError(path, None, f"the geometry {xyz.name} beside the Hessian", "no such file")
        optional = {key: sibling(f"-{key}.txt") for key in ("frequencies", "energy")}
        return [read_bundle(xyz, path, **{k: p for k, p in optional.items() if p.is_file()})]
