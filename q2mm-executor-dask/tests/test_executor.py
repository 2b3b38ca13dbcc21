"""The executor itself on a real LocalCluster: its record, its options, the order of
results, Ctrl-C, an unreachable scheduler."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from q2mm.errors import ConfigError
from q2mm.plugins import registry
from q2mm.protocols import ScalingExecutor
from q2mm.testing.records import record_mismatches
from q2mm_executor_dask.clusters import SchedulerUnreachable
from q2mm_executor_dask.executor import DaskExecutor


def test_the_record_tells_the_truth_and_the_default_is_a_local_cluster():
    """record_mismatches makes the executor with no options (a LocalCluster) and shuts it down."""
    assert record_mismatches(registry().get("executor", "dask")) == []


@pytest.fixture
def executor(cluster):
    executor = DaskExecutor(address=cluster.scheduler_address)
    yield executor
    executor.shutdown()


def test_map_keeps_submission_order_and_submit_returns_a_future(executor):
    assert isinstance(executor, ScalingExecutor)
    assert executor.parallelism() == 2 * 2  # tasks_per_worker × two worker threads
    assert list(executor.map(pow, [2, 3, 4], [10, 2, 0])) == [1024, 9, 1]
    assert list(executor.map(abs, [])) == []
    assert executor.submit(divmod, 7, 2).result() == (3, 1)


def test_an_error_in_a_task_comes_back_as_itself(executor):
    with pytest.raises(ZeroDivisionError):
        list(executor.map(divmod, [1, 2], [1, 0]))


def test_a_callable_is_shipped_once_and_kept_by_the_workers(executor, client):
    for _ in range(3):
        assert list(executor.map(abs, [-1, -2, -3, -4])) == [1, 2, 3, 4]
    assert len(executor._shipped) == 1
    held = client.run(lambda dask_worker: sum(v is abs for v in dask_worker.data.values()))
    assert sum(held.values()) >= 1 and max(held.values()) == 1


def test_ctrl_c_cancels_the_tasks_still_out(executor, client):
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()  # a real Ctrl-C
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        list(executor.map(time.sleep, [3.0] * 8))
    assert time.perf_counter() - started < 3.0

    def waiting(dask_scheduler):
        return [str(k) for k, t in dask_scheduler.tasks.items() if "sleep" in str(t.run_spec)]

    deadline = time.perf_counter() + 10
    while client.run_on_scheduler(waiting) and time.perf_counter() < deadline:
        time.sleep(0.2)
    assert client.run_on_scheduler(waiting) == []


def test_an_unreachable_scheduler_is_one_line_naming_it():
    started = time.perf_counter()
    with pytest.raises(SchedulerUnreachable) as caught:
        DaskExecutor(address="tcp://127.0.0.1:1", timeout=2)
    assert time.perf_counter() - started < 15
    message = str(caught.value)
    assert "tcp://127.0.0.1:1" in message and "\n" not in message
    assert isinstance(caught.value, ConfigError)


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"workerz": 2}, "workerz"),
        ({"cluster": "kubernetes"}, "cluster"),
        ({"jobs": 4}, "jobs"),
        ({"cluster": "slurm", "workers": 2}, "workers"),
        ({"address": "tcp://127.0.0.1:1", "workers": 2}, "workers"),
        ({"workers": 0}, "workers"),
    ],
)
def test_a_wrong_option_is_one_config_error_naming_the_key(options, key):
    with pytest.raises(ConfigError, match=rf"^executor_options\.{key}: "):
        DaskExecutor(**options)
