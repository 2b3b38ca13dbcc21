"""The declared stationary point of a structure must agree with its QM Hessian.

q2mm never guesses whether a structure is a minimum or a transition state — the user
declares it — but it checks the declaration before anything is estimated or fitted:
a ground state with an imaginary mode, or a transition state without exactly one, is
a mistake in the input (a wrong file, a wrong ``kind``, an unconverged optimization)
that would otherwise run to a meaningless force field and exit 0.
"""

from __future__ import annotations

from .errors import ConfigError
from .model import Molecule, StationaryPoint
from .vibrations import IMAGINARY_NOISE_CM1, imaginary_frequencies

_EXPECTED = {StationaryPoint.GROUND_STATE: 0, StationaryPoint.TRANSITION_STATE: 1}


def check_declared(molecule: Molecule, source: str) -> None:
    """Refuse (``ConfigError`` naming ``source``, the declaration and the imaginary
    frequencies found) a structure whose Hessian contradicts its declared kind.
    Structures without a Hessian or a declaration pass: there is nothing to check."""
    if molecule.hessian is None or molecule.stationary_point is None:
        return
    imaginary = imaginary_frequencies(molecule.hessian, molecule.coordinates, molecule.masses)
    expected = _EXPECTED[StationaryPoint(molecule.stationary_point)]
    if len(imaginary) == expected:
        return
    found = ", ".join(f"{v:.1f} cm⁻¹" for v in imaginary) or "none"
    declared = StationaryPoint(molecule.stationary_point).value
    raise ConfigError(
        f"{source}: structure {molecule.name or '?'} is declared {declared} "
        f"but its QM Hessian has {len(imaginary)} imaginary mode(s) beyond {IMAGINARY_NOISE_CM1:g} cm⁻¹ "
        f"(expected {expected}; found: {found})"
    )
