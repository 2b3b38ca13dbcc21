"""Tinker parameter files and program outputs, checked against what Tinker itself printed."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import attrs
import numpy as np
import pytest
from q2mm.errors import ParseError
from q2mm.io import read_forcefield
from q2mm.io.tinker_output import (
    mode_from_frames,
    read_analyze,
    read_hessian,
    read_minimize,
    read_mode_frames,
    read_vibrate,
)
from q2mm.io.tinker_prm import TinkerPrm
from q2mm.io.xyz import read_xyz
from q2mm.model import Conventions, Row
from q2mm.model.units import DEG_TO_RAD, HESSIAN_AU_TO_KCALMOL_A2
from q2mm.vibrations import frequencies_from_hessian

PRM = TinkerPrm()
#: The masses Tinker used (data/tinker-ch3f/parameters.md).
CH3F_MASSES = {"C": 12.000, "H": 1.008, "F": 18.998}


@pytest.fixture(scope="module")
def prm_path() -> Path:
    return Path(__file__).parent / "forcefields" / "mm3-ch3f.prm"


@pytest.fixture(scope="module")
def mm3(prm_path):
    return read_forcefield(prm_path)


@pytest.fixture(scope="module")
def ch3f(data_dir) -> Path:
    return data_dir / "tinker-ch3f"


def test_header_keywords_define_units_and_conventions(mm3):
    assert mm3.source.format == "tinker-prm" and mm3.form == "mm3" and mm3.name == "MM3-2000"
    assert mm3.conventions == Conventions.mm3()  # every constant DESIGN.md quotes from mm3.prm
    bond = mm3.row("bond:1-11@81")  # bondunit 71.94 × 5.9000 mdyn/Å
    assert bond.values == {"k": pytest.approx(71.94 * 5.9, rel=1e-14), "r0": 1.39}
    angle = mm3.row("angle:5-1-5@101")  # angleunit 0.02191418 = 71.94 (π/180)²: k per rad² = 71.94 × 0.550
    assert angle.values["k"] == pytest.approx(71.94 * 0.55, rel=1e-6)
    assert [angle.values[f] / DEG_TO_RAD for f in ("theta0", "theta0_h1", "theta0_h2")] == pytest.approx(
        [107.60, 107.80, 109.47]
    )
    strbnd = mm3.row("strbnd:5-1-11@112")  # strbndunit 2.51118 per degree = 143.88 per radian
    assert strbnd.values == {
        "k1": pytest.approx(143.88 * 0.08, rel=1e-6),
        "k2": pytest.approx(143.88 * 0.08, rel=1e-6),
    }
    torsion = mm3.row("torsion:1-1-1-1@133")  # torsionunit 0.5
    assert torsion.values == {
        "k1": 0.0925, "phase1": 0.0, "k2": 0.085, "phase2": pytest.approx(math.pi), "k3": 0.26, "phase3": 0.0
    }  # fmt: skip
    assert mm3.row("vdw:5@68").values == {"radius": 1.62, "epsilon": 0.02, "reduction": 0.923}
    assert mm3.row("dipole:1-11@143").values == {"moment": 1.82, "position": 0.5}
    kept = " | ".join(PRM.unmodelled(mm3.source))
    assert "angle-angle" in kept and "electronegativity" in kept and "atom definitions" in kept


def _distance(xyz, i, j) -> float:
    return float(np.linalg.norm(xyz[i] - xyz[j]))


def _angle(xyz, i, j, k) -> float:
    u, v = xyz[i] - xyz[j], xyz[k] - xyz[j]
    return math.acos(float(u @ v / np.linalg.norm(u) / np.linalg.norm(v)))


def test_analyze_d_terms_recomputed_from_the_parameters(mm3, ch3f):
    """Tinker's MM3 stretch, bend and stretch-bend energies from the canonical rows: a
    test of every unit conversion the reader makes (71.94·k·Δr²·(1 − 2.55 Δr + 3.793125 Δr²)
    for the bonds, with k in mdyn/Å)."""
    analysis = read_analyze(ch3f / "analyze-D.txt")
    xyz = read_xyz(ch3f / "ch3f.xyz")[0].coordinates  # analyze ran on the QM geometry
    c = mm3.conventions
    ideal_r = {}
    for bond in analysis.of_term("bond"):
        kind = "1-11" if 1 in bond.atoms else "1-5"
        row = mm3.row({"1-11": "bond:1-11@81", "1-5": "bond:1-5@80"}[kind])
        ideal = bond.values[0]
        # C–H is shortened by the electronegativity correction of the F (parameters.md: −0.0076)
        assert ideal == pytest.approx(row.values["r0"] - (0.0076 if kind == "1-5" else 0.0), abs=1e-12)
        dr = _distance(xyz, *bond.atoms) - ideal
        energy = row.values["k"] * dr**2 * (1 + c.bond_cubic * dr + c.bond_quartic * dr**2)
        assert row.values["k"] / 71.94 * 71.94 * dr**2 * (1 - 2.55 * dr + 3.793125 * dr**2) == pytest.approx(
            energy
        )
        assert energy == pytest.approx(bond.energy, abs=6e-5)
        ideal_r[frozenset(bond.atoms)] = ideal
    series = (c.angle_cubic, c.angle_quartic, c.angle_pentic, c.angle_sextic)
    for angle in analysis.of_term("angle"):
        fluorine = 1 in angle.atoms
        row = mm3.row("angle:5-1-11@102" if fluorine else "angle:5-1-5@101")
        # the ideal for 2 (F–C–H) or 1 (H–C–H) other hydrogens on the carbon
        theta0 = row.values["theta0_h2" if fluorine else "theta0_h1"]
        assert theta0 / DEG_TO_RAD == pytest.approx(angle.values[0], abs=1e-9)
        d = _angle(xyz, *angle.atoms) - theta0
        energy = (
            row.values["k"] * d**2 * (1 + sum(s * (d / DEG_TO_RAD) ** (n + 1) for n, s in enumerate(series)))
        )
        assert energy == pytest.approx(angle.energy, abs=6e-5)
    for strbnd in analysis.of_term("strbnd"):
        i, j, k = strbnd.atoms
        row = mm3.row("strbnd:5-1-11@112")  # classes 5-1-11: k1 couples the H–C bond, k2 the C–F bond
        d = _angle(xyz, i, j, k) - mm3.row("angle:5-1-11@102").values["theta0_h2"]
        dr_f = _distance(xyz, i, j) - ideal_r[frozenset((i, j))]
        dr_h = _distance(xyz, j, k) - ideal_r[frozenset((j, k))]
        assert (dr_f * d / DEG_TO_RAD, dr_h * d / DEG_TO_RAD) == pytest.approx(strbnd.values, abs=6e-5)
        assert (row.values["k2"] * dr_f + row.values["k1"] * dr_h) * d == pytest.approx(
            strbnd.energy, abs=6e-5
        )


@pytest.mark.parametrize("name", ["analyze-E.txt", "analyze-D.txt"])
def test_energy_breakdown_sums_to_the_total(ch3f, name):
    analysis = read_analyze(ch3f / name)
    assert analysis.total == 0.4769
    assert [(c.name, c.interactions) for c in analysis.components] == [
        ("Bond Stretching", 4), ("Angle Bending", 6), ("Stretch-Bend", 3), ("Angle-Angle", 3)
    ]  # fmt: skip
    assert sum(c.energy for c in analysis.components) == pytest.approx(analysis.total, abs=2e-4)
    if name == "analyze-D.txt":
        terms = {
            "Bond Stretching": "bond",
            "Angle Bending": "angle",
            "Stretch-Bend": "strbnd",
            "Angle-Angle": "angang",
        }
        for component in analysis.components:
            found = analysis.of_term(terms[component.name])
            assert len(found) == component.interactions
            assert sum(i.energy for i in found) == pytest.approx(
                component.energy, abs=5e-5 * (len(found) + 1)
            )
        assert analysis.of_term("angang")[0].atoms == (0, 1, 3, 1, 4)  # centre 1-C, angles 2-1-4 and 2-1-5


def test_sn2_analyze_energy(data_dir):
    analysis = read_analyze(data_dir / "tinker-sn2" / "analyze-energy.txt")
    assert analysis.total == 297.9599 and not analysis.interactions
    assert [c.interactions for c in analysis.components] == [5, 10, 7, 21]
    assert sum(c.energy for c in analysis.components) == pytest.approx(analysis.total, abs=1e-9)


def test_testhess_hessian_reproduces_vibrate_frequencies(ch3f):
    hessian = read_hessian(ch3f / "ch3f-min.hes")
    assert hessian.shape == (15, 15) and np.array_equal(hessian, hessian.T)
    assert hessian[0, 0] * HESSIAN_AU_TO_KCALMOL_A2 == pytest.approx(1193.8058)  # first diagonal element
    # the "atom 1 X" block holds columns 2..15 of row 1: -0.0007, 0.0000, -96.0563, …
    assert hessian[0, 1:4] * HESSIAN_AU_TO_KCALMOL_A2 == pytest.approx([-0.0007, 0.0, -96.0563])
    assert hessian[14, 13] * HESSIAN_AU_TO_KCALMOL_A2 == pytest.approx(161.0766)  # the last block, atom 5 Y
    molecule = read_xyz(ch3f / "ch3f-min.xyz")[0]
    masses = [CH3F_MASSES[e] for e in molecule.elements]
    frequencies = frequencies_from_hessian(hessian, molecule.coordinates, masses)
    vibrate = read_vibrate(ch3f / "vibrate-min.txt")
    assert len(vibrate.frequencies) == 15 and vibrate.modes.shape == (0, 5, 3)
    np.testing.assert_allclose(frequencies, vibrate.frequencies[6:], atol=0.01)  # Tinker prints 3 decimals
    assert abs(vibrate.frequencies[:6]).max() < 2.0  # rigid motions, not projected out by Tinker
    # vibrate's "Eigenvalues of the Hessian Matrix" are those of the same Hessian, unweighted
    eigenvalues = np.linalg.eigvalsh(hessian * HESSIAN_AU_TO_KCALMOL_A2)
    np.testing.assert_allclose(eigenvalues, vibrate.eigenvalues, atol=2e-3)


def test_vibrate_output_and_its_normal_mode_files(data_dir):
    sn2 = data_dir / "tinker-sn2"
    vibrate = read_vibrate(sn2 / "vibrate-output.txt")
    reference = np.loadtxt(sn2 / "mm-frequencies.txt")
    np.testing.assert_array_equal(vibrate.frequencies, reference)
    assert vibrate.frequencies[0] == -3497.160 and vibrate.eigenvalues[0] == -14069.149
    assert vibrate.mode_numbers == tuple(range(1, 19)) and vibrate.modes.shape == (18, 6, 3)
    np.testing.assert_allclose(np.linalg.norm(vibrate.modes.reshape(18, -1), axis=1), 1.0, atol=2e-6)
    for number in range(1, 19):
        frames = read_mode_frames(sn2 / f"sn2-ts.{number:03d}")
        assert frames.shape == (7, 6, 3)
        np.testing.assert_allclose(frames[3], read_xyz(sn2 / "sn2-ts.xyz")[0].coordinates, atol=2e-6)
        np.testing.assert_allclose(mode_from_frames(frames), vibrate.modes[number - 1], atol=1e-5)


def test_minimize_output(ch3f):
    result = read_minimize(ch3f / "minimize.txt")
    assert (result.energy, result.rms_gradient, result.gradient_norm) == (0.3191, 0.3288e-6, 0.7351e-6)
    assert result.iterations == 10 and result.converged and result.termination == "SmallGrad"
    relaxed = read_xyz(ch3f / "ch3f-min.xyz")[0]  # the minimized coordinates
    start = read_xyz(ch3f / "ch3f.xyz")[0]
    assert relaxed.elements == start.elements and relaxed.atom_types == ("1", "11", "5", "5", "5")
    # the C–F bond relaxed toward its MM3 ideal of 1.3900 Å from the QM 1.3986 Å
    assert _distance(relaxed.coordinates, 0, 1) == pytest.approx(1.3889, abs=5e-4)


def test_unchanged_prm_is_written_byte_for_byte(mm3, prm_path, tmp_path):
    PRM.write(mm3, tmp_path / "same.prm")
    assert (tmp_path / "same.prm").read_bytes() == prm_path.read_bytes()


def test_changed_values_are_rewritten_in_place(mm3, prm_path, tmp_path):
    rows = [r.with_values(k=71.94 * 6.1234) if r.key == "bond:1-11@81" else r for r in mm3.rows]
    rows = [r.with_values(k3=0.3) if r.key == "torsion:5-1-1-5@132" else r for r in rows]
    PRM.write(attrs.evolve(mm3, rows=rows), tmp_path / "changed.prm")
    old = prm_path.read_text().splitlines()
    new = (tmp_path / "changed.prm").read_text().splitlines()
    assert [i + 1 for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b] == [81, 132]
    assert new[80] == "bond          1   11          6.1234     1.3900"
    assert new[131] == "torsion       5    1    1    5      0.000 0.0 1   0.000 180.0 2  0.6000 0.0 3"
    back = PRM.read(tmp_path / "changed.prm")
    assert back.row("bond:1-11@81").values["k"] == pytest.approx(71.94 * 6.1234)


def test_keyfile_rows_and_the_conventions_of_its_parameter_file(prm_path, tmp_path):
    shutil.copy(prm_path, tmp_path / "mm3.prm")
    key = "parameters mm3.prm\nverbose\n\n# fitted\nbond   1  11   6.2000  1.3850\nvdw-14-scale  0.5\n"
    (tmp_path / "fit.key").write_text(key)
    ff = read_forcefield(tmp_path / "fit.key")
    assert [r.key for r in ff.rows] == ["bond:1-11@5"]
    assert ff.row("bond:1-11@5").values == {
        "k": pytest.approx(71.94 * 6.2),
        "r0": 1.385,
    }  # bondunit from mm3.prm
    assert ff.conventions == attrs.evolve(Conventions.mm3(), vdw_scale_14=0.5)
    PRM.write(ff, tmp_path / "same.key")
    assert (tmp_path / "same.key").read_text() == key
    PRM.write(ff.with_vector([71.94 * 6.0, 1.385]), tmp_path / "new.key")
    assert (tmp_path / "new.key").read_text() == key.replace("6.2000", "6.0000")


def test_a_keyfile_whose_parameter_file_is_missing_is_refused(data_dir):
    with pytest.raises(ParseError, match=r"mm3\.prm") as caught:
        read_forcefield(data_dir / "tinker-ch3f" / "ch3f.key")
    assert caught.value.line == 1


def test_fresh_file_states_every_convention(mm3, tmp_path):
    rows = [r for r in mm3.rows if r.kind != "strbnd"] + [
        Row("improper", ("2", "1", "3", "4"), {"k": 4.0, "phi0": 0.1})
    ]
    fresh = attrs.evolve(mm3, rows=rows, source=None)
    PRM.write(fresh, tmp_path / "fresh.prm")
    back = PRM.read(tmp_path / "fresh.prm")
    assert back.conventions == mm3.conventions and back.form == mm3.form
    assert [(r.kind, r.types) for r in back.rows] == [(r.kind, r.types) for r in rows]
    for new, old in zip(back.rows, rows, strict=True):
        assert new.values == pytest.approx(dict(old.values), abs=1e-4 * 71.94)


@pytest.mark.parametrize(
    ("line", "text", "expected"),
    [
        (81, "bond          1   11          5.9000", "a force constant and an ideal length"),
        (81, "bond          1   x1          5.9000     1.3900", "atom class number"),
        (28, "radiusrule              GEOMETRIC", "radiusrule ARITHMETIC"),
        (133, "torsion       1    1    1    1      0.185 0.0 1   0.170 180.0", "triples"),
        (133, "torsion       1    1    1    1      0.185 0.0 1   0.170 180.0 1", "distinct periodicities"),
        (18, "bondunit", "a number after bondunit"),
    ],
)
def test_bad_lines_name_the_line(prm_path, tmp_path, line, text, expected):
    lines = prm_path.read_text().splitlines()
    lines[line - 1] = text
    (tmp_path / "bad.prm").write_text("\n".join(lines) + "\n")
    with pytest.raises(ParseError, match=expected) as caught:
        PRM.read(tmp_path / "bad.prm")
    assert caught.value.line == line
