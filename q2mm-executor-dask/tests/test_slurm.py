"""A real fit through dask-jobqueue's SLURMCluster on the one-node SLURM cluster that
``scripts/slurm-local.sh start`` runs on this machine (``.ci/run`` starts it): two
batch jobs, one Dask worker each, reach the serial score bit for bit. Where no SLURM
answers, the test skips and says why."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from q2mm.run import run_fit

#: Where scripts/slurm-local.sh puts its configuration unless told otherwise.
DEFAULT_CONF = "/tmp/q2mm-slurm/slurm.conf"


def _why_no_slurm(conf: str) -> str | None:
    """None when the cluster at ``conf`` has an idle node; otherwise the reason."""
    if shutil.which("sbatch") is None:
        return "sbatch not found: apt-get install slurm-wlm munge, then scripts/slurm-local.sh start"
    if not Path(conf).is_file():
        return f"no SLURM configuration at {conf}: run scripts/slurm-local.sh start"
    try:
        states = subprocess.run(
            ["sinfo", "-h", "-o", "%T"],
            env={**os.environ, "SLURM_CONF": conf},
            capture_output=True,
            text=True,
            timeout=15,
        )
    except subprocess.TimeoutExpired:
        return f"sinfo ({conf}) did not answer within 15 s"
    if "idle" not in states.stdout.split():
        return f"no idle SLURM node ({conf}): sinfo says {(states.stdout + states.stderr).strip()!r}"
    return None


@pytest.fixture
def slurm(monkeypatch):
    conf = os.environ.get("SLURM_CONF", DEFAULT_CONF)
    reason = _why_no_slurm(conf)
    if reason is not None:
        print(f"SLURM test skipped: {reason}")
        pytest.skip(reason)
    monkeypatch.setenv("SLURM_CONF", conf)
    return conf


def test_a_fit_through_slurm_jobs_reaches_the_serial_score(slurm, ch3f_config, tmp_path):
    serial = run_fit(ch3f_config(tmp_path / "serial", optimizer_options={"max_iterations": 3}))
    options = {
        "cluster": "slurm",
        "jobs": 2,
        "lifetime": "9m",
        "job": {
            "cores": 1,
            "processes": 1,
            "memory": "1GB",
            "walltime": "00:10:00",
            "queue": "debug",
            "log_directory": str(tmp_path / "logs"),
        },
    }
    slurm_fit = run_fit(
        ch3f_config(
            tmp_path / "slurm",
            optimizer_options={"max_iterations": 3},
            executor="dask",
            executor_options=options,
        )
    )
    assert slurm_fit["score"]["final"] == serial["score"]["final"]
    assert [p["final"] for p in slurm_fit["parameters"]] == [p["final"] for p in serial["parameters"]]
