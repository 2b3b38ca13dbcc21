"""Amber frcmod and OpenMM XML: values against Amber's published parameters, energies of
written XML against OpenMM itself, and conversions that refuse to drop terms."""

from __future__ import annotations

import math
import re
from pathlib import Path

import attrs
import numpy as np
import pytest
from q2mm.errors import ConversionLossError, ParseError
from q2mm.io import read_forcefield, read_structures, write_forcefield
from q2mm.io.conversion import convert, lossy_terms
from q2mm.io.frcmod import Frcmod
from q2mm.io.openmm_xml import MM3_BOND, OpenMMXml
from q2mm.model import Conventions, ForceField, FunctionalForm, Row
from q2mm.model.units import DEG_TO_RAD, KCAL_TO_KJ, KJ_TO_KCAL
from q2mm.topology import build_system, perceive

FRCMOD = Frcmod()
XML = OpenMMXml()
FORCEFIELDS = Path(__file__).parent / "forcefields"

#: A parmchk2-style frcmod: a three-term dihedral (negative PN), an improper, NONB.
GAFF = """\
ethane and friends (GAFF values)
MASS
c3 12.010         0.878               Sp3 C
hc 1.008          0.135               H bonded to aliphatic carbon without electrwd. group

BOND
c3-c3  300.90   1.5375       SOURCE1_SOURCE5
c3-hc  337.30   1.0920       SOURCE3_SOURCE5     2175    0.0108

ANGLE
c3-c3-hc   46.370     110.050   SOURCE3_SOURCE5
hc-c3-hc   39.430     108.350   SOURCE3_SOURCE5     1057    0.4357

DIHE
hc-c3-c3-hc   1    0.150       0.000          -3.000      J.C.cp 1997
hc-c3-c3-hc   1    0.020     180.000          -2.000      test
hc-c3-c3-hc   1    0.010       0.000           1.000      test
X -c3-c3-X    9    1.400       0.000           3.000      same as X -CT-CT-X

IMPROPER
X -X -c -o          1.1          180.0         2.0          General improper torsional angle

NONBON
  c3          1.9080  0.1094             0.0
  hc          1.4870  0.0157             Spellmeyer


"""


@pytest.fixture
def gaff(tmp_path) -> Path:
    path = tmp_path / "gaff.frcmod"
    path.write_text(GAFF)
    return path


def test_frcmod_values_are_amber_values(gaff):
    ff = read_forcefield(gaff)
    assert ff.form == "harmonic" and ff.name == "ethane and friends (GAFF values)"
    assert ff.conventions.vdw_scale_14 == 0.5 and ff.conventions.elec_scale_14 == pytest.approx(1 / 1.2)
    assert ff.row("bond:c3-hc@8").values == {"k": 337.3, "r0": 1.092}  # Amber E = K (r − r0)²: no ½ to fold
    assert ff.row("angle:hc-c3-hc@12").values == {"k": 39.43, "theta0": pytest.approx(108.35 * DEG_TO_RAD)}
    assert ff.row("torsion:hc-c3-c3-hc@15").values == {
        "k3": 0.15, "phase3": 0.0, "k2": 0.02, "phase2": pytest.approx(math.pi), "k1": 0.01, "phase1": 0.0
    }  # fmt: skip
    assert ff.row("torsion:X-c3-c3-X@18").values == {
        "k3": pytest.approx(1.4 / 9),
        "phase3": 0.0,
    }  # PK / IDIVF
    improper = ff.row("torsion:X-X-c-o@21")
    assert improper.section == "improper" and improper.values == {"k2": 1.1, "phase2": pytest.approx(math.pi)}
    assert ff.row("vdw:c3@24").values == {"radius": 1.908, "epsilon": 0.1094}
    assert FRCMOD.unmodelled(ff.source) == [
        "Amber atom masses and polarizabilities (MASS) (2 lines at lines 3, 4)"
    ]


def test_real_q2mm_frcmod(tmp_path):
    path = FORCEFIELDS / "thiohemiacetal-ts.frcmod"
    ff = FRCMOD.read(path)
    assert [len(ff.rows_of(k)) for k in ("bond", "angle", "torsion", "vdw")] == [24, 43, 51, 18]
    assert ff.row("bond:AO-BH@30").values == {"k": 50.9386, "r0": 1.3625}
    assert ff.row("angle:AO-BH-BO@53").values["theta0"] == pytest.approx(173.0097 * DEG_TO_RAD)
    assert ff.row("vdw:BH@159").values == {"radius": 0.3019, "epsilon": 0.0047}
    FRCMOD.write(ff, tmp_path / "same.frcmod")
    assert (tmp_path / "same.frcmod").read_bytes() == path.read_bytes()
    changed = [r.with_values(k=55.0) if r.key == "bond:AO-BH@30" else r for r in ff.rows]
    FRCMOD.write(attrs.evolve(ff, rows=changed), tmp_path / "changed.frcmod")
    old, new = path.read_text().splitlines(), (tmp_path / "changed.frcmod").read_text().splitlines()
    assert [i + 1 for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b] == [30]
    assert new[29] == "AO-BH                    55.0000      1.3625"


