"""Tripos mol2: atoms with their type column, bonds, one or many molecules per file.

Each ``@<TRIPOS>MOLECULE`` record gives the name and the atom/bond counts; the
``@<TRIPOS>ATOM`` rows ``id name x y z type …`` give coordinates (Å) and the type
kept verbatim in ``atom_types`` (SYBYL ``C.3`` or, as MacroModel writes them, MM3*
names like ``C2``); ``@<TRIPOS>BOND`` rows ``id a b order`` give ``bonds``. Every
listed bond is kept, including order ``nc`` ("not connected"): MacroModel writes the
partial bonds of a transition state (metal–ligand, forming C–H) that way, and the
force field has parameters for them.

Element: the part of a SYBYL type before the dot (``C.ar`` → C); otherwise the
atom name's leading letters, two of them only when the type starts with the same
two letters (name ``RH``/type ``RH`` → Rh, name ``CA``/type ``C.ar`` → C).
"""

from __future__ import annotations

from pathlib import Path

import attrs

from ..model import Molecule
from ..model import elements as _elements
from .textlines import Lines, read_lines

_RECORD = "@<TRIPOS>"


def _element(lines: Lines, index: int, name: str, atom_type: str) -> str:
    if "." in atom_type:
        return lines.element(index, atom_type.split(".", 1)[0])
    letters = ""
    for char in name:
        if not char.isalpha() or len(letters) == 2:
            break
        letters += char
    if len(letters) == 2 and atom_type[:2].lower() == letters.lower():
        try:
            return _elements.normalize_symbol(letters)
        except _elements.UnknownElementError:
            pass
    if not letters:
        raise lines.error(index, "an atom name starting with an element symbol", name)
    return lines.element(index, letters[0])


def _records(lines: Lines, start: int, stop: int) -> dict[str, int]:
    """Record name → index of its first body line, within one molecule."""
    return {
        lines.lines[i].strip()[len(_RECORD) :].upper(): i + 1
        for i in range(start, stop)
        if lines.lines[i].strip().startswith(_RECORD)
    }


def _molecule(lines: Lines, start: int, stop: int, source: str) -> Molecule:
    records = _records(lines, start, stop)
    name = lines.line(start + 1, "the molecule name").strip()
    counts = lines.fields(start + 2, at_least=1, what="the counts line 'atoms [bonds …]'")
    n_atoms = lines.integer(start + 2, counts[0], "the number of atoms")
    n_bonds = lines.integer(start + 2, counts[1], "the number of bonds") if len(counts) > 1 else 0
    if n_atoms < 1 or n_bonds < 0:
        raise lines.error(start + 2, "a positive atom count and a non-negative bond count")
    if "ATOM" not in records:
        raise lines.error(start, f"an {_RECORD}ATOM record", None)
    symbols, coords, types = [], [], []
    for atom in range(n_atoms):
        k = records["ATOM"] + atom
        if k >= stop:
            raise lines.error(k, f"{n_atoms} atom rows", "the next record")
        tokens = lines.fields(k, at_least=6, what="an atom row 'id name x y z type …'")
        coords.append([lines.number(k, t, "a coordinate") for t in tokens[2:5]])
        types.append(tokens[5])
        symbols.append(_element(lines, k, tokens[1], tokens[5]))
    bonds = set()
    if n_bonds:
        if "BOND" not in records:
            raise lines.error(start, f"a {_RECORD}BOND record for {n_bonds} bonds", None)
        for row in range(n_bonds):
            k = records["BOND"] + row
            if k >= stop:
                raise lines.error(k, f"{n_bonds} bond rows", "the next record")
            tokens = lines.fields(k, at_least=4, what="a bond row 'id atom atom order'")
            a, b = (lines.integer(k, t, "an atom id") for t in tokens[1:3])
            if not (1 <= a <= n_atoms and 1 <= b <= n_atoms) or a == b:
                raise lines.error(k, f"two different atom ids in 1..{n_atoms}")
            bonds.add(tuple(sorted((a - 1, b - 1))))
    return Molecule(
        elements=symbols, coordinates=coords, name=name, atom_types=types, bonds=sorted(bonds), source=source
    )


def read_mol2(path: str | Path) -> list[Molecule]:
    lines = read_lines(path)
    starts = [i for i, text in enumerate(lines.lines) if text.strip().upper() == f"{_RECORD}MOLECULE"]
    if not starts:
        raise lines.error(None, f"a {_RECORD}MOLECULE record", "none")
    ends = [*starts[1:], len(lines)]
    return [_molecule(lines, a, b, str(path)) for a, b in zip(starts, ends, strict=True)]


@attrs.frozen
class Mol2Format:
    name: str = "mol2"
    suffixes: tuple[str, ...] = (".mol2",)

    def read(self, path: Path) -> list[Molecule]:
        return read_mol2(path)
