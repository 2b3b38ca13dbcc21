"""Force-constant estimation (FUERZA, γ-FUERZA, QFUERZA, defaults) and the
transition-state methods C, D, E on the real CH₃F, S_N2, ethane and Rh-enamide data."""

from __future__ import annotations

import numpy as np
import pytest
from q2mm.errors import ConfigError
from q2mm.estimate import (
    angle_constant,
    bond_constant,
    curvature_corrected,
    estimate_forcefield,
    invert_reaction_curvature,
)
from q2mm.estimate.internal_hessian import bent_angles, stretch_bend_constants
from q2mm.estimate.rigid_motions import allinger_angle, pyramidalization, rotor_curvature, rotor_side
from q2mm.io import read_structures
from q2mm.io.macromodel import read_mmo
from q2mm.io.mm3_fld import MM3Fld, opt_rows
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import FunctionalForm, StationaryPoint
from q2mm.model.units import (
    DEG_TO_RAD,
    HESSIAN_AU_TO_KCALMOL_A2,
    MDYN_A_RAD2_TO_KCALMOL_RAD2,
    MDYN_A_TO_KCALMOL_A2,
)
from q2mm.residuals.geometry import bond_angles, bond_lengths, torsion_angles
from q2mm.topology import BondRules, perceive
from q2mm.topology.typing import perceived_types, planar_centres

TS, GS = StationaryPoint.TRANSITION_STATE, StationaryPoint.GROUND_STATE
H_ANGLE = 0.5 * MDYN_A_RAD2_TO_KCALMOL_RAD2  # QFUERZA's 0.5 mdyn·Å/rad², canonical


@pytest.fixture(scope="module")
def ch3f(data_dir):
    m = read_bundle(data_dir / "ch3f/ch3f-optimized.xyz", data_dir / "ch3f/ch3f-hessian.npy")
    return m.with_(stationary_point=GS)


@pytest.fixture(scope="module")
def sn2(data_dir):
    m = read_bundle(data_dir / "sn2-ts/sn2-ts-optimized.xyz", data_dir / "sn2-ts/sn2-ts-hessian.npy")
    return m.with_(stationary_point=TS)


def ethane(data_dir, name):
    """Gaussian geometry and Hessian (.fchk) with the SYBYL types and bonds of the .mol2."""
    fchk = read_structures(data_dir / f"ethane/{name}.fchk")[0]
    mol2 = read_structures(data_dir / f"ethane/{name}.mol2")[0]
    assert np.abs(fchk.coordinates - mol2.coordinates).max() < 1e-3
    return fchk.with_(
        atom_types=mol2.atom_types, bonds=mol2.bonds, stationary_point=TS if name == "TS" else GS, name=name
    )


def constants(ff, kind):
    return {r.key: r.values["k"] for r in ff.rows_of(kind)}


def test_qfuerza_puts_hydrogen_angles_at_half_an_mdyn(ch3f, sn2):
    assert H_ANGLE == pytest.approx(35.97)
    for m in (ch3f, sn2):
        fuerza = estimate_forcefield([m], method="fuerza")
        qfuerza = estimate_forcefield([m], method="qfuerza")
        for row in qfuerza.rows_of("angle"):
            if "H" in (row.types[0], row.types[2]):
                assert row.values["k"] == H_ANGLE
            else:
                assert row.values["k"] == fuerza.row(row.key).values["k"]
        assert constants(qfuerza, "bond") == constants(fuerza, "bond")
    # S_N2 has one heavy-atom angle, the linear F–C–F, which keeps its projection.
    assert constants(estimate_forcefield([sn2]), "angle")["angle:F-C.5.ts-F"] != H_ANGLE


def test_gamma_fuerza_scales_angles(ch3f):
    fuerza = estimate_forcefield([ch3f], method="fuerza")
    for gamma in (0.68, 0.5):
        scaled = estimate_forcefield([ch3f], method="gamma-fuerza", gamma=gamma)
        for key, k in constants(fuerza, "angle").items():
            assert scaled.row(key).values["k"] == pytest.approx(gamma * k, rel=1e-14)
        assert constants(scaled, "bond") == constants(fuerza, "bond")