def test_frcmod_written_fresh_reads_back(gaff, tmp_path):
    ff = FRCMOD.read(gaff)
    FRCMOD.write(attrs.evolve(ff, source=None), tmp_path / "fresh.frcmod")
    back = FRCMOD.read(tmp_path / "fresh.frcmod")
    assert [(r.kind, r.types, r.section) for r in back.rows] == [
        (r.kind, r.types, r.section) for r in ff.rows
    ]
    for new, old in zip(back.rows, ff.rows, strict=True):
        assert dict(new.values) == pytest.approx(dict(old.values), abs=1e-4)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("c3-hc  337.30   1.0920", "c3-hc  337.30", "a force constant and an ideal value"),
        (
            "hc-c3-c3-hc   1    0.010       0.000           1.000",
            "hc-c3-c3-hc   1    0.010       0.000",
            "PHASE",
        ),
        (
            "hc-c3-c3-hc   1    0.010       0.000           1.000",
            "hc-c3-c3-hc   1    0.01   0.0   1.5",
            "whole",
        ),
        ("X -c3-c3-X    9", "X -c3-c3-X    0", "non-zero IDIVF"),
        ("hc-c3-c3-hc   1    0.020", "hc-c3-c3-c3   1    0.020", "continued"),
        ("BOND\n", "BANG\n", "section name"),
    ],
)
def test_bad_frcmod_lines(gaff, old, new, expected):
    text = gaff.read_text()
    assert old in text
    gaff.write_text(text.replace(old, new, 1))
    with pytest.raises(ParseError, match=expected) as caught:
        FRCMOD.read(gaff)
    assert caught.value.line == next(
        i for i, line in enumerate(gaff.read_text().splitlines(), 1) if new.strip() in line
    )


def test_amber99sb_xml_holds_the_parm99_values(tmp_path, openmm_data):
    path = openmm_data / "amber99sb.xml"
    ff = XML.read(path)
    assert ff.form == "harmonic" and ff.conventions.vdw_scale_14 == 0.5
    by_types = {(r.kind, r.types, r.section): r for r in ff.rows}
    # parm99: CT-CT 310.0 1.526 is "C -C 310.0 1.525"; CT-CT-CT 40.0 109.50; X-CT-CT-X 9 1.40 0.0 3
    assert by_types["bond", ("C", "C"), None].values == {
        "k": pytest.approx(310.0),
        "r0": pytest.approx(1.525),
    }
    assert by_types["angle", ("CT", "CT", "CT"), None].values == {
        "k": pytest.approx(40.0), "theta0": pytest.approx(109.5 * DEG_TO_RAD)
    }  # fmt: skip
    assert by_types["torsion", ("", "CT", "CT", ""), None].values == {
        "k3": pytest.approx(1.4 / 9),
        "phase3": 0.0,
    }
    # ff99SB CT-CT-CT-CT: 0.18 (n=3), 0.25 (n=2, 180°), 0.20 (n=1, 180°)
    assert by_types["torsion", ("CT", "CT", "CT", "CT"), None].values == pytest.approx(
        {"k3": 0.18, "phase3": 0.0, "k2": 0.25, "phase2": math.pi, "k1": 0.2, "phase1": math.pi}
    )
    # parm99 IMPR X -X -C -O 10.5 180. 2.: OpenMM's class1 is the centre, canonical order puts it third
    assert by_types["torsion", ("", "", "C", "O"), "improper"].values == pytest.approx(
        {"k2": 10.5, "phase2": math.pi}
    )
    # CT: R* 1.9080, epsilon 0.1094 (as sigma 0.339967 nm, 0.4577296 kJ/mol)
    assert any(
        r.values == pytest.approx({"radius": 1.908, "epsilon": 0.1094}, abs=2e-5) for r in ff.rows_of("vdw")
    )
    XML.write(ff, tmp_path / "same.xml")
    assert (tmp_path / "same.xml").read_bytes() == path.read_bytes()


