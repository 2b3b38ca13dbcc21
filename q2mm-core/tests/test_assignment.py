"""Parameter assignment into an MMSystem: CH₃F, the S_N2 TS and ethane with estimated
force fields, pattern matching rules on a small hand-written force field, and the nine
Rh-enamide transition states assigned through MacroModel's .mmo row links and checked
term by term against the values MacroModel printed."""

from __future__ import annotations

import re

import numpy as np
import pytest
from q2mm.errors import AssignmentError
from q2mm.estimate import estimate_forcefield
from q2mm.io import read_structures
from q2mm.io.macromodel import read_mmo
from q2mm.io.mm3_fld import MM3Fld
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import Conventions, ForceField, FunctionalForm, MMSystem, Row, StationaryPoint
from q2mm.model.units import DEG_TO_RAD, MDYN_A_TO_KCALMOL_A2, MDYN_RAD_TO_KCALMOL_A_RAD
from q2mm.topology import build_system, perceive
from q2mm.topology.assignment import atom_types

TS, GS = StationaryPoint.TRANSITION_STATE, StationaryPoint.GROUND_STATE
#: Half a unit in the last digit a .mmo prints (3 or 4 decimals), plus rounding slack.
PRINTED_3, PRINTED_4 = 5.5e-4, 5.5e-5


def row_of(ff: ForceField, slot: int) -> tuple[Row, str]:
    key, _, field = ff.parameter_ids()[slot].rpartition(".")
    return ff.row(key), field


def check_contract(system: MMSystem, ff: ForceField) -> None:
    """What the engines rely on: slots inside the vector, one slot per field, constants
    per term, atoms inside the structure."""
    assert system.n_parameters == len(ff.vector())
    field_of = [pid.rpartition(".")[2] for pid in ff.parameter_ids()]
    for kind, terms in system.terms.items():
        assert terms.kind == kind and len(terms) > 0
        assert terms.slots.shape == (len(terms), len(terms.fields))
        assert terms.slots.max() < system.n_parameters and terms.atoms.max() < system.molecule.n_atoms
        for name, values in terms.constants.items():
            assert values.shape == (len(terms),), name
        if kind == "torsion":
            continue  # k, phase read the row's kN, phaseN (checked where torsions are)
        for column, field in enumerate(terms.fields):
            used = terms.slots[:, column]
            # A stretch-bend reads its bonds' r0; matched reversed, its row's k1/k2 swap.
            expected = {"r1_0": {"r0"}, "r2_0": {"r0"}, "k1": {"k1", "k2"}, "k2": {"k1", "k2"}}.get(
                field, {field}
            )
            assert {field_of[s] for s in used[used >= 0]} <= expected


@pytest.fixture(scope="module")
def ch3f(data_dir):
    m = read_bundle(data_dir / "ch3f/ch3f-optimized.xyz", data_dir / "ch3f/ch3f-hessian.npy")
    return m.with_(stationary_point=GS, name="ch3f")


@pytest.fixture(scope="module")
def sn2(data_dir):
    m = read_bundle(data_dir / "sn2-ts/sn2-ts-optimized.xyz", data_dir / "sn2-ts/sn2-ts-hessian.npy")
    return m.with_(stationary_point=TS, name="sn2")


@pytest.fixture(scope="module")
def ethanes(data_dir):
    out = []
    for name in ("GS", "TS"):
        fchk = read_structures(data_dir / f"ethane/{name}.fchk")[0]
        mol2 = read_structures(data_dir / f"ethane/{name}.mol2")[0]
        out.append(
            fchk.with_(
                atom_types=mol2.atom_types,
                bonds=mol2.bonds,
                stationary_point=GS if name == "GS" else TS,
                name=f"ethane {name}",
            )
        )
    return out


