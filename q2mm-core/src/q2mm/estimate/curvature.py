"""Transition-state curvature handling before Seminario estimation (Limé & Norrby).

A transition state's Hessian has one negative eigenvalue, along the reaction mode;
projected onto the bonds and angles that make up that mode it gives negative force
constants. Which structures are transition states is *declared*
(:class:`~q2mm.model.StationaryPoint`), never guessed from the eigenvalues, and only a
declared transition state is ever modified:

- **C** — replace the negative eigenvalue by a positive one (default 1.0 Hartree/Bohr²)
  and rebuild the Hessian, then estimate from it;
- **D** — keep the Hessian as it is (the residual side gives the reaction mode zero
  weight, so estimation has nothing to change);
- **E** — estimate as D, then re-derive with C every force constant that came out
  zero or negative.

The eigenvalue replaced is the most negative one of the Cartesian Hessian (not mass
weighted) whose eigenvector is not a translation or rotation: those sit near zero but
may be negative away from an exact stationary point (−2.4·10⁻⁴ Hartree/Bohr² in the
F⁻ + CH₃F S_N2 transition state, whose reaction mode is at −0.106; the ethane rotation
barrier's is only −3.5·10⁻³), so the size of an eigenvalue alone cannot tell them apart.
"""

from __future__ import annotations

import enum

import numpy as np

from ..errors import ConfigError
from ..model import Molecule, StationaryPoint
from ..vibrations import reaction_mode

#: Default positive curvature given to the reaction mode in method C, Hartree/Bohr².
DEFAULT_INVERTED_EIGENVALUE = 1.0


class TSMethod(enum.StrEnum):
    C = "C"
    D = "D"
    E = "E"


#: The default, chosen by measurement (``benchmarks/validation.py``): C's replacement
#: curvature is a stiff target no force field meets on a soft reaction mode (the ethane
#: rotation TS: eigenmatrix R² 0.77, its MM minimum 0.10 Å off the TS), D refuses its
#: own negative estimates (F⁻ + CH₃F: k(C–F) < 0), E keeps D's zero-weighted reaction
#: mode and re-derives those estimates with C (ethane TS R² 0.9993, MM minimum within
#: 0.0001 Å; S_N2 R² 0.997, within 1e-6 Å).
DEFAULT_TS_METHOD = TSMethod.E


def invert_reaction_curvature(
    hessian: np.ndarray, coordinates: np.ndarray, value: float = DEFAULT_INVERTED_EIGENVALUE, name: str = "?"
) -> np.ndarray:
    """The Hessian (Hartree/Bohr²) with its reaction-mode eigenvalue
    (:func:`reaction_mode`) replaced by ``value``, rebuilt from the eigen-decomposition
    of its symmetric part; every other eigenvalue is left as it is."""
    if not value > 0:
        raise ConfigError(f"the inverted eigenvalue must be positive, got {value}")
    (eigenvalues, vectors), mode = reaction_mode(hessian, coordinates, name)
    eigenvalues = eigenvalues.copy()
    eigenvalues[mode] = value
    rebuilt = (vectors * eigenvalues) @ vectors.T
    return 0.5 * (rebuilt + rebuilt.T)


def curvature_corrected(molecule: Molecule, value: float = DEFAULT_INVERTED_EIGENVALUE) -> np.ndarray:
    """Method C's Hessian for ``molecule``: inverted if it is *declared* a transition
    state, the QM Hessian unchanged otherwise."""
    if molecule.hessian is None:
        raise ConfigError(f"structure {molecule.name or '(unnamed)'} has no Hessian to estimate from")
    if molecule.stationary_point == StationaryPoint.TRANSITION_STATE:
        return invert_reaction_curvature(molecule.hessian, molecule.coordinates, value, molecule.name or "?")
    return np.asarray(molecule.hessian, dtype=float)
