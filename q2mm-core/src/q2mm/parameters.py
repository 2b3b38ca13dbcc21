"""The parameter space a fit moves in: which force-field values are fitted, tied, bounded.

A force field's full parameter vector (``ForceField.vector()``, canonical units) is
what engines consume. A fit moves a shorter vector ``x`` of *active* values; every
other value stays at the start. Tying lets several rows share one fitted value. Both
are one assignment (smee's model: a full × active matrix A of 0/1 entries,
``values = base + A @ x``, ``base`` holding the frozen values and zeros at active
positions). With at most one 1 per row, A @ x is a gather, which is how
:meth:`ParameterSpace.expand` computes it — on NumPy and inside ``jax.jit`` alike,
without a dense matrix that is mostly zeros (7237 × 110 for the Rh-enamide fit).

Bounds are physical sanity limits per kind and field, in canonical units
(kcal/mol, Å, radians; energies without ½):

=============  ==============  =============================  ==========================
kind           field           bounds                         why
=============  ==============  =============================  ==========================
bond           k               0 … 3000 kcal/(mol·Å²)         41.7 mdyn/Å; C≡N is 17.3
bond           r0              0.5 … 4.0 Å                    metal–ligand bonds ≤ 2.8 Å
angle          k               0 … 1000 kcal/(mol·rad²)       13.9 mdyn·Å/rad²
angle          theta0          0 … π rad
urey_bradley   k, r0           0 … 3000, 0.5 … 5.0 Å
strbnd         k1, k2          −200 … 200 kcal/(mol·Å·rad)    1.4 mdyn/rad
torsion        k1 … k6         −50 … 50 kcal/mol              V = 100 kcal/mol
torsion        phase1 … 6      −2π … 2π rad
improper       k, phi0         0 … 1000, −π … π
opbend         k               0 … 1000 kcal/(mol·rad²)
vdw            radius          0.5 … 5.0 Å
vdw            epsilon         0 … 5 kcal/mol
vdw            reduction       0.5 … 1.0                      MM3 H reduction factor
vdw_pair       radius          0.5 … 10.0 Å                   a pair r* is a radius sum
vdw_pair       epsilon         0 … 5 kcal/mol
charge         q               −3 … 3 e
dipole         moment          −10 … 10 debye
dipole         position        0 … 1                          fraction along the bond
=============  ==============  =============================  ==========================

Force constants (``FORCE_CONSTANT_FIELDS``) may go negative only when the user allows
it (``allow_negative``: their lower bound becomes minus the upper one). A starting
value outside its bounds is refused (:class:`~q2mm.errors.ConfigError`), never
clipped. Inside these, :mod:`q2mm.windows` keeps ideal values near the QM geometry
and force constants off zero (the ``limits`` a run passes; a group's limits always
hold its start). ``fractional_bounds`` f narrows each active value to ``x0 ± f·|x0|``
inside the physical bounds (a zero start keeps the physical bounds: there is no scale to take
a fraction of).

The default active set — what a Q2MM fit moves unless told otherwise — is bond k and
r0, angle k and theta0, torsion k1…k6, stretch-bend k1 and k2 and out-of-plane k;
phases, van der Waals, charges and dipoles stay frozen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

import attrs
import numpy as np

from .errors import ConfigError, FitFailure
from .model import ForceField, Row
from .model.forcefield import FORCE_CONSTANT_FIELDS

_TWO_PI = 2.0 * math.pi
_TORSION_K = {f"k{n}": (-50.0, 50.0) for n in range(1, 7)}
_TORSION_PHASE = {f"phase{n}": (-_TWO_PI, _TWO_PI) for n in range(1, 7)}

#: Physical sanity bounds (canonical units) by kind and field; see the module table.
PHYSICAL_BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    "bond": {"k": (0.0, 3000.0), "r0": (0.5, 4.0)},
    "angle": {"k": (0.0, 1000.0), "theta0": (0.0, math.pi)},
    "urey_bradley": {"k": (0.0, 3000.0), "r0": (0.5, 5.0)},
    "strbnd": {"k1": (-200.0, 200.0), "k2": (-200.0, 200.0)},
    "torsion": {**_TORSION_K, **_TORSION_PHASE},
    "improper": {"k": (0.0, 1000.0), "phi0": (-math.pi, math.pi)},
    "opbend": {"k": (0.0, 1000.0)},
    "vdw": {"radius": (0.5, 5.0), "epsilon": (0.0, 5.0), "reduction": (0.5, 1.0)},
    "vdw_pair": {"radius": (0.5, 10.0), "epsilon": (0.0, 5.0)},
    "charge": {"q": (-3.0, 3.0)},
    "dipole": {"moment": (-10.0, 10.0), "position": (0.0, 1.0)},
}

#: Fields fitted by default, per kind.
DEFAULT_ACTIVE: dict[str, tuple[str, ...]] = {
    "bond": ("k", "r0"),
    "angle": ("k", "theta0"),
    "torsion": tuple(_TORSION_K),
    "strbnd": ("k1", "k2"),
    "opbend": ("k",),
}

#: Fields whose natural scale is absolute (1 Å, 1 rad, 1 e): equilibrium geometry,
#: phases, charges, vdW radii, dipole positions. Every other field is a strength
#: (force constants k, k1…k6, epsilon, dipole moments), scaled by its own magnitude.
ABSOLUTE_FIELDS = frozenset({"r0", "theta0", "phi0", "radius", "q", "position", "reduction"})
ABSOLUTE_PREFIXES = ("phase", "r1_0", "r2_0")

LAYOUT_FORMAT = "q2mm.parameter-space"
LAYOUT_VERSION = 1
#: Slack for values an optimizer hands back a rounding error outside a bound.
_BOUND_SLACK = 1e-9


def physical_bounds(kind: str, field: str, allow_negative: bool = False) -> tuple[float, float]:
    lower, upper = PHYSICAL_BOUNDS.get(kind, {}).get(field, (-math.inf, math.inf))
    if allow_negative and field in FORCE_CONSTANT_FIELDS.get(kind, ()):
        lower = -upper
    return lower, upper


def natural_scale(field: str, value: float) -> float:
    """The magnitude on which a parameter varies: 1 (Å, rad, e) for absolute fields,
    max(|value|, 1) for strengths. Optimizers work in x / scale and finite
    differences step by a fraction of it, so that a force constant of 700 and an r0
    of 1.1 move on comparable footing."""
    if field in ABSOLUTE_FIELDS or field.startswith(ABSOLUTE_PREFIXES):
        return 1.0
    return max(abs(float(value)), 1.0)


def _matches(value: str | None, patterns: Sequence[str] | None) -> bool:
    return patterns is None or (value is not None and any(fnmatchcase(value, p) for p in patterns))


def _is_active(
    row: Row,
    field: str,
    kinds: Sequence[str] | None,
    fields: Sequence[str] | None,
    sections: Sequence[str] | None,
    rows: Sequence[str] | None,
) -> bool:
    if not (_matches(row.section, sections) and _matches(row.key, rows)):
        return False
    if kinds is not None and row.kind not in kinds:
        return False
    if fields is not None:
        return _matches(field, fields)
    if kinds is None:
        return field in DEFAULT_ACTIVE.get(row.kind, ())
    # Kinds chosen, fields not: a kind's default fields, or all of a kind that has none.
    return field in DEFAULT_ACTIVE.get(row.kind, row.fields)


def _tied_slots(
    group: Sequence[str], forcefield: ForceField, index: dict[str, int], by_key: dict[str, Row]
) -> list[list[int]]:
    """The sets of full-vector slots a tie group joins: parameter ids join those
    parameters; row keys join each field across the rows (one set per field)."""
    if all(name in index for name in group):
        return [[index[name] for name in group]]
    unknown = [name for name in group if name not in by_key]
    if unknown:
        raise ConfigError(f"tie names rows or parameters the force field does not have: {', '.join(unknown)}")
    rows = [by_key[key] for key in group]
    if len({r.kind for r in rows}) > 1:
        raise ConfigError(f"tie mixes row kinds: {', '.join(group)}")
    fields = dict.fromkeys(f for r in rows for f in r.fields)
    return [[index[f"{r.key}.{field}"] for r in rows if field in r.values] for field in fields]


def _vector(value: Iterable[float]) -> np.ndarray:
    array = np.array(list(value), dtype=float).reshape(-1)
    array.setflags(write=False)
    return array


@attrs.frozen(eq=False)
class ParameterSpace:
    """Active parameters of a force field: ``groups[g]`` are the full-vector indices
    that fitted value ``x[g]`` sets (more than one when tied); ``lower``/``upper`` its
    bounds; ``x0`` its start. Build with :meth:`from_forcefield`."""

    forcefield: ForceField
    groups: tuple[tuple[int, ...], ...] = attrs.field(
        converter=lambda gs: tuple(tuple(int(i) for i in g) for g in gs)
    )
    x0: np.ndarray = attrs.field(converter=_vector)
    lower: np.ndarray = attrs.field(converter=_vector)
    upper: np.ndarray = attrs.field(converter=_vector)
    allow_negative: bool = False
    fractional_bounds: float | None = None
    all_ids: tuple[str, ...] = attrs.field(init=False)
    base: np.ndarray = attrs.field(init=False)
    #: ``expand`` gathers ``concatenate([base, x])`` at these indices: slot i itself
    #: where frozen, ``len(base) + g`` where ``x[g]`` sets it.
    gather: np.ndarray = attrs.field(init=False)
    #: The field name of each fitted value (of its last member when tied).
    fields: tuple[str, ...] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        ids = tuple(self.forcefield.parameter_ids())
        n = len(ids)
        if not (len(self.x0) == len(self.lower) == len(self.upper) == len(self.groups)):
            raise ConfigError("parameter space: groups, x0 and bounds differ in length")
        members = [i for g in self.groups for i in g]
        if (
            any(not 0 <= i < n for i in members)
            or len(set(members)) != len(members)
            or any(not g for g in self.groups)
        ):
            raise ConfigError("parameter space: every fitted value needs its own, existing parameters")
        gather = np.arange(n)
        base = self.forcefield.vector()
        for g, group in enumerate(self.groups):
            gather[list(group)] = n + g
            base[list(group)] = 0.0
        for array in (gather, base):
            array.setflags(write=False)
        object.__setattr__(self, "all_ids", ids)
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "gather", gather)
        slot_fields = [field for row in self.forcefield.rows for field in row.fields]
        object.__setattr__(self, "fields", tuple(slot_fields[group[-1]] for group in self.groups))
        outside = [
            f"{self.ids[g]} = {v:g} not in [{lo:g}, {hi:g}]"
            for g, (v, lo, hi) in enumerate(zip(self.x0, self.lower, self.upper, strict=True))
            if not lo <= v <= hi
        ]
        if outside:
            hint = "" if self.allow_negative else " (negative force constants need allow_negative)"
            raise ConfigError("starting values outside their bounds" + hint + ": " + "; ".join(outside))

    @classmethod
    def from_forcefield(
        cls,
        forcefield: ForceField,
        *,
        kinds: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
        sections: Sequence[str] | None = None,
        rows: Sequence[str] | None = None,
        tie: Sequence[Sequence[str]] = (),
        allow_negative: bool = False,
        fractional_bounds: float | None = None,
        limits: Mapping[int, tuple[float, float]] | None = None,
    ) -> ParameterSpace:
        """Select the active parameters; every criterion given must hold.

        ``kinds`` (row kinds) and ``fields`` (field-name patterns, e.g. ``"k*"``) choose
        what is fitted; left out, the default active set of the module doc applies
        (with only ``kinds`` given: those kinds' default fields, or all fields of a
        kind that has no default). ``sections`` and ``rows`` (patterns on
        ``Row.section`` and ``Row.key``) narrow it further, e.g. ``sections=["*OPT"]``
        for only a MacroModel OPT substructure. ``tie`` lists groups that share one
        fitted value (started at their mean): groups of parameter ids, or groups of row
        keys whose same-named active fields are tied field by field. ``limits`` narrow
        the physical bounds per full-vector slot (:func:`q2mm.windows.limits`); a
        tied group takes the narrowest of its members'."""
        if fractional_bounds is not None and not fractional_bounds > 0:
            raise ConfigError(f"fractional_bounds must be positive, got {fractional_bounds}")
        kinds, fields, sections, rows = (
            None if v is None else tuple(v) for v in (kinds, fields, sections, rows)
        )
        index = forcefield.slot_index()
        by_key = {row.key: row for row in forcefield.rows}
        active = [
            (row, field)
            for row in forcefield.rows
            for field in row.fields
            if _is_active(row, field, kinds, fields, sections, rows)
        ]
        root = {index[f"{row.key}.{field}"]: index[f"{row.key}.{field}"] for row, field in active}

        def find(slot: int) -> int:
            while root[slot] != slot:
                slot = root[slot]
            return slot

        for group in tie:
            for slots in _tied_slots(group, forcefield, index, by_key):
                states = {s in root for s in slots}
                if states == {True, False}:
                    raise ConfigError(f"tie {', '.join(group)}: a tied parameter is active in some rows only")
                if states == {True}:
                    roots = {find(s) for s in slots}
                    for r in roots:
                        root[r] = min(roots)
        grouped: dict[int, list[int]] = {}
        for slot in sorted(root):
            grouped.setdefault(find(slot), []).append(slot)
        groups = [tuple(g) for _, g in sorted(grouped.items())]
        values = forcefield.vector()
        kind_field = [(row.kind, field) for row in forcefield.rows for field in row.fields]
        x0, lower, upper = [], [], []
        for group in groups:
            start = float(np.mean(values[list(group)]))
            lo, hi = physical_bounds(*kind_field[group[0]], allow_negative)
            for slot in group:
                narrow_lo, narrow_hi = (limits or {}).get(slot, (lo, hi))
                lo, hi = max(lo, min(narrow_lo, start)), min(hi, max(narrow_hi, start))
            if fractional_bounds is not None and start != 0.0:
                lo, hi = (
                    max(lo, start - fractional_bounds * abs(start)),
                    min(hi, start + fractional_bounds * abs(start)),
                )
            x0.append(start)
            lower.append(lo)
            upper.append(hi)
        return cls(forcefield, groups, x0, lower, upper, allow_negative, fractional_bounds)

    @property
    def size(self) -> int:
        return len(self.groups)

    @property
    def ids(self) -> list[str]:
        """One name per fitted value: its parameter id, ``|``-joined when tied."""
        return ["|".join(self.all_ids[i] for i in group) for group in self.groups]

    @property
    def bounds(self) -> list[tuple[float, float]]:
        return [(float(lo), float(hi)) for lo, hi in zip(self.lower, self.upper, strict=True)]

    @property
    def varying(self) -> np.ndarray:
        """Boolean mask over the full vector: the slots a fitted value sets."""
        return self.gather >= len(self.base)

    def scales(self, x: Iterable[float]) -> np.ndarray:
        """The natural scale of each fitted value at ``x`` (:func:`natural_scale`)."""
        return np.array([natural_scale(f, v) for f, v in zip(self.fields, x, strict=True)], dtype=float)

    def expand(self, x: Any, xp: Any = np) -> Any:
        """The full parameter vector (``ForceField.vector()`` layout) for active values
        ``x``; ``xp`` is the array namespace (``numpy`` or ``jax.numpy``)."""
        return xp.take(xp.concatenate([xp.asarray(self.base), xp.asarray(x, dtype=float)]), self.gather)

    def outside_bounds(self, x: Iterable[float]) -> list[str]:
        """Ids of the fitted values outside their bounds (beyond rounding)."""
        return [
            name
            for name, v, lo, hi in zip(
                self.ids, np.asarray(list(x), float), self.lower, self.upper, strict=True
            )
            if not (lo - _BOUND_SLACK * max(1.0, abs(lo)) <= v <= hi + _BOUND_SLACK * max(1.0, abs(hi)))
        ]

    def forcefield_at(self, x: Iterable[float]) -> ForceField:
        """The force field with active values ``x``; refuses values outside the bounds
        (a result must never be written with unphysical parameters)."""
        x = np.asarray(list(x), dtype=float)
        if x.shape != (self.size,):
            raise FitFailure(f"{x.shape[0]} values for a parameter space of {self.size}")
        if not np.isfinite(x).all():
            raise FitFailure("non-finite parameter values")
        outside = self.outside_bounds(x)
        if outside:
            raise FitFailure(f"parameters outside their bounds: {', '.join(outside)}")
        return self.forcefield.with_vector(self.expand(x))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable layout: with the starting force field it rebuilds this
        space exactly (:meth:`from_dict`), so a run can be reproduced or resumed."""
        return {
            "format": LAYOUT_FORMAT,
            "version": LAYOUT_VERSION,
            "parameter_ids": list(self.all_ids),
            "start": [float(v) for v in self.forcefield.vector()],
            "allow_negative": self.allow_negative,
            "fractional_bounds": self.fractional_bounds,
            "active": [
                {
                    "ids": [self.all_ids[i] for i in group],
                    "x0": float(x0),
                    "lower": _json_bound(lo),
                    "upper": _json_bound(hi),
                }
                for group, x0, lo, hi in zip(self.groups, self.x0, self.lower, self.upper, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], forcefield: ForceField) -> ParameterSpace:
        """Rebuild a space saved by :meth:`to_dict` on the force field it was made for;
        the saved starting values replace the force field's own."""
        try:
            if data["format"] != LAYOUT_FORMAT or data["version"] != LAYOUT_VERSION:
                raise ConfigError(f"not a version-{LAYOUT_VERSION} parameter-space layout")
            ids = forcefield.parameter_ids()
            if list(data["parameter_ids"]) != ids:
                raise ConfigError("the parameter-space layout was saved for a different force field")
            position = {pid: i for i, pid in enumerate(ids)}
            active = data["active"]
            return cls(
                forcefield.with_vector(data["start"]),
                [[position[pid] for pid in entry["ids"]] for entry in active],
                [entry["x0"] for entry in active],
                [float(entry["lower"]) for entry in active],
                [float(entry["upper"]) for entry in active],
                bool(data["allow_negative"]),
                data["fractional_bounds"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"unreadable parameter-space layout ({type(exc).__name__}: {exc})") from None


def _json_bound(value: float) -> float | str:
    """JSON has no infinity; unbounded sides are written as strings."""
    return float(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
