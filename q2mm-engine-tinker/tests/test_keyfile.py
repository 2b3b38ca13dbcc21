"""Key-file generation and output parsing: no Tinker needed, run everywhere.

The keyfile is checked by the core's own Tinker reader (it must read back q2mm's
canonical values unchanged), for the switches that keep Tinker's MM3 extras off, and
for refusals by name; the parsers on real Tinker outputs in ``data/tinker-ch3f``."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from q2mm.errors import UnsupportedTermError
from q2mm.io.tinker_output import read_analyze, read_hessian
from q2mm.io.tinker_prm import TinkerPrm
from q2mm.model import Conventions, FunctionalForm, MMSystem, Molecule, Nonbonded, TermSet
from q2mm.model.units import DEG_TO_RAD, HESSIAN_AU_TO_KCALMOL_A2
from q2mm_engine_tinker.keyfile import SWITCHED_OFF, TinkerInput
from q2mm_engine_tinker.locate import banner_version
from q2mm_engine_tinker.programs import parse_testgrad, read_xyz_coordinates

from .systems import CH3F_MM3_VALUES, ch3f_mm3_system


def _rows(key: str, tmp_path) -> dict:
    path = tmp_path / "structure.key"
    path.write_text(key)
    return {(r.kind, r.types): r.values for r in TinkerPrm().read(path).rows}


def test_core_reader_reads_canonical_values_back(data_dir, tmp_path):
    """Every line carries q2mm's canonical value: the core's Tinker reader, honouring
    the keyfile's own unit keywords, returns exactly the vector's numbers."""
    system = ch3f_mm3_system(data_dir)
    v = CH3F_MM3_VALUES
    rows = _rows(TinkerInput.build(system).key(v), tmp_path)
    assert rows[("bond", ("1", "2"))] == pytest.approx({"k": v[2], "r0": v[3]}, rel=1e-15)
    assert rows[("bond", ("1", "3"))] == pytest.approx({"k": v[0], "r0": v[1]}, rel=1e-15)
    assert rows[("angle", ("3", "1", "4"))] == pytest.approx({"k": v[4], "theta0": v[5]}, rel=1e-15)
    assert rows[("angle", ("2", "1", "3"))] == pytest.approx({"k": v[6], "theta0": v[7]}, rel=1e-15)
    assert rows[("strbnd", ("3", "1", "2"))] == pytest.approx({"k1": v[8], "k2": v[8]}, rel=1e-15)
    assert rows[("dipole", ("1", "2"))] == pytest.approx({"moment": v[9], "position": 0.5})


def test_conventions_and_switches(data_dir):
    """MM3's constants as the force field states them; Tinker's MM3 extras and
    MM3-HBOND off; hydrogens without atomic number (see keyfile._atomic_number)."""
    key = TinkerInput.build(ch3f_mm3_system(data_dir)).key(CH3F_MM3_VALUES)
    lines = set(key.splitlines())
    assert {"parameters none", "bond-cubic -2.55", "bond-quartic 3.793125", "angle-sextic 2.2e-08"} <= lines
    assert {"dielectric 1.5", "vdwtype BUCKINGHAM", "opbendtype ALLINGER"} <= lines
    assert {f"{switch} none" for switch in SWITCHED_OFF} <= lines
    assert "hbond" not in key and "MM3-HBOND" not in key
    assert 'atom 3 3 H "q2mm atom 3" 0 1.00782503223 1' in lines
    assert 'atom 2 2 F "q2mm atom 2" 9 18.99840316273 1' in lines


def test_xyz_has_one_class_per_atom_and_the_bonds(data_dir):
    xyz = TinkerInput.build(ch3f_mm3_system(data_dir)).xyz.splitlines()
    assert xyz[1].split()[:2] == ["1", "C"] and xyz[1].split()[5:] == ["1", "2", "3", "4", "5"]
    assert xyz[3].split()[5:] == ["3", "1"]


def _with(system: MMSystem, kind: str, atoms, slots, fields) -> MMSystem:
    extra = TermSet(kind, atoms, slots, fields)
    return attrs.evolve(system, terms={**system.terms, kind: extra})


def test_refuses_a_torsion_tinker_cannot_hold(data_dir):
    system = _with(ch3f_mm3_system(data_dir), "torsion", [[2, 0, 3, 4]], [[0, 1]], ("k", "phase"))
    system = attrs.evolve(
        system,
        terms={
            **system.terms,
            "torsion": attrs.evolve(system.terms["torsion"], constants={"periodicity": [3]}),
        },
    )
    with pytest.raises(UnsupportedTermError, match=r"torsion term on atoms \[2, 0, 3, 4\]"):
        TinkerInput.build(system)


def test_refuses_an_opbend_off_a_trigonal_centre(data_dir):
    system = _with(ch3f_mm3_system(data_dir), "opbend", [[2, 0, 3, 1]], [[0]], ("k",))
    with pytest.raises(UnsupportedTermError, match=r"opbend term .* three bonds"):
        TinkerInput.build(system)


def test_refuses_a_stretch_bend_with_ideals_of_its_own(data_dir):
    system = ch3f_mm3_system(data_dir)
    sb = system.terms["strbnd"]
    slots = sb.slots.copy()
    slots[0, 2] = 3  # the C–F length as the C–H bond's ideal
    system = attrs.evolve(system, terms={**system.terms, "strbnd": attrs.evolve(sb, slots=slots)})
    with pytest.raises(UnsupportedTermError, match=r"strbnd term .* own bond and angle"):
        TinkerInput.build(system)


def test_refuses_a_reduced_centre_tinker_would_not_reduce():
    """Tinker moves an atom's vdW centre only when the atom has exactly one bond."""
    mol = Molecule(["H", "H", "H"], [[0, 0, 0], [0.9, 0, 0], [1.8, 0, 0]], bonds=[(0, 1), (1, 2)])
    nonbonded = Nonbonded(
        vdw_slots=[[0, 1, 2]] * 3,
        reduction_partner=[-1, 0, -1],
        charge_slots=[-1] * 3,
        pairs=[[0, 2]],
        vdw_scale=[0.0],
        elec_scale=[0.0],
        pair_override=[[-1, -1]],
    )
    system = MMSystem(mol, FunctionalForm.MM3, Conventions.mm3(), {}, nonbonded, 3)
    with pytest.raises(UnsupportedTermError, match=r"vdw term on atoms \[1, 0\]"):
        TinkerInput.build(system)


