"""Jaguar input (.in) and output (.out) files.

Input: ``&gen`` options (``molchg``, ``multip``, ``iunit``), the ``&zmat`` geometry
(Cartesian rows ``label x y z``; Å unless ``iunit=0``, Bohr) and the ``&hess`` block:
the Cartesian Hessian in Hartree/Bohr² as Jaguar writes it after a frequency job —
lower triangle in column blocks of five, each block headed by its first column
number and each row led by its row number (1-based).

Output: the last geometry table (``… geometry:`` then ``angstroms``/``bohrs``), the
last ``SCFE:`` energy, charge and multiplicity, and the frequency section
(``frequencies`` rows, six modes per block, then one ``label X|Y|Z`` row per
Cartesian coordinate). Jaguar prints no Cartesian force constants in the output
(only per-mode "force const"), so the Hessian comes from the matching ``.in``.

Atom labels are element symbols followed by a number or tag (``Rh1``, ``H12``,
``C3a``): the element is the longest leading symbol that exists (``Rh`` before
``R``; ``Ca12`` means calcium, as in Jaguar itself).
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import numpy as np

from ..model import Molecule
from ..model import elements as _elements
from ..model.units import BOHR_TO_ANGSTROM, HARTREE_TO_KCALMOL
from .textlines import Lines, read_lines

_LABEL = re.compile(r"([A-Za-z]{1,2})")


def _label_element(lines: Lines, index: int, label: str) -> str:
    match = _LABEL.match(label)
    if match is None:
        raise lines.error(index, "an atom label starting with an element symbol", label)
    letters = match.group(1)
    try:
        return _elements.normalize_symbol(letters)
    except _elements.UnknownElementError:
        return lines.element(index, letters[0])


def _section(lines: Lines, name: str) -> tuple[int, int] | None:
    """(first body line, line of the closing '&') of ``&name``."""
    for i, text in enumerate(lines.lines):
        if text.strip().lower().split(" ")[0] == f"&{name}":
            for k in range(i + 1, len(lines)):
                if lines.lines[k].strip().startswith("&"):
                    return i + 1, k
            raise lines.error(len(lines), f"the '&' closing &{name}", "end of file")
    return None


def _gen_options(lines: Lines) -> dict[str, tuple[int, str]]:
    section = _section(lines, "gen")
    options: dict[str, tuple[int, str]] = {}
    if section is not None:
        for i in range(*section):
            for item in lines.lines[i].split():
                key, sep, value = item.partition("=")
                if sep:
                    options[key.lower()] = (i, value)
    return options


def _zmat(lines: Lines, angstrom: bool) -> tuple[list[str], np.ndarray]:
    section = _section(lines, "zmat")
    if section is None:
        raise lines.error(None, "a &zmat geometry section", "none")
    symbols, coords = [], []
    for i in range(*section):
        if not lines.lines[i].strip():
            continue
        tokens = lines.fields(i, count=4, what="a Cartesian &zmat row 'label x y z'")
        symbols.append(_label_element(lines, i, tokens[0]))
        coords.append([lines.number(i, t, "a Cartesian coordinate") for t in tokens[1:]])
    if not symbols:
        raise lines.error(section[0], "atoms in &zmat")
    xyz = np.array(coords)
    return symbols, xyz if angstrom else xyz * BOHR_TO_ANGSTROM


def _hess(lines: Lines, n_atoms: int) -> np.ndarray | None:
    section = _section(lines, "hess")
    if section is None:
        return None
    dimension = 3 * n_atoms
    hessian = np.zeros((dimension, dimension))
    filled = np.zeros((dimension, dimension), dtype=bool)
    column = None
    for i in range(*section):
        tokens = lines.lines[i].split()
        if not tokens:
            continue
        if len(tokens) == 1:
            column = lines.integer(i, tokens[0], "a column-block number") - 1
            if not 0 <= column < dimension:
                raise lines.error(i, f"a column number in 1..{dimension}")
            continue
        if column is None or len(tokens) > 6:
            raise lines.error(i, "a column-block number, then rows 'row v1 … v5'")
        row = lines.integer(i, tokens[0], "a row number") - 1
        if not column <= row < dimension or column + len(tokens) - 1 > row + 1:
            raise lines.error(i, f"a lower-triangle row between {column + 1} and {dimension}")
        for offset, token in enumerate(tokens[1:]):
            value = lines.number(i, token, "a Hessian element")
            hessian[row, column + offset] = hessian[column + offset, row] = value
            filled[row, column + offset] = True
    if not filled[np.tril_indices(dimension)].all():
        raise lines.error(section[1], f"every lower-triangle element of a {dimension}×{dimension} &hess")
    return hessian


def read_jaguar_input(path: str | Path) -> Molecule:
    lines = read_lines(path)
    options = _gen_options(lines)

    def option(key: str, default: int) -> int:
        if key not in options:
            return default
        at, value = options[key]
        return lines.integer(at, value, f"an integer {key}")

    unit = option("iunit", 1)
    if unit not in (0, 1, 2):
        raise lines.error(options["iunit"][0], "iunit 0 (bohr), 1 or 2 (angstrom)")
    symbols, coords = _zmat(lines, angstrom=unit != 0)
    return Molecule(
        elements=symbols,
        coordinates=coords,
        name=Path(path).name.removesuffix(".in").removesuffix(".01"),
        charge=option("molchg", 0),
        multiplicity=option("multip", 1),
        hessian=_hess(lines, len(symbols)),
        source=str(path),
    )


@attrs.frozen
class JaguarInput:
    name: str = "jaguar-in"
    suffixes: tuple[str, ...] = (".in",)

    def read(self, path: Path) -> list[Molecule]:
        return [read_jaguar_input(path)]


# --- output ---------------------------------------------------------------------------


def _out_geometry(lines: Lines) -> tuple[list[str], np.ndarray]:
    for i in range(len(lines) - 1, -1, -1):
        if not lines.lines[i].strip().endswith("geometry:"):
            continue
        unit = lines.line(i + 1, "the unit line of the geometry").strip()
        if unit not in ("angstroms", "bohrs", "bohr"):
            continue  # a heading that happens to end in 'geometry:', not a table
        if lines.line(i + 2, "the 'atom x y z' header").split() != ["atom", "x", "y", "z"]:
            raise lines.error(i + 2, "the 'atom x y z' header")
        symbols, coords = [], []
        k = i + 3
        while lines.line(k, "a geometry row or a blank line").strip():
            tokens = lines.fields(k, count=4, what="a geometry row 'label x y z'")
            symbols.append(_label_element(lines, k, tokens[0]))
            coords.append([lines.number(k, t, "a coordinate") for t in tokens[1:]])
            k += 1
        if not symbols:
            raise lines.error(k, "atoms in the geometry table")
        xyz = np.array(coords)
        return symbols, xyz * (1.0 if unit == "angstroms" else BOHR_TO_ANGSTROM)
    raise lines.error(None, "a 'geometry:' table", "none")


def _out_frequencies(lines: Lines, n_atoms: int) -> tuple[np.ndarray, np.ndarray] | None:
    rows = [i for i, text in enumerate(lines.lines) if text.startswith("  frequencies ")]
    if not rows:
        return None
    frequencies, modes = [], []
    for i in rows:
        values = [lines.number(i, t, "a frequency") for t in lines.lines[i].split()[1:]]
        if not 1 <= len(values) <= 6:
            raise lines.error(i, "one to six frequencies")
        first = next(
            (k for k in range(i + 1, i + 12) if lines.line(k, "normal-mode rows").split()[1:2] == ["X"]), None
        )
        if first is None:
            raise lines.error(i, "normal-mode rows 'label X …' within 10 lines")
        block = np.empty((len(values), 3 * n_atoms))
        for row in range(3 * n_atoms):
            k = first + row
            tokens = lines.fields(k, count=2 + len(values), what="a normal-mode row 'label X|Y|Z …'")
            if tokens[1] != "XYZ"[row % 3]:
                raise lines.error(k, f"the {'XYZ'[row % 3]} row of atom {row // 3 + 1}")
            block[:, row] = [lines.number(k, t, "a displacement") for t in tokens[2:]]
        frequencies += values
        modes += list(block)
    return np.array(frequencies), np.array(modes)


def _last_value(lines: Lines, pattern: str) -> tuple[int, str] | None:
    compiled = re.compile(pattern)
    for i in range(len(lines) - 1, -1, -1):
        match = compiled.search(lines.lines[i])
        if match:
            return i, match.group(1)
    return None


def read_jaguar_output(path: str | Path) -> Molecule:
    lines = read_lines(path)
    symbols, coords = _out_geometry(lines)
    fields: dict = {}
    energy = _last_value(lines, r"SCFE: .*?(-?\d+\.\d+)\s+hartrees")
    if energy is not None:
        fields["energy"] = lines.number(energy[0], energy[1], "the SCF energy") * HARTREE_TO_KCALMOL
    for key, pattern in (
        ("charge", r"net molecular charge:\s+(\S+)"),
        ("multiplicity", r"^\s+multiplicity:\s+(\S+)"),
    ):
        found = _last_value(lines, pattern)
        if found is not None:
            fields[key] = lines.integer(found[0], found[1], f"an integer {key}")
    vibrations = _out_frequencies(lines, len(symbols))
    if vibrations is not None:
        fields.update(frequencies=vibrations[0], normal_modes=vibrations[1])
    job = _last_value(lines, r"^\s*Job name:\s+(\S+)")
    return Molecule(
        elements=symbols,
        coordinates=coords,
        name=job[1] if job is not None else Path(path).stem,
        source=str(path),
        **fields,
    )


@attrs.frozen
class JaguarOutput:
    name: str = "jaguar-out"
    suffixes: tuple[str, ...] = (".out",)

    def read(self, path: Path) -> list[Molecule]:
        return [read_jaguar_output(path)]