def test_ch3f_with_its_estimated_forcefield(ch3f):
    ff = estimate_forcefield([ch3f])
    system = build_system(ch3f, ff)
    check_contract(system, ff)
    assert system.term_kinds == {"bond", "angle", "strbnd"} and system.nonbonded is None
    types = atom_types(ch3f, perceive(ch3f))
    assert types == ("C.3", "F", "H", "H", "H")
    bonds = system.terms["bond"]
    for atoms, slots in zip(bonds.atoms, bonds.slots, strict=True):
        row, field = row_of(ff, slots[0])
        assert field == "k" and sorted(row.types) == sorted(types[a] for a in atoms)
        assert row_of(ff, slots[1]) == (row, "r0")
    assert len(system.terms["angle"]) == 6


def test_sn2_transition_state(sn2):
    ff = estimate_forcefield([sn2])
    system = build_system(sn2, ff)
    check_contract(system, ff)
    assert len(system.terms["bond"]) == 5 and len(system.terms["angle"]) == 10
    angles = system.terms["angle"]
    linear = [i for i, a in enumerate(angles.atoms.tolist()) if a == [1, 0, 2]]
    assert row_of(ff, angles.slots[linear[0], 0])[0].key == "angle:F-C.5.ts-F"


def test_ethane_torsions_become_one_term_per_component(ethanes):
    ff = estimate_forcefield(ethanes)
    for ethane in ethanes:
        system = build_system(ethane, ff)
        check_contract(system, ff)
        torsions = system.terms["torsion"]
        assert len(torsions) == 27 and torsions.fields == ("k", "phase")
        period = torsions.constants["periodicity"]
        assert sorted(np.unique(period, return_counts=True)[1]) == [9, 9, 9]
        for (k, phase), n in zip(torsions.slots, period, strict=True):
            assert row_of(ff, k) == (ff.row("torsion:HC-C3-C3-HC"), f"k{int(n)}")
            assert row_of(ff, phase) == (ff.row("torsion:HC-C3-C3-HC"), f"phase{int(n)}")


def test_every_unmatched_term_is_listed(ethanes):
    ff = estimate_forcefield(ethanes)
    gutted = ForceField(
        ff.form, [r for r in ff.rows if r.key not in ("angle:HC-C3-HC", "torsion:HC-C3-C3-HC")]
    )
    with pytest.raises(AssignmentError) as error:
        build_system(ethanes[0], gutted)
    message = str(error.value)
    assert "15 term(s)" in message
    topo = perceive(ethanes[0])
    for a, b, c in topo.angles:
        if ethanes[0].atom_types[a] == ethanes[0].atom_types[c] == "HC":
            assert f"angle {a}-{b}-{c} (HC C3 HC)" in message
    for t in topo.torsions:
        assert f"torsion {'-'.join(map(str, t))} (HC C3 C3 HC)" in message


def small_forcefield(extra=(), conventions: Conventions | None = None, equivalences=None) -> ForceField:
    rows = [
        Row("bond", ("C3", "HC"), {"k": 340.0, "r0": 1.09}),
        Row("bond", ("C3", "C3"), {"k": 300.0, "r0": 1.53}),
        Row("angle", ("HC", "C3", "HC"), {"k": 35.0, "theta0": 1.88}),
        Row("angle", ("*", "C3", "*"), {"k": 40.0, "theta0": 1.91}),
        Row("torsion", ("X", "C3", "C3", "X"), {"k3": 0.1, "phase3": 0.0}),
        Row("torsion", ("HC", "C3", "C3", "HC"), {"k1": 0.0, "phase1": 0.0, "k3": 0.15, "phase3": 0.0}),
        *extra,
    ]
    conventions = conventions or Conventions()
    return ForceField(FunctionalForm.HARMONIC, rows, conventions, equivalences=equivalences or {})


