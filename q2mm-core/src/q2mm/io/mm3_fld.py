"""MacroModel MM3* force fields (``.fld``).

The file is Fortran fixed-column text. Lines are told apart by their first two columns:
``-1`` (energy functions and their kJ/mol factors), ``-5`` (atom-type equivalences),
``-2`` (a block of parameter lines), ``-6`` (the per-type van der Waals block),
``-3`` (substructure boundaries), `` C`` (comments) and two-character interaction codes
on parameter lines, optionally prefixed by a lower-case letter for alternate parameters
(``a1``, ``a2``):

====  =====================  ================================================
code  interaction            columns 24-33 / 35-44 / 46-55 (F10.4 each)
====  =====================  ================================================
1     stretch                r0 (Å), k (mdyn/Å), bond dipole (debye)
2     bend                   θ0 (deg), k (mdyn·Å/rad²), bend-bend constant
3     stretch-bend           k (mdyn/rad)
4     torsion                V1, V2, V3 (kcal/mol); ``54`` lines add V4..V6
5     improper torsion       angle (must be 0), k
6     special vdW pair       r* (Å), ε (kcal/mol)
7     hydrogen bond          (kept as text)
8     torsion-stretch        (kept as text)
9     substructure pattern   SMILES-like, numbered positions
====  =====================  ================================================

Atom types sit in columns 5-6, 10-11, 15-16, 20-21 of main-section lines and 5-6, 9-10,
13-14, 17-18 of substructure lines, whose "types" may be pattern positions (``1``,
``2``) kept as the strings read. A line whose type and value columns are blank continues
the descriptors of the line above and holds no parameters.

Canonical values come from the header's factors (kJ/mol per file unit): a stretch
``k`` is ``k_file × STR / 4.184 / 2`` (601.99392 → 71.94, MM3's ½ k Δr² folded in),
bends likewise, stretch-bends ``k × S-B / 4.184`` (143.88), torsions ``V × TOR / 4.184``
(V/2 with phases 0, π, 0, π, 0, π). Code-5 lines are *periodic impropers*: MacroModel
evaluates ``IMP · k · (1 − cos 2φ)`` over the dihedral (t2, t1, t3, t4) — checked
against every improper energy in the Rh-enamide ``.mmo`` — so they become ``torsion``
rows with section ``"improper"``, ``k2 = k × IMP / 4.184`` (14.388 k), phase2 π, and
types written in the Amber improper order (t4, t3, t1, t2): centre third, dihedral of the
listed order, which is the same angle. The van der Waals offset (−0.077 for MM3
hydrogens) becomes the ``reduction`` 1 + offset = 0.923 that Tinker's MM3 uses.

Rows keep their 1-based line (the ``.mmo`` files name rows by it) and the default
key ``kind:types@line``. A bond dipole and a type's charge share their line with the
bond or vdW row and become rows of their own only when non-zero; the column stays
writable. Rows of substructures get the substructure's name as ``section``; those of
substructures whose name ends in ``OPT`` are the ones a fit optimizes
(:func:`opt_rows`).

Writing a force field read from a ``.fld`` rewrites only the value columns that changed
at the file's printed precision, so an unchanged force field comes back byte for byte.
New rows go after the last line of their code in their section; a force field from
another format is written as a fresh file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import attrs

from ..errors import ConversionLossError, ParseError
from ..model import Conventions, ForceField, FunctionalForm, Row, SourceText
from ..model.units import DEG_TO_RAD, KCAL_TO_KJ, KJ_TO_KCAL, MDYN_A_TO_KCALMOL_A2
from . import fftext
from .conversion import convention_losses
from .textformat import TextForceFieldFormat

FORMAT = "mm3-fld"
#: MacroModel's MM3*. Its bending sextic is Tinker's 2.2e-8, not 9.0e-10: with 2.2e-8 all
#: 1050 bend energies of the Rh-enamide .mmo (nine structures, Δθ up to 55°) come out to
#: the printed precision, with 9.0e-10 76 of them do not (up to 0.9 kJ/mol off at 30°).
CONVENTIONS = Conventions.mm3()
#: Section of periodic improper torsion rows (Amber order: centre third).
IMPROPER = "improper"

_DECIMALS = 4
_VALUE_COLUMNS = ((23, 33), (34, 44), (45, 55))
_VDW_COLUMNS = ((5, 15), (16, 26), (27, 37), (38, 48))
_MAIN_TYPE_COLUMNS = ((4, 6), (9, 11), (14, 16), (19, 21))
_SUB_TYPE_COLUMNS = ((4, 6), (8, 10), (12, 14), (16, 18))
_COMMENT_COLUMN = 96

#: Energy functions whose MacroModel form the canonical rows reproduce, by header name.
_EQUATIONS = {"STR": 3, "BND": 3, "S-B": 1, "TOR": 1, "IMP": 1, "VDW": 3}
#: Factors (kJ/mol per file unit) a fresh file states: MacroModel's own MM3* values.
_STANDARD_FACTORS = {
    "STR": 2 * MDYN_A_TO_KCALMOL_A2 * KCAL_TO_KJ,
    "BND": 2 * MDYN_A_TO_KCALMOL_A2 * KCAL_TO_KJ,
    "TOR": KCAL_TO_KJ / 2,
    "IMP": 0.2 * MDYN_A_TO_KCALMOL_A2 * KCAL_TO_KJ,
    "S-B": 2 * MDYN_A_TO_KCALMOL_A2 * KCAL_TO_KJ,
    "VDW": KCAL_TO_KJ,
}
#: MM3's torsion signs: V_n/2 (1 + (−1)^(n+1) cos nφ).
_TORSION_PHASES = {n: 0.0 if n % 2 else math.pi for n in range(1, 7)}


@attrs.frozen
class Substructure:
    """One substructure of the file. ``index`` is MacroModel's ``Subst N`` (1-based in
    file order); ``pattern`` the SMILES-like line whose numbered positions the rows'
    types refer to; ``opt`` whether its name ends in ``OPT``."""

    index: int
    name: str
    pattern: str
    line: int
    opt: bool
    row_keys: tuple[str, ...]


@attrs.frozen
class _Column:
    """Where a field is written: canonical = file value × scale + shift."""

    line: int  # 0-based
    start: int
    end: int
    scale: float = 1.0
    shift: float = 0.0
    #: Canonical value meant by a row that lacks the field (None: keep the file's).
    default: float | None = None

    def to_file(self, value: float) -> float:
        return (value - self.shift) / self.scale


@attrs.frozen
class _Fixed:
    """A field the format implies (MM3 torsion phases): writable only unchanged."""

    value: float


@attrs.define
class _Slot:
    kind: str
    types: tuple[str, ...]
    line: int  # 1-based
    section: str | None
    comment: str
    fields: dict[str, _Column | _Fixed]
    values: dict[str, float]
    present: bool = True

    @property
    def key(self) -> str:
        return self.row().key

    def row(self) -> Row:
        return Row(
            self.kind, self.types, self.values, line=self.line, section=self.section, comment=self.comment
        )


@attrs.define
class _Sub:
    index: int
    name: str
    pattern: str
    line: int
    slots: list[_Slot] = attrs.Factory(list)


@attrs.define
class _Parsed:
    slots: list[_Slot] = attrs.Factory(list)
    substructures: list[_Sub] = attrs.Factory(list)
    equivalences: dict[str, str] = attrs.Factory(dict)
    unmodelled: list[tuple[int, str]] = attrs.Factory(list)
    #: Continuation line → the line whose parameters it shares (MacroModel may name either).
    continuations: dict[int, int] = attrs.Factory(dict)
    #: Last 0-based line of each (section, code) group of parameter lines.
    group_end: dict[tuple[str | None, str], int] = attrs.Factory(dict)


class _Parser:
    def __init__(self, lines: Sequence[str], path: str):
        self.lines = lines
        self.path = path
        self.out = _Parsed()
        self.block = "title"
        self.sub: _Sub | None = None
        self.sub_name = ""
        self.factors: dict[str, float] = {}
        self.previous: _Slot | None = None
        self.last_row_line: int | None = None

    def error(self, n: int, expected: str, found: str | None = None) -> ParseError:
        return ParseError(self.path, n, expected, found)

    def run(self) -> _Parsed:
        for index, raw in enumerate(self.lines):
            text = fftext.body(raw)
            if text.strip():
                self.line(index, text)
        if self.block == "title":
            raise ParseError(self.path, None, "an MM3* force field: the -1 block of energy functions")
        self.close_sub()
        return self.out

    def line(self, index: int, text: str) -> None:
        n = index + 1
        if text.startswith("-"):
            self.marker(n, text.split()[0])
        elif text[:2] == " C" and (len(text) == 2 or text[2].isspace()):
            if self.block == "subhead":
                self.sub_name = text[2:].strip()
        elif self.block == "title":
            pass
        elif self.block == "header":
            self.header(n, text)
        elif self.block == "equivalences":
            self.equivalence(n, text)
        elif self.block == "vdw":
            self.vdw(index, text)
        elif self.block == "parameters":
            self.parameter(index, text)
        elif self.block == "subhead":
            self.pattern(n, text)
        else:
            raise self.error(n, "a comment or a section marker after the van der Waals block", text.strip())

    def marker(self, n: int, head: str) -> None:
        self.previous = self.last_row_line = None
        if head == "-1":
            self.block = "header"
        elif head == "-5":
            self.block = "equivalences"
        elif head == "-6":
            self.block = "vdw"
        elif head == "-3":
            self.close_sub()
            self.block, self.sub_name = "subhead", ""
        elif head == "-2":
            if self.block == "subhead":
                raise self.error(n, "a substructure pattern line (code 9) before -2")
            self.block = "parameters"
        else:
            raise self.error(n, "a section marker -1, -2, -3, -5 or -6", head)

    def close_sub(self) -> None:
        if self.sub is not None:
            self.out.substructures.append(self.sub)
            self.sub = None

    def header(self, n: int, text: str) -> None:
        fields = text.split()
        if len(fields) < 3 or fields[0] != "0":
            raise self.error(n, "a header line '0 NAME equation [factor]'", text.strip())
        name = fields[1]
        if name in ("SEL", "ALT"):
            return
        equation = fftext.integer(fields[2], self.path, n, f"the {name} equation number")
        expected = _EQUATIONS.get(name)
        if expected is not None and equation != expected:
            raise self.error(n, f"{name} equation {expected} (the MM3* form q2mm evaluates)", str(equation))
        if len(fields) > 3:
            factor = fftext.number(fields[3], self.path, n, f"the {name} factor")
            if factor <= 0:
                raise self.error(n, f"a positive {name} factor", fields[3])
            self.factors[name] = factor

    def factor(self, name: str, n: int) -> float:
        if name not in self.factors:
            raise self.error(n, f"the {name} factor in the -1 header before this line")
        return self.factors[name] * KJ_TO_KCAL

    def equivalence(self, n: int, text: str) -> None:
        fields = text.split()
        if len(fields) < 3:
            raise self.error(n, "an equivalence line 'N ALIAS TYPE [TYPE ...]'", text.strip())
        fftext.integer(fields[0], self.path, n, "the equivalence number")
        self.out.equivalences[fields[1]] = " ".join(fields[2:])

    def pattern(self, n: int, text: str) -> None:
        if text[:2] != " 9" or not text[2:].strip():
            raise self.error(n, "the substructure pattern line (code 9)", text.strip())
        name = self.sub_name or f"substructure {len(self.out.substructures) + 1}"
        self.sub = _Sub(len(self.out.substructures) + 1, name, text[2:].split()[0], n)
        self.block = "subhead-done"

    def value(self, text: str, n: int, column: int, what: str) -> float:
        """Fortran F10.4: a blank field reads as zero."""
        start, end = _VALUE_COLUMNS[column]
        if column and len(text) > start - 1 and not text[start - 1].isspace():
            raise self.error(n, f"a blank column {start} before the {what}", text[start - 1])
        field = text[start:end]
        return (
            fftext.number(field, self.path, n, f"the {what} in columns {start + 1}-{end}")
            if field.strip()
            else 0.0
        )

    def types(self, text: str, n: int, count: int) -> tuple[str, ...]:
        columns = _MAIN_TYPE_COLUMNS if self.sub is None else _SUB_TYPE_COLUMNS
        types = tuple(text[a:b].strip() for a, b in columns[:count])
        for (a, b), t in zip(columns, types, strict=False):
            if not t:
                raise self.error(n, f"an atom type in columns {a + 1}-{b}", text.strip())
        return types

    def add(self, slot: _Slot) -> _Slot:
        self.out.slots.append(slot)
        if self.sub is not None:
            self.sub.slots.append(slot)
        return slot

    @property
    def section(self) -> str | None:
        """Section of the rows read now: the substructure's name, None in the main section."""
        return self.sub.name if self.sub is not None else None

    def parameter(self, index: int, text: str) -> None:
        """A line of a -2 block; its interaction code picks the reader in :data:`_CODE_READERS`."""
        if self.block == "subhead-done":
            self.block = "parameters"
        n, code = index + 1, text[:2].ljust(2)
        if code == "54":
            self.higher_torsion(index, text)
            return
        if not (code[0] == " " or code[0].islower()) or code[1].isspace():
            raise self.error(n, "an interaction code in columns 1-2", code)
        if not text[2:55].strip():
            self.continuation(n)
            return
        self.last_row_line, self.previous = n, None
        self.out.group_end[(self.section, code[1])] = index
        _CODE_READERS.get(code[1], _unknown_code)(_Line(self, index, text, code[1], self.section))

    def continuation(self, n: int) -> None:
        """A line blank in its type and value columns continues the descriptors of the
        line above; MacroModel may name either line for the same parameters."""
        if self.last_row_line is not None:
            self.out.continuations[n] = self.last_row_line

    def higher_torsion(self, index: int, text: str) -> None:
        n = index + 1
        torsion = self.previous
        if torsion is None or torsion.kind != "torsion" or "k4" in torsion.fields:
            raise self.error(n, "a torsion line (code 4) right before this 54 line")
        k_scale = self.factor("TOR", n)
        for i in range(3):
            order = i + 4
            torsion.fields[f"k{order}"] = _Column(index, *_VALUE_COLUMNS[i], scale=k_scale)
            torsion.fields[f"phase{order}"] = _Fixed(_TORSION_PHASES[order])
            torsion.values[f"k{order}"] = self.value(text, n, i, f"V{order}") * k_scale
            torsion.values[f"phase{order}"] = _TORSION_PHASES[order]
        self.out.group_end[(self.section, "4")] = index
        self.previous = None

    def vdw(self, index: int, text: str) -> None:
        n = index + 1
        if text.strip().upper().startswith("END"):
            self.block = "closed"
            return
        if text[:2] != "  " or not text[2:5].strip():
            raise self.error(n, "a van der Waals line: atom type in columns 3-5", text.strip())
        atom = text[2:5].strip()
        values = []
        for (start, end), what in zip(_VDW_COLUMNS, ("radius", "epsilon", "offset", "charge"), strict=True):
            field = text[start:end]
            values.append(
                fftext.number(field, self.path, n, f"the {what} in columns {start + 1}-{end}")
                if field.strip()
                else 0.0
            )
        columns = [_Column(index, start, end) for start, end in _VDW_COLUMNS]
        fields: dict[str, _Column | _Fixed] = {
            "radius": columns[0],
            "epsilon": columns[1],
            "reduction": attrs.evolve(columns[2], shift=1.0, default=1.0),
        }
        row_values = {"radius": values[0], "epsilon": values[1]}
        if values[2] != 0.0:
            row_values["reduction"] = 1.0 + values[2]
        self.add(_Slot("vdw", (atom,), n, None, text[_COMMENT_COLUMN:].strip(), fields, row_values))
        self.add(
            _Slot(
                "charge",
                (atom,),
                n,
                None,
                "",
                {"q": attrs.evolve(columns[3], default=0.0)},
                {"q": values[3]},
                present=values[3] != 0.0,
            )
        )
        self.out.group_end[(None, "vdw")] = index