def test_defaults_need_no_hessian(data_dir):
    bare = read_bundle(data_dir / "ch3f/ch3f-optimized.xyz").with_(stationary_point=GS)
    ff = estimate_forcefield([bare], method="defaults")
    assert all(k == 5.0 * MDYN_A_TO_KCALMOL_A2 for k in constants(ff, "bond").values())
    assert all(k == H_ANGLE for k in constants(ff, "angle").values())
    c_f = np.linalg.norm(bare.coordinates[0] - bare.coordinates[1])
    assert ff.row("bond:C.3-F").values["r0"] == pytest.approx(c_f)
    with pytest.raises(ConfigError, match="no Hessian"):
        estimate_forcefield([bare], method="fuerza")


def test_ch3f_estimate_units_and_geometry(ch3f):
    ff = estimate_forcefield([ch3f], method="fuerza")
    assert ff.form is FunctionalForm.MM3 and ff.conventions.bond_cubic == -2.55
    c_h = ff.row("bond:C.3-H").values
    assert 4.5 < c_h["k"] / MDYN_A_TO_KCALMOL_A2 < 5.5
    coords = ch3f.coordinates
    assert c_h["r0"] == pytest.approx(np.mean([np.linalg.norm(coords[0] - coords[h]) for h in (2, 3, 4)]))
    assert ff.row("angle:F-C.3-H").values["theta0"] == pytest.approx(108.6 * DEG_TO_RAD, abs=0.3 * DEG_TO_RAD)
    assert estimate_forcefield([ch3f], form="harmonic").conventions.bond_cubic == 0.0


def test_rows_average_over_every_structure(data_dir):
    gs, ts = ethane(data_dir, "GS"), ethane(data_dir, "TS")
    ff = estimate_forcefield([gs, ts], method="fuerza", ts_method="D")
    c_h = [
        bond_constant(m.coordinates, m.hessian, *b)
        for m in (gs, ts)
        for b in perceive(m).bonds
        if {m.elements[b[0]], m.elements[b[1]]} == {"C", "H"}
    ]
    assert len(c_h) == 12
    assert ff.row("bond:C3-HC").values["k"] == pytest.approx(np.mean(c_h), rel=1e-12)
    assert [r.kind for r in ff.rows] == ["bond", "bond", "angle", "angle", "strbnd", "strbnd", "torsion"]


@pytest.mark.parametrize("which", ["GS", "TS"])
def test_torsions_start_at_the_qm_rotor_curvature(which, data_dir):
    """Ethane's nine H–C–C–H torsions reproduce the QM curvature of rotating one methyl
    group, threefold, each with the QM geometry its minimum: V3 > 0 for the staggered
    ground state; for the eclipsed rotation TS V3 < 0, holding the TS as a minimum as
    firmly as QM curves away from it (magnitude of its negative curvature)."""
    m = ethane(data_dir, which)
    topology = perceive(m)
    c1, c2 = next((i, j) for i, j in topology.bonds if m.elements[i] == m.elements[j] == "C")
    qm = rotor_curvature(m.coordinates, m.hessian, c1, c2, rotor_side(topology, c1, c2))
    assert (qm > 0) == (which == "GS")
    torsion = estimate_forcefield([m]).row("torsion:HC-C3-C3-HC").values
    assert torsion["k1"] == torsion["k2"] == 0.0
    assert (torsion["k3"] > 0) == (which == "GS")
    phi = torsion_angles(m.coordinates, np.array(topology.torsions), np)
    mm = float(np.sum(-9.0 * torsion["k3"] * np.cos(3.0 * phi)))
    assert mm == pytest.approx(abs(qm), rel=1e-10)


