"""Amber force-field modification files (``.frcmod``).

A title line, then sections named by their first four letters (``MASS``, ``BOND``,
``ANGL``, ``DIHE``, ``IMPR``, ``NONB``; ``HBON``, ``LJEDIT``, ``CMAP`` and ``IPOL`` are
kept as text), each ended by a blank line. Atom types are joined by ``-`` (``c3-hc``,
``X -c3-c3-X``); values follow as whitespace-separated numbers and anything after them
is a comment.

Amber's energies already lack the ½ (E = K (r − r0)²), so bond and angle constants are
canonical as written (angles per rad², ideal angles in degrees). A ``DIHE`` line
``IDIVF PK PHASE PN`` is the component k_|PN| = PK / IDIVF with its phase; a negative
PN says another component of the same dihedral follows on the next line, and all of
them make one ``torsion`` row. ``IMPR`` lines (``PK PHASE PN``, no divisor) are periodic
impropers: ``torsion`` rows with section ``"improper"``, types in Amber's order (the
central atom third) and the dihedral taken in that order. ``NONB`` gives R* (half the
Lennard-Jones minimum distance, the canonical per-atom radius) and ε.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import attrs

from ..errors import ConversionLossError, ParseError
from ..model import Conventions, ForceField, FunctionalForm, Row, SourceText
from ..model.units import DEG_TO_RAD
from . import fftext
from .conversion import convention_losses
from .textformat import TextForceFieldFormat

FORMAT = "amber-frcmod"
IMPROPER = "improper"
#: Amber's functional form: harmonic terms, Lennard-Jones, 1-4 scaled by 1/2 (vdW) and 1/1.2.
CONVENTIONS = Conventions(vdw_form="lennard-jones", vdw_scale_14=0.5, elec_scale_14=1 / 1.2)
_SECTIONS = ("MASS", "BOND", "ANGL", "DIHE", "IMPR", "NONB", "HBON", "LJED", "CMAP", "IPOL")
_TYPE_COUNT = {"BOND": 2, "ANGL": 3, "DIHE": 4, "IMPR": 4}
_KEPT_AS_TEXT = {
    "MASS": "Amber atom masses and polarizabilities (MASS)",
    "HBON": "Amber 10-12 hydrogen-bond terms (HBON)",
    "LJED": "Amber pairwise Lennard-Jones edits (LJEDIT)",
    "CMAP": "Amber CMAP grid corrections (CMAP)",
    "IPOL": "Amber polarization settings (IPOL)",
}
_MIN_DECIMALS = 4


@attrs.frozen
class _Token:
    line: int  # 0-based
    start: int
    end: int
    scale: float  # canonical = file value × scale
    decimals: int


@attrs.define
class _Slot:
    kind: str
    types: tuple[str, ...]
    line: int  # 1-based
    section: str | None
    comment: str
    values: dict[str, float] = attrs.Factory(dict)
    tokens: dict[str, _Token] = attrs.Factory(dict)
    open: bool = False  # a DIHE line with negative PN: more components follow

    def row(self) -> Row:
        return Row(
            self.kind, self.types, self.values, line=self.line, section=self.section, comment=self.comment
        )


@attrs.define
class _Parsed:
    slots: list[_Slot] = attrs.Factory(list)
    unmodelled: list[tuple[int, str]] = attrs.Factory(list)
    section_end: dict[str, int] = attrs.Factory(dict)


def _split_types(text: str, count: int, path: str, n: int) -> tuple[tuple[str, ...], int]:
    """``count`` dash-joined types at the start of ``text`` and where the values begin."""
    types, pos = [], 0
    for _ in range(count - 1):
        dash = text.find("-", pos)
        if dash < 0 or not text[pos:dash].strip():
            raise ParseError(path, n, f"{count} atom types joined by '-'", text.strip())
        types.append(text[pos:dash].strip())
        pos = dash + 1
    rest = text[pos:]
    last = rest.split()[0] if rest.split() else ""
    if not last:
        raise ParseError(path, n, f"{count} atom types joined by '-'", text.strip())
    start = pos + rest.index(last)
    types.append(last)
    return tuple(types), start + len(last)


def _parse(source: SourceText) -> _Parsed:
    out = _Parsed()
    section: str | None = None
    pending: _Slot | None = None
    for index, raw in enumerate(source.lines):
        n, text = index + 1, fftext.body(raw)
        if index == 0:
            continue  # title
        if not text.strip():
            if pending is not None:
                raise ParseError(
                    source.path, n, "the next DIHE line of a dihedral whose PN was negative", "blank"
                )
            section = None
            continue
        head = text.strip()[:4].upper()
        if section is not None and head in _SECTIONS and len(text.split()) == 1:
            section = None  # a section name without the blank line before it
        if section is None:
            if text.lstrip().startswith("#"):
                continue  # Q2MM writes its markers as comment lines between sections
            if head not in _SECTIONS:
                if text.strip().upper() == "END":
                    continue
                raise ParseError(source.path, n, f"a section name ({', '.join(_SECTIONS)})", text.strip())
            section = head
            continue
        out.section_end[section] = index
        if section in _KEPT_AS_TEXT:
            out.unmodelled.append((n, _KEPT_AS_TEXT[section]))
        elif section == "NONB":
            out.slots.append(_nonbonded(text, index, source.path))
        else:
            pending = _term(text, index, source.path, section, pending, out)
    if pending is not None:
        raise ParseError(
            source.path,
            len(source.lines),
            "the next DIHE line of a dihedral whose PN was negative",
            "end of file",
        )
    return out


def _numbers(text: str, start: int, index: int, path: str) -> list[tuple[int, int, str]]:
    """Leading numeric tokens after column ``start`` (what follows is a comment)."""
    found = []
    for a, b, token in fftext.tokens(text[start:]):
        try:
            fftext.number(token, path, index + 1, "a number")
        except ParseError:
            break
        found.append((start + a, start + b, token))
    return found


def _token(index: int, spot: tuple[int, int, str], scale: float) -> _Token:
    return _Token(index, spot[0], spot[1], scale, fftext.decimals_of(spot[2]))


def _nonbonded(text: str, index: int, path: str) -> _Slot:
    n = index + 1
    fields = fftext.tokens(text)
    values = _numbers(text, fields[0][1], index, path)
    if len(values) < 2:
        raise ParseError(path, n, "a NONB line 'type R* epsilon'", text.strip())
    slot = _Slot("vdw", (fields[0][2],), n, None, _comment(text, values[1][1]))
    for name, spot in zip(("radius", "epsilon"), values, strict=False):
        slot.values[name] = fftext.number(spot[2], path, n, name)
        slot.tokens[name] = _token(index, spot, 1.0)
    return slot


def _comment(text: str, end: int) -> str:
    return text[end:].strip()


def _term(
    text: str, index: int, path: str, section: str, pending: _Slot | None, out: _Parsed
) -> _Slot | None:
    """Add one BOND/ANGL/DIHE/IMPR line; returns the dihedral still open (negative PN)."""
    n = index + 1
    types, end = _split_types(text, _TYPE_COUNT[section], path, n)
    numbers = _numbers(text, end, index, path)

    def value(i: int, what: str) -> float:
        return fftext.number(numbers[i][2], path, n, what)

    if section in ("BOND", "ANGL"):
        if len(numbers) < 2:
            raise ParseError(
                path, n, f"a force constant and an ideal value after the {section} types", text.strip()
            )
        kind, ideal, scale = ("bond", "r0", 1.0) if section == "BOND" else ("angle", "theta0", DEG_TO_RAD)
        slot = _Slot(kind, types, n, None, _comment(text, numbers[1][1]))
        slot.values = {"k": value(0, "a force constant"), ideal: value(1, "an ideal value") * scale}
        slot.tokens = {"k": _token(index, numbers[0], 1.0), ideal: _token(index, numbers[1], scale)}
        out.slots.append(slot)
        return None
    divider_at = 1 if section == "DIHE" or len(numbers) >= 4 else 0
    if len(numbers) < 3 + divider_at:
        raise ParseError(
            path,
            n,
            f"{'IDIVF ' if section == 'DIHE' else ''}PK PHASE PN after the {section} types",
            text.strip(),
        )
    divider = value(0, "the IDIVF divider") if section == "DIHE" else 1.0
    if divider == 0:
        raise ParseError(path, n, "a non-zero IDIVF divider", numbers[0][2])
    pk, phase, pn = numbers[divider_at : divider_at + 3]
    periodicity = fftext.number(pn[2], path, n, "the periodicity PN")
    order = abs(periodicity)
    if order != int(order) or not 1 <= order <= 6:
        raise ParseError(path, n, "a whole periodicity PN of 1 to 6 in magnitude", pn[2])
    order = int(order)
    if pending is not None and pending.types != types:
        raise ParseError(
            path,
            n,
            f"the dihedral {'-'.join(pending.types)} continued (its last PN was negative)",
            "-".join(types),
        )
    slot = pending or _Slot(
        "torsion", types, n, IMPROPER if section == "IMPR" else None, _comment(text, pn[1])
    )
    if f"k{order}" in slot.values:
        raise ParseError(path, n, f"periodicity {order} once per dihedral", pn[2])
    slot.values[f"k{order}"] = fftext.number(pk[2], path, n, "PK") / divider
    slot.values[f"phase{order}"] = fftext.number(phase[2], path, n, "PHASE") * DEG_TO_RAD
    slot.tokens[f"k{order}"] = _token(index, pk, 1.0 / divider)
    slot.tokens[f"phase{order}"] = _token(index, phase, DEG_TO_RAD)
    if pending is None:
        out.slots.append(slot)
    return slot if periodicity < 0 else None


def _frcmod_source(forcefield: ForceField) -> SourceText | None:
    source = forcefield.source
    return source if source is not None and source.format == FORMAT else None


# ---------------------------------------------------------------------------------- writing


@attrs.define
class _Plan:
    lines: list[str]
    losses: list[str] = attrs.Factory(list)


def _plan(forcefield: ForceField) -> _Plan:
    losses = convention_losses(forcefield, CONVENTIONS, "Amber")
    source = _frcmod_source(forcefield)
    plan = _fresh(forcefield) if source is None else _patch(forcefield, source)
    plan.losses[:0] = losses
    return plan


def _patch(forcefield: ForceField, source: SourceText) -> _Plan:
    parsed = _parse(source)
    plan = _Plan(list(source.lines))
    rows = {row.key: row for row in forcefield.rows}
    edits: dict[int, list[tuple[_Token, str]]] = {}
    for slot in parsed.slots:
        row = rows.pop(slot.row().key, None)
        if row is None:
            continue
        if row.kind != slot.kind or tuple(row.types) != slot.types:
            raise ConversionLossError(
                f"row {row.key}: an frcmod row keeps its atom types; only values are rewritten"
            )
        for field, value in row.values.items():
            token = slot.tokens.get(field)
            if token is None:
                plan.losses.append(f"row {row.key} {field} (the frcmod line has no value for it)")
                continue
            decimals = max(token.decimals, _MIN_DECIMALS)
            if not fftext.same_when_printed(slot.values[field] / token.scale, value / token.scale, decimals):
                edits.setdefault(token.line, []).append(
                    (token, fftext.decimal(value / token.scale, decimals, f"row {row.key}"))
                )
    for index, line_edits in edits.items():
        text = fftext.body(plan.lines[index])
        for token, new in sorted(line_edits, key=lambda e: -e[0].start):
            text = fftext.replace_token(text, token.start, token.end, new)
        plan.lines[index] = text + fftext.ending(plan.lines[index])
    _insert(plan, list(rows.values()), parsed)
    return plan


def _insert(plan: _Plan, rows: list[Row], parsed: _Parsed) -> None:
    """New rows go at the end of their section (appended as a new section if absent)."""
    by_section, losses = _section_lines(rows)
    plan.losses.extend(losses)
    for section in sorted(by_section, key=lambda s: -parsed.section_end.get(s, len(plan.lines))):
        end = parsed.section_end.get(section)
        if end is None:
            if plan.lines and not plan.lines[-1].endswith("\n"):
                plan.lines[-1] += "\n"
            plan.lines += [f"{section}\n", *(line + "\n" for line in by_section[section]), "\n"]
            continue
        eol = fftext.ending(plan.lines[end]) or "\n"
        plan.lines[end] = fftext.body(plan.lines[end]) + eol
        plan.lines[end + 1 : end + 1] = [line + eol for line in by_section[section]]


def _fresh(forcefield: ForceField) -> _Plan:
    by_section, losses = _section_lines(list(forcefield.rows))
    lines = [f"{forcefield.name or 'force field'} (written by q2mm)"]
    for section in ("BOND", "ANGL", "DIHE", "IMPR", "NONB"):
        lines += [section, *by_section.get(section, ()), ""]
    return _Plan([line + "\n" for line in [*lines, ""]], losses)


def _type_text(types: tuple[str, ...]) -> str:
    return "-".join(t.ljust(2) for t in types)


def _value_text(row: Row, field: str, scale: float = 1.0, width: int = 10) -> str:
    """A value of ``row`` in file units (canonical / ``scale``), right-aligned in ``width``."""
    return fftext.decimal(row.values.get(field, 0.0) / scale, _MIN_DECIMALS, f"row {row.key}").rjust(width)


def _section_lines(rows: list[Row]) -> tuple[dict[str, list[str]], list[str]]:
    """frcmod lines per section for the rows an frcmod can hold, and what it cannot."""
    out: dict[str, list[str]] = {}
    losses = []
    for row in rows:
        v, key = row.values, row.key
        num = functools.partial(_value_text, row)
        bad = [t for t in row.types if not t or "-" in t or any(c.isspace() for c in t)]
        if bad:
            losses.append(f"row {key}: atom types {bad} (an frcmod type has no blanks or dashes)")
            continue
        if row.kind in ("bond", "angle") and row.section is None:
            ideal, scale = ("r0", 1.0) if row.kind == "bond" else ("theta0", DEG_TO_RAD)
            extra = sorted(set(v) - {"k", ideal})
            if extra:
                losses.append(f"row {key}: fields {extra} (an frcmod {row.kind} holds k and {ideal})")
            line = f"{_type_text(row.types)}  {num('k')}  {num(ideal, scale)}"
            out.setdefault("BOND" if row.kind == "bond" else "ANGL", []).append(line)
        elif row.kind == "torsion" and row.section in (None, IMPROPER):
            orders = sorted({int(f[-1]) for f in v if f[:-1] in ("k", "phase") and f[-1:].isdigit()})
            extra = sorted(set(v) - {f"{p}{n}" for n in orders for p in ("k", "phase")})
            if extra:
                losses.append(
                    f"row {key}: fields {extra} (an frcmod dihedral holds k1..k6 and phase1..phase6)"
                )
            section = "DIHE" if row.section is None else "IMPR"
            divider = "   1" if section == "DIHE" else "    "
            for i, order in enumerate(orders or [1]):
                pn = f"{-order if i < len(orders) - 1 else order:.1f}"
                line = f"{_type_text(row.types)}{divider}  {num(f'k{order}', width=12)}"
                line += f"  {num(f'phase{order}', DEG_TO_RAD, width=12)}  {pn:>6}"
                out.setdefault(section, []).append(line)
        elif row.kind == "vdw" and row.section is None:
            if "reduction" in v and not math.isclose(v["reduction"], 1.0):
                losses.append(f"row {key}: hydrogen vdW reduction {v['reduction']!r} (Amber has none)")
            out.setdefault("NONB", []).append(f"  {row.types[0]:<4}  {num('radius')}  {num('epsilon')}")
        else:
            where = f" of section {row.section!r}" if row.section else ""
            losses.append(f"row {key}: {row.kind} terms{where} (no frcmod section holds them)")
    return out, losses


@attrs.frozen
class Frcmod(TextForceFieldFormat):
    """Amber ``.frcmod`` files (reader and writer)."""

    name: str = FORMAT
    suffixes: tuple[str, ...] = (".frcmod",)
    _parse = staticmethod(_parse)
    _plan = staticmethod(_plan)

    def read(self, path: Path) -> ForceField:
        source = fftext.read_source(path, FORMAT)
        if not source.lines:
            raise ParseError(path, None, "a title line and frcmod sections", "an empty file")
        parsed = _parse(source)
        title = fftext.body(source.lines[0]).strip()
        return ForceField(
            FunctionalForm.HARMONIC,
            [slot.row() for slot in parsed.slots],
            conventions=CONVENTIONS,
            name=title or Path(path).stem,
            source=source,
        )