def test_xml_rewrites_only_changed_attributes(tmp_path, openmm_data):
    path = openmm_data / "tip3p.xml"
    ff = XML.read(path)
    (bond,) = ff.rows_of("bond")
    XML.write(
        attrs.evolve(ff, rows=[r.with_values(k=500.0) if r is bond else r for r in ff.rows]),
        tmp_path / "w.xml",
    )
    old, new = path.read_text().splitlines(), (tmp_path / "w.xml").read_text().splitlines()
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert len(changed) == 1 and changed[0][1] == changed[0][0].replace('k="462750.4"', 'k="418400"')
    assert XML.read(tmp_path / "w.xml").rows_of("bond")[0].values["k"] == pytest.approx(500.0)


def _ethane(app, tmp_path: Path, data_dir: Path, names: dict[str, str], charges: bool):
    """OpenMM topology of eclipsed ethane (the rotation TS: every torsion term is at its
    top) with the given atom types, and the residue file OpenMM needs to type it."""
    molecule = read_structures(data_dir / "ethane" / "TS.mol2")[0]
    atoms = [f"{e}{i}" for i, e in enumerate(molecule.elements)]
    charge = ' charge="0.0"' if charges else ""
    residue = "".join(
        f'<Atom name="{a}" type="{names[e]}"{charge}/>' for a, e in zip(atoms, molecule.elements, strict=True)
    )
    residue += "".join(f'<Bond atomName1="{atoms[i]}" atomName2="{atoms[j]}"/>' for i, j in molecule.bonds)
    types = "".join(f'<Type name="{t}" class="{t}" element="{e}" mass="1.0"/>' for e, t in names.items())
    residues = f'<Residues><Residue name="ETH">{residue}</Residue></Residues>'
    (tmp_path / "residue.xml").write_text(
        f"<ForceField><AtomTypes>{types}</AtomTypes>{residues}</ForceField>"
    )
    topology = app.Topology()
    chain = topology.addChain()
    res = topology.addResidue("ETH", chain)
    made = [
        topology.addAtom(a, app.Element.getBySymbol(e), res)
        for a, e in zip(atoms, molecule.elements, strict=True)
    ]
    for i, j in molecule.bonds:
        topology.addBond(made[i], made[j])
    return molecule, topology


def _openmm_energies(openmm, xml: Path, residue: Path, topology, coordinates) -> dict[str, float]:
    """kcal/mol per force class of the system OpenMM builds from the written XML."""
    from openmm import app

    system = app.ForceField(str(residue), str(xml)).createSystem(topology, nonbondedMethod=app.NoCutoff)
    for i, force in enumerate(system.getForces()):
        force.setForceGroup(i)
    context = openmm.Context(
        system, openmm.VerletIntegrator(1.0), openmm.Platform.getPlatformByName("Reference")
    )
    context.setPositions(coordinates * openmm.unit.angstrom)
    return {
        type(force).__name__: context.getState(getEnergy=True, groups={i})
        .getPotentialEnergy()
        .value_in_unit(openmm.unit.kilojoule_per_mole)
        * KJ_TO_KCAL
        for i, force in enumerate(system.getForces())
    }


def _geometry(xyz, bonds):
    angles, torsions, neighbours = [], [], {i: set() for i in range(len(xyz))}
    for i, j in bonds:
        neighbours[i].add(j)
        neighbours[j].add(i)
    for j in neighbours:
        angles += [(i, j, k) for i in neighbours[j] for k in neighbours[j] if i < k]
    for j, k in bonds:
        torsions += [(i, j, k, m) for i in neighbours[j] - {k} for m in neighbours[k] - {j}]
    return angles, torsions


def _angle(xyz, i, j, k):
    u, v = xyz[i] - xyz[j], xyz[k] - xyz[j]
    return math.acos(u @ v / np.linalg.norm(u) / np.linalg.norm(v))


def _dihedral(xyz, i, j, k, m):
    b1, b2, b3 = xyz[j] - xyz[i], xyz[k] - xyz[j], xyz[m] - xyz[k]
    n1, n2 = np.cross(b1, b2), np.cross(b2, b3)
    return math.atan2(np.dot(np.cross(n1, n2), b2 / np.linalg.norm(b2)), np.dot(n1, n2))