def test_out_of_plane_rows_at_planar_centres_only(data_dir):
    """Acetaldehyde: one planar centre (the carbonyl C), three opbend rows keyed by the
    out-of-plane atom, whose Σ k χ² curvature along pyramidalization is the QM one; the
    harmonic form gets one improper there instead."""
    m = read_bundle(
        data_dir / "validation/acetaldehyde/acetaldehyde-optimized.xyz",
        data_dir / "validation/acetaldehyde/acetaldehyde-hessian.npy",
    ).with_(stationary_point=GS)
    topology = perceive(m)
    (centre,) = planar_centres(m.coordinates, topology)
    assert m.elements[centre] == "C" and "O" in {m.elements[n] for n in topology.neighbours[centre]}
    ff = estimate_forcefield([m])
    opbend = {r.key: r.values["k"] for r in ff.rows if r.kind == "opbend"}
    assert set(opbend) == {"opbend:H.c-C.2-0-0", "opbend:O.2-C.2-0-0", "opbend:C.3-C.2-0-0"}
    d = pyramidalization(m.coordinates, centre, topology.neighbours[centre])
    qm = float(d.ravel() @ m.hessian @ d.ravel()) * HESSIAN_AU_TO_KCALMOL_A2
    step = 1e-4
    chi2 = [
        sum(allinger_angle(m.coordinates + s * step * d, *q) ** 2 for q in topology.out_of_plane)
        for s in (-1, 0, 1)
    ]
    mm = opbend["opbend:H.c-C.2-0-0"] * (chi2[0] - 2 * chi2[1] + chi2[2]) / step**2
    assert mm == pytest.approx(qm, rel=1e-4)
    harmonic = estimate_forcefield([m], form="harmonic")
    assert [r.kind for r in harmonic.rows if r.kind in ("opbend", "improper")] == ["improper"]


@pytest.mark.parametrize("which", ["sn2", "ethane"])
def test_method_c_inverts_only_the_reaction_mode(which, sn2, data_dir):
    m = sn2 if which == "sn2" else ethane(data_dir, "TS")
    before = np.linalg.eigvalsh(m.hessian)
    # One reaction mode, ≥ 10× below the rigid-body residues of an imperfect stationary point.
    assert before[0] < 10 * min(before[1], -1e-5)
    for value in (1.0, 0.37):
        after = np.linalg.eigvalsh(invert_reaction_curvature(m.hessian, m.coordinates, value))
        assert after.min() >= before[1] - 1e-12  # nothing negative left but the residues
        assert np.allclose(np.sort(np.append(before[1:], value)), after, atol=1e-12)
    with pytest.raises(ConfigError):
        invert_reaction_curvature(m.hessian, m.coordinates, 0.0)


def test_ts_methods_on_the_sn2_transition_state(sn2):
    c, d, e = (estimate_forcefield([sn2], method="fuerza", ts_method=t) for t in "CDE")
    assert d.row("bond:C.5.ts-F").values["k"] < 0  # the reaction mode: F–C–F antisymmetric stretch
    for ff in (c, e):
        assert all(k > 0 for k in [*constants(ff, "bond").values(), *constants(ff, "angle").values()])
    assert e.row("bond:C.5.ts-F").values["k"] == c.row("bond:C.5.ts-F").values["k"]
    assert e.row("bond:C.5.ts-H").values["k"] == d.row("bond:C.5.ts-H").values["k"]
    assert e.row("angle:F-C.5.ts-H").values["k"] == d.row("angle:F-C.5.ts-H").values["k"]


def test_ts_methods_on_the_ethane_rotation_transition_state(data_dir):
    ts = ethane(data_dir, "TS")
    c, d, e = (estimate_forcefield([ts], method="fuerza", ts_method=t) for t in "CDE")
    assert all(
        k > 0 for ff in (c, e) for k in [*constants(ff, "bond").values(), *constants(ff, "angle").values()]
    )
    # The rotation mode barely touches bonds and angles: C moves them, E has nothing to re-derive.
    assert constants(c, "angle") != constants(d, "angle")
    assert constants(e, "angle") == constants(d, "angle")


