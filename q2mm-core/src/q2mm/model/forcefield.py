"""Force fields as rows of parameters in canonical units.

A force field is an ordered tuple of :class:`Row` objects, one per parameter line of
the file it came from (or per parameter an estimator produced). Every row's values
are canonical — kcal/mol, Å, radians, energy without ½ — whatever the file stored;
readers and writers convert at the boundary. Rows keep the 1-based line they came
from so that writers can rewrite only the parameter columns of changed rows.

Fields by kind (all canonical):

============== ================================ =======================================
kind           fields                           energy
============== ================================ =======================================
bond           k, r0                            k Δr² [1 + cs Δr + qs Δr²]
angle          k, theta0                        k Δθ² [1 + angle series in degrees]
strbnd         k1, k2                           (k1 Δr1 + k2 Δr2) Δθ
urey_bradley   k, r0                            k (r13 − r0)²
torsion        k1..k6, phase1..phase6           Σ kn (1 + cos(nφ − phase_n))
improper       k, phi0                          k (φ − φ0)²  (harmonic, centre first)
opbend         k                                k χ² [1 + angle series] (MM3 Allinger)
vdw            radius, epsilon[, reduction]     per atom type; r* = Ri + Rj, ε = √(εi εj)
vdw_pair       radius, epsilon                  explicit pair r* and ε
charge         q                                point charge (e)
dipole         moment[, position]               bond dipole (debye, fraction along bond)
============== ================================ =======================================

MM3 torsions V1, V2, V3 map to k1 = V1/2 (phase 0), k2 = V2/2 (phase π), k3 = V3/2
(phase 0).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

import attrs
import numpy as np

from .frozen import frozen_mapping

TERM_KINDS = (
    "bond",
    "angle",
    "strbnd",
    "urey_bradley",
    "torsion",
    "improper",
    "opbend",
    "vdw",
    "vdw_pair",
    "charge",
    "dipole",
)

#: Fields that are force constants: bounded below by zero unless the user allows negatives.
FORCE_CONSTANT_FIELDS = {
    "bond": ("k",),
    "angle": ("k",),
    "urey_bradley": ("k",),
    "opbend": ("k",),
    "improper": ("k",),
}


class FunctionalForm(enum.StrEnum):
    HARMONIC = "harmonic"
    MM3 = "mm3"


@attrs.frozen
class Conventions:
    """Per-force-field constants of the functional form (the header of Tinker's
    mm3.prm states MM3's; harmonic force fields have every anharmonic term zero).
    Angle series coefficients act on Δθ in degrees, as MM3 defines them."""

    bond_cubic: float = 0.0  # Å⁻¹
    bond_quartic: float = 0.0  # Å⁻²
    angle_cubic: float = 0.0  # deg⁻¹
    angle_quartic: float = 0.0
    angle_pentic: float = 0.0
    angle_sextic: float = 0.0
    opbend_cubic: float = 0.0
    opbend_quartic: float = 0.0
    opbend_pentic: float = 0.0
    opbend_sextic: float = 0.0
    vdw_form: str = "lennard-jones"  # or "buckingham" (MM3 exp-6)
    vdw_a: float = 184000.0
    vdw_b: float = 12.0
    vdw_c: float = 2.25
    vdw_scale_12: float = 0.0
    vdw_scale_13: float = 0.0
    vdw_scale_14: float = 1.0
    elec_scale_12: float = 0.0
    elec_scale_13: float = 0.0
    elec_scale_14: float = 1.0
    dielectric: float = 1.0
    electric: float = 332.0538  # kcal·Å/(mol·e²)

    @classmethod
    def mm3(cls, angle_sextic: float = 2.2e-8) -> Conventions:
        """MM3 as Tinker's mm3.prm states it. MacroModel's MM3* uses the same 2.2e-8 sextic:
        all 1050 bend energies of the Rh-enamide .mmo match it (9.0e-10 misses 76)."""
        return cls(
            bond_cubic=-2.55,
            bond_quartic=3.793125,
            angle_cubic=-0.014,
            angle_quartic=5.6e-5,
            angle_pentic=-7.0e-7,
            angle_sextic=angle_sextic,
            opbend_cubic=-0.014,
            opbend_quartic=5.6e-5,
            opbend_pentic=-7.0e-7,
            opbend_sextic=angle_sextic,
            vdw_form="buckingham",
            vdw_scale_14=1.0,
            elec_scale_14=1.0,
            dielectric=1.5,
        )


def _float_mapping(values: Mapping[str, float]) -> Mapping[str, float]:
    return frozen_mapping({str(k): float(v) for k, v in dict(values).items()})


@attrs.frozen
class Row:
    """One parameter line. ``key`` is unique within its force field and stable across
    runs; parameter ids are ``f"{key}.{field}"``."""

    kind: str = attrs.field(validator=attrs.validators.in_(TERM_KINDS))
    types: tuple[str, ...] = attrs.field(converter=tuple)
    values: Mapping[str, float] = attrs.field(converter=_float_mapping)
    key: str = ""
    line: int | None = None
    section: str | None = None
    comment: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.key:
            suffix = f"@{self.line}" if self.line is not None else ""
            object.__setattr__(self, "key", f"{self.kind}:{'-'.join(self.types)}{suffix}")

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.values)

    def with_values(self, **values: float) -> Row:
        return attrs.evolve(self, values={**self.values, **values})


@attrs.frozen(eq=False)
class SourceText:
    """The text a force field was read from, kept for lossless rewriting."""

    path: str
    format: str
    lines: tuple[str, ...] = attrs.field(converter=tuple)


@attrs.frozen(eq=False)
class ForceField:
    form: FunctionalForm
    rows: tuple[Row, ...] = attrs.field(converter=tuple)
    conventions: Conventions = attrs.field(factory=Conventions)
    name: str = ""
    source: SourceText | None = None
    #: Atom-type equivalence classes the file declares: class name → space-separated
    #: member types (MM3 .fld ``-5`` block, e.g. ``"PX": "P0 P3 P4 P5"``).
    equivalences: Mapping[str, str] = attrs.field(factory=dict, converter=frozen_mapping)

    def __attrs_post_init__(self) -> None:
        seen: set[str] = set()
        for row in self.rows:
            if row.key in seen:
                raise ValueError(f"duplicate row key {row.key!r}")
            seen.add(row.key)

    def parameter_ids(self) -> list[str]:
        return [f"{row.key}.{field}" for row in self.rows for field in row.fields]

    def vector(self) -> np.ndarray:
        """All parameter values, in :meth:`parameter_ids` order."""
        return np.array([value for row in self.rows for value in row.values.values()], dtype=float)

    def slot_index(self) -> dict[str, int]:
        return {pid: i for i, pid in enumerate(self.parameter_ids())}

    def with_vector(self, vector: Iterable[float]) -> ForceField:
        values = np.asarray(list(vector), dtype=float)
        if values.shape != (sum(len(r.values) for r in self.rows),):
            raise ValueError(f"vector of length {values.shape} for {len(self.parameter_ids())} parameters")
        rows, i = [], 0
        for row in self.rows:
            n = len(row.values)
            rows.append(attrs.evolve(row, values=dict(zip(row.fields, values[i : i + n], strict=True))))
            i += n
        return attrs.evolve(self, rows=rows)

    def rows_of(self, kind: str) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.kind == kind)

    def row(self, key: str) -> Row:
        for r in self.rows:
            if r.key == key:
                return r
        raise KeyError(key)

    def kinds(self) -> set[str]:
        return {r.kind for r in self.rows}
