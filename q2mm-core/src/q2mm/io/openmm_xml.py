"""OpenMM ForceField XML files.

Standard forces map to canonical rows, converting OpenMM's kJ/mol, nm and ½ k x²
energies: ``HarmonicBondForce`` ``k`` becomes k/2 · kJ→kcal / (nm→Å)², lengths ×10;
``HarmonicAngleForce`` k/2 · kJ→kcal with angles in radians; ``PeriodicTorsionForce``
``<Proper>`` and ``<Improper>`` give ``torsion`` rows (k kJ→kcal, phases as written),
impropers with section ``"improper"`` in Amber order — OpenMM names the central atom
``class1`` and evaluates (class2, class3, class1, class4), which is the canonical
order, centre third; ``NonbondedForce`` ``<Atom>`` gives a ``vdw`` row (radius
2^(1/6) σ / 2 in Å, ε in kcal/mol) and, when it carries one, a ``charge`` row, with
its 1-4 scales as the conventions. Atoms are named by ``class`` or ``type`` attributes,
kept as written.

MM3 out-of-plane bends (``opbend`` rows) are OpenMM's
``<AmoebaOutOfPlaneBendForce type="ALLINGER">``, the block OpenMM's own AMOEBA files use
and the only angle it evaluates, whatever the type says (so q2mm reads no other type).
OpenMM's energy k χ² (1 + cubic χ + … + sextic χ⁴) takes χ in degrees, without ½: an
``<Angle>`` ``k`` is kJ/mol/deg² (× kJ→kcal × (180/π)² gives the canonical k) and the
block's ``opbend-cubic`` … ``opbend-sextic`` are the conventions of the same names as
they stand (per degree, as MM3 states them). Its class order is the row's: ``class1``
the out-of-plane atom, ``class2`` the trigonal centre, ``class3`` and ``class4`` the
other two, where OpenMM writes a wildcard as an empty class and q2mm as ``"0"``.
OpenMM bends a centre only when all three of its neighbours have an item, and takes the
first item that matches, so q2mm writes the items with fewer wildcards first (rows
added to a file read from XML still go at the end of the block).

Custom forces hold arbitrary energy expressions, which cannot become canonical rows in
general: they are kept in the text, named with their expression as what a conversion
would lose. The exception are the expressions this module writes itself for MM3 terms
a standard force cannot hold — the anharmonic bond and angle series and the
Buckingham van der Waals — which read back as rows and conventions. Everything else in
the file (atom types, residue templates, scripts, other forces) is kept as text.

Writing a force field read from XML rewrites only the attributes whose values changed,
so an unchanged file comes back byte for byte; new rows go at the end of their force.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

import attrs

from ..errors import ConversionLossError, ParseError
from ..model import Conventions, ForceField, FunctionalForm, Row, SourceText
from ..model.units import KCAL_TO_KJ, KJ_TO_KCAL, NM_TO_ANGSTROM, RAD_TO_DEG
from ..topology.assignment import WILDCARDS
from . import fftext
from .conversion import convention_losses
from .textformat import TextForceFieldFormat

FORMAT = "openmm-xml"
IMPROPER = "improper"
_TWO_SIX = 2.0 ** (1.0 / 6.0)
#: Amber's 1-4 scales, OpenMM's usual ones; the XML states its own.
CONVENTIONS = Conventions(vdw_form="lennard-jones", vdw_scale_14=0.5, elec_scale_14=1 / 1.2)

#: The expressions q2mm writes for MM3 terms (kJ/mol, nm, rad; the angle series is in degrees).
MM3_BOND = "k*d^2*(1+bond_cubic*d+bond_quartic*d^2); d=r-r0"
MM3_ANGLE = (
    "k*d^2*(1+angle_cubic*x+angle_quartic*x^2+angle_pentic*x^3+angle_sextic*x^4); "
    "x=d*57.29577951308232; d=theta-theta0"
)
MM3_VDW = (
    "epsilon*(vdw_a*exp(-vdw_b*r/rv)-vdw_c*(rv/r)^6); epsilon=sqrt(epsilon1*epsilon2); rv=radius1+radius2"
)
#: Global parameters of those forces (named as the Conventions fields, unique across a
#: System as OpenMM requires) and the factor from the canonical value (Å → nm).
_BOND_GLOBALS = {"bond_cubic": NM_TO_ANGSTROM, "bond_quartic": NM_TO_ANGSTROM**2}
_ANGLE_GLOBALS = dict.fromkeys(("angle_cubic", "angle_quartic", "angle_pentic", "angle_sextic"), 1.0)
_VDW_GLOBALS = dict.fromkeys(("vdw_a", "vdw_b", "vdw_c"), 1.0)
_OURS = {"CustomBondForce": MM3_BOND, "CustomAngleForce": MM3_ANGLE, "CustomNonbondedForce": MM3_VDW}
_KJ_NM2 = KJ_TO_KCAL / NM_TO_ANGSTROM**2  # kJ/mol/nm² → kcal/mol/Å²
_KJ_DEG2 = KJ_TO_KCAL * RAD_TO_DEG**2  # kJ/mol/deg² → kcal/mol/rad²
#: The out-of-plane series attributes of <AmoebaOutOfPlaneBendForce> and their conventions
#: (both per degree).
_OPBEND_SERIES = {
    "opbend-cubic": "opbend_cubic",
    "opbend-quartic": "opbend_quartic",
    "opbend-pentic": "opbend_pentic",
    "opbend-sextic": "opbend_sextic",
}
OPBEND_TYPE = "ALLINGER"
#: How q2mm names the wildcard other atoms of an out-of-plane bend it reads (as Tinker).
OPBEND_WILDCARD = "0"


_TAG = re.compile(rb"<[^>\"']*(?:(?:\"[^\"]*\"|'[^']*')[^>\"']*)*>")


def _tag_end(data: bytes, offset: int) -> int:
    """Index just past the tag starting at ``offset`` ('>' may sit inside quoted values)."""
    match = _TAG.match(data, offset)
    return match.end() if match else len(data)


def _squash(expression: str) -> str:
    return re.sub(r"\s+", "", expression)


@attrs.define
class _Element:
    tag: str
    attributes: dict[str, str]
    line: int  # 1-based
    offset: int  # byte offset of '<'
    children: list[_Element] = attrs.Factory(list)
    end: int = -1  # byte offset just past the element's end


def _tree(data: bytes, path: str) -> _Element:
    parser = expat.ParserCreate()
    stack: list[_Element] = []
    roots: list[_Element] = []

    def start(tag, attributes):
        element = _Element(tag, dict(attributes), parser.CurrentLineNumber, parser.CurrentByteIndex)
        (stack[-1].children if stack else roots).append(element)
        stack.append(element)

    def end(tag):
        element = stack.pop()
        index = parser.CurrentByteIndex
        # an empty-element tag reports the index of its '<'; a closing tag of '</'
        element.end = _tag_end(data, index) if index >= 0 else len(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise ParseError(path, exc.lineno, "well-formed XML", expat.ErrorString(exc.code)) from None
    if len(roots) != 1 or roots[0].tag != "ForceField":
        raise ParseError(
            path,
            roots[0].line if roots else None,
            "a <ForceField> root element",
            f"<{roots[0].tag}>" if roots else "no element",
        )
    return roots[0]


@attrs.frozen
class _Attr:
    """Where a field's value is written: element offset, attribute, canonical = value × scale."""

    offset: int
    name: str
    scale: float