@attrs.frozen
class _Line:
    """A parameter line being read, with what every code's reader needs of it."""

    parser: _Parser
    index: int  # 0-based
    text: str
    code: str  # the interaction code (column 2)
    section: str | None

    @property
    def n(self) -> int:
        return self.index + 1

    def types(self, count: int) -> tuple[str, ...]:
        return self.parser.types(self.text, self.n, count)

    def values(self) -> list[float]:
        """The three F10.4 value columns (a blank one reads as zero)."""
        return [self.parser.value(self.text, self.n, i, what) for i, what in enumerate(_VALUE_NAMES)]

    def factor(self, name: str) -> float:
        return self.parser.factor(name, self.n)

    def column(self, i: int, scale: float = 1.0, **kw) -> _Column:
        return _Column(self.index, *_VALUE_COLUMNS[i], scale=scale, **kw)

    def add(
        self, kind: str, types: tuple[str, ...], fields: dict, values: dict, present: bool = True
    ) -> _Slot:
        """A slot read from this line (its line number, section and comment), added to the output."""
        comment = self.text[_COMMENT_COLUMN:].strip()
        slot = _Slot(kind, types, self.n, self.section, comment, fields, values, present=present)
        return self.parser.add(slot)

    def unmodelled(self, what: str) -> None:
        self.parser.out.unmodelled.append((self.n, what))


