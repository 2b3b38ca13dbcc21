"""MacroModel files: Maestro structures (.mae), MacroModel output (.mmo), atom.typ.

.mae — every ``f_m_ct`` block is one structure: title, atoms (``m_atom`` table:
coordinates in Å, ``i_m_atomic_number``, MacroModel type ``i_m_mmod_type``, optional
``i_m_formal_charge`` summed into the charge) and bonds (``m_bond``; listed once or
in both directions; zero-order bonds, which MacroModel uses for the partial bonds of
a transition state, are kept). Atom types are the MacroModel type numbers as
strings ("2", "41", "250"): the number → MM3* name table (C2, H1, RH, …) lives in
Schrödinger's atom.typ, which is not redistributable; the project's
``data/rh-enamide/atom.typ`` lists only the custom types (201–206, 250–254, 62).
Pass ``MaeFormat(type_names=read_atom_typ(path))`` to name the types a table knows;
numbers it does not know stay numbers.

.mmo — MacroModel's term-by-term listing of the force-field interactions: for each
structure the stretch, bend (with stretch-bend), proper torsion and improper torsion
interactions, each with the 1-based line of the .fld row that parameterized it
("FF Line"). :func:`read_mmo` returns them per structure; bend–bend and
torsion cross-term sections carry no FF line and are not returned. The listing of a
structure precedes the box that names it ("Input Structure Name").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import attrs
import numpy as np

from ..model import Molecule
from . import fortran
from .textlines import Lines, read_lines

# --- Maestro (.mae) ----------------------------------------------------------------------

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|#[^#]*#|[{}]|[^\s{}]+')
_MAX_DEPTH = 16


@attrs.frozen
class _Block:
    name: str
    line: int
    keys: list[str]
    values: dict[str, str]
    rows: list[tuple[int, list[str]]]  # tables: (line, values without the row index)
    declared_rows: int | None
    children: list[_Block]


class _Tokens:
    """The .mae token stream, each token with its 0-based line."""

    def __init__(self, lines: Lines) -> None:
        self.lines = lines
        self.items: list[tuple[int, str]] = []
        for i, text in enumerate(lines.lines):
            for token in _TOKEN.findall(text):
                if not token.startswith("#"):
                    self.items.append((i, token))
        self.position = 0

    def peek(self) -> tuple[int, str] | None:
        return self.items[self.position] if self.position < len(self.items) else None

    def next(self, what: str) -> tuple[int, str]:
        item = self.peek()
        if item is None:
            raise self.lines.error(len(self.lines), what, "end of file")
        self.position += 1
        return item

    def expect(self, token: str) -> int:
        line, found = self.next(f"'{token}'")
        if found != token:
            raise self.lines.error(line, f"'{token}'", found)
        return line


def _value(token: str) -> str:
    if token.startswith('"'):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return "" if token == "<>" else token


def _block(tokens: _Tokens, name: str, line: int, depth: int) -> _Block:
    if depth > _MAX_DEPTH:
        raise tokens.lines.error(line, f"blocks nested at most {_MAX_DEPTH} deep")
    tokens.expect("{")
    keys = []
    while (item := tokens.next("a property name or ':::'"))[1] != ":::":
        keys.append(item[1])
    declared = None
    table = re.fullmatch(r"(\w+)\[(\d+)\]", name)
    if table:
        declared = int(table.group(2))
        name = table.group(1)
        rows = []
        while (item := tokens.next("a table row or ':::'"))[1] != ":::":
            values = [_value(tokens.next(f"{len(keys)} values in the {name} row")[1]) for _ in keys]
            rows.append((item[0], values))
        tokens.expect("}")
        return _Block(name, line, keys, {}, rows, declared, [])
    values = {key: _value(tokens.next(f"a value for {key}")[1]) for key in keys}
    children = []
    while (item := tokens.next("a nested block or '}'"))[1] != "}":
        children.append(_block(tokens, item[1], item[0], depth + 1))
    return _Block(name, line, keys, values, [], None, children)


def _blocks(lines: Lines) -> list[_Block]:
    tokens = _Tokens(lines)
    blocks = []
    while (item := tokens.peek()) is not None:
        if item[1] == "{":
            blocks.append(_block(tokens, "", item[0], 0))
        else:
            tokens.next("a block name")
            blocks.append(_block(tokens, item[1], item[0], 0))
    return blocks


def _table(lines: Lines, ct: _Block, name: str) -> _Block | None:
    found = [child for child in ct.children if child.name == name]
    if len(found) > 1:
        raise lines.error(found[1].line, f"one {name} table per structure")
    if found and found[0].declared_rows != len(found[0].rows):
        raise lines.error(
            found[0].line, f"{found[0].declared_rows} rows in {name}", f"{len(found[0].rows)} rows"
        )
    return found[0] if found else None


def _column(lines: Lines, table: _Block, key: str) -> int:
    if key not in table.keys:
        raise lines.error(table.line, f"an {key} column in {table.name}", None)
    return table.keys.index(key)


def _mae_molecule(lines: Lines, ct: _Block, type_names: Mapping[int, str], source: str) -> Molecule:
    atoms = _table(lines, ct, "m_atom")
    if atoms is None or not atoms.rows:
        raise lines.error(ct.line, "an m_atom table with atoms", None)
    columns = {k: _column(lines, atoms, k) for k in ("r_m_x_coord", "r_m_y_coord", "r_m_z_coord")}
    number_column = _column(lines, atoms, "i_m_atomic_number")
    type_column = atoms.keys.index("i_m_mmod_type") if "i_m_mmod_type" in atoms.keys else None
    charge_column = atoms.keys.index("i_m_formal_charge") if "i_m_formal_charge" in atoms.keys else None
    symbols, coords, types, charge = [], [], [], 0
    for line, values in atoms.rows:
        symbols.append(lines.element(line, values[number_column]))
        coords.append([lines.number(line, values[columns[k]], "a coordinate") for k in columns])
        if type_column is not None:
            number = lines.integer(line, values[type_column], "a MacroModel atom type number")
            types.append(type_names.get(number, str(number)))
        if charge_column is not None:
            charge += lines.integer(line, values[charge_column], "a formal charge")
    n = len(symbols)
    bonds = set()
    bond_table = _table(lines, ct, "m_bond")
    if bond_table is not None:
        ends = (_column(lines, bond_table, "i_m_from"), _column(lines, bond_table, "i_m_to"))
        for line, values in bond_table.rows:
            a, b = (lines.integer(line, values[c], "an atom number") for c in ends)
            if not (1 <= a <= n and 1 <= b <= n) or a == b:
                raise lines.error(line, f"a bond between two different atoms in 1..{n}")
            bonds.add(tuple(sorted((a - 1, b - 1))))
    return Molecule(
        elements=symbols,
        coordinates=np.array(coords),
        name=ct.values.get("s_m_title", ""),
        atom_types=types if type_column is not None else None,
        bonds=sorted(bonds),
        charge=charge,
        source=source,
    )


def read_mae(path: str | Path, type_names: Mapping[int, str] = MappingProxyType({})) -> list[Molecule]:
    lines = read_lines(path)
    structures = [b for b in _blocks(lines) if b.name == "f_m_ct"]
    if not structures:
        raise lines.error(None, "an f_m_ct structure block", "none")
    return [_mae_molecule(lines, ct, type_names, str(path)) for ct in structures]


def read_atom_typ(path: str | Path) -> dict[int, str]:
    """MacroModel type number → type name from an atom.typ file (``#`` comments;
    rows ``number atomic-number mass name …``)."""
    lines = read_lines(path)
    names = {}
    for i, text in enumerate(lines.lines):
        tokens = text.partition("#")[0].split()
        if tokens:
            if len(tokens) < 4:
                raise lines.error(i, "an atom type row 'number atomic-number mass name …'")
            names[lines.integer(i, tokens[0], "an atom type number")] = tokens[3]
    return names


def _frozen_names(value: Mapping[int, str]) -> Mapping[int, str]:
    return MappingProxyType({int(k): str(v) for k, v in dict(value).items()})


@attrs.frozen
class MaeFormat:
    name: str = "mae"
    suffixes: tuple[str, ...] = (".mae",)
    type_names: Mapping[int, str] = attrs.field(factory=dict, converter=_frozen_names)

    def read(self, path: Path) -> list[Molecule]:
        return read_mae(path, self.type_names)


# --- MacroModel output (.mmo) ------------------------------------------------------------


def _frozen_values(value: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType({str(k): float(v) for k, v in dict(value).items()})


@attrs.frozen
class MmoTerm:
    """One interaction as MacroModel evaluated it. ``atoms`` are 0-based; ``fld_line``
    is the 1-based line of the .fld row used; ``substructure`` marks rows from a
    substructure (``Select`` column "Subst"). ``values`` in the file's units:

    - bond: ``k`` (mdyn/Å), ``r0``, ``r`` (Å), ``energy`` (kJ/mol)
    - angle: ``k`` (mdyn·Å/rad²), ``k_strbnd`` (the stretch-bend constant MacroModel
      applied, mdyn/rad), ``theta0``, ``theta`` (degrees), ``energy`` (bend) and
      ``energy_strbnd`` (kJ/mol)
    - torsion, improper: ``v1``, ``v2``, ``v3`` (kcal/mol), ``phi`` (degrees),
      ``energy`` (kJ/mol)

    Two MM3* habits to know when following ``fld_line`` (both seen in the Rh-enamide
    set): a .fld row continued on a second line (flag ``1C…``) is reported by that
    continuation line, and a wildcard torsion row (``00 - X - Y - 00``) is shared
    over the n torsions about its bond, so the printed V's are the row's divided by n.
    """

    kind: str
    atoms: tuple[int, ...] = attrs.field(converter=tuple)
    fld_line: int
    substructure: bool
    values: Mapping[str, float] = attrs.field(converter=_frozen_values)


@attrs.frozen
class MmoStructure:
    """One structure of a .mmo: ``index`` is its 1-based position in the file."""

    index: int
    name: str
    terms: tuple[MmoTerm, ...] = attrs.field(converter=tuple)

    def of_kind(self, kind: str) -> tuple[MmoTerm, ...]:
        return tuple(t for t in self.terms if t.kind == kind)


@attrs.frozen
class _Section:
    kind: str
    title: str  # text before the count on the header line
    arity: int
    values: tuple[str, ...]
    columns: str  # a word the column header must contain


_SECTIONS = (
    _Section("bond", "BOND LENGTHS AND STRETCH ENERGIES", 2, ("k", "r0", "r", "energy"), "FF Line"),
    _Section(
        "angle",
        "ANGLES, BEND AND STRETCH BEND ENERGIES",
        3,
        ("k", "k_strbnd", "theta0", "theta", "energy", "energy_strbnd"),
        "KSBnd",
    ),
    _Section(
        "torsion", "DIHEDRAL ANGLES AND TORSIONAL ENERGIES", 4, ("v1", "v2", "v3", "phi", "energy"), "V3"
    ),
    _Section("improper", "", 4, ("v1", "v2", "v3", "phi", "energy"), ""),
)
_COUNT = re.compile(r"\s*(\D*?)\s*(\d+)\s+(\D+?)\s+interactions present\s*")
_KIND_WORDS = {
    "bond": "Stretch",
    "angle": "Bend",
    "torsion": "Proper Torsion",
    "improper": "Improper torsion",
}


def _row(lines: Lines, index: int, section: _Section) -> MmoTerm:
    tokens = lines.fields(
        index, at_least=section.arity + len(section.values) + 3, what=f"a {section.kind} row"
    )
    atoms = [lines.integer(index, t, "an atom number") - 1 for t in tokens[: section.arity]]
    if min(atoms) < 0:
        raise lines.error(index, "atom numbers from 1")
    start = section.arity
    numbers = [lines.number(index, t, "a number") for t in tokens[start : start + len(section.values)]]
    select = tokens[start + len(section.values)]
    lines.integer(index, tokens[start + len(section.values) + 1], "the Alts number")
    fld_line = lines.integer(index, tokens[-1], "the FF Line number")
    if fld_line < 1:
        raise lines.error(index, "a positive FF Line number", tokens[-1])
    return MmoTerm(
        kind=section.kind,
        atoms=atoms,
        fld_line=fld_line,
        substructure=select == "Subst",
        values=dict(zip(section.values, numbers, strict=True)),
    )


def _is_row(text: str, arity: int) -> bool:
    tokens = text.split()
    return len(tokens) > arity and all(map(fortran.is_unsigned, tokens[:arity]))


def _section_terms(lines: Lines, header: int, count: int, section: _Section) -> list[MmoTerm]:
    """The ``count`` rows after a section header: they start within 8 lines and are
    consecutive; the line after them must not be another row."""
    if count == 0:
        return []
    if section.columns and lines.find(section.columns, header, header + 8) is None:
        raise lines.error(header, f"the column header of the {section.kind} section ('{section.columns}')")
    first = next((k for k in range(header + 1, header + 9) if _is_row(lines.line(k), section.arity)), None)
    if first is None:
        raise lines.error(header, f"{count} {section.kind} rows within 8 lines")
    terms = [_row(lines, first + k, section) for k in range(count)]
    after = first + count
    if after < len(lines) and _is_row(lines.lines[after], section.arity):
        raise lines.error(after, f"{count} {section.kind} rows as the header says", "another row")
    return terms


def _structure_terms(lines: Lines, start: int, stop: int) -> list[MmoTerm]:
    terms = []
    for section in _SECTIONS:
        header, count = None, 0
        for i in range(start, stop):
            match = "interactions present" in lines.lines[i] and _COUNT.fullmatch(lines.lines[i])
            if match and match.group(1) == section.title and match.group(3) == _KIND_WORDS[section.kind]:
                if header is not None:
                    raise lines.error(i, f"one {section.kind} section per structure")
                header, count = i, int(match.group(2))
        if header is None:
            raise lines.error(start, f"a '{_KIND_WORDS[section.kind]} interactions present' section", None)
        terms += _section_terms(lines, header, count, section)
    return terms


def read_mmo(path: str | Path) -> list[MmoStructure]:
    lines = read_lines(path)
    starts = [i for i, text in enumerate(lines.lines) if _SECTIONS[0].title in text]
    if not starts:
        raise lines.error(None, f"a '{_SECTIONS[0].title}' section", "none")
    structures = []
    for number, (start, stop) in enumerate(zip(starts, [*starts[1:], len(lines)], strict=True), start=1):
        box = lines.find("Input Structure Name:", start, stop)
        if box is None:
            raise lines.error(stop - 1, f"the 'Input Structure Name:' box of structure {number}", None)
        name = lines.line(box + 1, "the structure name").strip().strip("*").strip()
        structures.append(MmoStructure(number, name, _structure_terms(lines, start, box)))
    return structures
