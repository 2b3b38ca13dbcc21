"""The quality verdict's rules, on numbers chosen by hand."""

from __future__ import annotations

from q2mm.model import StationaryPoint
from q2mm.residuals.quality import QualityThresholds, reasons, verdict

GOOD_METRICS = {
    "eigenmatrix_diagonal_r2": 0.995,
    "frequency_mae_cm1": 20.0,
    "bond_rmsd_angstrom": 0.001,
    "angle_rmsd_degree": 0.1,
    "dihedral_rmsd_degree": None,  # no dihedrals: not judged
}


def test_a_structure_within_every_threshold_is_good():
    assert reasons(GOOD_METRICS, StationaryPoint.GROUND_STATE, QualityThresholds()) == []
    assert verdict({"a": []}, "converged") == ("good", [])


def test_each_failed_check_is_a_reason_in_numbers():
    bad = {**GOOD_METRICS, "eigenmatrix_diagonal_r2": 0.77, "angle_rmsd_degree": 23.0}
    found = reasons(bad, StationaryPoint.GROUND_STATE, QualityThresholds())
    assert found == ["eigenmatrix R² 0.7700 < 0.99", "angle RMSD 23.00° > 0.5"]
    assert verdict({"ethane": found}, "converged") == ("poor", [f"ethane: {r}" for r in found])


def test_a_transition_state_whose_minimum_moved_is_told_so():
    moved = {**GOOD_METRICS, "bond_rmsd_angstrom": 0.104}
    (reason,) = reasons(moved, StationaryPoint.TRANSITION_STATE, QualityThresholds())
    assert reason == "bond RMSD 0.1040 Å > 0.005 (the TSFF minimum is not at the TS)"


def test_thresholds_are_configurable_and_a_failed_fit_is_poor():
    loose = QualityThresholds(max_angle_rmsd_degree=30.0)
    assert reasons({"angle_rmsd_degree": 23.0}, None, loose) == []
    assert verdict({"a": []}, "failed") == ("poor", ["the fit failed"])