def test_recorded_outputs_parse(data_dir):
    """The readers the per-call back end uses, on Tinker 26.2's own outputs."""
    folder = data_dir / "tinker-ch3f"
    assert banner_version((folder / "analyze-E.txt").read_text()) == "26.2"
    gradient = parse_testgrad((folder / "testgrad.txt").read_text())
    assert gradient.shape == (5, 3)
    np.testing.assert_allclose(gradient[0], [-0.0017, -17.7602, 0.0])
    assert read_analyze(folder / "analyze-E.txt").total == pytest.approx(0.4769)
    minimum = read_xyz_coordinates(folder / "ch3f-min.xyz")
    assert minimum.shape == (5, 3)
    hessian = read_hessian(folder / "ch3f-min.hes") * HESSIAN_AU_TO_KCALMOL_A2
    np.testing.assert_allclose(hessian, hessian.T)
    assert np.trace(hessian) > 0


def test_angle_units_are_canonical(data_dir):
    """angleunit (π/180)²: a line's k is kcal/(mol·rad²) and its θ0 degrees."""
    key = TinkerInput.build(ch3f_mm3_system(data_dir)).key(CH3F_MM3_VALUES)
    line = next(x for x in key.splitlines() if x.startswith("angle 3 1 4 "))
    k, theta = map(float, line.split()[4:6])
    assert k == CH3F_MM3_VALUES[4] and theta * DEG_TO_RAD == pytest.approx(CH3F_MM3_VALUES[5], rel=1e-15)