def _canonical_energies(ff: ForceField, molecule, types: tuple[str, ...]) -> dict[str, float]:
    """The canonical energy terms, written out by hand from the model's definitions."""
    c, xyz = ff.conventions, molecule.coordinates
    row = {(r.kind, r.types): r.values for r in ff.rows}

    def find(kind, t):
        return row.get((kind, t)) or row[(kind, t[::-1])]

    angles, torsions = _geometry(xyz, molecule.bonds)
    bond = angle = torsion = vdw = 0.0
    for i, j in molecule.bonds:
        v = find("bond", (types[i], types[j]))
        d = np.linalg.norm(xyz[i] - xyz[j]) - v["r0"]
        bond += v["k"] * d**2 * (1 + c.bond_cubic * d + c.bond_quartic * d**2)
    series = (c.angle_cubic, c.angle_quartic, c.angle_pentic, c.angle_sextic)
    for i, j, k in angles:
        v = find("angle", (types[i], types[j], types[k]))
        d = _angle(xyz, i, j, k) - v["theta0"]
        angle += v["k"] * d**2 * (1 + sum(s * (d / DEG_TO_RAD) ** (n + 1) for n, s in enumerate(series)))
    for quad in torsions:
        v = find("torsion", tuple(types[a] for a in quad))
        phi = _dihedral(xyz, *quad)
        torsion += sum(
            v[f"k{n}"] * (1 + math.cos(n * phi - v[f"phase{n}"])) for n in range(1, 7) if f"k{n}" in v
        )
    for i, _, _, m in torsions:  # every non-bonded pair of ethane is 1-4 (H···H across the C–C bond)
        a, b = find("vdw", (types[i],)), find("vdw", (types[m],))
        r, rv, eps = (
            np.linalg.norm(xyz[i] - xyz[m]),
            a["radius"] + b["radius"],
            math.sqrt(a["epsilon"] * b["epsilon"]),
        )
        if c.vdw_form == "buckingham":
            vdw += c.vdw_scale_14 * eps * (c.vdw_a * math.exp(-c.vdw_b * r / rv) - c.vdw_c * (rv / r) ** 6)
        else:
            vdw += c.vdw_scale_14 * eps * ((rv / r) ** 12 - 2 * (rv / r) ** 6)
    return {"bond": bond, "angle": angle, "torsion": torsion, "vdw": vdw}


def test_openmm_evaluates_written_amber_terms_as_the_canonical_formulas(
    gaff, tmp_path, data_dir, openmm, openmm_app
):
    ff = FRCMOD.read(gaff)
    ff = attrs.evolve(
        ff, rows=[r for r in ff.rows if r.types != ("X", "c3", "c3", "X")]
    )  # one ethane torsion
    lost = convert(gaff, tmp_path / "gaff.xml", allow_loss=True)
    assert lost == ["Amber atom masses and polarizabilities (MASS) (2 lines at lines 3, 4)"]
    XML.write(ff, tmp_path / "gaff.xml", allow_loss=True)
    molecule, topology = _ethane(openmm_app, tmp_path, data_dir, {"C": "c3", "H": "hc"}, charges=True)
    openmm_kcal = _openmm_energies(
        openmm, tmp_path / "gaff.xml", tmp_path / "residue.xml", topology, molecule.coordinates
    )
    types = tuple({"C": "c3", "H": "hc"}[e] for e in molecule.elements)
    ours = _canonical_energies(ff, molecule, types)
    assert openmm_kcal["HarmonicBondForce"] == pytest.approx(ours["bond"], rel=1e-9)
    assert openmm_kcal["HarmonicAngleForce"] == pytest.approx(ours["angle"], rel=1e-9)
    assert openmm_kcal["PeriodicTorsionForce"] == pytest.approx(ours["torsion"], rel=1e-9)
    assert openmm_kcal["NonbondedForce"] == pytest.approx(ours["vdw"], rel=1e-9)  # zero charges: LJ only
    assert min(ours.values()) > 1e-3  # every term is exercised