_VALUE_NAMES = ("first value", "second value", "third value")


def _stretch(line: _Line) -> None:
    """Code 1: a bond; its third column, the bond dipole, is a row only when non-zero
    but stays writable."""
    types, (r0, k, moment) = line.types(2), line.values()
    k_scale = line.factor("STR") / 2
    fields = {"k": line.column(1, k_scale), "r0": line.column(0)}
    line.add("bond", types, fields, {"k": k * k_scale, "r0": r0})
    fields = {"moment": line.column(2, default=0.0), "position": _Fixed(0.5)}
    line.add("dipole", types, fields, {"moment": moment, "position": 0.5}, present=moment != 0.0)


def _bend(line: _Line) -> None:
    """Code 2: an angle; a bend-bend constant in the third column has no canonical row."""
    types, (theta0, k, bend_bend) = line.types(3), line.values()
    k_scale = line.factor("BND") / 2
    fields = {"k": line.column(1, k_scale), "theta0": line.column(0, DEG_TO_RAD)}
    line.add("angle", types, fields, {"k": k * k_scale, "theta0": theta0 * DEG_TO_RAD})
    if bend_bend != 0.0:
        line.unmodelled("MM3* bend-bend constants (angle lines, third column)")


def _stretch_bend(line: _Line) -> None:
    """Code 3: one constant in the file, both canonical k1 and k2 in the row."""
    types, (k, _, _) = line.types(3), line.values()
    k_scale = line.factor("S-B")
    column = line.column(0, k_scale)
    line.add("strbnd", types, {"k1": column, "k2": column}, {"k1": k * k_scale, "k2": k * k_scale})