def test_most_specific_row_wins_and_reversed_stretch_bends_swap(ethanes):
    ethane = ethanes[0]  # H0 C1 H2 C3 H4..H7; C1 carries H0, H2, H4
    strbnd = Row("strbnd", ("HC", "C3", "C3"), {"k1": 11.0, "k2": 22.0})
    ff = small_forcefield([strbnd])
    system = build_system(ethane, ff)
    check_contract(system, ff)
    angle_rows = {
        tuple(a): row_of(ff, s[0])[0].key
        for a, s in zip(system.terms["angle"].atoms.tolist(), system.terms["angle"].slots, strict=True)
    }
    assert angle_rows[(0, 1, 2)] == "angle:HC-C3-HC"  # exact beats the wildcard
    assert angle_rows[(0, 1, 3)] == "angle:*-C3-*"  # H–C–C has only the wildcard
    torsion_rows = {row_of(ff, s[0])[0].key for s in system.terms["torsion"].slots}
    assert torsion_rows == {"torsion:HC-C3-C3-HC"}
    assert len(system.terms["torsion"]) == 18  # two components of the exact row
    sb = system.terms["strbnd"]
    assert len(sb) == 6  # the H–C–C angles
    for (i, _, _), slots in zip(sb.atoms.tolist(), sb.slots, strict=True):
        k1, k2, r1, _, theta = (ff.parameter_ids()[s] for s in slots)
        # k1 couples bond i–j: the H–C side (row k1) when i is the hydrogen.
        assert (k1, k2) == (
            ("strbnd:HC-C3-C3.k1", "strbnd:HC-C3-C3.k2")
            if ethane.elements[i] == "H"
            else ("strbnd:HC-C3-C3.k2", "strbnd:HC-C3-C3.k1")
        )
        assert r1 == ("bond:C3-HC.r0" if "H" in (ethane.elements[i],) else "bond:C3-C3.r0")
        assert theta == "angle:*-C3-*.theta0"


def test_equal_matches_take_the_later_row_and_classes_match(ethanes):
    later = Row("bond", ("HC", "C3"), {"k": 350.0, "r0": 1.10}, line=40)
    ff = small_forcefield([later])
    bonds = build_system(ethanes[0], ff).terms["bond"]
    keys = {row_of(ff, s[0])[0].key for s in bonds.slots}
    assert keys == {"bond:HC-C3@40", "bond:C3-C3"}
    renamed = ethanes[0].with_(atom_types=["H1" if t == "HC" else t for t in ethanes[0].atom_types])
    with pytest.raises(AssignmentError):
        build_system(renamed, small_forcefield())
    system = build_system(renamed, small_forcefield(equivalences={"HC": "H1 H2"}))
    assert len(system.terms["angle"]) == 12


