"""The ``dask`` executor: q2mm's :class:`~q2mm.protocols.Executor` on a Dask client.

What it adds to Dask:

- **a callable travels once**: ``map(fn, …)`` ships ``fn`` as a Dask task of its own
  (kept per equal ``fn`` for the executor's life, as the Executor protocol allows),
  and every task of this and later maps takes it as a dependency. A worker gets it
  unpickled once and keeps it, so the finite-difference path's engine sessions
  (prepared lazily, per thread) are built once per worker, not per task, and the
  7 MB Rh-enamide path is not sent 200 times per gradient. Because it is a task, not
  scattered data, a worker that dies with the only copy costs a recomputation, not
  the fit;
- **order**: results are gathered in submission order, whichever worker finished
  first; each is computed from its own arguments alone, so the fit is bit-identical
  to the serial one;
- **faults**: a task on a worker that dies is rescheduled by Dask on another
  (``allowed_failures`` times); an exception raised by a task (a FitFailure) comes
  back as itself; Ctrl-C or any error while waiting cancels the tasks still out.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Any

from distributed import Future as DaskFuture

from .clusters import connect
from .options import DaskOptions


def _itself(obj: Any) -> Any:
    return obj


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class DaskExecutor:
    """Keyword options as in :class:`~.options.DaskOptions` (``[executor_options]``)."""

    def __init__(self, **options: Any) -> None:
        self.options = DaskOptions.parse(options)
        connection = connect(self.options)
        self.client = connection.client
        self._cluster = connection.cluster
        self._threads = connection.threads
        self._shipped: dict[Callable[..., Any], DaskFuture] = {}

    def parallelism(self) -> int:
        """``tasks_per_worker`` × the worker threads the cluster is meant to have (the
        scheduler's present count for one we did not start)."""
        threads = self._threads or sum(self.client.nthreads().values())
        return self.options.tasks_per_worker * max(1, threads)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self.client.get_executor(pure=False).submit(fn, *args, **kwargs)

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any]) -> Iterator[Any]:
        columns = [list(it) for it in iterables]
        n = min(map(len, columns), default=0)
        handle = self._ship(fn)
        futures = self.client.map(_call, [handle] * n, *(c[:n] for c in columns), pure=False)
        try:
            return iter(self.client.gather(futures))
        except BaseException:
            self.client.cancel(futures)
            raise

    def _ship(self, fn: Callable[..., Any]) -> DaskFuture:
        """``fn`` as a task of its own, once per equal ``fn``."""
        handle = self._shipped.get(fn)
        if handle is None:
            with warnings.catch_warnings():
                # The warning suggests scattering; a task is what survives a lost worker.
                warnings.filterwarnings("ignore", message="Large object", category=UserWarning)
                handle = self._shipped[fn] = self.client.submit(_itself, fn, pure=False)
        return handle

    def shutdown(self, wait: bool = True) -> None:
        """Release everything shipped; close the client and any cluster started here."""
        self._shipped.clear()
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
