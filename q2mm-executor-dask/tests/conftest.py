"""One real LocalCluster (2 worker processes, 1 thread each) per test session: fits
connect to it by ``address``, which is also how a user reaches a running scheduler.
Starting a cluster costs seconds on a loaded machine; connecting costs milliseconds."""

from __future__ import annotations

import logging
from pathlib import Path

import attrs
import pytest
from distributed import Client, LocalCluster
from q2mm.config import RunConfig, load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def cluster():
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    ) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def client(cluster):
    with Client(cluster) as client:
        yield client


def _ch3f_config(output: Path, **changes) -> RunConfig:
    cfg = load_config(EXAMPLES / "ch3f" / "q2mm.toml")
    changes = {"engine": "openmm", "optimizer_options": {"max_iterations": 8}, "output": output, **changes}
    return attrs.evolve(cfg, **changes)


@pytest.fixture(scope="session")
def ch3f_config():
    """``(output, **changes) → RunConfig``: the bundled CH₃F example on OpenMM
    (finite-difference gradients), a few iterations."""
    pytest.importorskip("q2mm_engine_openmm", reason="q2mm-engine-openmm is not installed")
    return _ch3f_config