def test_only_a_declared_transition_state_is_modified(sn2, ch3f, data_dir):
    c_f = BondRules(extra_bonds=[(0, 1), (0, 2)])  # declared ground states have no partial bonds
    for kind in (GS, None):
        declared = sn2.with_(stationary_point=kind)
        assert np.array_equal(curvature_corrected(declared), sn2.hessian)
        c = estimate_forcefield([declared], method="fuerza", ts_method="C", bond_rules=c_f)
        assert c.row("bond:C.5-F").values["k"] < 0
    # A ground state declared a transition state: its only negative eigenvalues are
    # rigid-body residues (−5·10⁻⁵ for ethane), never taken for a reaction mode.
    for m in (ch3f, ethane(data_dir, "GS")):
        with pytest.raises(ConfigError, match="negative eigenvalue"):
            estimate_forcefield([m.with_(stationary_point=TS)], ts_method="C")


def test_bad_requests_are_refused(ch3f):
    with pytest.raises(ConfigError, match="at least one"):
        estimate_forcefield([])
    with pytest.raises(ConfigError, match="qfuerza"):
        estimate_forcefield([ch3f], method="seminario")
    with pytest.raises(ConfigError, match="transition-state method"):
        estimate_forcefield([ch3f], ts_method="B")
    with pytest.raises(ConfigError, match="template"):
        estimate_forcefield([ch3f], mmo=[None])


@pytest.fixture(scope="module")
def rh_estimate(data_dir):
    folder = data_dir / "rh-enamide/training_set"
    jaguar = [read_structures(p)[0] for p in sorted((folder / "jaguar_spe_freq_in_out").glob("*.01.in"))]
    mol2 = read_structures(folder / "rh_enamide_training_set.mol2")
    molecules = [
        j.with_(atom_types=m.atom_types, bonds=m.bonds, stationary_point=TS)
        for j, m in zip(jaguar, mol2, strict=True)
    ]
    mmo = read_mmo(folder / "rh_enamide_training_set.mmo")
    template = MM3Fld().read(data_dir / "rh-enamide/rh_hyd_enamide_start.fld")
    estimate = estimate_forcefield(molecules, template=template, mmo=mmo, sections=["*OPT"], ts_method="E")
    return molecules, mmo, template, estimate


def test_rh_enamide_template_fills_the_opt_rows(rh_estimate):
    """QFUERZA over the nine Rh-enamide transition states, filling only the OPT
    substructure of the starting .fld through MacroModel's row links."""
    molecules, mmo, template, estimate = rh_estimate
    opt = {r.key for r in opt_rows(template)}
    changed = {a.key for a, b in zip(template.rows, estimate.rows, strict=True) if a != b}
    assert changed and changed <= opt
    assert {r.kind for r in template.rows if r.key in changed} == {"bond", "angle"}
    linked = {(t.kind, t.fld_line) for s in mmo for t in s.terms}
    for row in template.rows:
        if row.key in opt and row.kind in ("bond", "angle"):
            assert (row.key in changed) == ((row.kind, row.line) in linked)

    def terms_of(line):
        return [
            (m, t.atoms) for m, s in zip(molecules, mmo, strict=True) for t in s.terms if t.fld_line == line
        ]

    # The migrating hydride's partial C···H bond (line 1866): negative along the reaction
    # mode as the Hessian stands (D), so E re-derives it from the inverted Hessian (C).
    row = estimate.row(next(k for k in changed if k.endswith("@1866")))
    expected = []
    for m, (a, b) in terms_of(1866):
        k = bond_constant(m.coordinates, m.hessian, a, b)
        assert k < 0
        expected.append(bond_constant(m.coordinates, curvature_corrected(m), a, b))
    assert len(expected) == 9
    assert row.values["k"] == pytest.approx(np.mean(expected), rel=1e-12)
    r = [np.linalg.norm(m.coordinates[a] - m.coordinates[b]) for m, (a, b) in terms_of(1866)]
    assert row.values["r0"] == pytest.approx(np.mean(r), rel=1e-12)
    # Rh–P angle of line 1875: no hydrogen, positive as it stands, so D's projection.
    row = estimate.row(next(k for k in changed if k.endswith("@1875")))
    values = []
    for m, (a, b, c) in terms_of(1875):
        assert "H" not in (m.elements[a], m.elements[c])
        values.append(angle_constant(m.coordinates, m.hessian, a, b, c, perceive(m).neighbours[b]))
    assert all(v > 0 for v in values)
    assert row.values["k"] == pytest.approx(np.mean(values), rel=1e-12)
    # Hydride–Rh–P angles (line 1868): a hydrogen outer atom, so QFUERZA's constant.
    assert estimate.row(next(k for k in changed if k.endswith("@1868"))).values["k"] == H_ANGLE
    assert all(r.values["k"] > 0 for r in estimate.rows if r.key in changed)


