"""`q2mm run` end to end on real CH₃F data with the core's NumPy test engine: the
result folder, its stable keys, and a run killed mid-way then resumed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from q2mm.io import read_forcefield
from q2mm.report.history import read_history
from q2mm.run import RESULT_KEYS

LAUNCH = (
    "from q2mm.cli import main\n"
    "from q2mm.testing.registry import testing_registry\n"
    "main(prog_name='q2mm', obj=testing_registry())\n"
)

CONFIG = """
engine = "harmonic-numpy"
optimizer = "{optimizer}"
output = "out"

[optimizer_options]
{options}

[forcefield]
estimate = "fuerza"
form = "harmonic"

[[structures]]
file = "ch3f-hessian.npy"
kind = "ground_state"
"""


def q2mm_test_cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCH, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.fixture
def ch3f_run(tmp_path, data_dir):
    def make(optimizer="scipy:lbfgsb", options=""):
        for name in ("ch3f-optimized.xyz", "ch3f-hessian.npy", "ch3f-frequencies.txt", "ch3f-energy.txt"):
            (tmp_path / name).write_bytes((data_dir / "ch3f" / name).read_bytes())
        config = tmp_path / "q2mm.toml"
        config.write_text(CONFIG.format(optimizer=optimizer, options=options))
        return config

    return make


def lookup(result: dict, dotted: str):
    for part in dotted.split("."):
        result = result[part]
    return result


def test_run_writes_result_folder_with_stable_keys(ch3f_run):
    config = ch3f_run()
    proc = q2mm_test_cli("run", str(config), "--json")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    result = json.loads(out)
    folder = config.parent / "out"
    on_disk = json.loads((folder / "result.json").read_text())
    assert on_disk == result
    for key in RESULT_KEYS:
        lookup(result, key)  # KeyError if a stable key went missing
    assert result["status"] == "converged"
    assert result["engine"]["name"] == "harmonic-numpy"
    assert result["optimizer"]["name"] == "scipy:lbfgsb"
    assert result["score"]["final"] < 0.5 * result["score"]["initial"]
    metrics = result["metrics"]
    assert 0.9 < metrics["eigenmatrix_diagonal_r2"] <= 1.0
    assert metrics["bond_rmsd_angstrom"] < 0.05 and metrics["angle_rmsd_degree"] < 5.0
    assert metrics["frequency_rmsd_cm1"] < 200
    # An estimate is written as q2mm's JSON and, as OpenMM XML holds every term of
    # this harmonic one, as XML too; both hold the final parameters.
    assert result["files"] == ["fitted.json", "fitted.xml"]
    final = {p["id"]: p["final"] for p in result["parameters"]}
    for name in result["files"]:
        fitted = read_forcefield(folder / name)
        # Rows read back from XML are keyed with their line (``bond:C-F@3``); JSON keeps the keys.
        on_file = {
            re.sub(r"@\d+\.", ".", pid): v
            for pid, v in zip(fitted.parameter_ids(), fitted.vector(), strict=True)
        }
        assert set(final) == set(on_file)
        for pid, value in final.items():
            assert on_file[pid] == pytest.approx(value, rel=1e-9)
    assert not list(folder.glob(".*.tmp"))


def test_killed_run_resumes_to_the_same_result(ch3f_run):
    config = ch3f_run(optimizer="scipy:nelder-mead", options="max_iterations = 400")
    reference = q2mm_test_cli("run", str(config), "--json", "--output", str(config.parent / "full"))
    out, err = reference.communicate(timeout=600)
    assert reference.returncode == 0, err
    full = json.loads(out)

    folder = config.parent / "killed"
    proc = q2mm_test_cli("run", str(config), "--quiet", "--output", str(folder), start_new_session=True)
    checkpoint = folder / "checkpoint.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if checkpoint.is_file() and json.loads(checkpoint.read_text())["iteration"] >= 20:
            break
        if proc.poll() is not None:
            pytest.fail(f"run ended before it could be killed: {proc.communicate()[1]}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert not (folder / "result.json").exists()
    killed_at = json.loads(checkpoint.read_text())["iteration"]
    assert killed_at < full["iterations"]

    resumed = q2mm_test_cli("run", str(config), "--json", "--resume", "--output", str(folder))
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    result = json.loads(out)
    assert result["iterations"] > killed_at
    assert result["score"]["final"] == pytest.approx(full["score"]["final"], rel=0.02)
    assert result["score"]["final"] < result["score"]["initial"]
    assert np.isfinite(result["score"]["final"])
    # the history holds each iteration once, across the kill
    assert [e["iteration"] for e in read_history(folder)] == list(range(result["iterations"] + 1))


def test_resume_without_checkpoint_is_a_user_error(ch3f_run):
    config = ch3f_run()
    proc = q2mm_test_cli("run", str(config), "--resume", "--output", str(config.parent / "empty"))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2
    assert "no checkpoint to resume from" in err and "Traceback" not in err


def test_the_readme_lists_exactly_the_stable_result_keys():
    """The README's list is checked against RESULT_KEYS, which the FitResult fields'
    marks define: one declaration, one checked copy."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    listed = readme.split("`q2mm.run.RESULT_KEYS`:", 1)[1].split(") and `checkpoint.json`", 1)[0]
    assert set(re.findall(r"`([a-z_.0-9]+)`", listed)) == set(RESULT_KEYS)


def test_a_poor_fit_says_so_and_require_quality_exits_3(ch3f_run):
    """The same converged CH₃F fit, judged against a frequency MAE no harmonic force
    field reaches: the verdict is poor, with the reason in numbers, in result.json and
    in the closing table, and --require-quality turns it into exit code 3."""
    config = ch3f_run()
    config.write_text(config.read_text() + "\n[quality]\nmax_frequency_mae_cm1 = 1.0\n")
    proc = q2mm_test_cli("run", str(config), "--require-quality")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 3, err
    result = json.loads((config.parent / "out" / "result.json").read_text())
    assert result["status"] == "converged" and result["quality"] == "poor"
    (structure,) = result["structures"]
    mae = structure["metrics"]["frequency_mae_cm1"]
    assert mae > 1.0 and structure["reasons"] == [f"frequency MAE {mae:.1f} cm⁻¹ > 1"]
    assert result["quality_reasons"] == [f"{structure['name']}: frequency MAE {mae:.1f} cm⁻¹ > 1"]
    assert "converged, quality poor" in out
    (row,) = [line for line in out.splitlines() if line.startswith(structure["name"])]
    assert row.split()[-1] == "poor"
