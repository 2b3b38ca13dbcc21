"""Prepared engine sessions of an objective's structures, one set per thread.

Engine sessions are not thread-safe (an OpenMM context is not), so a thread pool gets
a set of its own; a process pool gets the objective pickled without them and prepares
them again in the worker. They are prepared once when the objective is built, so an
engine refuses unsupported terms then, not mid-fit.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ..model import MMSystem
from ..protocols import Engine, EngineSession


class Sessions:
    def __init__(self, engine: Engine, systems: Sequence[MMSystem]) -> None:
        self.engine = engine
        self.systems = tuple(systems)
        self._local = threading.local()
        self.get()

    def get(self) -> list[EngineSession]:
        """This thread's sessions, prepared on first use."""
        sessions = getattr(self._local, "sessions", None)
        if sessions is None:
            sessions = [self.engine.prepare(system) for system in self.systems]
            self._local.sessions = sessions
        return sessions

    def __getstate__(self) -> dict[str, Any]:
        return {"engine": self.engine, "systems": self.systems}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()
