"""Tinker parameter files (``.prm``) and keyfiles with parameter lines (``.key``).

A Tinker file is one keyword per line followed by its values; keywords are
case-insensitive and lines starting with ``#`` are comments. The header keywords state
the functional form and its units, and this reader honours them rather than assuming
MM3: a bond ``k`` becomes ``bondunit × k`` (71.94 × mdyn/Å in mm3.prm), an angle ``k``
``angleunit × (180/π)² × k`` (angleunit 0.02191418 = 71.94·(π/180)² makes that
71.94 × mdyn·Å/rad²), a stretch-bend ``strbndunit × 180/π × k``, an out-of-plane bend
``opbendunit × (180/π)² × k``, a torsion ``torsionunit × V`` (phases in degrees →
radians), with Tinker's defaults (bondunit 1, angleunit (π/180)², torsionunit 1, …)
when a keyword is absent. Radii become per-atom R_min/2 from ``radiustype`` (R-MIN or
SIGMA) and ``radiussize`` (RADIUS or DIAMETER).

Rows by keyword (types are the atom classes as written; charges use atom types):

===========  ===================================================================
keyword      row
===========  ===================================================================
bond         bond k, r0
angle        angle k, theta0 [, theta0_h1, theta0_h2] — MM3 gives up to three ideal
             angles, for 0, 1 or 2 hydrogens on the central atom besides the angle's own
             atoms; assignment picks the slot that applies
strbnd       strbnd k1, k2 (k1 couples the bond of the first two classes)
ureybrad     urey_bradley k, r0
opbend       opbend k (``opbendtype ALLINGER``); types as Tinker writes them: the
             out-of-plane atom, the centre, then the other two
torsion      torsion k{n}, phase{n} for each listed periodicity n
imptors      torsion with section ``"improper"`` (Amber style, centre third)
improper     improper k, phi0 (harmonic, centre first)
vdw          vdw radius, epsilon [, reduction]
vdwpr        vdw_pair radius (the pair's R_min), epsilon
charge       charge q
dipole       dipole moment (debye; positive: first atom at the positive end), position
===========  ===================================================================

Other parameter keywords (angang, strtors, electneg, hbond, pitors, ring-size variants
``bond5``…, ``atom`` definitions, multipoles, …) are kept in the text and named as what a
conversion to another format would lose.

A keyfile's rows are its own parameter lines; its conventions are those of the
parameter file it names with ``parameters`` (resolved beside the keyfile), overridden
by its own header keywords.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import attrs

from ..errors import ConversionLossError, ParseError
from ..model import Conventions, ForceField, FunctionalForm, Row, SourceText
from ..model.units import DEG_TO_RAD, MDYN_A_TO_KCALMOL_A2, RAD_TO_DEG
from . import fftext, fortran
from .textformat import TextForceFieldFormat

FORMAT = "tinker-prm"
IMPROPER = "improper"
_TWO_SIX = 2.0 ** (1.0 / 6.0)

#: Tinker's unit keywords and defaults (initprm.f): energy = unit × k × (Δ in Tinker's
#: units: Å, degrees). The canonical factor also converts degrees to radians.
UNIT_DEFAULTS = {
    "bondunit": 1.0,
    "angleunit": DEG_TO_RAD**2,
    "strbndunit": DEG_TO_RAD,
    "ureyunit": 1.0,
    "opbendunit": DEG_TO_RAD**2,
    "torsionunit": 1.0,
    "imptorunit": 1.0,
    "impropunit": DEG_TO_RAD**2,
}
_TO_RADIANS_POWER = {
    "bondunit": 0, "angleunit": 2, "strbndunit": 1, "ureyunit": 0,
    "opbendunit": 2, "torsionunit": 0, "imptorunit": 0, "impropunit": 2,
}  # fmt: skip
#: Header keywords that set a Conventions field directly.
_CONVENTION_KEYWORDS = {
    "bond-cubic": "bond_cubic",
    "bond-quartic": "bond_quartic",
    "angle-cubic": "angle_cubic",
    "angle-quartic": "angle_quartic",
    "angle-pentic": "angle_pentic",
    "angle-sextic": "angle_sextic",
    "opbend-cubic": "opbend_cubic",
    "opbend-quartic": "opbend_quartic",
    "opbend-pentic": "opbend_pentic",
    "opbend-sextic": "opbend_sextic",
    "a-expterm": "vdw_a",
    "b-expterm": "vdw_b",
    "c-expterm": "vdw_c",
    "vdw-12-scale": "vdw_scale_12",
    "vdw-13-scale": "vdw_scale_13",
    "vdw-14-scale": "vdw_scale_14",
    "chg-12-scale": "elec_scale_12",
    "chg-13-scale": "elec_scale_13",
    "chg-14-scale": "elec_scale_14",
    "dielectric": "dielectric",
    "electric": "electric",
}
_VDW_FORMS = {"LENNARD-JONES": "lennard-jones", "BUCKINGHAM": "buckingham", "MM3-HBOND": "buckingham"}
_WORD_SETTINGS = {
    "vdwtype": tuple(_VDW_FORMS),
    "radiusrule": ("ARITHMETIC",),
    "epsilonrule": ("GEOMETRIC",),
    "radiustype": ("R-MIN", "SIGMA"),
    "radiussize": ("RADIUS", "DIAMETER"),
    "opbendtype": ("ALLINGER", "W-D-C"),
}
#: Parameter keywords no canonical row carries, with what a conversion would lose.
_UNMODELLED = {
    "atom": "Tinker atom definitions (classes, elements, masses)",
    "angang": "angle-angle cross terms (angang)",
    "strtors": "stretch-torsion cross terms (strtors)",
    "angtors": "angle-torsion cross terms (angtors)",
    "tortors": "torsion-torsion grids (tortors)",
    "electneg": "electronegativity bond-length corrections (electneg)",
    "hbond": "MM3 hydrogen bonds (hbond)",
    "pitors": "pi-system torsions (pitors)",
    "piatom": "pi-system atoms (piatom)",
    "pibond": "pi-system bonds (pibond)",
    "pibond4": "pi-system bonds (pibond4)",
    "pibond5": "pi-system bonds (pibond5)",
    "bond3": "3-ring bonds (bond3)",
    "bond4": "4-ring bonds (bond4)",
    "bond5": "5-ring bonds (bond5)",
    "angle3": "3-ring angles (angle3)",
    "angle4": "4-ring angles (angle4)",
    "angle5": "5-ring angles (angle5)",
    "anglep": "in-plane angles (anglep)",
    "anglef": "Fourier angles (anglef)",
    "torsion4": "4-ring torsions (torsion4)",
    "torsion5": "5-ring torsions (torsion5)",
    "dipole3": "3-ring bond dipoles (dipole3)",
    "dipole4": "4-ring bond dipoles (dipole4)",
    "dipole5": "5-ring bond dipoles (dipole5)",
    "vdw14": "1-4 van der Waals parameters (vdw14)",
    "opdist": "out-of-plane distances (opdist)",
    "multipole": "atomic multipoles (multipole)",
    "polarize": "polarizabilities (polarize)",
    "solvate": "solvation parameters (solvate)",
    "metal": "ligand-field metal parameters (metal)",
    "biotype": "biopolymer atom types (biotype)",
}
_KINDS = {
    "bond": ("bond", 2),
    "angle": ("angle", 3),
    "strbnd": ("strbnd", 3),
    "ureybrad": ("urey_bradley", 3),
    "opbend": ("opbend", 4),
    "torsion": ("torsion", 4),
    "imptors": ("torsion", 4),
    "improper": ("improper", 4),
    "vdw": ("vdw", 1),
    "vdwpr": ("vdw_pair", 2),
    "charge": ("charge", 1),
    "dipole": ("dipole", 2),
}


@attrs.frozen
class _Token:
    """Where a field's value sits: canonical = file value × scale."""

    line: int  # 0-based
    start: int
    end: int
    scale: float
    decimals: int


