"""q2mm's own force-field file: a JSON document that holds every row kind, so a force
field no program's format can hold (an estimated MM3 force field with stretch-bends,
whose types are element names rather than Tinker classes or MacroModel codes) is
still written without loss.

The document (``"format": "q2mm.forcefield"``, ``"version": 1``) is the
:class:`~q2mm.model.ForceField` itself, in canonical units, which its ``"units"`` entry
states::

    {
      "format": "q2mm.forcefield",
      "version": 1,
      "units": {"energy": "kcal/mol", "length": "angstrom", "angle": "radian", ...},
      "form": "mm3",
      "name": "ch3f",
      "conventions": {"bond_cubic": -2.55, ..., "vdw_form": "buckingham", ...},
      "equivalences": {"PX": "P0 P3 P4 P5"},
      "rows": [
        {"kind": "bond", "types": ["C", "F"], "values": {"k": 359.8, "r0": 1.38},
         "key": "bond:C-F", "line": null, "section": null, "comment": ""},
        ...
      ]
    }

Values are kcal/mol, Å, radians, e and debye, force constants without ½ (a bond's
energy is k Δr², not ½ k Δr²), as :mod:`q2mm.model.forcefield` tabulates them per
kind; the conventions' angle and out-of-plane series act on Δθ in degrees, as MM3
states them. ``conventions`` names every field of :class:`~q2mm.model.Conventions`;
``line`` is the line of the file a row was first read from (MacroModel's ``.mmo``
files name rows by it). Each row is one line of the file. Numbers are written as
Python's shortest repr, so every finite value reads back exactly; NaN and infinities
are not JSON and are refused.

Reading checks the whole document: a wrong or missing format or version, other
units, an unknown kind, form or entry, a missing entry or a value of the wrong type
is a :class:`~q2mm.errors.ParseError` naming the file and the JSON path
(``rows[3].values.k``). Terms the force field kept only in the text of another
format's file (MM3* bend-bend constants) are not rows, so writing them here is
refused as a loss like any conversion (:mod:`.conversion`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import attrs

from ..errors import ParseError
from ..model import Conventions, ForceField, FunctionalForm, Row
from ..model.forcefield import TERM_KINDS
from .atomic import write_text_atomic
from .conversion import refuse_loss
from .fftext import read_source

FORMAT = "q2mm-json"
DOCUMENT = "q2mm.forcefield"
VERSION = 1
UNITS = {
    "energy": "kcal/mol",
    "length": "angstrom",
    "angle": "radian",
    "charge": "e",
    "dipole": "debye",
    "force_constant": "energy without 1/2: E = k x^2",
    "angle_series": "per degree of the deviation (conventions)",
}
_ROW = ("kind", "types", "values", "key", "line", "section", "comment")
_TOP = ("format", "version", "units", "form", "name", "conventions", "equivalences", "rows")


def document(forcefield: ForceField) -> dict[str, Any]:
    """The JSON document of ``forcefield`` (plain dicts, lists and scalars)."""
    return {
        "format": DOCUMENT,
        "version": VERSION,
        "units": UNITS,
        "form": forcefield.form.value,
        "name": forcefield.name,
        "conventions": attrs.asdict(forcefield.conventions),
        "equivalences": dict(forcefield.equivalences),
        "rows": [
            {
                "kind": row.kind,
                "types": list(row.types),
                "values": dict(row.values),
                "key": row.key,
                "line": row.line,
                "section": row.section,
                "comment": row.comment,
            }
            for row in forcefield.rows
        ],
    }


def _text(doc: dict[str, Any]) -> str:
    """The document indented, but each row on one line: a diff of two fits shows the
    rows that changed."""
    head = json.dumps({**doc, "rows": []}, indent=2, allow_nan=False).removesuffix("[]\n}")
    rows = ",\n".join("    " + json.dumps(row, allow_nan=False) for row in doc["rows"])
    return head + (f"[\n{rows}\n  ]\n}}\n" if rows else "[]\n}\n")


class _Reader:
    """Checks each entry of a parsed document, naming its JSON path when it fails."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, at: str, expected: str, found: Any = None) -> ParseError:
        return ParseError(self.path, None, f"{expected} at {at}", found)

    def entries(self, value: Any, at: str, names: tuple[str, ...]) -> dict[str, Any]:
        """An object with exactly the entries ``names``."""
        value = self.object(value, at)
        for name in value:
            if name not in names:
                raise self.fail(f"{at}.{name}".lstrip("."), f"one of the entries {', '.join(names)}", name)
        for name in names:
            if name not in value:
                raise self.fail(f"{at}.{name}".lstrip(".") + " (it is missing)", "an entry")
        return value

    def object(self, value: Any, at: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(at or "the top level", "a JSON object", value)
        return value

    def string(self, value: Any, at: str, empty: bool = True) -> str:
        if not isinstance(value, str) or not (empty or value):
            raise self.fail(at, "a string" if empty else "a non-empty string", value)
        return value

    def number(self, value: Any, at: str) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if math.isfinite(number):
                return number
        raise self.fail(at, "a finite number", value)

    def choice(self, value: Any, at: str, choices: tuple[Any, ...]) -> Any:
        if value not in choices or isinstance(value, bool):
            raise self.fail(at, f"one of {', '.join(json.dumps(c) for c in choices)}", value)
        return value

    def read(self, data: Any) -> ForceField:
        top = self.object(data, "")
        self.choice(top.get("format"), "format", (DOCUMENT,))
        self.choice(top.get("version"), "version", (VERSION,))
        top = self.entries(top, "", _TOP)
        units = self.entries(top["units"], "units", tuple(UNITS))
        for name, unit in UNITS.items():
            self.choice(units[name], f"units.{name}", (unit,))
        conventions = self.entries(top["conventions"], "conventions", tuple(attrs.fields_dict(Conventions)))
        for field in attrs.fields(Conventions):
            at, value = f"conventions.{field.name}", conventions[field.name]
            conventions[field.name] = (
                self.string(value, at) if isinstance(field.default, str) else self.number(value, at)
            )
        equivalences = self.object(top["equivalences"], "equivalences")
        for name, members in equivalences.items():
            self.string(members, f"equivalences.{name}")
        if not isinstance(top["rows"], list):
            raise self.fail("rows", "a JSON array", top["rows"])
        rows, keys = [], set()
        for i, entry in enumerate(top["rows"]):
            row = self.row(entry, f"rows[{i}]")
            if row.key in keys:
                raise self.fail(f"rows[{i}].key", "a key no other row has", row.key)
            keys.add(row.key)
            rows.append(row)
        return ForceField(
            FunctionalForm(self.choice(top["form"], "form", tuple(f.value for f in FunctionalForm))),
            rows,
            conventions=Conventions(**conventions),
            name=self.string(top["name"], "name"),
            equivalences=equivalences,
        )

    def row(self, entry: Any, at: str) -> Row:
        entry = self.entries(entry, at, _ROW)
        types = entry["types"]
        if not isinstance(types, list) or not types:
            raise self.fail(f"{at}.types", "a non-empty array of atom types", types)
        values = self.object(entry["values"], f"{at}.values")
        line, section = entry["line"], entry["section"]
        if line is not None and (not isinstance(line, int) or isinstance(line, bool) or line < 1):
            raise self.fail(f"{at}.line", "a line number (1 or more) or null", line)
        return Row(
            self.choice(entry["kind"], f"{at}.kind", TERM_KINDS),
            tuple(self.string(t, f"{at}.types[{j}]") for j, t in enumerate(types)),
            {name: self.number(v, f"{at}.values.{name}") for name, v in values.items()},
            key=self.string(entry["key"], f"{at}.key", empty=False),
            line=line,
            section=None if section is None else self.string(section, f"{at}.section"),
            comment=self.string(entry["comment"], f"{at}.comment"),
        )


@attrs.frozen
class Q2MMJson:
    """q2mm's JSON force-field document (reader and writer; holds every row kind)."""

    name: str = FORMAT
    suffixes: tuple[str, ...] = (".json",)

    def read(self, path: Path) -> ForceField:
        text = "".join(read_source(path, FORMAT).lines)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParseError(path, exc.lineno, "a JSON document", exc.msg) from None
        except RecursionError:
            raise ParseError(path, None, "a JSON document", "arrays or objects nested too deep") from None
        return _Reader(Path(path)).read(data)

    def write(self, forcefield: ForceField, path: Path, *, allow_loss: bool = False) -> None:
        refuse_loss(forcefield, FORMAT, [], allow_loss)
        write_text_atomic(path, _text(document(forcefield)))

    def losses(self, forcefield: ForceField) -> list[str]:
        """Nothing: the document holds every row kind and every convention."""
        return []