def _torsion(line: _Line) -> None:
    """Code 4: V1..V3 with MM3's fixed phases; a ``54`` line right after adds V4..V6."""
    types, values = line.types(4), line.values()
    k_scale = line.factor("TOR")
    fields: dict[str, _Column | _Fixed] = {}
    row_values: dict[str, float] = {}
    for order in (1, 2, 3):
        fields[f"k{order}"] = line.column(order - 1, k_scale)
        fields[f"phase{order}"] = _Fixed(_TORSION_PHASES[order])
        row_values[f"k{order}"] = values[order - 1] * k_scale
        row_values[f"phase{order}"] = _TORSION_PHASES[order]
    line.parser.previous = line.add("torsion", types, fields, row_values)


def _improper(line: _Line) -> None:
    """Code 5: a periodic improper, a torsion row of section :data:`IMPROPER` in Amber
    order (see the module docstring); one with a non-zero angle has no canonical row."""
    types, (angle, k, _) = line.types(4), line.values()
    if angle != 0.0:
        line.unmodelled("MM3* improper torsions with a non-zero angle")
        return
    k_scale = line.factor("IMP")
    amber_order = (types[3], types[2], types[0], types[1])
    fields = {"k2": line.column(1, k_scale), "phase2": _Fixed(math.pi)}
    attrs.evolve(line, section=IMPROPER).add(
        "torsion", amber_order, fields, {"k2": k * k_scale, "phase2": math.pi}
    )