@attrs.define
class _Slot:
    row: Row
    tokens: dict[str, _Token]


@attrs.define
class _Header:
    units: dict[str, float] = attrs.Factory(lambda: dict(UNIT_DEFAULTS))
    conventions: dict[str, float | str] = attrs.Factory(dict)
    words: dict[str, str] = attrs.Factory(dict)
    forcefield: str = ""

    def scale(self, unit: str) -> float:
        return self.units[unit] * RAD_TO_DEG ** _TO_RADIANS_POWER[unit]

    def radius_scale(self, pair: bool) -> float:
        scale = _TWO_SIX if self.words.get("radiustype") == "SIGMA" else 1.0
        if not pair and self.words.get("radiussize") == "DIAMETER":
            scale *= 0.5
        return scale


@attrs.define
class _Parsed:
    header: _Header
    slots: list[_Slot] = attrs.Factory(list)
    unmodelled: list[tuple[int, str]] = attrs.Factory(list)


def _header(lines: Sequence[str], path: str, header: _Header) -> None:
    """Fold the header keywords of ``lines`` into ``header``."""
    for index, raw in enumerate(lines):
        text = fftext.body(raw)
        fields = text.split()
        if not fields or fields[0].startswith("#"):
            continue
        keyword, n = fields[0].lower(), index + 1
        if keyword in UNIT_DEFAULTS or keyword in _CONVENTION_KEYWORDS:
            if len(fields) < 2:
                raise ParseError(path, n, f"a number after {keyword}")
            value = fftext.number(fields[1], path, n, f"the value of {keyword}")
            if keyword in UNIT_DEFAULTS:
                if value == 0:
                    raise ParseError(path, n, f"a non-zero {keyword}", fields[1])
                header.units[keyword] = value
            else:
                header.conventions[_CONVENTION_KEYWORDS[keyword]] = value
        elif keyword in _WORD_SETTINGS:
            word = fields[1].upper() if len(fields) > 1 else ""
            if word not in _WORD_SETTINGS[keyword]:
                raise ParseError(
                    path,
                    n,
                    f"{keyword} {' or '.join(_WORD_SETTINGS[keyword])} (what q2mm evaluates)",
                    word or "nothing",
                )
            header.words[keyword] = word
        elif keyword == "forcefield":
            header.forcefield = " ".join(fields[1:])