@attrs.define
class _Slot:
    row: Row
    attrs: dict[str, _Attr]


@attrs.define
class _Parsed:
    root: _Element
    slots: list[_Slot] = attrs.Factory(list)
    conventions: dict[str, float | str] = attrs.Factory(dict)
    unmodelled: list[tuple[int, str]] = attrs.Factory(list)
    mm3: bool = False


class _Reader:
    def __init__(self, source: SourceText):
        self.path = source.path
        self.data = "".join(source.lines).encode("utf-8", "surrogateescape")
        self.out = _Parsed(_tree(self.data, self.path))
        self.keys: set[str] = set()

    def error(self, element: _Element, expected: str, found: str | None = None) -> ParseError:
        return ParseError(self.path, element.line, expected, found)

    def number(self, element: _Element, name: str) -> float:
        if name not in element.attributes:
            raise self.error(element, f"a {name} attribute on <{element.tag}>")
        return fftext.number(
            element.attributes[name], self.path, element.line, f"the {name} of <{element.tag}>"
        )

    def types(
        self, element: _Element, count: int, prefixes: tuple[str, ...] = ("class", "type")
    ) -> tuple[str, ...]:
        out = []
        for i in range(1, count + 1):
            name = next((f"{p}{i}" for p in prefixes if f"{p}{i}" in element.attributes), None)
            if name is None:
                raise self.error(element, " or ".join(f"{p}{i}" for p in prefixes) + f" on <{element.tag}>")
            out.append(element.attributes[name])
        return tuple(out)

    def run(self) -> _Parsed:
        self.buckingham = any(
            force.tag == "CustomNonbondedForce"
            and _squash(force.attributes.get("energy", "")) == _squash(MM3_VDW)
            for force in self.out.root.children
        )
        for force in self.out.root.children:
            read = _FORCE_READERS.get(force.tag)
            if read is None:
                self.keep(force, _KEPT.get(force.tag, f"OpenMM <{force.tag}>"))
            else:
                read(self, force)
        return self.out

    def keep(self, element: _Element, what: str) -> None:
        self.out.unmodelled.append((element.line, what))

    def add(
        self,
        element: _Element,
        kind: str,
        types: tuple[str, ...],
        fields: dict[str, tuple[str, float]],
        section: str | None = None,
    ) -> None:
        values = {field: self.number(element, name) * scale for field, (name, scale) in fields.items()}
        row = Row(kind, types, values, line=element.line, section=section)
        if row.key in self.keys:  # elements sharing a line (a one-line file): number them in order
            row = attrs.evolve(
                row, key=f"{row.key}#{sum(k.startswith(row.key + '#') for k in self.keys) + 2}"
            )
        self.keys.add(row.key)
        self.out.slots.append(_Slot(row, {f: _Attr(element.offset, n, s) for f, (n, s) in fields.items()}))

    def harmonic_bonds(self, force: _Element) -> None:
        for bond in self.items(force, "Bond"):
            self.add(
                bond, "bond", self.types(bond, 2), {"k": ("k", _KJ_NM2 / 2), "r0": ("length", NM_TO_ANGSTROM)}
            )

    def harmonic_angles(self, force: _Element) -> None:
        for angle in self.items(force, "Angle"):
            self.add(
                angle, "angle", self.types(angle, 3), {"k": ("k", KJ_TO_KCAL / 2), "theta0": ("angle", 1.0)}
            )

    def items(self, force: _Element, tag: str, extra: tuple[str, ...] = ()) -> list[_Element]:
        for child in force.children:
            if child.tag != tag and child.tag not in extra:
                self.keep(child, f"<{child.tag}> in <{force.tag}>")
        return [child for child in force.children if child.tag == tag]

    def torsions(self, force: _Element) -> None:
        for child in force.children:
            if child.tag not in ("Proper", "Improper"):
                self.keep(child, f"<{child.tag}> in <{force.tag}>")
                continue
            types = self.types(child, 4)
            section = None
            if child.tag == "Improper":
                types, section = (types[1], types[2], types[0], types[3]), IMPROPER
            fields: dict[str, tuple[str, float]] = {}
            i = 1
            while f"periodicity{i}" in child.attributes:
                order = fftext.integer(
                    child.attributes[f"periodicity{i}"], self.path, child.line, "a periodicity"
                )
                if not 1 <= order <= 6 or f"k{order}" in fields:
                    raise self.error(child, "distinct periodicities 1-6", str(order))
                fields[f"k{order}"] = (f"k{i}", KJ_TO_KCAL)
                fields[f"phase{order}"] = (f"phase{i}", 1.0)
                i += 1
            self.add(child, "torsion", types, fields, section)

    def out_of_plane_bends(self, force: _Element) -> None:
        """Allinger out-of-plane bends; OpenMM reads their atoms by class only."""
        kind = force.attributes.get("type")
        if kind is None or kind.upper() != OPBEND_TYPE:
            raise self.error(
                force, f'type="{OPBEND_TYPE}" on <{force.tag}> (the angle OpenMM evaluates)', kind
            )
        for name, field in _OPBEND_SERIES.items():
            self.out.conventions[field] = self.number(force, name)
        for angle in self.items(force, "Angle"):
            oop, centre, *others = self.types(angle, 4, prefixes=("class",))
            types = (oop, centre, *(other or OPBEND_WILDCARD for other in others))
            self.add(angle, "opbend", types, {"k": ("k", _KJ_DEG2)})

    def nonbonded(self, force: _Element) -> None:
        """Lennard-Jones and charges; next to q2mm's MM3 Buckingham force only the charges."""
        self.out.conventions["elec_scale_14"] = self.number(force, "coulomb14scale")
        if not self.buckingham:
            self.out.conventions["vdw_scale_14"] = self.number(force, "lj14scale")
        for atom in self.items(force, "Atom", extra=("UseAttributeFromResidue",)):
            types = self.types_of_atom(atom)
            if not self.buckingham:
                self.add(
                    atom,
                    "vdw",
                    types,
                    {"radius": ("sigma", _TWO_SIX * NM_TO_ANGSTROM / 2), "epsilon": ("epsilon", KJ_TO_KCAL)},
                )
            elif self.number(atom, "epsilon") != 0.0:
                self.keep(atom, "Lennard-Jones terms next to the MM3 Buckingham van der Waals")
            if "charge" in atom.attributes:
                self.add(atom, "charge", types, {"q": ("charge", 1.0)})

    def types_of_atom(self, atom: _Element) -> tuple[str, ...]:
        for name in ("class", "type"):
            if name in atom.attributes:
                return (atom.attributes[name],)
        raise self.error(atom, f"a class or type attribute on <{atom.tag}>")

    def ours(self, force: _Element, expression: str, per_item: tuple[str, ...], globals_: dict) -> bool:
        """Whether a custom force is one q2mm writes; if so its globals become conventions."""
        energy = force.attributes.get("energy", "")
        parameters = [c.attributes.get("name") for c in force.children if c.tag.startswith("Per")]
        names = {c.attributes.get("name") for c in force.children if c.tag == "GlobalParameter"}
        if _squash(energy) != _squash(expression) or tuple(parameters) != per_item or names != set(globals_):
            self.keep(force, f"OpenMM <{force.tag}> with energy {energy!r}")
            return False
        for child in force.children:
            if child.tag == "GlobalParameter":
                name = child.attributes["name"]
                self.out.conventions[name] = self.number(child, "defaultValue") / globals_[name]
        self.out.mm3 = True
        return True

    def custom_bonds(self, force: _Element) -> None:
        if self.ours(force, MM3_BOND, ("k", "r0"), _BOND_GLOBALS):
            for bond in self.items(force, "Bond", extra=("GlobalParameter", "PerBondParameter")):
                self.add(
                    bond, "bond", self.types(bond, 2), {"k": ("k", _KJ_NM2), "r0": ("r0", NM_TO_ANGSTROM)}
                )

    def custom_angles(self, force: _Element) -> None:
        if self.ours(force, MM3_ANGLE, ("k", "theta0"), _ANGLE_GLOBALS):
            for angle in self.items(force, "Angle", extra=("GlobalParameter", "PerAngleParameter")):
                self.add(
                    angle, "angle", self.types(angle, 3), {"k": ("k", KJ_TO_KCAL), "theta0": ("theta0", 1.0)}
                )

    def custom_nonbonded(self, force: _Element) -> None:
        if self.ours(force, MM3_VDW, ("radius", "epsilon"), _VDW_GLOBALS):
            cutoff = fftext.integer(
                force.attributes.get("bondCutoff", "3"), self.path, force.line, "a bondCutoff"
            )
            if cutoff not in (2, 3):
                raise self.error(force, "bondCutoff 2 or 3 (1-4 pairs kept or excluded)", str(cutoff))
            self.out.conventions["vdw_form"] = "buckingham"
            self.out.conventions["vdw_scale_14"] = 1.0 if cutoff == 2 else 0.0
            for atom in self.items(force, "Atom", extra=("GlobalParameter", "PerParticleParameter")):
                self.add(
                    atom,
                    "vdw",
                    self.types_of_atom(atom),
                    {"radius": ("radius", NM_TO_ANGSTROM), "epsilon": ("epsilon", KJ_TO_KCAL)},
                )