def test_nonbonded_pairs_scaling_reduction_charges(ethanes, ch3f):
    ethane = ethanes[0]
    vdw = [
        Row("vdw", ("C3",), {"radius": 2.04, "epsilon": 0.027}),
        Row("vdw", ("HC",), {"radius": 1.62, "epsilon": 0.02, "reduction": 0.923}),
        Row("charge", ("HC",), {"q": 0.05}),
        Row("vdw_pair", ("HC", "HC"), {"radius": 3.2, "epsilon": 0.03}),
        Row("dipole", ("HC", "C3"), {"moment": 0.3}),
    ]
    ff = small_forcefield(vdw, Conventions(vdw_scale_14=0.5, elec_scale_14=0.25))
    system = build_system(ethane, ff)
    check_contract(system, ff)
    nb = system.nonbonded
    topo = perceive(ethane)
    distance = topo.bond_distances(3)
    # Ethane has no pair beyond 1-4: the nine H···H across the C–C bond.
    assert sorted(map(tuple, nb.pairs.tolist())) == sorted(p for p, d in distance.items() if d == 3)
    assert len(nb.pairs) == 9 and np.all(nb.vdw_scale == 0.5) and np.all(nb.elec_scale == 0.25)
    ids = ff.parameter_ids()
    for a, t in enumerate(ethane.atom_types):
        assert ids[nb.vdw_slots[a, 0]] == f"vdw:{t}.radius"
        if t == "HC":
            assert (
                ids[nb.vdw_slots[a, 2]] == "vdw:HC.reduction"
                and nb.reduction_partner[a] == topo.neighbours[a][0]
            )
            assert ids[nb.charge_slots[a]] == "charge:HC.q"
        else:
            assert nb.vdw_slots[a, 2] == -1 and nb.reduction_partner[a] == -1 and nb.charge_slots[a] == -1
    assert all(ids[s] == "vdw_pair:HC-HC.radius" for s in nb.pair_override[:, 0])
    dipoles = system.terms["dipole"]
    assert len(dipoles) == 6 and dipoles.fields == ("moment", "position")
    assert all(ethane.elements[i] == "H" for i, _ in dipoles.atoms)  # row HC→C3 orientation
    assert np.all(dipoles.slots[:, 1] == -1)  # no position field: the engine's default
    assert system.term_kinds >= {"bond", "angle", "torsion", "strbnd", "vdw", "charge", "dipole"} - {"strbnd"}

    with pytest.raises(AssignmentError, match=r"vdw 1 \(C3\)"):
        build_system(ethane, small_forcefield(vdw[1:]))
    # CH₃F: every pair is within two bonds, nothing is left for the nonbonded list.
    ch3f_ff = estimate_forcefield([ch3f])
    nonbonded = [Row("vdw", (e,), {"radius": 1.8, "epsilon": 0.05}) for e in ("C", "F", "H")]
    mixed = ForceField(ch3f_ff.form, [*ch3f_ff.rows, *nonbonded], ch3f_ff.conventions)
    assert build_system(ch3f, mixed).nonbonded.pairs.shape == (0, 2)


# --- Rh-enamide: MacroModel's own assignment, term by term ----------------------------------


def mmo_nonbonded_pairs(path) -> list[set[tuple[int, int]]]:
    """The atom pairs of each structure's 'NONBONDED DISTANCES' listing."""
    out, pairs, count = [], None, 0
    for line in path.read_text().splitlines():
        header = re.match(r"\s*NONBONDED DISTANCES AND ENERGIES\s+(\d+) Nonbonded interactions present", line)
        if header:
            pairs, count = set(), int(header.group(1))
            out.append(pairs)
            continue
        fields = line.split()
        if pairs is not None and len(pairs) < count and len(fields) == 8 and fields[0].isdigit():
            pairs.add((int(fields[0]) - 1, int(fields[1]) - 1))
    return out


@pytest.fixture(scope="module")
def rh(data_dir):
    folder = data_dir / "rh-enamide/training_set"
    molecules = [
        m.with_(stationary_point=TS) for m in read_structures(folder / "rh_enamide_training_set.mol2")
    ]
    mmo = read_mmo(folder / "rh_enamide_training_set.mmo")
    pairs = mmo_nonbonded_pairs(folder / "rh_enamide_training_set.mmo")
    fld = MM3Fld().read(data_dir / "rh-enamide/mm3.fld")
    start = MM3Fld().read(data_dir / "rh-enamide/rh_hyd_enamide_start.fld")
    systems = [
        (build_system(m, fld, mmo=s), build_system(m, start, mmo=s))
        for m, s in zip(molecules, mmo, strict=True)
    ]
    return molecules, mmo, pairs, fld, start, systems


