"""An engine seen without its batching, to check and measure what batching changes.

The analytical objective evaluates the structures of a
:class:`~q2mm.protocols.BatchingEngine` as one traced program; wrapped in
:class:`Unbatched` the same engine's structures are traced one by one
(:class:`~q2mm.objective.analytical.SessionBatch`). The two must agree to round-off.
"""

from __future__ import annotations

from typing import Any

from ..model import MMSystem
from ..protocols import Engine


class Unbatched:
    """``engine`` with everything but ``prepare_batch``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.name = engine.name
        self.capabilities = engine.capabilities
        self.forms = engine.forms
        self.term_kinds = engine.term_kinds

    def prepare(self, system: MMSystem) -> Any:
        return self._engine.prepare(system)

    def describe(self) -> dict[str, Any]:
        return self._engine.describe()