#: The reader of each force whose elements become rows; other forces are kept as text.
_FORCE_READERS = {
    "HarmonicBondForce": _Reader.harmonic_bonds,
    "HarmonicAngleForce": _Reader.harmonic_angles,
    "PeriodicTorsionForce": _Reader.torsions,
    "AmoebaOutOfPlaneBendForce": _Reader.out_of_plane_bends,
    "NonbondedForce": _Reader.nonbonded,
    "CustomBondForce": _Reader.custom_bonds,
    "CustomAngleForce": _Reader.custom_angles,
    "CustomNonbondedForce": _Reader.custom_nonbonded,
}
#: How the file's other top-level elements are named as kept text.
_KEPT = {
    "AtomTypes": "OpenMM atom types (names, classes, elements, masses)",
    "Residues": "OpenMM residue templates",
    "Patches": "OpenMM residue patches",
    "Script": "an OpenMM <Script>",
    "InitializationScript": "an OpenMM <InitializationScript>",
    "Include": "an OpenMM <Include> of another file",
}


def _parse(source: SourceText) -> _Parsed:
    return _Reader(source).run()


def _xml_source(forcefield: ForceField) -> SourceText | None:
    source = forcefield.source
    return source if source is not None and source.format == FORMAT else None


# ---------------------------------------------------------------------------------- writing


