"""Bond perception and the angles, torsions and out-of-plane centres it implies, on the
real structures: CH₃F, the S_N2 transition state, ethane, and the nine Rh-enamide
transition states whose MacroModel connectivity the .mmo listing records."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from q2mm.errors import ConfigError
from q2mm.io import read_structures
from q2mm.io.macromodel import read_mmo
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import StationaryPoint
from q2mm.topology import BondRules, Topology, perceive, perceive_bonds

TS = StationaryPoint.TRANSITION_STATE
GS = StationaryPoint.GROUND_STATE
#: Rh-enamide atoms (0-based, the same in all nine structures): Rh, the alkene's
#: α carbon bonded to Rh, its β carbon, and the hydride migrating to the β carbon.
RH, C_ALPHA, C_BETA, H_MIGRATING = 0, 4, 5, 17


@pytest.fixture(scope="module")
def sn2(data_dir):
    return read_bundle(data_dir / "sn2-ts/sn2-ts-optimized.xyz", data_dir / "sn2-ts/sn2-ts-hessian.npy")


@pytest.fixture(scope="module")
def rh(data_dir):
    """(raw-xyz molecule, combined-mol2 molecule, .mmo structure) for each of the nine."""
    folder = data_dir / "rh-enamide/training_set"
    xyz = [read_structures(p)[0] for p in sorted((folder / "raw_xyz").glob("*.xyz"))]
    mol2 = read_structures(folder / "rh_enamide_training_set.mol2")
    mmo = read_mmo(folder / "rh_enamide_training_set.mmo")
    assert len(xyz) == len(mol2) == len(mmo) == 9
    return list(zip(xyz, mol2, mmo, strict=True))


def mmo_bonds(structure) -> set[tuple[int, int]]:
    return {tuple(sorted(t.atoms)) for t in structure.of_kind("bond")}


def test_sn2_partial_bonds_are_bonds_of_the_declared_transition_state(sn2):
    c_f = {(0, 1), (0, 2)}
    c_h = {(0, 3), (0, 4), (0, 5)}
    ts = perceive(sn2.with_(stationary_point=TS))
    assert set(ts.bonds) == c_f | c_h
    assert np.allclose([np.linalg.norm(sn2.coordinates[0] - sn2.coordinates[f]) for f in (1, 2)], 1.85)
    # F–C–F is linear, every angle at the pentacoordinate carbon is there: C(5, 2) = 10.
    assert len(ts.angles) == 10 and (1, 0, 2) in ts.angles
    # Declared a ground state (or undeclared) the 1.85 Å contacts are not bonds: only a
    # declared transition state has partial bonds.
    assert set(perceive(sn2.with_(stationary_point=GS)).bonds) == c_h
    assert set(perceive(sn2).bonds) == c_h


def test_ch3f_topology(data_dir):
    ch3f = read_bundle(data_dir / "ch3f/ch3f-optimized.xyz")
    topo = perceive(ch3f)
    assert topo.bonds == ((0, 1), (0, 2), (0, 3), (0, 4))
    assert len(topo.angles) == 6 and all(a[1] == 0 for a in topo.angles)
    assert topo.torsions == () and topo.oop_centres == ()


@pytest.mark.parametrize("name", ["GS", "TS"])
def test_ethane_geometry_perception_equals_the_mol2_bonds(data_dir, name):
    fchk = read_structures(data_dir / f"ethane/{name}.fchk")[0]
    mol2 = read_structures(data_dir / f"ethane/{name}.mol2")[0]
    assert fchk.bonds is None and mol2.bonds is not None
    assert perceive_bonds(fchk.with_(stationary_point=TS if name == "TS" else GS)) == mol2.bonds
    topo = perceive(mol2)
    assert len(topo.angles) == 12
    # H–C–C–H: 3 × 3 torsions about the one C–C bond, each listed once, i < l.
    assert len(topo.torsions) == 9 == len(set(topo.torsions))
    assert all(t[0] < t[3] and {t[1], t[2]} == {1, 3} for t in topo.torsions)
    distance = topo.bond_distances(3)
    assert distance[(0, 2)] == 2 and distance[(0, 5)] == 3 and distance[(1, 3)] == 1


def test_input_bonds_take_precedence_over_geometry(sn2):
    declared = sn2.with_(stationary_point=TS, bonds=[(0, 3), (0, 4), (0, 5), (0, 1)])
    assert perceive_bonds(declared) == ((0, 1), (0, 3), (0, 4), (0, 5))
    rules = BondRules(extra_bonds=[(2, 0)], excluded_bonds=[(0, 3)])
    assert perceive_bonds(declared, rules) == ((0, 1), (0, 2), (0, 4), (0, 5))
    assert perceive_bonds(declared, BondRules(use_input_bonds=False)) == (
        (0, 1),
        (0, 2),
        (0, 3),
        (0, 4),
        (0, 5),
    )


def test_bond_edits_must_name_atoms_of_the_structure(sn2):
    with pytest.raises(ConfigError, match="6-7"):
        perceive_bonds(sn2, BondRules(extra_bonds=[(6, 7)]))
    with pytest.raises(ConfigError):
        Topology.from_bonds(3, [(0, 3)])


def test_rh_enamide_perceived_bonds_equal_the_mmo_bonds(rh):
    """From bare coordinates (raw xyz) the rule finds every Rh–P, Rh–O, Rh–H, Rh–Cα bond
    and the migrating C···H partial bond (1.69–1.74 Å) of all nine transition states;
    the only disagreement with MacroModel is the modelling choice that the η²-alkene is
    bonded to Rh through Cα alone, although Rh–Cβ is the shorter contact. Left in,
    Rh–Cβ also makes Cβ···H a 1-3 pair (through Rh), which is never a partial bond."""
    for xyz, _, mmo in rh:
        assert xyz.bonds is None
        ts = xyz.with_(stationary_point=TS)
        reference = mmo_bonds(mmo)
        assert set(perceive_bonds(ts)) ^ reference == {(RH, C_BETA), (C_BETA, H_MIGRATING)}
        assert set(perceive_bonds(ts, BondRules(excluded_bonds=[(RH, C_BETA)]))) == reference
        assert (C_BETA, H_MIGRATING) in reference
        d = np.linalg.norm(xyz.coordinates[C_BETA] - xyz.coordinates[H_MIGRATING])
        assert 1.68 < d < 1.75
        d_alpha, d_beta = (
            np.linalg.norm(xyz.coordinates[RH] - xyz.coordinates[c]) for c in (C_ALPHA, C_BETA)
        )
        assert d_beta < d_alpha


def test_rh_enamide_input_bonds_and_derived_terms_match_macromodel(rh, data_dir):
    maes = sorted((data_dir / "rh-enamide/training_set/mae").glob("*.mae"))
    for (_, mol2, mmo), mae_path in zip(rh, maes, strict=True):
        reference = mmo_bonds(mmo)
        assert set(perceive_bonds(mol2)) == reference
        assert set(perceive_bonds(read_structures(mae_path)[0])) == reference
        topo = perceive(mol2)
        angles = {(a, b, c) if a < c else (c, b, a) for a, b, c in (t.atoms for t in mmo.of_kind("angle"))}
        assert angles == set(topo.angles)
        # MacroModel lists only torsions with parameters; every one is a torsion of ours.
        listed = {min(t.atoms, t.atoms[::-1]) for t in mmo.of_kind("torsion")}
        assert listed <= set(topo.torsions) and len(listed) == len(mmo.of_kind("torsion"))


@st.composite
def graphs(draw):
    n = draw(st.integers(min_value=2, max_value=9))
    pairs = list(itertools.combinations(range(n), 2))
    bonds = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
    return n, bonds


@settings(max_examples=80, deadline=None)
@given(graphs())
def test_derived_terms_on_random_graphs(graph):
    n, bonds = graph
    topo = Topology.from_bonds(n, bonds)
    bonded = set(topo.bonds)
    degree = [len(nb) for nb in topo.neighbours]

    def is_bond(a, b):
        return (min(a, b), max(a, b)) in bonded

    assert len(topo.angles) == sum(d * (d - 1) // 2 for d in degree)
    assert all(is_bond(i, j) and is_bond(j, k) and i < k for i, j, k in topo.angles)
    assert len(set(topo.torsions)) == len(topo.torsions)
    for i, j, k, m in topo.torsions:
        assert i < m and len({i, j, k, m}) == 4 and is_bond(i, j) and is_bond(j, k) and is_bond(k, m)
    # Σ over bonds of (deg j − 1)(deg k − 1) counts every i–j–k–l, minus the i == l
    # cases: each triangle gives one per edge.
    triangles = sum(
        1
        for a, b, c in itertools.combinations(range(n), 3)
        if is_bond(a, b) and is_bond(b, c) and is_bond(a, c)
    )
    assert len(topo.torsions) == sum((degree[j] - 1) * (degree[k] - 1) for j, k in bonded) - 3 * triangles
    assert topo.oop_centres == tuple(a for a in range(n) if degree[a] == 3)
    assert len(topo.out_of_plane) == 3 * len(topo.oop_centres)


def test_symmetry_classes_are_the_point_group_orbits(data_dir):
    """Staggered ethane (D3d): one class of carbons, one of hydrogens. Methylamine (Cs):
    the methyl H anti to the lone pair (in the mirror plane) apart from the other two,
    the two amine H a pair."""
    from q2mm.io import read_structures
    from q2mm.topology.symmetry import symmetry_classes

    ethane = read_structures(data_dir / "ethane" / "GS.fchk")[0]
    classes = symmetry_classes(ethane.elements, ethane.coordinates)
    assert len({c for c, e in zip(classes, ethane.elements, strict=True) if e == "H"}) == 1
    assert len(set(classes)) == 2
    amine = read_structures(data_dir / "validation/methylamine/methylamine-hessian.npy")[0]
    classes = symmetry_classes(amine.elements, amine.coordinates)
    hydrogens = [c for c, e in zip(classes, amine.elements, strict=True) if e == "H"]
    assert sorted(hydrogens.count(c) for c in set(hydrogens)) == [1, 2, 2]


@pytest.mark.parametrize(
    ("path", "splits"),
    [
        ("ethane/GS.fchk", False),
        ("validation/oxirane/oxirane-hessian.npy", False),
        ("validation/methylamine/methylamine-hessian.npy", True),
        ("validation/acetone/acetone-hessian.npy", True),
    ],
)
def test_types_split_only_where_one_row_cannot_hold_the_geometry(data_dir, path, splits):
    """After refinement every bond row covers QM lengths within BOND_SPREAD and every
    angle row QM angles within ANGLE_SPREAD; symmetric molecules keep their perceived
    types (no split), methylamine's 115.8° / 109.1° H–C–N and acetone's in-plane /
    out-of-plane methyl H get types of their own."""
    from q2mm.residuals.geometry import bond_angles, bond_lengths
    from q2mm.topology.symmetry import ANGLE_SPREAD, BOND_SPREAD
    from q2mm.topology.typing import perceived_types

    m = read_structures(data_dir / path)[0].with_(stationary_point=GS)
    topology = perceive(m)
    types = perceived_types(m, topology)
    assert any(t.startswith("H.") for t in types) == splits
    for terms, measure, limit in (
        (topology.bonds, bond_lengths, BOND_SPREAD),
        (topology.angles, bond_angles, np.radians(ANGLE_SPREAD)),
    ):
        rows: dict[tuple[str, ...], list[float]] = {}
        for term, value in zip(terms, measure(m.coordinates, np.asarray(terms), np), strict=True):
            key = tuple(types[a] for a in term)
            rows.setdefault(min(key, key[::-1]), []).append(float(value))
        assert all(max(v) - min(v) <= limit for v in rows.values())