def _conventions(header: _Header) -> tuple[FunctionalForm, Conventions]:
    values = dict(header.conventions)
    vdwtype = header.words.get("vdwtype", "LENNARD-JONES")
    conventions = Conventions(**{"vdw_form": _VDW_FORMS[vdwtype], **values})
    anharmonic = any(
        getattr(conventions, f) for f in ("bond_cubic", "bond_quartic", "angle_cubic", "angle_quartic")
    )
    mm3 = anharmonic or conventions.vdw_form == "buckingham" or "MM3" in header.forcefield.upper()
    return (FunctionalForm.MM3 if mm3 else FunctionalForm.HARMONIC), conventions


class _Reader:
    def __init__(self, source: SourceText, header: _Header):
        self.source = source
        self.path = source.path
        self.out = _Parsed(header)

    def run(self) -> _Parsed:
        for index, raw in enumerate(self.source.lines):
            text = fftext.body(raw)
            fields = text.split()
            if fields and not fields[0].startswith("#"):
                self.line(index, text, fields[0].lower())
        return self.out

    def number_tokens(self, index: int, text: str, first: int, what: str) -> list[tuple[int, int, str]]:
        """Tokens from ``first`` on that are numbers (Tinker reads values list-directed and
        ignores what follows them)."""
        found = []
        for start, end, token in fftext.tokens(text)[first:]:
            try:
                fftext.number(token, self.path, index + 1, what)
            except ParseError:
                break
            found.append((start, end, token))
        return found

    def line(self, index: int, text: str, keyword: str) -> None:
        n = index + 1
        if keyword in _UNMODELLED:
            self.out.unmodelled.append((n, _UNMODELLED[keyword]))
            return
        if keyword not in _KINDS:
            return
        kind, count = _KINDS[keyword]
        tokens = fftext.tokens(text)
        types = tuple(t for _, _, t in tokens[1 : 1 + count])
        if len(types) < count:
            raise ParseError(self.path, n, f"{count} atom classes after {keyword}", text.strip())
        for t in types:
            fftext.integer(t, self.path, n, f"an atom class number after {keyword}")
        values = self.number_tokens(index, text, 1 + count, f"values after the {keyword} classes")
        if keyword == "opbend" and self.out.header.words.get("opbendtype", "W-D-C") != "ALLINGER":
            self.out.unmodelled.append((n, "out-of-plane bends of opbendtype W-D-C"))
            return
        fields = self.fields(keyword, values, n)
        row = Row(
            kind,
            types,
            {f: v for f, (v, _) in fields.items()},
            line=n,
            section=IMPROPER if keyword == "imptors" else None,
        )
        tokens_of = {f: tok for f, (_, tok) in fields.items() if tok is not None}
        self.out.slots.append(_Slot(row, {f: attrs.evolve(tok, line=index) for f, tok in tokens_of.items()}))

    def fields(
        self, keyword: str, values: list[tuple[int, int, str]], n: int
    ) -> dict[str, tuple[float, _Token | None]]:
        header = self.out.header

        def need(count: int, what: str) -> None:
            if len(values) < count:
                raise ParseError(
                    self.path, n, f"{what} after the {keyword} classes", f"{len(values)} numbers"
                )

        def field(i: int, scale: float = 1.0) -> tuple[float, _Token]:
            start, end, token = values[i]
            value = fftext.number(token, self.path, n, keyword) * scale
            return value, _Token(0, start, end, scale, fftext.decimals_of(token))

        if keyword in ("bond", "ureybrad"):
            need(2, "a force constant and an ideal length")
            scale = header.scale("bondunit" if keyword == "bond" else "ureyunit")
            return {"k": field(0, scale), "r0": field(1)}
        if keyword == "angle":
            need(2, "a force constant and an ideal angle")
            out = {"k": field(0, header.scale("angleunit")), "theta0": field(1, DEG_TO_RAD)}
            for i, name in ((2, "theta0_h1"), (3, "theta0_h2")):
                if len(values) > i:
                    out[name] = field(i, DEG_TO_RAD)
            return out
        if keyword == "strbnd":
            need(2, "two stretch-bend constants")
            scale = header.scale("strbndunit")
            return {"k1": field(0, scale), "k2": field(1, scale)}
        if keyword == "opbend":
            need(1, "a force constant")
            return {"k": field(0, header.scale("opbendunit"))}
        if keyword == "improper":
            need(2, "a force constant and an ideal angle")
            return {"k": field(0, header.scale("impropunit")), "phi0": field(1, DEG_TO_RAD)}
        if keyword in ("torsion", "imptors"):
            return self.torsion(keyword, values, n, field)
        if keyword == "vdw":
            need(2, "a radius and a well depth")
            out = {"radius": field(0, header.radius_scale(pair=False)), "epsilon": field(1)}
            if len(values) > 2:
                out["reduction"] = field(2)
            return out
        if keyword == "vdwpr":
            need(2, "a radius and a well depth")
            return {"radius": field(0, header.radius_scale(pair=True)), "epsilon": field(1)}
        if keyword == "charge":
            need(1, "a charge")
            return {"q": field(0)}
        need(1, "a bond dipole")
        out = {"moment": field(0)}
        out["position"] = field(1) if len(values) > 1 else (0.5, None)
        return out

    def torsion(self, keyword: str, values, n: int, field) -> dict[str, tuple[float, _Token | None]]:
        if len(values) % 3:
            raise ParseError(
                self.path,
                n,
                f"(V, phase, periodicity) triples after the {keyword} classes",
                f"{len(values)} numbers",
            )
        scale = self.out.header.scale("torsionunit" if keyword == "torsion" else "imptorunit")
        out: dict[str, tuple[float, _Token | None]] = {}
        for i in range(0, len(values), 3):
            order = fftext.integer(values[i + 2][2], self.path, n, "an integer periodicity 1-6")
            if not 1 <= order <= 6 or f"k{order}" in out:
                raise ParseError(self.path, n, "distinct periodicities 1-6", str(order))
            out[f"k{order}"] = field(i, scale)
            out[f"phase{order}"] = field(i + 1, DEG_TO_RAD)
        return out