@attrs.define
class _Plan:
    lines: list[str]
    losses: list[str] = attrs.Factory(list)


def _target_conventions(forcefield: ForceField) -> tuple[Conventions, tuple[str, ...]]:
    """The conventions an OpenMM file can state for this force field, and which fields it fixes."""
    c = forcefield.conventions
    fixed = ("vdw_scale_12", "vdw_scale_13", "elec_scale_12", "elec_scale_13", "dielectric", "vdw_form")
    target = attrs.evolve(
        CONVENTIONS, vdw_form=c.vdw_form if c.vdw_form in ("buckingham", "lennard-jones") else "lennard-jones"
    )
    if c.vdw_form == "buckingham":
        fixed += ("vdw_scale_14",)
        target = attrs.evolve(target, vdw_scale_14=1.0 if c.vdw_scale_14 >= 0.5 else 0.0)
    return target, fixed


def _plan(forcefield: ForceField) -> _Plan:
    target, fixed = _target_conventions(forcefield)
    losses = convention_losses(forcefield, target, "OpenMM XML", only=fixed)
    source = _xml_source(forcefield)
    plan = _fresh(forcefield) if source is None else _patch(forcefield, source)
    plan.losses[:0] = losses
    return plan


def _format(value: float) -> str:
    if not math.isfinite(value):
        raise ConversionLossError(f"{value!r} is not a number an OpenMM file can hold")
    return f"{float(value):.15g}"