def _vdw_pair(line: _Line) -> None:
    """Code 6: a special van der Waals pair, values as written."""
    types, (radius, epsilon, _) = line.types(2), line.values()
    fields = {"radius": line.column(0), "epsilon": line.column(1)}
    line.add("vdw_pair", types, fields, {"radius": radius, "epsilon": epsilon})


def _hydrogen_bond(line: _Line) -> None:
    """Code 7: kept as text."""
    line.unmodelled("MM3* hydrogen-bond parameters (code 7)")


def _torsion_stretch(line: _Line) -> None:
    """Code 8: kept as text; values are still read, so a corrupt one is an error, and
    an all-zero line loses nothing."""
    if any(line.values()):
        line.unmodelled("MM3* torsion-stretch constants (code 8)")


def _misplaced_pattern(line: _Line) -> None:
    """Code 9: a substructure pattern, which belongs right after a -3 marker."""
    raise line.parser.error(line.n, "a parameter line (a code-9 pattern belongs after -3)")


def _unknown_code(line: _Line) -> None:
    """Any other code: kept as text, named by its code."""
    line.unmodelled(f"MM3* interaction code {line.code!r}")


#: The reader of each interaction code of parameter lines (others: :func:`_unknown_code`).
_CODE_READERS = {
    "1": _stretch,
    "2": _bend,
    "3": _stretch_bend,
    "4": _torsion,
    "5": _improper,
    "6": _vdw_pair,
    "7": _hydrogen_bond,
    "8": _torsion_stretch,
    "9": _misplaced_pattern,
}


def _parse(source: SourceText) -> _Parsed:
    return _Parser(source.lines, source.path).run()


def _rows(parsed: _Parsed) -> list[Row]:
    return [slot.row() for slot in parsed.slots if slot.present]


def _fld_source(forcefield: ForceField) -> SourceText | None:
    source = forcefield.source
    return source if source is not None and source.format == FORMAT else None