def test_rh_enamide_terms_carry_the_values_macromodel_printed(rh):
    """mm3.fld is the force field the .mmo was computed with: every bond, angle, torsion
    and stretch-bend MacroModel evaluated must get exactly the constants it printed."""
    _, mmo, _, fld, _, systems = rh
    values = fld.vector()
    for structure, (system, _) in zip(mmo, systems, strict=True):
        check_contract(system, fld)
        terms = {
            kind: {tuple(a): s for a, s in zip(t.atoms.tolist(), t.slots, strict=True)}
            for kind, t in system.terms.items()
            if kind != "torsion"
        }
        bonds = structure.of_kind("bond")
        assert len(terms["bond"]) == len(bonds)
        for t in bonds:
            k, r0 = values[terms["bond"][t.atoms]]
            assert k / MDYN_A_TO_KCALMOL_A2 == pytest.approx(t.values["k"], abs=PRINTED_4)
            assert r0 == pytest.approx(t.values["r0"], abs=PRINTED_4)
        angles = structure.of_kind("angle")
        assert len(terms["angle"]) == len(angles)
        for t in angles:
            k, theta0 = values[terms["angle"][t.atoms]]
            assert k / MDYN_A_TO_KCALMOL_A2 == pytest.approx(t.values["k"], abs=PRINTED_3)
            assert theta0 / DEG_TO_RAD == pytest.approx(t.values["theta0"], abs=PRINTED_3)
            sb = terms["strbnd"].get(t.atoms)
            applied = 0.0 if sb is None else values[sb[0]] / MDYN_RAD_TO_KCALMOL_A_RAD
            assert applied == pytest.approx(t.values["k_strbnd"], abs=PRINTED_3)
        torsions = system.terms["torsion"]
        scale = torsions.constants.get("scale", np.ones(len(torsions)))
        by_atoms: dict[tuple[int, ...], dict[int, float]] = {}
        for atoms, slots, n, f in zip(
            torsions.atoms.tolist(), torsions.slots, torsions.constants["periodicity"], scale, strict=True
        ):
            by_atoms.setdefault(tuple(atoms), {})[int(n)] = f * values[slots[0]]
            assert values[slots[1]] == pytest.approx(0.0 if n % 2 else np.pi)  # MM3 signs
        for t in structure.of_kind("torsion"):
            assert [2 * by_atoms[t.atoms][n] for n in (1, 2, 3)] == pytest.approx(
                [t.values[f"v{n}"] for n in (1, 2, 3)], abs=PRINTED_3
            )
        impropers = structure.of_kind("improper")
        for t in impropers:
            assert set(by_atoms[t.atoms]) == {2}
        assert len(by_atoms) == len(structure.of_kind("torsion")) + len(impropers)
        # Only the DuPHOS structures' benzene ring shares a substructure torsion (by 4).
        assert sorted(set(scale)) == ([0.25, 1.0] if "DuPHOS" in system.molecule.name else [1.0])


def test_rh_enamide_start_forcefield_uses_the_same_rows(rh):
    """rh_hyd_enamide_start.fld differs from mm3.fld in OPT values only: MacroModel's
    line links must pick the same rows (keys carry the line)."""
    _, _, _, fld, start, systems = rh
    ids_fld, ids_start = fld.parameter_ids(), start.parameter_ids()
    for a, b in systems:
        assert a.terms.keys() == b.terms.keys()
        for kind in a.terms:
            assert np.array_equal(a.terms[kind].atoms, b.terms[kind].atoms)
            named_a = [ids_fld[s] if s >= 0 else None for s in a.terms[kind].slots.ravel()]
            named_b = [ids_start[s] if s >= 0 else None for s in b.terms[kind].slots.ravel()]
            assert named_a == named_b
    changed = [i for i, (x, y) in enumerate(zip(fld.vector(), start.vector(), strict=True)) if x != y]
    assert changed and all(fld.rows_of and fld.row(ids_fld[i].rpartition(".")[0]).section for i in changed)