def _patch(forcefield: ForceField, source: SourceText) -> _Plan:
    parsed = _parse(source)
    plan = _Plan(list(source.lines))
    data = bytearray("".join(source.lines).encode("utf-8", "surrogateescape"))
    rows = {row.key: row for row in forcefield.rows}
    edits: list[tuple[int, str, str]] = []
    for slot in parsed.slots:
        row = rows.pop(slot.row.key, None)
        if row is None:
            continue
        if row.kind != slot.row.kind or tuple(row.types) != slot.row.types:
            raise ConversionLossError(
                f"row {row.key}: an XML row keeps its atom names; only values are rewritten"
            )
        for field, value in row.values.items():
            where = slot.attrs.get(field)
            if where is None:
                plan.losses.append(f"row {row.key} {field} (the element has no attribute for it)")
                continue
            old = slot.row.values[field] / where.scale
            new = value / where.scale
            if not math.isclose(old, new, rel_tol=1e-12, abs_tol=1e-300):
                edits.append((where.offset, where.name, _format(new)))
    for offset, name, new in sorted(edits, reverse=True):
        tag = bytes(data[offset : _tag_end(bytes(data), offset)])
        # the attribute was read from this very tag, so the pattern finds it
        match = re.search(rb"\s" + re.escape(name.encode()) + rb"\s*=\s*(['\"])(.*?)\1", tag, re.S)
        data[offset + match.start(2) : offset + match.end(2)] = new.encode()
    plan.lines = fftext.split_lines(bytes(data).decode("utf-8", "surrogateescape"))
    if rows:
        _insert(plan, list(rows.values()), parsed, forcefield)
    return plan


def _insert(plan: _Plan, rows: list[Row], parsed: _Parsed, forcefield: ForceField) -> None:
    """New rows become elements at the end of the force that holds their kind."""
    blocks, losses = _elements(rows, forcefield)
    plan.losses.extend(losses)
    data = bytearray("".join(plan.lines).encode("utf-8", "surrogateescape"))
    root = _tree(bytes(data), "written file")
    forces = {child.tag: child for child in root.children}
    ours = {
        tag
        for tag, expression in _OURS.items()
        if tag in forces and _squash(forces[tag].attributes.get("energy", "")) == _squash(expression)
    }
    inserts: list[tuple[int, bytes]] = []
    for tag, (opening, items) in blocks.items():
        text = "".join(f"  {item}\n" for item in items)
        force = forces.get(tag)
        close = -1
        if force is not None and (not tag.startswith("Custom") or tag in ours):
            close = bytes(data).rfind(f"</{tag}>".encode(), force.offset, force.end)
        if close < 0:
            close = bytes(data).rfind(b"</ForceField>")
            text = f" {opening}\n{text} </{tag}>\n"
        inserts.append((close, text.encode()))
    for at, text in sorted(inserts, reverse=True):
        data[at:at] = text
    plan.lines = fftext.split_lines(bytes(data).decode("utf-8", "surrogateescape"))