def substructures(forcefield: ForceField) -> list[Substructure]:
    """The substructures of a force field read from a ``.fld`` (none otherwise)."""
    source = _fld_source(forcefield)
    if source is None:
        return []
    return [
        Substructure(
            sub.index,
            sub.name,
            sub.pattern,
            sub.line,
            sub.name.rstrip().endswith("OPT"),
            tuple(slot.key for slot in sub.slots if slot.present),
        )
        for sub in _parse(source).substructures
    ]


def rows_by_line(forcefield: ForceField) -> dict[int, tuple[Row, ...]]:
    """The rows each MacroModel "FF Line" number names: those read from that line, and,
    for a descriptor-continuation line, those of the line it continues."""
    by_line: dict[int, tuple[Row, ...]] = {}
    for row in forcefield.rows:
        if row.line is not None:
            by_line[row.line] = (*by_line.get(row.line, ()), row)
    source = _fld_source(forcefield)
    if source is not None:
        for line, continued in _parse(source).continuations.items():
            by_line[line] = by_line.get(continued, ())
    return by_line


def opt_rows(forcefield: ForceField) -> tuple[Row, ...]:
    """Rows of the ``OPT`` substructures: the parameters a Q2MM fit of this file optimizes."""
    keys = {key for sub in substructures(forcefield) if sub.opt for key in sub.row_keys}
    return tuple(row for row in forcefield.rows if row.key in keys)


# ---------------------------------------------------------------------------------- writing


@attrs.define
class _Plan:
    lines: list[str]
    losses: list[str] = attrs.Factory(list)


@attrs.frozen
class _NewRow:
    """Fresh text for one row, and the block (section, code) it belongs to."""

    section: str | None
    code: str
    texts: tuple[str, ...]
    key: str


def _plan(forcefield: ForceField) -> _Plan:
    source = _fld_source(forcefield)
    return _fresh(forcefield) if source is None else _patch(forcefield, source)


def _patch(forcefield: ForceField, source: SourceText) -> _Plan:
    """The source's lines with the changed value columns rewritten and new rows added."""
    parsed = _parse(source)
    plan = _Plan(list(source.lines))
    rows = {row.key: row for row in forcefield.rows}
    wanted: dict[tuple[int, int, int], tuple[float, str]] = {}
    for slot in parsed.slots:
        row = rows.pop(slot.key, None)
        if row is None:
            continue
        if row.kind != slot.kind or tuple(row.types) != slot.types:
            raise ConversionLossError(
                f"row {row.key}: a .fld row keeps its atom types; only values are rewritten"
            )
        for field in dict.fromkeys([*slot.fields, *row.values]):
            _want(slot.fields.get(field), row, field, wanted, plan.losses)
    texts = [fftext.body(line) for line in source.lines]
    for (index, start, end), (target, what) in wanted.items():
        old = texts[index][start:end]
        old_value = fftext.number(old, source.path, index + 1, what) if old.strip() else 0.0
        if not fftext.same_when_printed(old_value, target, _DECIMALS):
            texts[index] = fftext.splice(
                texts[index], start, end, fftext.fixed(target, end - start, _DECIMALS, what)
            )
            plan.lines[index] = texts[index] + fftext.ending(source.lines[index])
    _insert(plan, list(rows.values()), parsed)
    return plan


def _want(spec, row: Row, field: str, wanted: dict, losses: list[str]) -> None:
    """Record the file value ``field`` of ``row`` asks for (or why it cannot be written)."""
    what = f"row {row.key} {field}"
    if spec is None:
        losses.append(f"{what} (no .fld column holds it)")
        return
    if isinstance(spec, _Fixed):
        value = row.values.get(field, spec.value)
        if not math.isclose(value, spec.value, abs_tol=1e-9):
            losses.append(f"{what} = {value!r} (MM3* fixes it at {spec.value!r})")
        return
    value = row.values.get(field, spec.default)
    if value is None:
        return
    place = (spec.line, spec.start, spec.end)
    target = spec.to_file(value)
    if place in wanted and not fftext.same_when_printed(wanted[place][0], target, _DECIMALS):
        losses.append(
            f"{what} = {value!r} differs from {wanted[place][1]}: the .fld holds one value for both"
        )
        return
    wanted.setdefault(place, (target, what))


