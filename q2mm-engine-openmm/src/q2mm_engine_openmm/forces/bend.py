"""Angle bending, stretch-bend coupling and MM3 out-of-plane bending.

MM3's angle series acts on Δθ in degrees inside the bracket while the prefactor uses
radians: k Δθ² [1 + c3 Δθ° + c4 Δθ°² + c5 Δθ°³ + c6 Δθ°⁴]. With every coefficient
zero (harmonic force fields) the angle is exactly ``HarmonicAngleForce`` with k' = 2k.

The out-of-plane angle is MM3's (Allinger's, Tinker's opbendtype ALLINGER), as the
JAX engine defines it: for the term (i, j, k, l) with trigonal centre j, χ is the
angle between the vector l→j and the plane through l, i, k. OpenMM has no such
primitive; it is built from two that it has: with θ = ∠(j, l, i) and φ the dihedral
j–l–i–k, the component of l→j normal to that plane is |lj| sin θ sin φ, so
χ = asin(sin θ · sin φ). The energy k χ² [1 + series in |χ|°] uses χ² (smooth) and
|χ| only in the odd powers of the series, as Tinker does.
"""

from __future__ import annotations

import numpy as np
import openmm
from q2mm.model import MMSystem, TermSet
from q2mm.model.units import RAD_TO_DEG

from .. import units
from .base import (
    ForceTerms,
    check_arity,
    columns,
    compound_terms,
    custom_angle_terms,
    energy_scale,
    gather,
    literal,
    slot_columns,
)

#: Bends more open than this at the prepared geometry (radians, 170°) are evaluated
#: from coordinates: OpenMM's angle forces (``HarmonicAngleForce``, ``CustomAngleForce``
#: and ``angle()``) clamp |a×b| at 1e-6 nm² to avoid dividing by zero, which shrinks
#: the force of a bend within ~0.002° of linear by orders of magnitude (measured: 5.7
#: instead of 157 kJ/(mol·nm) at sin θ = 1e-6) — and the S_N2 transition state's
#: F–C–F is that close.
LINEAR_BEND = np.radians(170.0)
#: |a×b|² floor (nm⁴) of the coordinate form: finite at an exactly linear bend, where
#: the gradient of θ is then the zero subgradient (the JAX engine's choice).
LINEAR_FLOOR = 1e-30


def _series(variable: str, cubic: float, quartic: float, pentic: float, sextic: float) -> str:
    """1 + c3 g + c4 g² + c5 g³ + c6 g⁴ in Horner form, for g = ``variable``."""
    g = variable
    c3, c4, c5, c6 = (literal(c) for c in (cubic, quartic, pentic, sextic))
    return f"(1 + {g}*({c3} + {g}*({c4} + {g}*({c5} + {g}*{c6}))))"


def _bend_expression() -> str:
    """Lepton definitions of ``theta`` = ∠(p1, p2, p3) at centre p2 from coordinates,
    atan2(|a×b|, a·b) with |a×b|² regularized by :data:`LINEAR_FLOOR`."""
    return "; ".join(
        [
            f"theta = atan2(sqrt(cx*cx + cy*cy + cz*cz + {literal(LINEAR_FLOOR)}), ax*bx + ay*by + az*bz)",
            "cx = ay*bz - az*by",
            "cy = az*bx - ax*bz",
            "cz = ax*by - ay*bx",
            *(f"a{c} = {c}1 - {c}2" for c in "xyz"),
            *(f"b{c} = {c}3 - {c}2" for c in "xyz"),
        ]
    )


def _near_linear(terms: TermSet, coordinates: np.ndarray) -> np.ndarray:
    a = coordinates[terms.atoms[:, 0]] - coordinates[terms.atoms[:, 1]]
    b = coordinates[terms.atoms[:, 2]] - coordinates[terms.atoms[:, 1]]
    theta = np.arctan2(np.linalg.norm(np.cross(a, b), axis=1), np.einsum("ij,ij->i", a, b))
    return theta > LINEAR_BEND


def _angle_energy(coefficients: tuple[float, ...]) -> str:
    """k Δθ² [series] in OpenMM units, or the bare harmonic k Δθ²."""
    if not any(coefficients):
        return "k*d^2; d = theta - theta0"
    return f"k*d^2*{_series('g', *coefficients)}; g = d*{literal(RAD_TO_DEG)}; d = theta - theta0"