def _fresh(forcefield: ForceField) -> _Plan:
    blocks, losses = _elements(list(forcefield.rows), forcefield)
    lines = ["<ForceField>"]
    for tag, (opening, items) in blocks.items():
        lines += [f" {opening}", *(f"  {item}" for item in items), f" </{tag}>"]
    lines.append("</ForceField>")
    return _Plan([line + "\n" for line in lines], losses)


def _attrs_text(pairs: list[tuple[str, str]]) -> str:
    return " ".join(f"{name}={quoteattr(value)}" for name, value in pairs)


def _names(types: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(f"class{i}", t) for i, t in enumerate(types, 1)]


def _globals(conventions: Conventions, table: dict[str, float]) -> str:
    return "".join(
        f'<GlobalParameter name="{name}" defaultValue="{_format(getattr(conventions, name) * scale)}"/>'
        for name, scale in table.items()
    )


def _elements(rows: list[Row], forcefield: ForceField) -> tuple[dict[str, tuple[str, list[str]]], list[str]]:
    """XML elements per force for the rows OpenMM can hold: {force tag: (opening tag, items)}."""
    charges = {row.types: row for row in rows if row.kind == "charge" and row.section is None}
    blocks = _Blocks(forcefield.conventions, rows, charges)
    for row in sorted(rows, key=_opbend_wildcards):
        kind = _KINDS.get(row.kind)
        if _writable(blocks, row, kind):
            kind.write(blocks, row)
    return blocks.out, blocks.losses


@attrs.define
class _Blocks:
    """The elements being written, per force, and what the rows lose on the way."""

    conventions: Conventions
    rows: list[Row]
    #: Charge rows by atom types; with none at all OpenMM takes charges from residue templates.
    charges: dict[tuple[str, ...], Row]
    out: dict[str, tuple[str, list[str]]] = attrs.Factory(dict)
    losses: list[str] = attrs.Factory(list)

    def put(self, tag: str, opening: str, item: str) -> None:
        self.out.setdefault(tag, (opening, []))[1].append(item)

    def nonbonded_atom(self, name: str, charge: float | None, sigma: str, epsilon: str) -> None:
        """A NonbondedForce atom; ``charge`` None leaves it to the residue templates."""
        c = self.conventions
        opening = (
            f'<NonbondedForce coulomb14scale="{_format(c.elec_scale_14)}" '
            f'lj14scale="{_format(c.vdw_scale_14)}">'
        )
        if charge is None:
            opening += '<UseAttributeFromResidue name="charge"/>'
            pairs = [("class", name), ("sigma", sigma), ("epsilon", epsilon)]
        else:
            pairs = [("class", name), ("charge", _format(charge)), ("sigma", sigma), ("epsilon", epsilon)]
        self.put("NonbondedForce", opening, f"<Atom {_attrs_text(pairs)}/>")


def _opbend_wildcards(row: Row) -> int:
    """Out-of-plane bends with fewer wildcards sort first: OpenMM takes the first item
    that matches, q2mm the most specific row."""
    return sum(t in WILDCARDS for t in row.types) if row.kind == "opbend" else 0


def _writable(blocks: _Blocks, row: Row, kind: _Kind | None) -> bool:
    """Whether an OpenMM element can hold ``row``; fields it has no attribute for are lost."""
    if row.section not in (None, IMPROPER) or (row.section == IMPROPER and row.kind != "torsion"):
        blocks.losses.append(
            f"row {row.key}: rows of section {row.section!r} (OpenMM matches atom types only)"
        )
        return False
    if kind is None:
        blocks.losses.append(f"row {row.key}: {row.kind} terms (q2mm writes no OpenMM force for them)")
        return False
    extra = sorted(set(row.values) - kind.holds)
    if extra:
        blocks.losses.append(f"row {row.key}: fields {extra} (the OpenMM element holds {sorted(kind.holds)})")
    return True


def _item(tag: str, types: tuple[str, ...], values: list[tuple[str, str]]) -> str:
    """An element naming its atoms by class, then its values."""
    return f"<{tag} {_attrs_text(_names(types) + values)}/>"


def _bond(blocks: _Blocks, row: Row) -> None:
    """A HarmonicBondForce bond, or one of q2mm's MM3 series when the conventions have one."""
    c = blocks.conventions
    (_mm3_bond if c.bond_cubic or c.bond_quartic else _harmonic_bond)(blocks, row)