def test_openmm_evaluates_written_mm3_terms_as_the_canonical_formulas(tmp_path, data_dir, openmm, openmm_app):
    """MM3's anharmonic stretch and bend and its Buckingham vdW go out as q2mm's custom
    forces; OpenMM's energies must equal the canonical MM3 formulas."""
    mm3 = read_forcefield(FORCEFIELDS / "mm3-ch3f.prm")
    keep = ("bond:1-1@79", "bond:1-5@80", "angle:5-1-5@101", "torsion:5-1-1-5@132", "vdw:1@67", "vdw:5@68")
    rows = [
        attrs.evolve(mm3.row(k), values={f: v for f, v in mm3.row(k).values.items() if f[:7] != "theta0_"})
        for k in keep
    ]
    rows = [r.with_values(reduction=1.0) if r.kind == "vdw" else r for r in rows]
    rows.append(
        Row("angle", ("1", "1", "5"), {"k": 0.59 * 71.94, "theta0": 109.8 * DEG_TO_RAD})
    )  # mm3.fld line 181
    ff = attrs.evolve(mm3, rows=rows, source=None, conventions=attrs.evolve(mm3.conventions, dielectric=1.0))
    assert XML.losses(ff) == []
    XML.write(ff, tmp_path / "mm3.xml")
    assert MM3_BOND in (tmp_path / "mm3.xml").read_text()
    back = XML.read(tmp_path / "mm3.xml")
    assert back.form == "mm3" and back.conventions.bond_cubic == pytest.approx(-2.55)
    molecule, topology = _ethane(openmm_app, tmp_path, data_dir, {"C": "1", "H": "5"}, charges=False)
    openmm_kcal = _openmm_energies(
        openmm, tmp_path / "mm3.xml", tmp_path / "residue.xml", topology, molecule.coordinates
    )
    ours = _canonical_energies(ff, molecule, tuple({"C": "1", "H": "5"}[e] for e in molecule.elements))
    assert openmm_kcal["CustomBondForce"] == pytest.approx(ours["bond"], rel=1e-9)
    assert openmm_kcal["CustomAngleForce"] == pytest.approx(ours["angle"], rel=1e-9)
    assert openmm_kcal["PeriodicTorsionForce"] == pytest.approx(ours["torsion"], rel=1e-9)
    assert openmm_kcal["CustomNonbondedForce"] == pytest.approx(ours["vdw"], rel=1e-9)
    assert min(abs(v) for v in ours.values()) > 1e-4


def test_foreign_custom_forces_are_kept_and_refuse_conversion(tmp_path):
    expression = "0.5*kb*(r-b0)^2"
    (tmp_path / "custom.xml").write_text(
        f'<ForceField>\n <CustomBondForce energy="{expression}">\n  <PerBondParameter name="kb"/>'
        '<PerBondParameter name="b0"/>\n  <Bond class1="a" class2="b" kb="1000" b0="0.1"/>\n'
        " </CustomBondForce>\n <HarmonicAngleForce>\n"
        '  <Angle class1="a" class2="b" class3="a" angle="1.9" k="400"/>\n'
        " </HarmonicAngleForce>\n</ForceField>\n"
    )
    ff = read_forcefield(tmp_path / "custom.xml")
    assert [r.kind for r in ff.rows] == ["angle"]
    lost = lossy_terms(ff, "amber-frcmod")
    assert lost == [f"OpenMM <CustomBondForce> with energy {expression!r} (1 element at line 2)"]
    with pytest.raises(ConversionLossError, match=r"CustomBondForce> with energy '0\.5\*kb"):
        convert(tmp_path / "custom.xml", tmp_path / "out.frcmod")
    assert not (tmp_path / "out.frcmod").exists()
    XML.write(ff, tmp_path / "again.xml")  # its own format keeps the custom force verbatim
    assert (tmp_path / "again.xml").read_text() == (tmp_path / "custom.xml").read_text()


def test_mm3_to_amber_names_everything_it_would_lose(data_dir, tmp_path):
    fld = data_dir / "rh-enamide" / "mm3.fld"
    ff = read_forcefield(fld)
    lost = " | ".join(lossy_terms(ff, "amber-frcmod"))
    for what in (
        "bend-bend",
        "torsion-stretch",
        "hydrogen-bond",
        "anharmonic bond terms",
        "anharmonic angle terms",
        "van der Waals form",
        "dielectric",
        "strbnd terms",
        "dipole terms",
        "charge terms",
        "hydrogen vdW reduction",
        "of section",
    ):
        assert what in lost, what
    with pytest.raises(ConversionLossError, match="anharmonic bond terms") as caught:
        convert(fld, tmp_path / "mm3.frcmod")
    assert "more (see lossy_terms)" in str(caught.value)
    assert not (tmp_path / "mm3.frcmod").exists()
    lost = convert(fld, tmp_path / "mm3.frcmod", allow_loss=True)
    back = read_forcefield(tmp_path / "mm3.frcmod")
    bonds = [r for r in back.rows_of("bond") if r.types == ("C3", "C3")]
    assert bonds[-1].values == pytest.approx({"k": 4.49 * 71.94, "r0": 1.5247}, abs=1e-4)
    assert len(lost) > 100


def test_amber_round_trip_through_openmm(gaff, tmp_path):
    convert(gaff, tmp_path / "a.xml", allow_loss=True)  # MASS does not survive
    assert convert(tmp_path / "a.xml", tmp_path / "b.frcmod") == []
    first, last = read_forcefield(gaff), read_forcefield(tmp_path / "b.frcmod")
    assert [(r.kind, r.types, r.section) for r in last.rows] == [
        (r.kind, r.types, r.section) for r in first.rows
    ]
    for new, old in zip(last.rows, first.rows, strict=True):
        assert dict(new.values) == pytest.approx(dict(old.values), abs=1e-4)