def _base_header(source: SourceText) -> _Header:
    """Header of the parameter file a keyfile names (defaults for a .prm)."""
    header = _Header()
    for index, raw in enumerate(source.lines):
        fields = fftext.body(raw).split()
        if len(fields) >= 2 and fields[0].lower() == "parameters":
            if fields[1].lower() == "none":  # Tinker's "no parameter file": all in the keyfile
                break
            base = Path(source.path).parent / " ".join(fields[1:]).strip("\"'")
            candidates = [base, base.with_name(base.name + ".prm")]
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                raise ParseError(
                    source.path,
                    index + 1,
                    "a parameters file that exists beside the keyfile",
                    " ".join(fields[1:]),
                )
            base_source = fftext.read_source(found, FORMAT)
            _header(base_source.lines, base_source.path, header)
            break
    return header


def _parse(source: SourceText) -> _Parsed:
    header = _base_header(source)
    _header(source.lines, source.path, header)
    return _Reader(source, header).run()


def _tinker_source(forcefield: ForceField) -> SourceText | None:
    source = forcefield.source
    return source if source is not None and source.format == FORMAT else None


# ---------------------------------------------------------------------------------- writing

_MIN_DECIMALS = 4


@attrs.define
class _Plan:
    lines: list[str]
    losses: list[str] = attrs.Factory(list)


