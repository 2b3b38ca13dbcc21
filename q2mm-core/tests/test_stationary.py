"""A structure's declared stationary point is checked against its QM Hessian before
anything is estimated or fitted: refused with the file and the imaginary frequencies."""

from __future__ import annotations

import subprocess
import sys

import pytest
from q2mm.errors import ConfigError
from q2mm.estimate import estimate_forcefield
from q2mm.io import read_structures
from q2mm.model import StationaryPoint
from q2mm.stationary import check_declared
from q2mm.vibrations import imaginary_frequencies

GS, TS = StationaryPoint.GROUND_STATE, StationaryPoint.TRANSITION_STATE


@pytest.fixture(scope="module")
def ethane(data_dir):
    return {n: read_structures(data_dir / "ethane" / f"{n}.fchk")[0] for n in ("GS", "TS")}


def test_imaginary_frequencies_are_the_qm_programs_own(ethane):
    """Gaussian printed −304.9 cm⁻¹ for the rotation TS (data README) and none for the GS."""
    ts = ethane["TS"]
    assert imaginary_frequencies(ts.hessian, ts.coordinates, ts.masses) == pytest.approx([-304.9], abs=0.1)
    gs = ethane["GS"]
    assert len(imaginary_frequencies(gs.hessian, gs.coordinates, gs.masses)) == 0


def test_consistent_declarations_pass(ethane):
    check_declared(ethane["GS"].with_(stationary_point=GS), "GS.fchk")
    check_declared(ethane["TS"].with_(stationary_point=TS), "TS.fchk")


def test_a_ground_state_with_an_imaginary_mode_is_refused_naming_the_file(ethane):
    with pytest.raises(ConfigError, match=r"TS\.fchk: .* declared ground_state .* 1 imaginary .* -304\.9 cm"):
        check_declared(ethane["TS"].with_(stationary_point=GS), "TS.fchk")


def test_a_transition_state_without_one_is_refused_naming_the_file(ethane):
    with pytest.raises(
        ConfigError, match=r"GS\.fchk: .* declared transition_state .* \(expected 1; found: none\)"
    ):
        check_declared(ethane["GS"].with_(stationary_point=TS), "GS.fchk")


def test_estimation_names_the_structure_whose_hessian_has_no_negative_eigenvalue(ethane):
    with pytest.raises(ConfigError, match=r"structure GS is declared a transition state .* no negative"):
        estimate_forcefield([ethane["GS"].with_(stationary_point=TS, name="GS")], ts_method="C")


def test_the_cli_refuses_in_one_line_with_exit_2(data_dir, tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "q2mm",
            "estimate",
            str(data_dir / "ethane" / "TS.fchk"),
            "-o",
            str(tmp_path / "x.xml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "TS.fchk" in run.stderr and "-304.9" in run.stderr
    assert not (tmp_path / "x.xml").exists()