def test_xml_errors_are_parse_errors(tmp_path):
    force = "<ForceField><HarmonicBondForce>{}</HarmonicBondForce></ForceField>"
    cases = {
        "<ForceField><HarmonicBondForce><Bond class1='a' class2='b' length='x' k='1'/>": "well-formed XML",
        "<Stuff/>": "ForceField",
        force.format("<Bond class1='a' class2='b' length='x' k='1'/>"): "length",
        force.format("<Bond class1='a' length='1' k='1'/>"): "class2",
    }
    for text, expected in cases.items():
        (tmp_path / "bad.xml").write_text(text)
        with pytest.raises(ParseError, match=expected):
            read_forcefield(tmp_path / "bad.xml")


def test_elements_sharing_a_line_get_distinct_keys(tmp_path):
    bond = '<Bond class1="a" class2="b" length="0.1" k="1000"/>'
    (tmp_path / "one-line.xml").write_text(
        f"<ForceField><HarmonicBondForce>{bond}{bond}</HarmonicBondForce></ForceField>"
    )
    ff = read_forcefield(tmp_path / "one-line.xml")
    assert [r.key for r in ff.rows] == ["bond:a-b@1", "bond:a-b@1#2"]
    XML.write(ff.with_vector([1.0, 1.0, 2.0, 2.0]), tmp_path / "again.xml")
    assert [r.values["k"] for r in read_forcefield(tmp_path / "again.xml").rows] == pytest.approx([1.0, 2.0])


def test_harmonic_force_field_needs_no_custom_force(tmp_path):
    ff = ForceField(
        FunctionalForm.HARMONIC,
        [Row("bond", ("a", "b"), {"k": 300.0, "r0": 1.1})],
        conventions=Conventions(vdw_scale_14=0.5, elec_scale_14=1 / 1.2),
    )
    write_forcefield(ff, tmp_path / "h.xml")
    text = (tmp_path / "h.xml").read_text()
    assert "<HarmonicBondForce>" in text and "Custom" not in text
    assert 'k="251040"' in text and 'length="0.11"' in text  # 2 × 300 kcal/mol/Å² in kJ/mol/nm²


def _acetaldehyde_mm3() -> ForceField:
    """MM3-form rows for acetaldehyde (MM3 classes: 1 sp3 C, 3 carbonyl C, 7 carbonyl O,
    5 H) with out-of-plane bends at the carbonyl carbon. The last opbend row is more
    specific than the wildcard one before it, and q2mm picks it for the aldehyde H."""
    v = (0.4, 0.6, 0.3)  # kcal/mol
    torsion = {"k1": v[0], "phase1": 0.0, "k2": v[1], "phase2": math.pi, "k3": v[2], "phase3": 0.0}
    rows = [
        Row("bond", ("1", "3"), {"k": 4.45 * 71.94, "r0": 1.509}),
        Row("bond", ("3", "7"), {"k": 10.1 * 71.94, "r0": 1.208}),
        Row("bond", ("1", "5"), {"k": 4.74 * 71.94, "r0": 1.112}),
        Row("bond", ("3", "5"), {"k": 4.15 * 71.94, "r0": 1.118}),
        Row("angle", ("1", "3", "7"), {"k": 0.7 * 71.94, "theta0": 122.5 * DEG_TO_RAD}),
        Row("angle", ("1", "3", "5"), {"k": 0.55 * 71.94, "theta0": 115.2 * DEG_TO_RAD}),
        Row("angle", ("5", "3", "7"), {"k": 0.6 * 71.94, "theta0": 118.0 * DEG_TO_RAD}),
        Row("angle", ("3", "1", "5"), {"k": 0.59 * 71.94, "theta0": 109.5 * DEG_TO_RAD}),
        Row("angle", ("5", "1", "5"), {"k": 0.55 * 71.94, "theta0": 107.6 * DEG_TO_RAD}),
        Row("torsion", ("5", "1", "3", "7"), torsion),
        Row("torsion", ("5", "1", "3", "5"), {f: x / 2 for f, x in torsion.items()}),
        Row("opbend", ("1", "3", "0", "0"), {"k": 0.4 * 71.94}),
        Row("opbend", ("7", "3", "0", "0"), {"k": 0.8 * 71.94}),
        Row("opbend", ("5", "3", "0", "0"), {"k": 0.05 * 71.94}),
        Row("opbend", ("5", "3", "1", "7"), {"k": 0.3 * 71.94}),
    ]
    return ForceField(FunctionalForm.MM3, rows, Conventions.mm3(), name="acetaldehyde")


