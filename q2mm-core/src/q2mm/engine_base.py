"""Shared behaviour for engines: capability checks and term-support checks.

Engines may subclass these; the protocols in :mod:`q2mm.protocols` are what matter.
A session method whose capability the engine did not declare raises
:class:`CapabilityError` instead of an ``AttributeError`` or a wrong answer.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .errors import CapabilityError, UnsupportedTermError
from .model import MMSystem
from .protocols import Capability, FrozenValues, Minimized, TraceableFunctions


def check_supported(
    engine_name: str, supported: Iterable[str], forms: Iterable[str], system: MMSystem
) -> None:
    """Refuse, by name, any term or functional form the engine cannot evaluate."""
    if system.form not in set(forms):
        raise UnsupportedTermError(
            f"engine {engine_name!r} cannot evaluate the {system.form} functional form"
        )
    missing = sorted(system.term_kinds - set(supported))
    if missing:
        where = system.molecule.name or "the structure"
        raise UnsupportedTermError(
            f"engine {engine_name!r} cannot evaluate these terms of {where}: " + ", ".join(missing)
        )


class SessionBase:
    """Default session: every capability-gated method refuses with a typed error."""

    engine_name: str = "engine"
    capabilities: frozenset[Capability] = frozenset()

    def __init__(self, system: MMSystem) -> None:
        self.system = system

    def _refuse(self, capability: Capability):
        raise CapabilityError(
            f"engine {self.engine_name!r} does not declare the {capability.value!r} capability"
        )

    def energy(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> float:
        self._refuse(Capability.ENERGY)

    def gradient(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        self._refuse(Capability.GRADIENT)

    def hessian(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        self._refuse(Capability.HESSIAN)

    def minimize(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> Minimized:
        self._refuse(Capability.MINIMIZE)

    def traceable(self, frozen: FrozenValues | None = None) -> TraceableFunctions:
        self._refuse(Capability.TRACEABLE)

    def coordinates_or_default(self, coordinates: np.ndarray | None) -> np.ndarray:
        return (
            self.system.molecule.coordinates if coordinates is None else np.asarray(coordinates, dtype=float)
        )
