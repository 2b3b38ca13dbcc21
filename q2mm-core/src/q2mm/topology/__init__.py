"""Topology perception and parameter assignment: from a structure and a force field to
the :class:`~q2mm.model.system.MMSystem` an engine evaluates."""

from .build import bonded_rows, build_system
from .perception import BondRules, Topology, perceive, perceive_bonds

__all__ = ["BondRules", "Topology", "bonded_rows", "build_system", "perceive", "perceive_bonds"]
