"""The geometry residual: internal coordinates of the MM-relaxed structure vs QM.

The MM minimization starts from the QM geometry; the residual compares bond lengths
(Å), bond angles and torsions (radians) of the relaxed structure with those of the
QM structure. Internal coordinates are invariant to the rigid motion a minimizer may
add, so no superposition is needed. Which coordinates: the atom tuples of the
structure's own bond, angle and torsion terms (each torsion once, however many
Fourier components it has).

Formulas chosen to stay differentiable everywhere a chemist meets them:
θ = atan2(|a × b|, a · b) (no arccos, whose derivative is infinite at 0° and 180°;
a linear angle such as F–C–F in the S_N2 TS has zero |a × b|, whose norm gets the
"safe" zero derivative), and torsion differences wrapped to (−π, π] by
atan2(sin Δφ, cos Δφ), so 179° vs −179° is 2°, not 358°.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from ..errors import ConfigError
from ..model import MMSystem, Molecule
from .weights import DEFAULT_WEIGHTS

PARTS = ("bond", "angle", "torsion")


def _norm(v: Any, xp: Any) -> Any:
    """|v| along the last axis, with a zero (not NaN) derivative at v = 0."""
    s = xp.sum(v * v, axis=-1)
    positive = s > 0
    return xp.where(positive, xp.sqrt(xp.where(positive, s, 1.0)), 0.0)


def bond_lengths(x: Any, atoms: np.ndarray, xp: Any) -> Any:
    return _norm(x[atoms[:, 0]] - x[atoms[:, 1]], xp)


def bond_angles(x: Any, atoms: np.ndarray, xp: Any) -> Any:
    a = x[atoms[:, 0]] - x[atoms[:, 1]]
    b = x[atoms[:, 2]] - x[atoms[:, 1]]
    return xp.atan2(_norm(xp.cross(a, b), xp), xp.sum(a * b, axis=-1))


def torsion_angles(x: Any, atoms: np.ndarray, xp: Any) -> Any:
    b1 = x[atoms[:, 1]] - x[atoms[:, 0]]
    b2 = x[atoms[:, 2]] - x[atoms[:, 1]]
    b3 = x[atoms[:, 3]] - x[atoms[:, 2]]
    n1 = xp.cross(b1, b2)
    n2 = xp.cross(b2, b3)
    # IUPAC sign convention: φ = atan2(|b2| b1·(b2 × b3), (b1 × b2)·(b2 × b3))
    return xp.atan2(_norm(b2, xp) * xp.sum(b1 * n2, axis=-1), xp.sum(n1 * n2, axis=-1))


_MEASURES = {"bond": bond_lengths, "angle": bond_angles, "torsion": torsion_angles}


@attrs.frozen(eq=False)
class GeometryResidual:
    atoms: dict[str, np.ndarray]  # part → atom tuples (only parts with any)
    reference: dict[str, np.ndarray]  # part → QM values (Å or radians)
    parts: dict[str, slice]  # part → its slice of the residual vector
    weights: np.ndarray
    name: str = "geometry"
    needs: frozenset[str] = frozenset({"relaxed"})

    def evaluate(self, quantities: dict[str, Any], xp: Any) -> Any:
        return GeometryResidual.evaluate_many([self], [quantities], xp)[0]

    @staticmethod
    def evaluate_many(
        residuals: Sequence[GeometryResidual], structures_quantities: Sequence[dict[str, Any]], xp: Any
    ) -> list:
        """:meth:`evaluate` of several structures at once: their relaxed coordinates
        joined, each measure computed once over all of them. Inside ``jit`` that is one
        gather per measure instead of one per structure (and per measure), which keeps
        many-structure programs small to compile."""
        xs = [xp.asarray(quantities["relaxed"]) for quantities in structures_quantities]
        x = xs[0] if len(xs) == 1 else xp.concatenate(xs)
        offsets = np.cumsum([0] + [int(v.shape[0]) for v in xs[:-1]])
        deltas: dict[str, Any] = {}
        spans: dict[str, list[slice]] = {}
        for part in PARTS:
            members = [(r, o) for r, o in zip(residuals, offsets, strict=True) if part in r.atoms]
            if not members:
                continue
            atoms = np.concatenate([r.atoms[part] + o for r, o in members])
            reference = np.concatenate([r.reference[part] for r, _ in members])
            delta = _MEASURES[part](x, atoms, xp) - xp.asarray(reference)
            if part == "torsion":
                delta = xp.atan2(xp.sin(delta), xp.cos(delta))
            deltas[part] = delta
            ends = np.cumsum([len(r.atoms[part]) for r, _ in members])
            spans[part] = [
                slice(int(e - len(r.atoms[part])), int(e)) for (r, _), e in zip(members, ends, strict=True)
            ]
        taken = dict.fromkeys(deltas, 0)
        out = []
        for r in residuals:
            pieces = []
            for part in r.atoms:
                pieces.append(deltas[part][spans[part][taken[part]]])
                taken[part] += 1
            out.append(xp.concatenate(pieces))
        return out


def _unique_rows(atoms: np.ndarray) -> np.ndarray:
    seen: dict[tuple[int, ...], None] = {}
    for row in np.asarray(atoms, dtype=int):
        seen.setdefault(tuple(int(a) for a in row), None)
    return np.array(list(seen), dtype=int).reshape(-1, atoms.shape[1])


def build(
    molecule: Molecule,
    system: MMSystem,
    *,
    include: tuple[str, ...] | list[str] = PARTS,
    bond_weight: float = DEFAULT_WEIGHTS["geometry.bond"],
    angle_weight: float = DEFAULT_WEIGHTS["geometry.angle"],
    torsion_weight: float = DEFAULT_WEIGHTS["geometry.torsion"],
) -> GeometryResidual:
    """Weights per Å (bonds) and per radian (angles, torsions)."""
    unknown = sorted(set(include) - set(PARTS))
    if unknown:
        raise ConfigError(f"geometry residual: unknown part(s) {unknown}; choose from {list(PARTS)}")
    weight_of = {"bond": bond_weight, "angle": angle_weight, "torsion": torsion_weight}
    qm = np.asarray(molecule.coordinates, dtype=float)
    atoms, reference, parts, weights = {}, {}, {}, []
    start = 0
    for part in PARTS:
        terms = system.terms.get(part)
        if part not in include or terms is None or len(terms) == 0:
            continue
        rows = _unique_rows(terms.atoms)
        rows.setflags(write=False)
        values = _MEASURES[part](qm, rows, np)
        values.setflags(write=False)
        atoms[part], reference[part] = rows, values
        parts[part] = slice(start, start + len(rows))
        start += len(rows)
        weights.append(np.full(len(rows), float(weight_of[part])))
    if not atoms:
        raise ConfigError(
            f"geometry residual: {molecule.name or 'the structure'} "
            "has no bonds, angles or torsions to compare"
        )
    w = np.concatenate(weights)
    w.setflags(write=False)
    return GeometryResidual(atoms=atoms, reference=reference, parts=parts, weights=w)
