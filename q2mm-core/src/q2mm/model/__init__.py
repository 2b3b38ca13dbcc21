"""The data model: structures, force fields, assembled systems, units."""

from .forcefield import Conventions, ForceField, FunctionalForm, Row, SourceText
from .molecule import Molecule, StationaryPoint
from .system import MMSystem, Nonbonded, TermSet

__all__ = [
    "Conventions",
    "ForceField",
    "FunctionalForm",
    "MMSystem",
    "Molecule",
    "Nonbonded",
    "Row",
    "SourceText",
    "StationaryPoint",
    "TermSet",
]
