"""``[executor_options]`` of ``executor = "dask"``: the keys, their defaults and their
checks, declared once here (the README's examples use exactly these names).

Three ways to get workers, chosen by the keys given:

- nothing (the default): an embedded ``LocalCluster`` of ``workers`` processes on
  this machine, ``threads_per_worker`` threads each;
- ``address``: an existing scheduler (``dask scheduler`` started by hand, a
  Kubernetes or cloud cluster); the workers are that scheduler's business;
- ``cluster = "slurm"`` (or pbs, lsf, sge, htcondor, oar, moab): batch jobs started
  by dask-jobqueue from this process, ``job`` holding the queue's options (cores,
  memory, walltime, queue, account, job_extra_directives, …); ``jobs`` fixed, or
  adaptive between ``minimum_jobs`` and ``maximum_jobs``; ``lifetime`` retires a
  worker gracefully before its job's walltime kills it.
"""

from __future__ import annotations

from typing import Any

import attrs
from q2mm.errors import ConfigError

#: cluster name → its dask-jobqueue class, imported only when chosen.
BATCH_CLUSTERS = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "lsf": "LSFCluster",
    "sge": "SGECluster",
    "htcondor": "HTCondorCluster",
    "oar": "OARCluster",
    "moab": "MoabCluster",
}
CLUSTERS = ("local", *BATCH_CLUSTERS)
#: What a batch job gets unless ``job`` says otherwise (dask-jobqueue insists on both).
JOB_DEFAULTS = {"cores": 1, "memory": "2GB"}
#: Keys that only mean something for a batch cluster / the local one.
_BATCH_ONLY = ("jobs", "minimum_jobs", "maximum_jobs", "lifetime", "lifetime_stagger", "job")
_LOCAL_ONLY = ("workers", "threads_per_worker")


def _fail(key: str, message: str) -> ConfigError:
    return ConfigError(f"executor_options.{key}: {message}")


def _at_least(minimum: int):
    def check(_instance: Any, attribute: attrs.Attribute, value: int | None) -> None:
        if value is not None and value < minimum:
            raise _fail(attribute.name, f"must be at least {minimum}, got {value}")

    return check


def _default(field: attrs.Attribute) -> Any:
    default = field.default
    return default.factory() if isinstance(default, attrs.Factory) else default


@attrs.frozen
class DaskOptions:
    """The dask executor's options; see the module docstring."""

    address: str | None = None
    cluster: str = "local"
    workers: int | None = attrs.field(default=None, validator=_at_least(1))
    threads_per_worker: int = attrs.field(default=1, validator=_at_least(1))
    jobs: int = attrs.field(default=1, validator=_at_least(0))
    minimum_jobs: int = attrs.field(default=0, validator=_at_least(0))
    maximum_jobs: int | None = attrs.field(default=None, validator=_at_least(1))
    lifetime: str | None = None
    lifetime_stagger: str = "2m"
    job: dict[str, Any] = attrs.field(factory=dict)
    #: How often a task may be on a worker that dies before it fails (KilledWorker).
    allowed_failures: int = attrs.field(default=3, validator=_at_least(0))
    #: Seconds to reach a scheduler.
    timeout: float = 10.0
    #: Tasks per worker thread in one map: more balances uneven workers, fewer saves overhead.
    tasks_per_worker: int = attrs.field(default=2, validator=_at_least(1))

    def __attrs_post_init__(self) -> None:
        if self.cluster not in CLUSTERS:
            raise _fail("cluster", f"{self.cluster!r} is not one of {', '.join(CLUSTERS)}")
        given = {f.name for f in attrs.fields(DaskOptions) if getattr(self, f.name) != _default(f)}
        if self.address is not None and given & {"cluster", *_BATCH_ONLY, *_LOCAL_ONLY, "allowed_failures"}:
            wrong = sorted(given - {"address", "timeout", "tasks_per_worker"})
            raise _fail(wrong[0], "does not apply to an existing scheduler ('address'): set it there")
        if self.cluster == "local" and given & set(_BATCH_ONLY):
            raise _fail(sorted(given & set(_BATCH_ONLY))[0], "applies to batch clusters ('cluster') only")
        if self.cluster != "local" and given & set(_LOCAL_ONLY):
            raise _fail(sorted(given & set(_LOCAL_ONLY))[0], "applies to the local cluster only")

    @classmethod
    def parse(cls, options: dict[str, Any]) -> DaskOptions:
        """From ``[executor_options]``; an unknown key is a one-line ConfigError."""
        known = [f.name for f in attrs.fields(cls)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise _fail(unknown[0], f"unknown key (known: {', '.join(known)})")
        return cls(**options)

    @property
    def adaptive(self) -> bool:
        return self.maximum_jobs is not None

    def job_options(self) -> dict[str, Any]:
        """What the dask-jobqueue class is given: ``job`` over the defaults, and the
        worker's lifetime so that a walltime kill meets no running task."""
        options = {**JOB_DEFAULTS, **self.job}
        if self.lifetime is not None:
            lifetime = ["--lifetime", self.lifetime, "--lifetime-stagger", self.lifetime_stagger]
            options["worker_extra_args"] = [*options.get("worker_extra_args", []), *lifetime]
        return options