def _plan(forcefield: ForceField) -> _Plan:
    source = _tinker_source(forcefield)
    return _fresh(forcefield) if source is None else _patch(forcefield, source)


def _patch(forcefield: ForceField, source: SourceText) -> _Plan:
    parsed = _parse(source)
    plan = _Plan(list(source.lines))
    rows = {row.key: row for row in forcefield.rows}
    edits: dict[int, list[tuple[_Token, str]]] = {}
    for slot in parsed.slots:
        row = rows.pop(slot.row.key, None)
        if row is None:
            continue
        if row.kind != slot.row.kind or tuple(row.types) != slot.row.types:
            raise ConversionLossError(
                f"row {row.key}: a Tinker row keeps its atom classes; only values are rewritten"
            )
        for field, value in row.values.items():
            token = slot.tokens.get(field)
            if token is None:
                if field not in slot.row.values or not math.isclose(
                    value, slot.row.values[field], abs_tol=1e-12
                ):
                    plan.losses.append(f"row {row.key} {field} (the line has no value for it)")
                continue
            decimals = max(token.decimals, _MIN_DECIMALS)
            old = slot.row.values[field] / token.scale
            new = value / token.scale
            if not fftext.same_when_printed(old, new, decimals):
                edits.setdefault(token.line, []).append(
                    (token, fftext.decimal(new, decimals, f"row {row.key} {field}"))
                )
    for index, line_edits in edits.items():
        text = fftext.body(plan.lines[index])
        for token, new in sorted(line_edits, key=lambda e: -e[0].start):
            text = fftext.replace_token(text, token.start, token.end, new)
        plan.lines[index] = text + fftext.ending(plan.lines[index])
    new_lines, losses = _row_lines(list(rows.values()), parsed.header)
    plan.losses.extend(losses)
    if new_lines:
        if plan.lines and not plan.lines[-1].endswith("\n"):
            plan.lines[-1] += "\n"
        plan.lines.extend(line + "\n" for line in new_lines)
    return plan


def _fresh_header(forcefield: ForceField) -> tuple[list[str], _Header]:
    """Header lines stating every convention and unit, and the header they mean."""
    conventions = forcefield.conventions
    mm3 = forcefield.form == FunctionalForm.MM3
    header = _Header(forcefield=forcefield.name or "q2mm")
    if mm3:  # mm3.prm's units, so values read in mdyn/Å as MM3 users expect
        header.units.update(
            bondunit=MDYN_A_TO_KCALMOL_A2,
            angleunit=MDYN_A_TO_KCALMOL_A2 * DEG_TO_RAD**2,
            strbndunit=2 * MDYN_A_TO_KCALMOL_A2 * DEG_TO_RAD,
            opbendunit=MDYN_A_TO_KCALMOL_A2 * DEG_TO_RAD**2,
            torsionunit=0.5,
        )
    vdwtype = "BUCKINGHAM" if conventions.vdw_form == "buckingham" else "LENNARD-JONES"
    header.words = {
        "vdwtype": vdwtype,
        "radiusrule": "ARITHMETIC",
        "radiustype": "R-MIN",
        "radiussize": "RADIUS",
        "epsilonrule": "GEOMETRIC",
        "opbendtype": "ALLINGER",
    }
    lines = [f"forcefield              {header.forcefield}", ""]
    lines += [f"{unit:<23} {value!r}" for unit, value in header.units.items()]
    for keyword, field in _CONVENTION_KEYWORDS.items():
        lines.append(f"{keyword:<23} {getattr(conventions, field)!r}")
    lines += [f"{keyword:<23} {word}" for keyword, word in header.words.items()]
    return [*lines, ""], header


def _fresh(forcefield: ForceField) -> _Plan:
    losses = []
    if forcefield.conventions.vdw_form not in ("buckingham", "lennard-jones"):
        losses.append(f"van der Waals form {forcefield.conventions.vdw_form!r}")
    lines, header = _fresh_header(forcefield)
    rows, row_losses = _row_lines(list(forcefield.rows), header)
    return _Plan([line + "\n" for line in lines + rows], losses + row_losses)


