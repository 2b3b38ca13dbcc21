"""QM normal-mode references, computed once in NumPy when a residual is built.

Everything the Hessian-based residuals compare against is fixed by the QM data: the
masses, the mass-weighted QM normal modes V (orthonormal columns spanning the
vibrational space, i.e. the complement of the Eckart translations and rotations at
the QM geometry) and their eigenvalues. Projecting an MM Hessian onto V,
E = Vᵀ M^−½ H M^−½ V, removes the rigid modes by construction (P V = V), so the
residuals never have to find and drop near-zero eigenvalues inside ``jit``.

Transition states are declared, never guessed: for a structure declared
``transition_state`` the reaction mode is the QM mode of lowest eigenvalue, which
must be negative. The TS methods of Limé and Norrby:

- ``C``: the reaction mode's target curvature is replaced by a positive value
  (``ts_curvature``, Hartree/(Bohr²·amu); default 1.0, i.e. 5140 cm⁻¹: far above any
  real mode, so the fitted force field has a stiff minimum along the reaction
  coordinate — the TSFF treats the TS as a minimum);
- ``D``: the reaction mode's curvature gets zero weight (in the eigenmatrix its couplings
  keep theirs: target 0, as for every pair of QM modes);
- ``E``: D during the fit; re-deriving with C the force constants that D drove to
  zero or below is the estimator's job, so for residuals E is D.
"""

from __future__ import annotations

import attrs
import numpy as np

from ..errors import ConfigError
from ..estimate.curvature import DEFAULT_TS_METHOD, TSMethod
from ..model import Molecule, StationaryPoint
from ..vibrations import mass_weight, normal_modes

TS_METHODS = tuple(m.value for m in TSMethod)
#: Method C's replacement curvature, Hartree/(Bohr²·amu).
DEFAULT_TS_CURVATURE = 1.0


@attrs.frozen(eq=False)
class ModeReference:
    """QM reference of one structure. ``modes`` (3N, n_vib): mass-weighted normal
    modes as columns, ascending by eigenvalue; ``targets``: the eigenvalues the MM
    eigenmatrix diagonal should reproduce (the reaction mode already replaced for
    method C); ``reaction_mode``: its index (0) or None for ground states;
    ``drop_reaction_mode``: True for methods D and E."""

    name: str
    masses: np.ndarray
    modes: np.ndarray
    eigenvalues: np.ndarray
    targets: np.ndarray
    reaction_mode: int | None
    drop_reaction_mode: bool
    ts_curvature: float

    @property
    def n_modes(self) -> int:
        return self.modes.shape[1]

    def projected(self, mm_hessian, xp):
        """E_MM = Vᵀ M^−½ H M^−½ V (Hartree/(Bohr²·amu))."""
        v = xp.asarray(self.modes)
        return v.T @ mass_weight(mm_hessian, self.masses, xp) @ v

    def mode_weights(self) -> np.ndarray:
        """1 for every mode, 0 for a reaction mode that methods D/E leave out."""
        w = np.ones(self.n_modes)
        if self.reaction_mode is not None and self.drop_reaction_mode:
            w[self.reaction_mode] = 0.0
        return w


def declared_stationary_point(
    molecule: Molecule, stationary_point: str | StationaryPoint | None
) -> StationaryPoint:
    """The stationary kind passed as an option, else the molecule's declared one."""
    chosen = stationary_point if stationary_point is not None else molecule.stationary_point
    if chosen is None:
        raise ConfigError(
            f"structure {molecule.name or '?'} declares no stationary kind; "
            "set kind = 'ground_state' or 'transition_state' (q2mm never guesses it from the Hessian)"
        )
    try:
        return StationaryPoint(chosen)
    except ValueError:
        raise ConfigError(
            f"unknown stationary kind {chosen!r}; choose ground_state or transition_state"
        ) from None


def mode_reference(
    molecule: Molecule,
    *,
    stationary_point: str | StationaryPoint | None = None,
    ts_method: str = DEFAULT_TS_METHOD.value,
    ts_curvature: float = DEFAULT_TS_CURVATURE,
    residual_name: str = "",
) -> ModeReference:
    """Diagonalize the QM Hessian of ``molecule`` and fix the TS treatment."""
    name = molecule.name or "structure"
    if molecule.hessian is None:
        raise ConfigError(
            f"the {residual_name or 'Hessian'} residual needs a QM Hessian, and {name} has none"
        )
    if ts_method not in TS_METHODS:
        raise ConfigError(f"unknown TS method {ts_method!r}; choose one of {', '.join(TS_METHODS)}")
    if not ts_curvature > 0:
        raise ConfigError(f"ts_curvature must be positive, got {ts_curvature}")
    stationary = declared_stationary_point(molecule, stationary_point)
    masses = molecule.masses
    qm = normal_modes(molecule.hessian, molecule.coordinates, masses)
    eigenvalues = np.asarray(qm.eigenvalues, dtype=float)
    targets = eigenvalues.copy()
    reaction_mode = None
    if stationary is StationaryPoint.TRANSITION_STATE:
        if eigenvalues[0] >= 0:
            raise ConfigError(
                f"{name} is declared a transition state but its QM Hessian has no negative eigenvalue "
                f"(lowest mode {qm.frequencies[0]:.1f} cm⁻¹)"
            )
        reaction_mode = 0
        if ts_method == "C":
            targets[0] = ts_curvature
    for array in (masses, eigenvalues, targets):
        array.setflags(write=False)
    modes = np.ascontiguousarray(qm.vectors.T)
    modes.setflags(write=False)
    return ModeReference(
        name=name,
        masses=masses,
        modes=modes,
        eigenvalues=eigenvalues,
        targets=targets,
        reaction_mode=reaction_mode,
        drop_reaction_mode=ts_method in ("D", "E"),
        ts_curvature=float(ts_curvature),
    )
