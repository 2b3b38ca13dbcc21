"""Stability: every MM curvature at the QM geometry stays above a floor.

A force field is only right at a structure if the QM geometry is a *minimum* of it —
for a transition-state force field too: the TSFF treats the TS as a minimum. The
eigenmatrix residual cannot see a shallow saddle: its elements are small where the
modes are soft, so the couplings among the softest modes (and, under methods D/E,
the reaction mode's own curvature, which has no target) may leave E_MM with a
negative eigenvalue while every element is within its tolerance. Measured on the
Cl⁻ + EtCl S_N2 TS (lowest real QM mode 22.6 cm⁻¹): eigenmatrix R² 0.9998, MM
minimum within 0.0002 Å of the TS, yet a −26 cm⁻¹ MM mode there — the relaxation
stopped on a saddle of the force field that symmetry kept it on.

This residual is one-sided: for each eigenvalue μ_k of E_MM = Vᵀ M^−½ H_MM M^−½ V
(V: the QM normal modes, all of them, the reaction mode included) it is
max(0, floor − μ_k), with the floor a fixed fraction (``FLOOR_FRACTION``) of the
lowest positive QM eigenvalue other than the reaction mode's. It is zero for every
force field whose curvatures are all above the floor, so a fit that is already a
minimum scores exactly what it scored without it. The eigenvectors are held fixed
when differentiating (first-order perturbation theory: dμ_k = v_kᵀ dE v_k), which
is exact for a simple eigenvalue and keeps JAX away from eigenvector derivatives that
divide by eigenvalue gaps.

Where the MM minimum lies away from the QM geometry because of rows the fit does not
move, the forces there bend soft modes negative at the QM geometry with no saddle
anywhere (the nine Rh-enamide TSs fitted with the default objective: methyl torsions
at −254 to −293 cm⁻¹, every frequency real at the MM minima 0.022–0.027 Å away).
Those modes then pay a nearly constant amount (2.7 of the fitted Rh score's
3.5 × 10⁶) that no fitted parameter changes; the quality verdict judges curvature at
the MM minimum for that reason (:mod:`q2mm.residuals.metrics`). Judging this term
there too was measured and not kept: differentiated at the minimum, the compiled
program more than doubled CH₃F's cold fit (13.4 → 31.9 s); valued at the minimum and
differentiated at the QM geometry, least squares took 1149 iterations instead of 93
on the Cl⁻ + EtCl TS (the derivative no longer matched the value).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ..errors import ConfigError
from ..estimate.curvature import DEFAULT_TS_METHOD
from ..model import MMSystem, Molecule
from ._array import is_jax
from .reference import ModeReference, mode_reference
from .weights import DEFAULT_WEIGHTS

#: The floor as a fraction of the lowest real QM eigenvalue: a mode may soften to
#: 1/√2 of the lowest real QM frequency before it costs anything.
FLOOR_FRACTION = 0.5


@attrs.frozen(eq=False)
class StabilityResidual:
    reference: ModeReference
    floor: float  # Hartree/(Bohr²·amu)
    weights: np.ndarray  # one per mode
    name: str = "stability"
    needs: frozenset[str] = frozenset({"hessian"})

    def evaluate(self, quantities: dict[str, Any], xp: Any) -> Any:
        e = self.reference.projected(quantities["hessian"], xp)
        e = 0.5 * (e + e.T)
        if not is_jax(xp) and not np.isfinite(e).all():  # LAPACK would raise; JAX gives NaN
            return np.full(self.reference.n_modes, np.nan)
        _, vectors = xp.linalg.eigh(e)
        if is_jax(xp):
            from jax import lax

            vectors = lax.stop_gradient(vectors)
        curvatures = xp.sum(vectors * (e @ vectors), axis=0)
        return xp.maximum(self.floor - curvatures, 0.0)


def build(
    molecule: Molecule,
    system: MMSystem,
    *,
    weight: float = DEFAULT_WEIGHTS["stability"],
    floor_fraction: float = FLOOR_FRACTION,
    stationary_point: str | None = None,
    ts_method: str = DEFAULT_TS_METHOD.value,
) -> StabilityResidual:
    """``weight`` per Hartree/(Bohr²·amu) below the floor; ``floor_fraction`` of the lowest
    real QM eigenvalue is the floor; ``stationary_point`` overrides the declared kind."""
    reference = mode_reference(
        molecule, stationary_point=stationary_point, ts_method=ts_method, residual_name="stability"
    )
    if not 0.0 <= floor_fraction <= 1.0:
        raise ConfigError(f"stability: floor_fraction must lie in [0, 1], got {floor_fraction}")
    real = np.ones(reference.n_modes, dtype=bool)
    if reference.reaction_mode is not None:
        real[reference.reaction_mode] = False
    positive = reference.eigenvalues[real & (reference.eigenvalues > 0)]
    floor = float(floor_fraction * positive.min()) if positive.size else 0.0
    weights = np.full(reference.n_modes, float(weight))
    weights.setflags(write=False)
    return StabilityResidual(reference=reference, floor=floor, weights=weights)