def _harmonic_bond(blocks: _Blocks, row: Row) -> None:
    v = row.values
    values = [
        ("length", _format(v.get("r0", 0.0) / NM_TO_ANGSTROM)),
        ("k", _format(2 * v.get("k", 0.0) / _KJ_NM2)),
    ]
    blocks.put("HarmonicBondForce", "<HarmonicBondForce>", _item("Bond", row.types, values))


def _mm3_bond(blocks: _Blocks, row: Row) -> None:
    """An item of q2mm's own CustomBondForce (:data:`MM3_BOND`), series from the conventions."""
    opening = (
        f'<CustomBondForce energy="{MM3_BOND}">'
        + _globals(blocks.conventions, _BOND_GLOBALS)
        + '<PerBondParameter name="k"/><PerBondParameter name="r0"/>'
    )
    v = row.values
    values = [("k", _format(v.get("k", 0.0) / _KJ_NM2)), ("r0", _format(v.get("r0", 0.0) / NM_TO_ANGSTROM))]
    blocks.put("CustomBondForce", opening, _item("Bond", row.types, values))


def _angle(blocks: _Blocks, row: Row) -> None:
    """A HarmonicAngleForce angle, or one of q2mm's MM3 series when the conventions have one."""
    c = blocks.conventions
    anharmonic = c.angle_cubic or c.angle_quartic or c.angle_pentic or c.angle_sextic
    (_mm3_angle if anharmonic else _harmonic_angle)(blocks, row)


def _harmonic_angle(blocks: _Blocks, row: Row) -> None:
    v = row.values
    values = [("angle", _format(v.get("theta0", 0.0))), ("k", _format(2 * v.get("k", 0.0) * KCAL_TO_KJ))]
    blocks.put("HarmonicAngleForce", "<HarmonicAngleForce>", _item("Angle", row.types, values))


def _mm3_angle(blocks: _Blocks, row: Row) -> None:
    """An item of q2mm's own CustomAngleForce (:data:`MM3_ANGLE`), series from the conventions."""
    opening = (
        f'<CustomAngleForce energy="{MM3_ANGLE}">'
        + _globals(blocks.conventions, _ANGLE_GLOBALS)
        + '<PerAngleParameter name="k"/><PerAngleParameter name="theta0"/>'
    )
    v = row.values
    values = [("k", _format(v.get("k", 0.0) * KCAL_TO_KJ)), ("theta0", _format(v.get("theta0", 0.0)))]
    blocks.put("CustomAngleForce", opening, _item("Angle", row.types, values))


def _torsion(blocks: _Blocks, row: Row) -> None:
    """A Proper, or an Improper with the centre (canonically third) as OpenMM's class1."""
    types, tag = row.types, "Proper"
    if row.section == IMPROPER:
        types, tag = (types[2], types[0], types[1], types[3]), "Improper"
    blocks.put(
        "PeriodicTorsionForce", "<PeriodicTorsionForce>", _item(tag, types, _periodic_terms(row.values))
    )


def _periodic_terms(v: Mapping[str, float]) -> list[tuple[str, str]]:
    """periodicityN, phaseN, kN for each periodicity the row has, numbered from 1 in order."""
    orders = sorted({int(f[-1]) for f in v if f in _TORSION_FIELDS})
    values = []
    for i, order in enumerate(orders, 1):
        values += [
            (f"periodicity{i}", str(order)),
            (f"phase{i}", _format(v.get(f"phase{order}", 0.0))),
            (f"k{i}", _format(v.get(f"k{order}", 0.0) * KCAL_TO_KJ)),
        ]
    return values


def _opbend(blocks: _Blocks, row: Row) -> None:
    """An AmoebaOutOfPlaneBendForce angle, series from the conventions; OpenMM has a
    wildcard (an empty class) only for the two other atoms."""
    oop, centre, *others = row.types
    if oop in WILDCARDS or centre in WILDCARDS:
        blocks.losses.append(
            f"row {row.key}: a wildcard out-of-plane atom or centre (OpenMM matches those by class)"
        )
        return
    c = blocks.conventions
    opening = (
        f'<AmoebaOutOfPlaneBendForce type="{OPBEND_TYPE}" '
        + _attrs_text([(name, _format(getattr(c, field))) for name, field in _OPBEND_SERIES.items()])
        + ">"
    )
    types = (oop, centre, *("" if other in WILDCARDS else other for other in others))
    k = _format(row.values.get("k", 0.0) / _KJ_DEG2)
    blocks.put("AmoebaOutOfPlaneBendForce", opening, _item("Angle", types, [("k", k)]))


