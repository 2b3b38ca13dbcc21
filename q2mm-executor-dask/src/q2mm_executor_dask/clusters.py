"""Where the workers come from: an embedded LocalCluster, an existing scheduler, or
dask-jobqueue batch jobs. Each returns the connected client, the cluster this process
owns (to close after the fit; None for a scheduler someone else runs) and the number
of worker threads the cluster is meant to have (None when it is not ours to know)."""

from __future__ import annotations

import importlib
import logging
import os
import shutil

import attrs
import dask
from distributed import Client, LocalCluster
from q2mm.errors import ConfigError

from .options import BATCH_CLUSTERS, DaskOptions


class SchedulerUnreachable(ConfigError):
    """The scheduler at ``executor_options.address`` did not answer."""


@attrs.frozen(eq=False)
class Connection:
    client: Client
    cluster: object | None
    threads: int | None


def connect(options: DaskOptions) -> Connection:
    """The client for ``options`` (see :mod:`.options` for the three ways)."""
    if options.address is not None:
        return Connection(_client(options.address, options.timeout), None, None)
    with dask.config.set({"distributed.scheduler.allowed-failures": options.allowed_failures}):
        if options.cluster == "local":
            return _local(options)
        return _batch(options)


def _client(address: str, timeout: float) -> Client:
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchedulerUnreachable(
            f"executor_options.address: cannot reach the Dask scheduler at {address} "
            f"within {timeout:g} s ({reason})"
        ) from None


def _local(options: DaskOptions) -> Connection:
    """Worker processes (not threads): engine sessions are not thread-safe and a
    killed worker takes only its own tasks with it."""
    workers = options.workers or os.cpu_count() or 1
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=options.threads_per_worker,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    return Connection(Client(cluster), cluster, workers * options.threads_per_worker)


def _batch(options: DaskOptions) -> Connection:
    """A dask-jobqueue cluster; its scheduler runs in this process."""
    cls = getattr(importlib.import_module("dask_jobqueue"), BATCH_CLUSTERS[options.cluster])
    command = cls.job_cls.submit_command
    if shutil.which(command) is None:
        raise ConfigError(
            f"executor_options.cluster: {options.cluster!r} submits jobs with {command!r}, "
            "which is not on PATH here"
        )
    job = options.job_options()
    # A random dashboard port: several clusters on one login node must not clash on 8787.
    cluster = cls(**{"scheduler_options": {"dashboard_address": ":0"}, **job})
    if options.adaptive:
        cluster.adapt(minimum_jobs=options.minimum_jobs, maximum_jobs=options.maximum_jobs)
    else:
        cluster.scale(jobs=options.jobs)
    jobs = options.maximum_jobs if options.adaptive else options.jobs
    return Connection(Client(cluster), cluster, max(1, jobs) * int(job["cores"]))