def _insert(plan: _Plan, rows: list[Row], parsed: _Parsed) -> None:
    """Rows the source lacks go after the last line of their code in their section."""
    new, losses = _new_rows(rows, substructures=True)
    plan.losses.extend(losses)
    inserts: dict[int, list[str]] = {}
    for item in new:
        end = parsed.group_end.get((item.section, item.code))
        if end is None:
            plan.losses.append(
                f"row {item.key}: the file has no block of code {item.code} in "
                f"{item.section or 'the main section'} to hold it"
            )
            continue
        if not plan.lines[end].endswith("\n"):
            plan.lines[end] += "\n"
        eol = fftext.ending(plan.lines[end])
        inserts.setdefault(end, []).extend(text + eol for text in item.texts)
    for end in sorted(inserts, reverse=True):
        plan.lines[end + 1 : end + 1] = inserts[end]


def _fresh(forcefield: ForceField) -> _Plan:
    """A complete MM3* file: header, equivalences, one -2 block per code, the -6 block."""
    new, losses = _new_rows(list(forcefield.rows), substructures=False)
    plan = _Plan([], [*convention_losses(forcefield, CONVENTIONS, "MacroModel MM3*"), *losses])
    out = [f" {forcefield.name or 'MM3* force field'} (written by q2mm)", " C", "-1"]
    out += [
        f" 0    {name:<3} {_EQUATIONS[name]:>5} {factor:>14.5f}" for name, factor in _STANDARD_FACTORS.items()
    ]
    if forcefield.equivalences:
        out += [" C", "-5"]
        out += [
            f" {i}  {alias:<2}  {members}"
            for i, (alias, members) in enumerate(forcefield.equivalences.items(), 1)
        ]
    blocks: dict[str, list[str]] = {}
    for item in new:
        blocks.setdefault(item.code, []).extend(item.texts)
    for code in ("1", "2", "3", "4", "5", "6"):
        if code in blocks:
            out += [" C", "-2", *blocks[code]]
    if "vdw" in blocks:
        out += [" C", "-6", *blocks["vdw"], " END OF NONBONDED INTERACTIONS"]
    plan.lines = [line + "\n" for line in out]
    return plan


#: Fields each code's line has a column for.
_FIELDS = {
    "1": {"k", "r0"},
    "2": {"k", "theta0"},
    "3": {"k1", "k2"},
    "4": {f"{p}{n}" for n in range(1, 7) for p in ("k", "phase")},
    "5": {"k2", "phase2"},
    "6": {"radius", "epsilon"},
    "vdw": {"radius", "epsilon", "reduction"},
}
_CODES = {"bond": "1", "angle": "2", "strbnd": "3", "vdw_pair": "6", "vdw": "vdw"}


def _code_of(row: Row) -> str | None:
    if row.kind == "torsion":
        return "5" if row.section == IMPROPER else "4"
    return _CODES.get(row.kind)


def _parameter_line(
    code: str, types: Sequence[str], values: Sequence[float | None], sub: bool, what: str
) -> str:
    separator = "  " if sub else ("   " if code == "6" else " - ")
    text = (f" {code}  " + separator.join(t.rjust(2) for t in types)).ljust(_VALUE_COLUMNS[0][0])
    for (start, end), value in zip(_VALUE_COLUMNS, values, strict=False):
        if value is not None:
            text = fftext.splice(text, start, end, fftext.fixed(value, end - start, _DECIMALS, what))
    if not sub and types:
        text = text.ljust(_VALUE_COLUMNS[2][1]) + "  " + " ".join("0000" for _ in types)
    return text


def _new_rows(rows: list[Row], substructures: bool) -> tuple[list[_NewRow], list[str]]:
    """Fresh lines for each row a .fld can hold, and what it cannot hold."""
    losses: list[str] = []
    out: list[_NewRow] = []
    used: set[str] = set()
    for row in rows:
        code = _code_of(row)
        if row.kind in ("dipole", "charge"):
            continue
        if code is None:
            losses.append(f"row {row.key}: {row.kind} terms (no MM3* .fld line holds them)")
            continue
        sub = row.section not in (None, IMPROPER)
        if sub and not substructures:
            losses.append(
                f"row {row.key}: substructure rows ({row.section!r}) need the substructure's pattern"
            )
            continue
        bad = [t for t in row.types if not t or len(t) > 2 or any(c.isspace() for c in t)]
        if bad:
            losses.append(f"row {row.key}: atom types {bad} do not fit the two columns MM3* gives a type")
            continue
        extra = sorted(set(row.values) - _FIELDS[code])
        if extra:
            losses.append(f"row {row.key}: fields {extra} (no .fld column holds them)")
        partner = (
            _partner(row, rows, "dipole" if code == "1" else "charge", used) if code in ("1", "vdw") else None
        )
        texts = _texts(row, code, sub, partner, losses)
        out.append(_NewRow(row.section if sub else None, code, texts, row.key))
    for row in rows:
        if row.kind in ("dipole", "charge") and row.key not in used:
            partner_kind = "bond" if row.kind == "dipole" else "van der Waals"
            losses.append(
                f"row {row.key}: a {row.kind} needs a {partner_kind} row of the same types in a .fld"
            )
    return out, losses