def test_stretch_bend_constants_recover_a_known_internal_hessian():
    """Water has exactly 3N − 6 = 3 bonds and angles, so B is square in the vibrations
    and Pulay's transformation inverts H_x = Bᵀ K B exactly: the mixed bond–angle
    element of K comes back as k1 and k2 (kcal/(mol·Å·rad))."""
    x = np.array([[0.0, 0.0, 0.1173], [0.0, 0.7572, -0.4692], [0.0, -0.7572, -0.4692]])
    bonds, angles = [(0, 1), (0, 2)], [(1, 0, 2)]
    k = np.array([[1100.0, -20.0, 35.0], [-20.0, 1100.0, 35.0], [35.0, 35.0, 160.0]])
    b = np.empty((3, 9))
    for n in range(9):
        step = np.zeros(9)
        step[n] = 1e-6

        def q(flat):
            xx = flat.reshape(3, 3)
            return np.concatenate(
                [bond_lengths(xx, np.array(bonds), np), bond_angles(xx, np.array(angles), np)]
            )

        b[:, n] = (q(x.ravel() + step) - q(x.ravel() - step)) / 2e-6
    hessian = b.T @ k @ b / HESSIAN_AU_TO_KCALMOL_A2
    found = stretch_bend_constants(x, hessian, bonds, bent_angles(x, angles))
    assert found[(1, 0, 2)] == pytest.approx((35.0, 35.0), rel=1e-5)


def test_mm3_estimates_carry_stretch_bends_the_harmonic_form_none(data_dir):
    gs = ethane(data_dir, "GS")
    mm3 = estimate_forcefield([gs])
    strbnd = {r.key: r.values for r in mm3.rows if r.kind == "strbnd"}
    assert set(strbnd) == {"strbnd:C3-C3-HC", "strbnd:HC-C3-HC"}
    h_c_h = strbnd["strbnd:HC-C3-HC"]
    assert h_c_h["k1"] == h_c_h["k2"] != 0.0  # symmetric row: one value for both bonds
    assert not [r for r in estimate_forcefield([gs], form="harmonic").rows if r.kind == "strbnd"]


def test_linear_angles_get_no_stretch_bend(sn2):
    strbnd = [r.types for r in estimate_forcefield([sn2]).rows if r.kind == "strbnd"]
    assert strbnd and all(types.count("F") < 2 for types in strbnd)  # no F–C–F


def test_a_transition_states_reacting_atoms_get_types_of_their_own(data_dir):
    """Propane's methyl-rotation TS: only the eclipsed methyl's hydrogens carry the
    reaction mode, so its torsions get rows apart from the staggered methyl's, each
    signed to hold its own conformation."""
    path = data_dir / "validation/ts-propane-rotation/ts-propane-rotation-hessian.npy"
    m = read_structures(path)[0].with_(stationary_point=TS)
    types = perceived_types(m, perceive(m))
    reacting = [t for t in types if ".ts" in t]
    assert len(reacting) == 3 and {t.split(".")[0] for t in reacting} == {"H"}
    rows = estimate_forcefield([m]).rows
    h_c_c_h = [r for r in rows if r.kind == "torsion" and r.types[0][0] == "H" == r.types[3][0]]
    eclipsed = [r.values["k3"] for r in h_c_c_h if any(".ts" in t for t in r.types)]
    staggered = [r.values["k3"] for r in h_c_c_h if not any(".ts" in t for t in r.types)]
    assert eclipsed and staggered and max(eclipsed) < 0 < min(staggered)
    assert not any(".ts" in t for t in perceived_types(m.with_(stationary_point=GS), perceive(m)))