def _vdw(blocks: _Blocks, row: Row) -> None:
    """Lennard-Jones, or q2mm's MM3 Buckingham force when the conventions say so."""
    v = row.values
    if "reduction" in v and not math.isclose(v["reduction"], 1.0):
        blocks.losses.append(
            f"row {row.key}: hydrogen vdW reduction {v['reduction']!r} (OpenMM XML has none)"
        )
    (_buckingham if blocks.conventions.vdw_form == "buckingham" else _lennard_jones)(blocks, row)


def _buckingham(blocks: _Blocks, row: Row) -> None:
    """An atom of q2mm's MM3 CustomNonbondedForce; its charge, if any, goes to a
    NonbondedForce atom with Lennard-Jones switched off."""
    v, charge = row.values, blocks.charges.get(row.types)
    opening = _buckingham_opening(blocks.conventions)
    values = [
        ("radius", _format(v.get("radius", 0.0) / NM_TO_ANGSTROM)),
        ("epsilon", _format(v.get("epsilon", 0.0) * KCAL_TO_KJ)),
    ]
    blocks.put("CustomNonbondedForce", opening, f"<Atom {_attrs_text([('class', row.types[0]), *values])}/>")
    if charge is not None:
        blocks.nonbonded_atom(row.types[0], charge.values.get("q", 0.0), "1.0", "0.0")


def _buckingham_opening(c: Conventions) -> str:
    """The force's tag: bondCutoff 2 keeps the 1-4 pairs (scale 1), 3 excludes them (scale 0)."""
    cutoff = 2 if c.vdw_scale_14 >= 0.5 else 3
    return (
        f'<CustomNonbondedForce energy="{MM3_VDW}" bondCutoff="{cutoff}">'
        + _globals(c, _VDW_GLOBALS)
        + '<PerParticleParameter name="radius"/>'
        + '<PerParticleParameter name="epsilon"/>'
    )


def _lennard_jones(blocks: _Blocks, row: Row) -> None:
    """A NonbondedForce atom with σ, ε and the charge row of the same types (0 without
    one; from the residue templates when the force field has no charge rows at all)."""
    v, charge = row.values, blocks.charges.get(row.types)
    sigma = _format(2 * v.get("radius", 0.0) / _TWO_SIX / NM_TO_ANGSTROM)
    epsilon = _format(v.get("epsilon", 0.0) * KCAL_TO_KJ)
    q = None if not blocks.charges else (0.0 if charge is None else charge.values.get("q", 0.0))
    blocks.nonbonded_atom(row.types[0], q, sigma, epsilon)


def _charge(blocks: _Blocks, row: Row) -> None:
    """A charge without a vdW row of its types: a NonbondedForce atom with Lennard-Jones off."""
    if not any(r.kind == "vdw" and r.types == row.types for r in blocks.rows):
        blocks.nonbonded_atom(row.types[0], row.values.get("q", 0.0), "1.0", "0.0")


@attrs.frozen
class _Kind:
    """How rows of one kind are written: the fields its element has attributes for, and the writer."""

    holds: frozenset[str]
    write: Callable[[_Blocks, Row], None]


_TORSION_FIELDS = frozenset(f"{p}{n}" for n in range(1, 7) for p in ("k", "phase"))
#: The writer of each row kind OpenMM XML holds.
_KINDS = {
    "bond": _Kind(frozenset({"k", "r0"}), _bond),
    "angle": _Kind(frozenset({"k", "theta0"}), _angle),
    "torsion": _Kind(_TORSION_FIELDS, _torsion),
    "opbend": _Kind(frozenset({"k"}), _opbend),
    "vdw": _Kind(frozenset({"radius", "epsilon", "reduction"}), _vdw),
    "charge": _Kind(frozenset({"q"}), _charge),
}


@attrs.frozen
class OpenMMXml(TextForceFieldFormat):
    """OpenMM ForceField XML files (reader and writer)."""

    name: str = FORMAT
    suffixes: tuple[str, ...] = (".xml",)
    unmodelled_unit = "element"
    _parse = staticmethod(_parse)
    _plan = staticmethod(_plan)

    def read(self, path: Path) -> ForceField:
        source = fftext.read_source(path, FORMAT)
        parsed = _parse(source)
        conventions = attrs.evolve(CONVENTIONS, **parsed.conventions)
        form = FunctionalForm.MM3 if parsed.mm3 else FunctionalForm.HARMONIC
        return ForceField(
            form,
            [slot.row for slot in parsed.slots],
            conventions=conventions,
            name=Path(path).stem,
            source=source,
        )
