"""Fits through the run driver on OpenMM (finite-difference gradients): serial,
``processes`` and ``dask`` reach the same score bit for bit, a worker killed in the
middle of the fit changes nothing, and multi-start starts fan out."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
from q2mm.run import run_fit

#: Each start a few iterations: enough to tell the starts apart.
MULTISTART = {"starts": 4, "inner_options": {"max_iterations": 3}}


@pytest.fixture(scope="module")
def fit(ch3f_config):
    def run(folder, name, **changes):
        return run_fit(ch3f_config(folder / name, **changes))

    return run


def _same(a, b):
    assert a["score"]["final"] == b["score"]["final"]
    assert [p["final"] for p in a["parameters"]] == [p["final"] for p in b["parameters"]]
    assert a["iterations"] == b["iterations"]


@pytest.fixture(scope="module")
def serial(tmp_path_factory, fit):
    return fit(tmp_path_factory.mktemp("serial"), "serial")


def test_serial_processes_and_dask_reach_the_same_score_bit_for_bit(serial, fit, tmp_path, cluster):
    processes = fit(tmp_path, "processes", executor="processes", executor_options={"max_workers": 2})
    dask = fit(tmp_path, "dask", executor="dask", executor_options={"address": cluster.scheduler_address})
    assert serial["score"]["final"] < serial["score"]["initial"]
    _same(processes, serial)
    _same(dask, serial)
    assert dask["executor"] == "dask"


def test_a_worker_killed_mid_fit_changes_nothing(serial, fit, tmp_path, cluster, client):
    """SIGKILL one worker process while it holds gradient tasks: Dask reschedules them
    on the other (the nanny then restarts the dead one) and the fit ends the same."""
    victim, pid = sorted(client.run(os.getpid).items())[0]
    out: dict = {}
    options = {"address": cluster.scheduler_address, "tasks_per_worker": 4}
    fitting = threading.Thread(
        target=lambda: out.update(fit(tmp_path, "killed", executor="dask", executor_options=options))
    )
    fitting.start()
    deadline = time.perf_counter() + 60
    while not client.processing().get(victim) and time.perf_counter() < deadline:
        time.sleep(0.005)
    assert client.processing().get(victim), "no gradient task ever reached the victim"
    os.kill(pid, signal.SIGKILL)
    killed_while_fitting = fitting.is_alive()
    fitting.join()
    assert killed_while_fitting
    _same(out, serial)
    client.wait_for_workers(2, timeout=60)


def test_multistart_starts_fan_out_and_come_back_in_order(fit, tmp_path, cluster):
    serial = fit(tmp_path, "ms-serial", optimizer="multistart", optimizer_options=MULTISTART)
    dask = fit(
        tmp_path,
        "ms-dask",
        optimizer="multistart",
        optimizer_options=MULTISTART,
        executor="dask",
        executor_options={"address": cluster.scheduler_address},
    )
    assert serial["score"]["final"] == dask["score"]["final"]
    for a, b in zip(serial["starts"], dask["starts"], strict=True):
        assert a["index"] == b["index"] and np.array_equal(a["start"], b["start"])
        assert a["result"]["score"] == b["result"]["score"]
        assert a["result"]["evaluations"] == b["result"]["evaluations"]
    # Evaluations done on the workers' copies are counted, not lost.
    assert dask["evaluations"] >= serial["evaluations"]