def angle(terms: TermSet, system: MMSystem) -> list[ForceTerms]:
    check_arity(terms, 3)
    slots = slot_columns(terms, ("k", "theta0"))
    cv = system.conventions
    coefficients = (cv.angle_cubic, cv.angle_quartic, cv.angle_pentic, cv.angle_sextic)
    scale = energy_scale(terms)
    linear = _near_linear(terms, system.molecule.coordinates)
    out = []
    if (~linear).any():
        out.append(_angle_force(terms.atoms[~linear], slots[~linear], scale[~linear], coefficients))
    if linear.any():
        lin_slots, lin_scale = slots[linear], scale[linear]

        def parameters(values: np.ndarray) -> np.ndarray:
            k, theta0 = gather(values, lin_slots[:, 0]), gather(values, lin_slots[:, 1])
            return columns(units.energy_to_openmm(k * lin_scale), theta0)

        expression = f"{_angle_energy(coefficients)}; {_bend_expression()}"
        out.append(compound_terms("angle", expression, ("k", "theta0"), terms.atoms[linear], parameters))
    return out


def _angle_force(
    atoms: np.ndarray, slots: np.ndarray, scale: np.ndarray, coefficients: tuple[float, ...]
) -> ForceTerms:
    if not any(coefficients):
        force = openmm.HarmonicAngleForce()
        triples = [tuple(int(a) for a in row) for row in atoms]
        for t in triples:
            force.addAngle(*t, 0.0, 0.0)

        def harmonic(values: np.ndarray) -> np.ndarray:
            k, theta0 = gather(values, slots[:, 0]), gather(values, slots[:, 1])
            return columns(theta0, units.harmonic_angle_constant(k * scale))

        return ForceTerms(
            "angle", force, harmonic, lambda n, p: force.setAngleParameters(n, *triples[n], p[0], p[1])
        )

    def parameters(values: np.ndarray) -> np.ndarray:
        k, theta0 = gather(values, slots[:, 0]), gather(values, slots[:, 1])
        return columns(units.energy_to_openmm(k * scale), theta0)

    return custom_angle_terms("angle", _angle_energy(coefficients), ("k", "theta0"), atoms, parameters)


def strbnd(terms: TermSet, system: MMSystem) -> list[ForceTerms]:
    """(k1 Δr_ij + k2 Δr_kj) Δθ_ijk with centre j; the ideal values are slots of the
    bond and angle rows the stretch-bend couples. θ from coordinates (exact at
    linearity; as fast here as OpenMM's ``angle()``)."""
    check_arity(terms, 3)
    names = ("k1", "k2", "r1_0", "r2_0", "theta0")
    slots = slot_columns(terms, names)
    scale = energy_scale(terms)
    expression = (
        "(k1*(distance(p1, p2) - r1_0) + k2*(distance(p3, p2) - r2_0))*(theta - theta0); "
        + _bend_expression()
    )

    def parameters(values: np.ndarray) -> np.ndarray:
        k1, k2, r1, r2, theta0 = (gather(values, slots[:, c]) for c in range(5))
        return columns(
            units.stretch_bend_constant_to_openmm(k1 * scale),
            units.stretch_bend_constant_to_openmm(k2 * scale),
            units.length_to_openmm(r1),
            units.length_to_openmm(r2),
            theta0,
        )

    return [compound_terms("strbnd", expression, names, terms.atoms, parameters)]


def opbend(terms: TermSet, system: MMSystem) -> list[ForceTerms]:
    """k χ² [1 + angle series in |χ|°], particles (i, j, k, l) = (p1, p2, p3, p4)."""
    check_arity(terms, 4)
    slots = slot_columns(terms, ("k",))
    scale = energy_scale(terms)
    cv = system.conventions
    series = _series("g", cv.opbend_cubic, cv.opbend_quartic, cv.opbend_pentic, cv.opbend_sextic)
    expression = (
        f"k*chi^2*{series}; g = abs(chi)*{literal(RAD_TO_DEG)}; "
        "chi = asin(sin(angle(p2, p4, p1))*sin(dihedral(p2, p4, p1, p3)))"
    )

    def parameters(values: np.ndarray) -> np.ndarray:
        return columns(units.energy_to_openmm(gather(values, slots[:, 0]) * scale))

    return [compound_terms("opbend", expression, ("k",), terms.atoms, parameters)]