_KEYWORDS = {
    "bond": "bond",
    "angle": "angle",
    "strbnd": "strbnd",
    "urey_bradley": "ureybrad",
    "opbend": "opbend",
    "improper": "improper",
    "vdw": "vdw",
    "vdw_pair": "vdwpr",
    "charge": "charge",
    "dipole": "dipole",
}


def _keyword(row: Row) -> str | None:
    if row.kind == "torsion":
        return "imptors" if row.section == IMPROPER else ("torsion" if row.section is None else None)
    return _KEYWORDS.get(row.kind) if row.section is None else None


def _row_lines(rows: list[Row], header: _Header) -> tuple[list[str], list[str]]:
    lines, losses = [], []
    for row in rows:
        keyword = _keyword(row)
        if keyword is None:
            where = f" of section {row.section!r}" if row.section else ""
            losses.append(f"row {row.key}: {row.kind} rows{where} (no Tinker keyword holds them)")
            continue
        if not all(map(fortran.is_unsigned, row.types)):
            losses.append(
                f"row {row.key}: atom types {list(row.types)} (Tinker parameters name atom classes by number)"
            )
            continue
        values = _file_values(row, keyword, header, losses)
        if values is None:
            continue
        text = f"{keyword:<13}" + "".join(f"{t:>5}" for t in row.types)
        text = text.ljust(33) + "".join(f" {v:>10}" for v in values)
        lines.append(text)
    return lines, losses


def _file_values(row: Row, keyword: str, header: _Header, losses: list[str]) -> list[str] | None:
    """The values of ``row`` as its Tinker line writes them, in file units."""
    v, what = row.values, f"row {row.key}"

    def put(field: str, scale: float) -> str:
        default = 0.5 if field == "position" else 0.0
        return fftext.decimal(v.get(field, default) / scale, _MIN_DECIMALS, f"{what} {field}")

    order = {
        "bond": (("k", header.scale("bondunit")), ("r0", 1.0)),
        "ureybrad": (("k", header.scale("ureyunit")), ("r0", 1.0)),
        "angle": (
            ("k", header.scale("angleunit")),
            ("theta0", DEG_TO_RAD),
            *((f, DEG_TO_RAD) for f in ("theta0_h1", "theta0_h2") if f in v),
        ),
        "strbnd": (("k1", header.scale("strbndunit")), ("k2", header.scale("strbndunit"))),
        "opbend": (("k", header.scale("opbendunit")),),
        "improper": (("k", header.scale("impropunit")), ("phi0", DEG_TO_RAD)),
        "vdw": (
            ("radius", header.radius_scale(pair=False)),
            ("epsilon", 1.0),
            *((("reduction", 1.0),) if "reduction" in v else ()),
        ),
        "vdwpr": (("radius", header.radius_scale(pair=True)), ("epsilon", 1.0)),
        "charge": (("q", 1.0),),
        "dipole": (("moment", 1.0), ("position", 1.0)),
    }
    if keyword in ("torsion", "imptors"):
        scale = header.scale("torsionunit" if keyword == "torsion" else "imptorunit")
        out = []
        for n in range(1, 7):
            if f"k{n}" in v or f"phase{n}" in v:
                out += [put(f"k{n}", scale), put(f"phase{n}", DEG_TO_RAD), str(n)]
        known = {f"{p}{n}" for n in range(1, 7) for p in ("k", "phase")}
    else:
        out = [put(field, scale) for field, scale in order[keyword]]
        known = {field for field, _ in order[keyword]}
    extra = sorted(set(v) - known)
    if extra:
        losses.append(f"{what}: fields {extra} (no Tinker {keyword} value holds them)")
    return out


@attrs.frozen
class TinkerPrm(TextForceFieldFormat):
    """Tinker ``.prm`` parameter files and ``.key`` keyfiles (reader and writer)."""

    name: str = FORMAT
    suffixes: tuple[str, ...] = (".prm", ".key")
    _parse = staticmethod(_parse)
    _plan = staticmethod(_plan)

    def read(self, path: Path) -> ForceField:
        source = fftext.read_source(path, FORMAT)
        parsed = _parse(source)
        form, conventions = _conventions(parsed.header)
        return ForceField(
            form,
            [slot.row for slot in parsed.slots],
            conventions=conventions,
            name=parsed.header.forcefield or Path(path).stem,
            source=source,
        )
