"""Executors for fanning out independent evaluations (finite differences, starts).

Anything with ``submit``/``map``/``shutdown`` works (the :class:`~q2mm.protocols.Executor`
protocol), so dask's or mpi4py's ``concurrent.futures`` executors drop in. Built-ins:
``serial`` (in-process, the default: no pickling, deterministic), ``threads`` and
``processes`` (workers = CPU count unless ``max_workers`` is given).
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor

from .plugins import PluginRecord


class SerialExecutor:
    """Runs each task at submission; exceptions travel in the future like a pool's."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future, as pools do
            future.set_exception(exc)
        return future

    def map(self, fn, *iterables):
        return map(fn, *iterables)

    def shutdown(self, wait: bool = True) -> None:
        return None


def threads(max_workers: int | None = None) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max_workers or os.cpu_count())


def processes(max_workers: int | None = None) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=max_workers or os.cpu_count())


EXECUTORS = [
    PluginRecord(
        "serial", "executor", "q2mm.executors:SerialExecutor", description="in-process, one at a time"
    ),
    PluginRecord("threads", "executor", "q2mm.executors:threads", description="thread pool (CPU count)"),
    PluginRecord("processes", "executor", "q2mm.executors:processes", description="process pool (CPU count)"),
]