def test_rh_enamide_van_der_waals_and_charges(rh):
    molecules, _, _, fld, _, systems = rh
    ids = fld.parameter_ids()
    values = fld.vector()
    seen = set()
    for m, (system, _) in zip(molecules, systems, strict=True):
        nb = system.nonbonded
        assert np.all(nb.vdw_slots[:, :2] >= 0)
        for a, t in enumerate(m.atom_types):
            row = fld.row(ids[nb.vdw_slots[a, 0]].rpartition(".")[0])
            seen.add((t, row.key))
            if t in ("RH", "PX", "C3", "C2", "C1", "N1", "N2", "O2", "H1", "H3"):
                assert row.types == (t,)
            if t in ("H1", "HX"):
                # MM3 hydrogens on carbon (and the hydrides): the −0.077 offset, i.e.
                # reduction 0.923 toward their nearest bonded atom.
                assert values[nb.vdw_slots[a, 2]] == pytest.approx(0.923)
                assert nb.reduction_partner[a] in perceive(m).neighbours[a]
            else:  # H on N (H3) has no offset in this file
                assert nb.vdw_slots[a, 2] == -1 and nb.reduction_partner[a] == -1
        rh_atom = m.atom_types.index("RH")
        assert values[nb.vdw_slots[rh_atom, :2]] == pytest.approx([2.69, 0.14])
        # The vdW block gives Rh a +1 charge; no other type present has one.
        assert np.flatnonzero(nb.charge_slots >= 0).tolist() == [rh_atom]
        assert values[nb.charge_slots[rh_atom]] == 1.0
        # Bond dipoles sit on their bond's line.
        bond_line = {
            tuple(a): fld.row(ids[s[0]].rpartition(".")[0]).line
            for a, s in zip(system.terms["bond"].atoms.tolist(), system.terms["bond"].slots, strict=True)
        }
        for atoms, slots in zip(
            system.terms["dipole"].atoms.tolist(), system.terms["dipole"].slots, strict=True
        ):
            assert fld.row(ids[slots[0]].rpartition(".")[0]).line == bond_line[tuple(sorted(atoms))]
    assert {t for t, _ in seen} == {"RH", "PX", "C3", "C2", "C1", "N1", "N2", "O2", "H1", "H3", "HX"}


def test_rh_enamide_nonbonded_pairs_agree_with_macromodel(rh):
    """MacroModel lists the pairs it evaluated within its 8 Å cut-off: all of them are
    ours, and the ones we add are all farther than 8 Å (so 1-2/1-3 exclusions agree,
    through the Rh–C–C–H ring of the transition state too)."""
    molecules, _, pairs, _, _, systems = rh
    for m, listed, (system, _) in zip(molecules, pairs, systems, strict=True):
        ours = set(map(tuple, system.nonbonded.pairs.tolist()))
        assert listed <= ours
        extra = np.array(sorted(ours - listed)).reshape(-1, 2)
        assert np.all(np.linalg.norm(m.coordinates[extra[:, 0]] - m.coordinates[extra[:, 1]], axis=1) > 8.0)


def test_rh_enamide_without_mmo_links_refuses_what_it_cannot_assign(rh):
    molecules, mmo, _, fld, _, _ = rh
    with pytest.raises(AssignmentError) as error:
        build_system(molecules[0], fld)
    message = str(error.value)
    # Rh terms only the OPT substructure (reachable through .mmo links) parameterizes,
    # all listed: the six Rh bonds among them.
    assert all(f"bond 0-{j} (RH " in message for j in (1, 4, 12, 13, 16, 17))
    assert int(message.split(" term(s)")[0]) == message.count(";") + 1 > 6
    with pytest.raises(AssignmentError, match="beyond the 36"):
        build_system(molecules[0], fld, mmo=mmo[3])
    with pytest.raises(AssignmentError, match="disagree on bonds"):
        build_system(molecules[5], fld, mmo=mmo[7])  # same size, other structure


def test_a_row_without_a_required_field_is_refused(ethanes):
    broken = Row("torsion", ("HC", "C3", "C3", "HC"), {"k2": 0.5})  # no phase2
    ff = ForceField(FunctionalForm.HARMONIC, [*small_forcefield().rows[:4], broken])
    with pytest.raises(AssignmentError, match="lacks the field"):
        build_system(ethanes[0], ff)
