"""Starting force constants from QM Hessians: FUERZA, γ-FUERZA, QFUERZA, defaults.

The four ways of Farrugia, Helquist, Norrby & Wiest (J. Chem. Theory Comput. 2025,
22, 469) to set a force field's initial constants before a Q2MM fit:

=================  ==========================  ==========================================
method             bonds                       angles
=================  ==========================  ==========================================
``fuerza``         Seminario projection        Seminario projection
``gamma-fuerza``   Seminario projection        Seminario × γ (γ ≈ 0.68)
``qfuerza``        Seminario projection        Seminario, but an angle with a hydrogen
                                               outer atom gets 0.5 mdyn·Å/rad²
``defaults``       5.0 mdyn/Å                  0.5 mdyn·Å/rad² (no Hessian needed)
=================  ==========================  ==========================================

Ideal values are the QM geometry's bond lengths and angles. A row takes the mean over
every bond or angle it parameterizes in every structure given — the QFUERZA
substitution happens per angle, before the mean, so a wildcard row that covers both
hydrogen and heavy-atom angles averages the two. Transition states declared as such are
handled by ``ts_method`` (:mod:`q2mm.estimate.curvature`); ground states never are.

With a ``template`` the matching rows are filled (bond k and r0, angle k and theta0)
and every other row is kept; rows are assigned to terms exactly as
:func:`q2mm.topology.build_system` assigns them (pass ``mmo`` structures to use
MacroModel's row links, ``sections`` to fill only the rows of those sections, e.g. a
MacroModel OPT substructure). Without one, rows are created keyed by atom type (the
structure's own, else the hybridization types of :mod:`q2mm.topology.typing`) for
every term a chemist expects: one per bond and angle type; a torsion row (MM3's
k1, k2, k3 with phases 0, π, 0) for every torsion type, its twofold (both ends planar)
or threefold component started from the QM curvature of rotation about the bond;
MM3 form: a stretch-bend row per bent angle type, from the QM Hessian's mixed
bond–angle derivatives (:mod:`q2mm.estimate.internal_hessian`);
and at every planar trigonal centre out-of-plane rows — MM3 form: ``opbend`` rows
keyed (out-of-plane atom, centre, wildcards), harmonic form: one ``improper`` per
centre — started from the QM curvature of pyramidalization
(:mod:`q2mm.estimate.rigid_motions`; torsions about ring bonds start at zero, as do
torsion and out-of-plane rows under ``defaults``, which reads no Hessian).
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Callable, Iterable, Sequence
from fnmatch import fnmatchcase

import numpy as np

from ..errors import ConfigError
from ..model import Conventions, ForceField, FunctionalForm, Molecule, Row
from ..model.units import MDYN_A_RAD2_TO_KCALMOL_RAD2, MDYN_A_TO_KCALMOL_A2
from ..parameters import physical_bounds
from ..topology import BondRules, Topology, bonded_rows, perceive
from ..topology.assignment import atom_types
from ..topology.typing import planar_centres
from .curvature import DEFAULT_INVERTED_EIGENVALUE, DEFAULT_TS_METHOD, TSMethod, curvature_corrected
from .internal_hessian import bent_angles, stretch_bend_constants
from .rigid_motions import (
    allinger_angle,
    improper_angle,
    out_of_plane_constant,
    rotor_curvature,
    rotor_side,
    torsion_starts,
)
from .seminario import angle_constant, bond_constant

#: QFUERZA's constant for angles with a hydrogen outer atom, and the "defaults"
#: method's angle constant (mdyn·Å/rad², Farrugia et al. 2025).
HYDROGEN_ANGLE_MDYN = 0.5
#: The "defaults" method's bond constant (mdyn/Å).
DEFAULT_BOND_MDYN = 5.0
DEFAULT_GAMMA = 0.68


class Method(enum.StrEnum):
    QFUERZA = "qfuerza"
    FUERZA = "fuerza"
    GAMMA_FUERZA = "gamma-fuerza"
    DEFAULTS = "defaults"


def _choice(enum_type, value, what: str):
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum_type)
        raise ConfigError(f"unknown {what} {value!r}; choose one of {choices}") from None


class _Curvatures:
    """The Hessians one structure is estimated from under a TS method (the inverted one
    is built only when C or E first needs it)."""

    def __init__(self, molecule: Molecule, ts_method: TSMethod, inverted_eigenvalue: float) -> None:
        if molecule.hessian is None:
            raise ConfigError(f"structure {molecule.name or '(unnamed)'} has no Hessian to estimate from")
        self.molecule = molecule
        self.as_is = np.asarray(molecule.hessian, dtype=float)
        self.coordinates = molecule.coordinates
        self.method = ts_method
        self.inverted_eigenvalue = inverted_eigenvalue

    @functools.cached_property
    def inverted(self) -> np.ndarray:
        return curvature_corrected(self.molecule, self.inverted_eigenvalue)

    def constant(self, projection: Callable[..., float], *atoms) -> float:
        """``projection(coordinates, hessian, *atoms)`` under the TS method: C from the
        inverted Hessian, D from the Hessian as is, E as D unless that is ≤ 0, then
        as C."""
        if self.method is TSMethod.C:
            return projection(self.coordinates, self.inverted, *atoms)
        value = projection(self.coordinates, self.as_is, *atoms)
        if self.method is TSMethod.E and value <= 0.0:
            return projection(self.coordinates, self.inverted, *atoms)
        return value


def _angle(coords: np.ndarray, i: int, j: int, k: int) -> float:
    a, b = coords[i] - coords[j], coords[k] - coords[j]
    return float(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1.0, 1.0)))


class _TypedRows:
    """Rows keyed by atom type for structures estimated without a template, created as
    they are met, with the starts each structure gives them."""

    def __init__(self, form: FunctionalForm) -> None:
        self.form = form
        self.rows: dict[str, Row] = {}
        #: row key → field → one start per term (and structure) that row covers
        self.starts: dict[str, dict[str, list[float]]] = {}
        #: stretch-bend row key → keys of (its k1 bond, its k2 bond, its angle)
        self.couples: dict[str, tuple[str, str, str]] = {}

    def row(self, kind: str, key_types: tuple[str, ...], values: dict[str, float]) -> Row:
        new = Row(kind, key_types, values)
        return self.rows.setdefault(new.key, new)

    def chain(self, kind: str, types: Sequence[str], atoms: Sequence[int], values: dict[str, float]) -> Row:
        """A bond, angle or torsion row: its types read either way, the lesser first."""
        key_types = tuple(types[a] for a in atoms)
        return self.row(kind, min(key_types, key_types[::-1]), values)

    def start(self, row: Row, field: str, value: float) -> None:
        self.starts.setdefault(row.key, {}).setdefault(field, []).append(value)

    def add(self, molecule: Molecule, topology: Topology, hessian: np.ndarray | None):
        """This structure's bond and angle rows (for the Seminario starts) after adding
        its torsion and out-of-plane rows with their starts (:mod:`.rigid_motions`)."""
        types = atom_types(molecule, topology)
        bonds = {b: self.chain("bond", types, b, {"k": 0.0, "r0": 0.0}) for b in topology.bonds}
        angles = {a: self.chain("angle", types, a, {"k": 0.0, "theta0": 0.0}) for a in topology.angles}
        torsion = {"k1": 0.0, "phase1": 0.0, "k2": 0.0, "phase2": math.pi, "k3": 0.0, "phase3": 0.0}
        torsions = {t: self.chain("torsion", types, t, torsion) for t in topology.torsions}
        coords = molecule.coordinates
        planar = planar_centres(coords, topology)
        if hessian is not None:
            for j, k in topology.bonds:
                self.rotor(coords, hessian, topology, torsions, planar, j, k)
        for centre in planar:
            self.out_of_plane(coords, hessian, topology, types, centre)
        if self.form is FunctionalForm.MM3:
            self.stretch_bends(coords, hessian, topology, types)
        return bonds, angles

    def stretch_bends(self, coords, hessian, topology: Topology, types) -> None:
        """A stretch-bend row per bent angle type, its k1 and k2 the QM Hessian's
        mixed bond–angle derivatives (:mod:`.internal_hessian`); zero without a
        Hessian. :meth:`coupling_limited` bounds them once the rows are filled."""
        angles = bent_angles(coords, topology.angles)
        found = {} if hessian is None else stretch_bend_constants(coords, hessian, topology.bonds, angles)
        for i, j, k in angles:
            k1, k2 = found.get((i, j, k), (0.0, 0.0))
            forward = (types[i], types[j], types[k])
            row = self.chain("strbnd", types, (i, j, k), {"k1": 0.0, "k2": 0.0})
            first, second = (i, k) if row.types == forward else (k, i)
            if forward == forward[::-1]:
                k1 = k2 = 0.5 * (k1 + k2)
            elif row.types != forward:
                k1, k2 = k2, k1
            self.couples[row.key] = (
                self.chain("bond", types, (first, j), {}).key,
                self.chain("bond", types, (second, j), {}).key,
                self.chain("angle", types, (i, j, k), {}).key,
            )
            self.start(row, "k1", k1)
            self.start(row, "k2", k2)

    def coupling_limited(self, rows: list[Row]) -> list[Row]:
        """Stretch-bend starts bounded so that no bond–angle pair of the MM Hessian
        starts indefinite: with E = k Δr² + k_θ Δθ² + f Δr Δθ that 2×2 block is
        positive definite while f² < 4 k k_θ, so |k_i| ≤ 2 √(k_bond,i · k_angle). A
        transition state's weak partial bonds (k ≈ 10 kcal/(mol·Å²) for the migrating
        H of the formamide 1,3-shift) otherwise meet cross terms of 170–200. Measured:
        half that bound (positive definite for both bonds of an angle at once) moved
        the cyclobutene-opening fit to a minimum 0.13 Å from the TS. Then clipped to
        the physical bounds."""
        k = {row.key: max(row.values.get("k", 0.0), 0.0) for row in rows if row.kind in ("bond", "angle")}
        lower, upper = physical_bounds("strbnd", "k1")
        out = []
        for row in rows:
            if row.kind == "strbnd":
                bond1, bond2, angle = self.couples[row.key]
                limits = (2 * math.sqrt(k[bond1] * k[angle]), 2 * math.sqrt(k[bond2] * k[angle]))
                values = [
                    float(np.clip(row.values[f], -lim, lim))
                    for f, lim in zip(("k1", "k2"), limits, strict=True)
                ]
                row = row.with_values(
                    **{f: float(np.clip(v, lower, upper)) for f, v in zip(("k1", "k2"), values, strict=True)}
                )
            out.append(row)
        return out

    def rotor(self, coords, hessian, topology, torsions, planar, j: int, k: int) -> None:
        about = [t for t in torsions if {t[1], t[2]} == {j, k}]
        sides = [(j, k, rotor_side(topology, j, k)), (k, j, rotor_side(topology, k, j))]
        if not about or sides[0][2] is None:
            return
        fixed, turned, side = min(sides, key=lambda s: len(s[2]))
        n = 2 if j in planar and k in planar else 3
        curvature = rotor_curvature(coords, hessian, fixed, turned, side)
        for t, value in zip(about, torsion_starts(coords, about, curvature, n), strict=True):
            self.start(torsions[t], f"k{n}", value)

    def out_of_plane(self, coords, hessian, topology: Topology, types, centre: int) -> None:
        neighbours = topology.neighbours[centre]
        if self.form is FunctionalForm.MM3:
            quads = [q for q in topology.out_of_plane if q[1] == centre]
            measures = [functools.partial(_allinger, quad=q) for q in quads]
            rows = [self.row("opbend", (types[q[3]], types[centre], "0", "0"), {"k": 0.0}) for q in quads]
        else:
            quad = (centre, *sorted(neighbours, key=lambda a: types[a]))
            measures = [functools.partial(_improper, quad=quad)]
            rows = [self.row("improper", tuple(types[a] for a in quad), {"k": 0.0, "phi0": 0.0})]
            self.start(rows[0], "phi0", measures[0](coords))
        k = 0.0 if hessian is None else out_of_plane_constant(coords, hessian, centre, neighbours, measures)
        for row in rows:
            self.start(row, "k", k)

    def filled(self, row: Row) -> Row:
        """``row`` with the mean start of each field it has starts for."""
        starts = self.starts.get(row.key, {})
        return row.with_values(**{field: float(np.mean(v)) for field, v in starts.items()}) if starts else row


def _allinger(coordinates: np.ndarray, quad: tuple[int, int, int, int]) -> float:
    return allinger_angle(coordinates, *quad)


def _improper(coordinates: np.ndarray, quad: tuple[int, int, int, int]) -> float:
    return improper_angle(coordinates, *quad)


def estimate_forcefield(
    molecules: Iterable[Molecule],
    *,
    template: ForceField | None = None,
    method: str = "qfuerza",
    ts_method: str = DEFAULT_TS_METHOD.value,
    form: FunctionalForm | str = FunctionalForm.MM3,
    gamma: float = DEFAULT_GAMMA,
    inverted_eigenvalue: float = DEFAULT_INVERTED_EIGENVALUE,
    mmo: Sequence | None = None,
    sections: Sequence[str] | None = None,
    bond_rules: BondRules | None = None,
) -> ForceField:
    """A force field with bond and angle constants estimated from the structures' QM
    Hessians (Hartree/Bohr²) and ideal values from their geometries; see the module
    doc. ``mmo`` (one MacroModel .mmo structure per molecule) and ``sections`` (row
    section patterns to fill) apply with a ``template``; ``form`` without one."""
    molecules = list(molecules)
    if not molecules:
        raise ConfigError("estimation needs at least one structure")
    method = _choice(Method, method, "estimation method")
    ts = _choice(TSMethod, ts_method, "transition-state method")
    if not gamma > 0:
        raise ConfigError(f"gamma must be positive, got {gamma}")
    if not inverted_eigenvalue > 0:
        raise ConfigError(f"the inverted eigenvalue must be positive, got {inverted_eigenvalue}")
    if mmo is not None and (template is None or len(mmo) != len(molecules)):
        raise ConfigError("mmo structures need a template and one per structure")

    form = _choice(FunctionalForm, form, "functional form")
    typed = _TypedRows(form) if template is None else None
    bond_k: dict[str, list[float]] = {}
    bond_r: dict[str, list[float]] = {}
    angle_k: dict[str, list[float]] = {}
    angle_t: dict[str, list[float]] = {}
    hydrogen_angle = HYDROGEN_ANGLE_MDYN * MDYN_A_RAD2_TO_KCALMOL_RAD2
    for n, molecule in enumerate(molecules):
        topology = perceive(molecule, bond_rules)
        curvatures = None if method is Method.DEFAULTS else _Curvatures(molecule, ts, inverted_eigenvalue)
        if typed is not None:
            bonds, angles = typed.add(molecule, topology, None if curvatures is None else curvatures.as_is)
        else:
            link = None if mmo is None else mmo[n]
            bonds, angles = bonded_rows(molecule, template, topology=topology, mmo=link)
        coords = molecule.coordinates
        for (i, j), row in bonds.items():
            bond_r.setdefault(row.key, []).append(float(np.linalg.norm(coords[i] - coords[j])))
            if curvatures is None:
                k = DEFAULT_BOND_MDYN * MDYN_A_TO_KCALMOL_A2
            else:
                k = curvatures.constant(bond_constant, i, j)
            bond_k.setdefault(row.key, []).append(k)
        for (i, j, k), row in angles.items():
            angle_t.setdefault(row.key, []).append(_angle(coords, i, j, k))
            hydrogen = "H" in (molecule.elements[i], molecule.elements[k])
            if curvatures is None or (method is Method.QFUERZA and hydrogen):
                value = hydrogen_angle
            else:
                value = curvatures.constant(angle_constant, i, j, k, topology.neighbours[j])
                if method is Method.GAMMA_FUERZA:
                    value *= gamma
            angle_k.setdefault(row.key, []).append(value)

    def filled(row: Row) -> Row:
        if sections is not None and not (row.section and any(fnmatchcase(row.section, p) for p in sections)):
            return row
        if row.kind == "bond" and row.key in bond_k:
            return row.with_values(k=float(np.mean(bond_k[row.key])), r0=float(np.mean(bond_r[row.key])))
        if row.kind == "angle" and row.key in angle_k:
            return row.with_values(
                k=float(np.mean(angle_k[row.key])), theta0=float(np.mean(angle_t[row.key]))
            )
        return row

    if template is not None:
        return ForceField(
            template.form,
            [filled(row) for row in template.rows],
            template.conventions,
            name=template.name,
            source=template.source,
            equivalences=template.equivalences,
        )
    conventions = Conventions.mm3() if form is FunctionalForm.MM3 else Conventions()
    order = {"bond": 0, "angle": 1, "strbnd": 2, "torsion": 3, "opbend": 4, "improper": 4}
    rows = sorted(typed.rows.values(), key=lambda r: order[r.kind])
    return ForceField(
        form,
        typed.coupling_limited([typed.filled(filled(row)) for row in rows]),
        conventions,
        name=f"{method.value} estimate",
    )
