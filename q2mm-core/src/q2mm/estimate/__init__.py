"""Initial force constants from QM Hessians (Seminario / FUERZA / QFUERZA) and the
transition-state curvature handling that comes before them."""

from .curvature import TSMethod, curvature_corrected, invert_reaction_curvature
from .estimator import Method, estimate_forcefield
from .seminario import angle_constant, bond_constant

__all__ = [
    "Method",
    "TSMethod",
    "angle_constant",
    "bond_constant",
    "curvature_corrected",
    "estimate_forcefield",
    "invert_reaction_curvature",
]
