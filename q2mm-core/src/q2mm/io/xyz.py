"""XYZ files: plain (possibly many frames) and Tinker XYZ, told apart by content.

Plain XYZ: a count line, a comment line, then ``element x y z`` per atom (extra
columns ignored), repeated per frame. Tinker XYZ: ``count title`` on one line, then
``index name x y z type [connected atoms…]`` per atom; the integer types become
``atom_types`` (as strings) and the connectivity becomes ``bonds`` (0-based).

A file is Tinker when its first line holds more than the count (the title), or when
its second line already reads as Tinker atom 1 (``1 name x y z type``). Tinker atom
names are not element symbols in every force field: the element is the name when it
is written as a symbol (``C``, ``Cl``, ``Rh``), else its first letter (``CA`` → C).
"""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np

from ..errors import ConversionLossError
from ..model import Molecule
from ..model import elements as _elements
from . import fortran
from .atomic import write_text_atomic
from .textlines import Lines, read_lines


def _tinker_element(lines: Lines, index: int, name: str) -> str:
    if name[:1].isalpha() and name == name[:1].upper() + name[1:].lower():
        try:
            return _elements.normalize_symbol(name)
        except _elements.UnknownElementError:
            pass
    return lines.element(index, name[:1])


def _looks_tinker(lines: Lines) -> bool:
    if len(lines.line(0, "an atom count").split()) > 1:
        return True
    if len(lines) < 2:
        return False
    tokens = lines.lines[1].split()
    if len(tokens) < 6 or tokens[0] != "1":
        return False
    try:
        [fortran.real(t) for t in tokens[2:5]]
        fortran.integer(tokens[5])
    except ValueError:
        return False
    return True


def _count(lines: Lines, index: int) -> int:
    count = lines.integer(index, lines.fields(index, at_least=1, what="an atom count")[0], "an atom count")
    if count < 1:
        raise lines.error(index, "a positive atom count")
    return count


def _read_plain(lines: Lines, source: str) -> list[Molecule]:
    molecules, i = [], 0
    while i < len(lines):
        if not lines.lines[i].strip():
            i += 1
            continue
        n = _count(lines, i)
        title = lines.line(i + 1, "a comment line").strip()
        symbols, coords = [], []
        for k in range(i + 2, i + 2 + n):
            tokens = lines.fields(k, at_least=4, what="an atom line 'element x y z'")
            symbols.append(lines.element(k, tokens[0]))
            coords.append([lines.number(k, t, "a coordinate") for t in tokens[1:4]])
        molecules.append(Molecule(elements=symbols, coordinates=coords, name=title, source=source))
        i += 2 + n
    return molecules


def _read_tinker(lines: Lines, source: str) -> list[Molecule]:
    molecules, i = [], 0
    while i < len(lines):
        if not lines.lines[i].strip():
            i += 1
            continue
        n = _count(lines, i)
        head = lines.line(i).split(maxsplit=1)
        title = head[1].strip() if len(head) > 1 else ""
        start = i + 1
        first = lines.line(start, "Tinker atom 1").split()
        cell = None
        if len(first) == 6 and first[0] != "1":  # periodic box line: a b c alpha beta gamma
            cell = [lines.number(start, t, "a cell length or angle") for t in first]
            start += 1
        symbols, coords, types, bonds = [], [], [], set()
        for atom, k in enumerate(range(start, start + n)):
            tokens = lines.fields(k, at_least=6, what="a Tinker atom line 'index name x y z type ...'")
            if lines.integer(k, tokens[0], "the atom index") != atom + 1:
                raise lines.error(k, f"atom index {atom + 1}", tokens[0])
            symbols.append(_tinker_element(lines, k, tokens[1]))
            coords.append([lines.number(k, t, "a coordinate") for t in tokens[2:5]])
            types.append(str(lines.integer(k, tokens[5], "an integer atom type")))
            for token in tokens[6:]:
                other = lines.integer(k, token, "a connected atom index")
                if not 1 <= other <= n or other == atom + 1:
                    raise lines.error(k, f"connected atom indices in 1..{n} other than {atom + 1}", token)
                bonds.add(tuple(sorted((atom, other - 1))))
        molecules.append(
            Molecule(
                elements=symbols,
                coordinates=coords,
                name=title,
                atom_types=types,
                bonds=sorted(bonds),
                source=source,
                cell=cell,
            )
        )
        i = start + n
    return molecules


def read_xyz(path: str | Path) -> list[Molecule]:
    """Every frame of a plain or Tinker XYZ file."""
    lines = read_lines(path)
    if not any(line.strip() for line in lines.lines):
        raise lines.error(0, "an atom count", "an empty file")
    reader = _read_tinker if _looks_tinker(lines) else _read_plain
    return reader(lines, str(path))


@attrs.frozen
class XyzFormat:
    name: str = "xyz"
    suffixes: tuple[str, ...] = (".xyz",)

    def read(self, path: Path) -> list[Molecule]:
        return read_xyz(path)


def _coordinate_lines(molecule: Molecule) -> list[str]:
    return [f"{x:16.10f}{y:16.10f}{z:16.10f}" for x, y, z in np.asarray(molecule.coordinates)]


def write_xyz(path: str | Path, molecule: Molecule) -> None:
    """One plain XYZ frame; the comment line is the molecule's name."""
    body = [f"{e:<3}{xyz}" for e, xyz in zip(molecule.elements, _coordinate_lines(molecule), strict=True)]
    write_text_atomic(
        path, "\n".join([str(molecule.n_atoms), molecule.name.replace("\n", " "), *body]) + "\n"
    )


def write_tinker_xyz(path: str | Path, molecule: Molecule) -> None:
    """Tinker XYZ with the molecule's integer atom types and bonds as connectivity."""
    types = molecule.atom_types
    if types is None or not all(map(fortran.is_unsigned, types)):
        raise ConversionLossError(
            f"Tinker XYZ needs integer atom types; {molecule.name or 'the molecule'} has {types!r}"
        )
    neighbours: list[list[int]] = [[] for _ in range(molecule.n_atoms)]
    for i, j in molecule.bonds or ():
        neighbours[i].append(j + 1)
        neighbours[j].append(i + 1)
    rows = [
        f"{k + 1:6d}  {e:<3}{xyz}{int(t):6d}" + "".join(f"{n:6d}" for n in sorted(neighbours[k]))
        for k, (e, xyz, t) in enumerate(
            zip(molecule.elements, _coordinate_lines(molecule), types, strict=True)
        )
    ]
    title = molecule.name.replace("\n", " ")
    write_text_atomic(path, "\n".join([f"{molecule.n_atoms:6d}  {title}".rstrip(), *rows]) + "\n")