def _partner(row: Row, rows: list[Row], kind: str, used: set[str]) -> Row | None:
    """The dipole (charge) sharing a bond (vdW) row's line: the one read from the same
    line, else the first unused one of the same types."""
    candidates = [r for r in rows if r.kind == kind and r.types == row.types and r.key not in used]
    same_line = [r for r in candidates if r.line is not None and r.line == row.line]
    chosen = (same_line or candidates or [None])[0]
    if chosen is not None:
        used.add(chosen.key)
    return chosen


def _texts(row: Row, code: str, sub: bool, partner: Row | None, losses: list[str]) -> tuple[str, ...]:
    v, what = row.values, f"row {row.key}"
    if code == "vdw":
        charge = partner.values.get("q", 0.0) if partner is not None else None
        values = (v.get("radius", 0.0), v.get("epsilon", 0.0), v.get("reduction", 1.0) - 1.0, charge)
        text = f"  {row.types[0]:<3}"
        for (start, end), value in zip(_VDW_COLUMNS, values, strict=True):
            if value is not None:
                text = fftext.splice(text, start, end, fftext.fixed(value, end - start, _DECIMALS, what))
        return (text.ljust(72) + "0000",)
    factors = {name: factor * KJ_TO_KCAL for name, factor in _STANDARD_FACTORS.items()}
    if code == "1":
        moment = None
        if partner is not None:
            moment = partner.values.get("moment", 0.0)
            if not math.isclose(partner.values.get("position", 0.5), 0.5, abs_tol=1e-9):
                losses.append(
                    f"row {partner.key}: dipole position {partner.values['position']!r} (MM3* uses 0.5)"
                )
        values = (v.get("r0", 0.0), v.get("k", 0.0) / (factors["STR"] / 2), moment)
    elif code == "2":
        values = (v.get("theta0", 0.0) / DEG_TO_RAD, v.get("k", 0.0) / (factors["BND"] / 2), None)
    elif code == "3":
        k1, k2 = v.get("k1", 0.0) / factors["S-B"], v.get("k2", 0.0) / factors["S-B"]
        if not fftext.same_when_printed(k1, k2, _DECIMALS):
            losses.append(f"{what}: stretch-bend k1 ≠ k2 (an MM3* .fld holds one constant)")
        values = (k1,)
    elif code == "5":
        if not math.isclose(v.get("phase2", math.pi), math.pi, abs_tol=1e-9):
            losses.append(f"{what}: phase2 = {v['phase2']!r} (MM3* impropers are 1 − cos 2φ)")
        t = row.types
        return (
            _parameter_line(
                "5", (t[2], t[3], t[1], t[0]), (0.0, v.get("k2", 0.0) / factors["IMP"]), sub, what
            ),
        )
    elif code == "6":
        values = (v.get("radius", 0.0), v.get("epsilon", 0.0))
    else:
        for order, phase in _TORSION_PHASES.items():
            given = v.get(f"phase{order}", phase)
            if not math.isclose(given, phase, abs_tol=1e-9):
                losses.append(f"{what}: phase{order} = {given!r} (MM3 fixes it at {phase!r})")
        vs = [v.get(f"k{order}", 0.0) / factors["TOR"] for order in range(1, 7)]
        texts = [_parameter_line("4", row.types, vs[:3], sub, what)]
        if any(f"k{order}" in v for order in (4, 5, 6)):
            texts.append("54" + _parameter_line("4", (), vs[3:], True, what)[2:])
        return tuple(texts)
    return (_parameter_line(code, row.types, values, sub, what),)


@attrs.frozen
class MM3Fld(TextForceFieldFormat):
    """MacroModel MM3* ``.fld`` files (reader and writer)."""

    name: str = FORMAT
    suffixes: tuple[str, ...] = (".fld",)
    _parse = staticmethod(_parse)
    _plan = staticmethod(_plan)

    def read(self, path: Path) -> ForceField:
        source = fftext.read_source(path, FORMAT)
        parsed = _parse(source)
        return ForceField(
            FunctionalForm.MM3,
            _rows(parsed),
            conventions=CONVENTIONS,
            name=Path(path).stem,
            source=source,
            equivalences=parsed.equivalences,
        )