def _same_rows(a: ForceField, b: ForceField) -> None:
    first = {(r.kind, r.types, r.section): dict(r.values) for r in a.rows}
    second = {(r.kind, r.types, r.section): dict(r.values) for r in b.rows}
    assert first.keys() == second.keys()
    for key, values in first.items():
        assert second[key] == pytest.approx(values, rel=1e-12), key


def test_opbend_rows_round_trip_through_xml(tmp_path):
    """Out-of-plane bends go out as OpenMM's AMOEBA block (k in kJ/mol/deg², series per
    degree) and come back as the same rows and conventions; the specific row goes first,
    since OpenMM takes the first item that matches."""
    ff = _acetaldehyde_mm3()
    assert XML.losses(ff) == []
    XML.write(ff, tmp_path / "a.xml")
    text = (tmp_path / "a.xml").read_text()
    opening = (
        '<AmoebaOutOfPlaneBendForce type="ALLINGER" opbend-cubic="-0.014" opbend-quartic="5.6e-05" '
        'opbend-pentic="-7e-07" opbend-sextic="2.2e-08">'
    )
    assert opening in text
    k = 0.3 * 71.94 * KCAL_TO_KJ * DEG_TO_RAD**2  # kJ/mol/deg²
    assert text.index(f'<Angle class1="5" class2="3" class3="1" class4="7" k="{k:.15g}"/>') < text.index(
        '<Angle class1="5" class2="3" class3="" class4=""'
    )
    back = XML.read(tmp_path / "a.xml")
    _same_rows(back, ff)
    assert back.form == "mm3"
    series = ("cubic", "quartic", "pentic", "sextic")
    for name in ("bond_cubic", "bond_quartic", *(f"{p}_{n}" for p in ("angle", "opbend") for n in series)):
        assert getattr(back.conventions, name) == pytest.approx(getattr(ff.conventions, name), rel=1e-12)
    XML.write(back, tmp_path / "b.xml")  # unchanged: byte for byte
    assert (tmp_path / "b.xml").read_text() == text
    key = next(r.key for r in back.rows if r.types == ("7", "3", "0", "0"))
    XML.write(
        attrs.evolve(back, rows=[r.with_values(k=50.0) if r.key == key else r for r in back.rows]),
        tmp_path / "c.xml",
    )
    changed = [
        (a, b)
        for a, b in zip(text.splitlines(), (tmp_path / "c.xml").read_text().splitlines(), strict=True)
        if a != b
    ]
    assert len(changed) == 1 and 'class1="7"' in changed[0][1]
    assert XML.read(tmp_path / "c.xml").row(key).values["k"] == pytest.approx(50.0, rel=1e-12)


def test_opbend_series_of_the_file_are_its_conventions(tmp_path):
    (tmp_path / "o.xml").write_text(
        '<ForceField>\n <AmoebaOutOfPlaneBendForce type="Allinger" opbend-cubic="-0.01" '
        'opbend-quartic="0" opbend-pentic="0" opbend-sextic="1e-8">\n'
        '  <Angle class1="2" class2="1" class3="" class4="" k="0.05"/>\n'
        " </AmoebaOutOfPlaneBendForce>\n</ForceField>\n"
    )
    ff = XML.read(tmp_path / "o.xml")
    assert (ff.conventions.opbend_cubic, ff.conventions.opbend_sextic) == (-0.01, 1e-8)
    (row,) = ff.rows
    assert row.types == ("2", "1", "0", "0")
    assert row.values["k"] == pytest.approx(0.05 * KJ_TO_KCAL / DEG_TO_RAD**2)


def test_opbend_with_a_wildcard_centre_is_refused():
    ff = ForceField(FunctionalForm.MM3, [Row("opbend", ("5", "0", "0", "0"), {"k": 10.0})], Conventions.mm3())
    (lost,) = XML.losses(ff)
    assert "wildcard out-of-plane atom or centre" in lost


@pytest.mark.parametrize(
    ("force", "item", "expected"),
    [
        ('type="ALLINGER"', 'class1="2" class2="1" class3="" class4="" k="0.05"', "opbend-cubic"),
        ('type="W-D-C" {series}', 'class1="2" class2="1" class3="" class4="" k="0.05"', "ALLINGER"),
        ("{series}", 'class1="2" class2="1" class3="" class4="" k="0.05"', "ALLINGER"),
        ('type="ALLINGER" {series}', 'class1="2" class2="1" class3="" class4="" k="x"', "the k of <Angle>"),
        ('type="ALLINGER" {series}', 'class1="2" class2="1" class3="" class4=""', "a k attribute on <Angle>"),
        ('type="ALLINGER" {series}', 'class1="2" class2="1" type3="a" class4="" k="1"', "class3 on <Angle>"),
    ],
)
def test_bad_opbend_elements_name_file_line_and_attribute(tmp_path, force, item, expected):
    series = 'opbend-cubic="0" opbend-quartic="0" opbend-pentic="0" opbend-sextic="0"'
    path = tmp_path / "bad.xml"
    path.write_text(
        f"<ForceField>\n <AmoebaOutOfPlaneBendForce {force.format(series=series)}>\n  <Angle {item}/>\n"
        " </AmoebaOutOfPlaneBendForce>\n</ForceField>\n"
    )
    line = 2 if expected in ("opbend-cubic", "ALLINGER") else 3
    with pytest.raises(ParseError, match=f"^{re.escape(str(path))}:{line}: expected .*{re.escape(expected)}"):
        XML.read(path)


def _allinger_energy(ff: ForceField, molecule) -> float:
    """q2mm's opbend terms of ``molecule`` (its own assignment) in the closed form of the
    model: k χ² [1 + series in χ°], χ the angle between l→j and the plane i–k–l."""
    system = build_system(molecule, ff)
    terms, values, c = system.terms["opbend"], ff.vector(), ff.conventions
    series = (c.opbend_cubic, c.opbend_quartic, c.opbend_pentic, c.opbend_sextic)
    xyz, energy = molecule.coordinates, 0.0
    for (i, j, k, m), (slot,) in zip(terms.atoms, terms.slots, strict=True):
        normal = np.cross(xyz[i] - xyz[m], xyz[k] - xyz[m])
        normal /= np.linalg.norm(normal)
        height = (xyz[j] - xyz[m]) @ normal
        chi = math.atan2(abs(height), np.linalg.norm(xyz[j] - xyz[m] - height * normal))
        energy += (
            values[slot] * chi**2 * (1 + sum(s * (chi / DEG_TO_RAD) ** (n + 1) for n, s in enumerate(series)))
        )
    assert len(terms) == 3  # one per substituent of the carbonyl carbon
    return energy


def test_openmm_evaluates_written_opbends_as_q2mm_does(tmp_path, data_dir, openmm, openmm_app):
    """OpenMM's AmoebaOutOfPlaneBendForce built from the written XML gives q2mm's
    out-of-plane energy of acetaldehyde with its carbonyl carbon pushed out of plane."""
    ff = _acetaldehyde_mm3()
    XML.write(ff, tmp_path / "a.xml")
    molecule = read_structures(data_dir / "validation" / "acetaldehyde" / "acetaldehyde-optimized.xyz")[0]
    classes = ("1", "3", "7", "5", "5", "5", "5")
    xyz = molecule.coordinates.copy()
    neighbours = [0, 2, 6]  # of the carbonyl carbon, atom 1
    normal = np.cross(xyz[neighbours[1]] - xyz[neighbours[0]], xyz[neighbours[2]] - xyz[neighbours[0]])
    xyz[1] += 0.06 * normal / np.linalg.norm(normal)
    xyz[6] -= 0.03 * normal / np.linalg.norm(normal)
    molecule = attrs.evolve(molecule, coordinates=xyz, atom_types=classes)
    bonds = perceive(molecule).bonds
    names = [f"{e}{i}" for i, e in enumerate(molecule.elements)]
    types = "".join(
        f'<Type name="{t}" class="{t}" element="{e}" mass="1.0"/>'
        for t, e in sorted(set(zip(classes, molecule.elements, strict=True)))
    )
    residue = "".join(f'<Atom name="{a}" type="{t}"/>' for a, t in zip(names, classes, strict=True))
    residue += "".join(f'<Bond atomName1="{names[i]}" atomName2="{names[j]}"/>' for i, j in bonds)
    (tmp_path / "residue.xml").write_text(
        f'<ForceField><AtomTypes>{types}</AtomTypes><Residues><Residue name="ALD">{residue}</Residue>'
        "</Residues></ForceField>"
    )
    topology = openmm_app.Topology()
    res = topology.addResidue("ALD", topology.addChain())
    atoms = [
        topology.addAtom(a, openmm_app.Element.getBySymbol(e), res)
        for a, e in zip(names, molecule.elements, strict=True)
    ]
    for i, j in bonds:
        topology.addBond(atoms[i], atoms[j])
    openmm_kcal = _openmm_energies(openmm, tmp_path / "a.xml", tmp_path / "residue.xml", topology, xyz)
    ours = _allinger_energy(ff, molecule)
    assert ours > 1e-2
    assert openmm_kcal["CustomCompoundBondForce"] == pytest.approx(ours, rel=1e-9)
