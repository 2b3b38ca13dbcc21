"""Structure readers (XYZ, Tinker XYZ, mol2, .mae) and the MacroModel .mmo ↔ .fld link."""

from __future__ import annotations

import re
import types

import numpy as np
import pytest
from q2mm.errors import ConversionLossError, ParseError
from q2mm.hookspecs import hookimpl
from q2mm.io import read_structures
from q2mm.io.catalog import STRUCTURE_FORMATS
from q2mm.io.macromodel import MaeFormat, read_atom_typ, read_mae, read_mmo
from q2mm.io.mol2 import Mol2Format
from q2mm.io.xyz import XyzFormat, write_tinker_xyz, write_xyz
from q2mm.model import Molecule
from q2mm.plugins import PLUGIN_API_VERSION, Registry

TRAINING = ("rh-enamide", "training_set")


@pytest.fixture(scope="module")
def training(data_dir):
    return data_dir.joinpath(*TRAINING)


# --- XYZ -------------------------------------------------------------------------------


def test_tinker_xyz_types_and_connectivity(data_dir):
    (ch3f,) = XyzFormat().read(data_dir / "tinker-ch3f" / "ch3f.xyz")
    assert ch3f.name == "CH3F B3LYP/6-31+G(d) geometry"
    assert ch3f.elements == ("C", "F", "H", "H", "H")
    assert ch3f.atom_types == ("1", "11", "5", "5", "5")  # MM3: C=1, F=11, H=5
    assert ch3f.bonds == ((0, 1), (0, 2), (0, 3), (0, 4))
    np.testing.assert_allclose(ch3f.coordinates[3], [0.518945, -1.096261, 0.898839])
    (ts,) = XyzFormat().read(data_dir / "tinker-sn2" / "sn2-ts.xyz")
    assert ts.elements == ("C", "F", "F", "H", "H", "H") and len(ts.bonds) == 5
    # The Tinker file was written from the Psi4 geometry: same coordinates to 1e-6 Å.
    (qm,) = XyzFormat().read(data_dir / "sn2-ts" / "sn2-ts-optimized.xyz")
    assert qm.atom_types is None and qm.bonds is None
    np.testing.assert_allclose(ts.coordinates, qm.coordinates, atol=1e-6)


def test_minimized_tinker_geometry(data_dir):
    (ch3f,) = XyzFormat().read(data_dir / "tinker-ch3f" / "ch3f-min.xyz")
    c_f = np.linalg.norm(ch3f.coordinates[1] - ch3f.coordinates[0])
    assert c_f == pytest.approx(np.hypot(0.0, 0.647458 + 0.741190), abs=1e-6)


def test_plain_xyz_matches_the_mol2_of_the_same_structure(training):
    (xyz,) = XyzFormat().read(training / "raw_xyz" / "1_zdmp.xyz")
    (mol2,) = Mol2Format().read(training / "mol2" / "1_zdmp.mol2")
    assert xyz.name == "1 ZDMP from JCTC SI" and xyz.n_atoms == 36
    assert xyz.elements == mol2.elements
    np.testing.assert_allclose(xyz.coordinates, mol2.coordinates, atol=6e-5)  # mol2 keeps 4 decimals


def test_multi_frame_xyz_and_round_trips(tmp_path, data_dir):
    (ch3f,) = XyzFormat().read(data_dir / "tinker-ch3f" / "ch3f.xyz")
    write_xyz(tmp_path / "a.xyz", ch3f)
    text = (tmp_path / "a.xyz").read_text()
    (tmp_path / "two.xyz").write_text(text + "\n" + text)
    frames = XyzFormat().read(tmp_path / "two.xyz")
    assert len(frames) == 2
    for frame in frames:
        assert frame.elements == ch3f.elements and frame.name == ch3f.name and frame.atom_types is None
        np.testing.assert_allclose(frame.coordinates, ch3f.coordinates, atol=1e-10)
    write_tinker_xyz(tmp_path / "t.xyz", ch3f)
    (back,) = XyzFormat().read(tmp_path / "t.xyz")
    assert (back.atom_types, back.bonds, back.name) == (ch3f.atom_types, ch3f.bonds, ch3f.name)
    with pytest.raises(ConversionLossError):
        write_tinker_xyz(tmp_path / "u.xyz", frames[0])  # no types to write
    assert not (tmp_path / "u.xyz").exists()


def test_tinker_xyz_without_title_is_detected_from_atom_one(tmp_path):
    path = tmp_path / "notitle.xyz"
    path.write_text("2\n 1 H 0.0 0.0 0.0 5 2\n 2 H 0.0 0.0 0.74 5 1\n")
    (h2,) = XyzFormat().read(path)
    assert h2.atom_types == ("5", "5") and h2.bonds == ((0, 1),)


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("3\ncomment\nC 0 0 0\nH 1 0 0\n", 5, "atom line"),
        ("2\ncomment\nC 0 0 0\nH 1 zero 0\n", 4, "a coordinate"),
        ("2\ncomment\nC 0 0 0\nQ 1 0 0\n", 4, "element"),
        ("  2 t\n  1 C 0 0 0 1 3\n  2 H 1 0 0 5 1\n", 2, "connected atom indices"),
        ("  2 t\n  1 C 0 0 0 1 2\n  3 H 1 0 0 5 1\n", 3, "atom index 2"),
    ],
)
def test_bad_xyz_names_the_line(tmp_path, text, line, expected):
    path = tmp_path / "bad.xyz"
    path.write_text(text)
    with pytest.raises(ParseError, match=expected) as info:
        XyzFormat().read(path)
    assert info.value.line == line


# --- mol2 --------------------------------------------------------------------------------


def test_ethane_mol2(data_dir):
    (gs,) = Mol2Format().read(data_dir / "ethane" / "GS.mol2")
    assert gs.name == "Basic Ethane minimum"
    assert gs.elements == ("H", "C", "H", "C", "H", "H", "H", "H")
    assert gs.atom_types == ("HC", "C3", "HC", "C3", "HC", "HC", "HC", "HC")
    assert gs.bonds == ((0, 1), (1, 2), (1, 3), (1, 4), (3, 5), (3, 6), (3, 7))


def test_multi_molecule_mol2_keeps_the_partial_bonds(training):
    molecules = Mol2Format().read(training / "rh_enamide_training_set.mol2")
    assert len(molecules) == 9
    first = molecules[0]
    assert first.n_atoms == 36 and len(first.bonds) == 38
    assert first.atom_types[:4] == ("RH", "O2", "C2", "N2") and first.elements[0] == "Rh"
    # Rh–O, Rh–C5 and the forming C6–H18 bond are written with order "nc".
    assert {(0, 1), (0, 4), (5, 17)} <= set(first.bonds)
    # The per-structure files ending in _from_JCTC_SI hold the same bonds.
    (single,) = Mol2Format().read(training / "mol2" / "1_ZDMP_from_JCTC_SI.mol2")
    assert single.bonds == first.bonds


# --- Maestro .mae ------------------------------------------------------------------------


def test_mae_structures_match_the_mol2_files(training):
    structures = MaeFormat().read(training / "rh_enamide_training_set.mae")
    mol2 = Mol2Format().read(training / "rh_enamide_training_set.mol2")
    assert [s.n_atoms for s in structures] == [36, 38, 38, 62, 62, 58, 58, 58, 58]
    for mae, other in zip(structures, mol2, strict=True):
        assert mae.name == other.name
        assert mae.elements == other.elements
        assert mae.bonds == other.bonds
        np.testing.assert_allclose(mae.coordinates, other.coordinates, atol=6e-5)
    assert structures[0].atom_types[:5] == ("250", "15", "2", "25", "2")


def test_mae_type_names_from_atom_typ(data_dir, training):
    table = read_atom_typ(data_dir / "rh-enamide" / "atom.typ")
    assert table[250] == "RH" and table[251] == "H7" and table[62] == "Z0" and len(table) == 12
    named = MaeFormat(type_names=table).read(training / "rh_enamide_training_set.mae")[0]
    assert named.atom_types[:3] == ("RH", "15", "2")  # the project's atom.typ lists only custom types


def test_mae_template_with_doubled_bonds_and_formal_charge(data_dir):
    (template,) = read_mae(data_dir / "rh-enamide" / "rh-hydrogenation-enamide-template.mae")
    assert template.n_atoms == 10
    assert len(template.bonds) == 11  # 22 rows, every bond listed from both ends
    assert template.charge == 1  # Rh carries the formal +1
    assert template.atom_types[6:] == ("253", "254", "252", "251")


# --- MacroModel .mmo ---------------------------------------------------------------------

_HEADER = re.compile(r"(\d+) (Stretch|Bend|Proper Torsion|Improper torsion) interactions present")
_KIND = {"Stretch": "bond", "Bend": "angle", "Proper Torsion": "torsion", "Improper torsion": "improper"}
_FLD_CODE = {"bond": "1", "angle": "2", "torsion": "4", "improper": "5"}


@pytest.fixture(scope="module")
def mmo(training):
    return read_mmo(training / "rh_enamide_training_set.mmo")


def test_mmo_counts_match_its_headers(mmo, training):
    headers = _HEADER.findall((training / "rh_enamide_training_set.mmo").read_text())
    expected = [{} for _ in range(9)]
    for n, (count, word) in enumerate(headers):
        expected[n // 4][_KIND[word]] = int(count)
    assert len(mmo) == 9
    for structure, counts in zip(mmo, expected, strict=True):
        assert {kind: len(structure.of_kind(kind)) for kind in _KIND.values()} == counts
    assert [s.name for s in mmo][:2] == ["1 ZDMP from JCTC SI", "2 DMPE Conformation 1 from JCTC SI"]
    assert sum(len(s.terms) for s in mmo) == 2798


def test_mmo_terms_follow_the_bonds_of_each_structure(mmo, training):
    """Stretches are exactly the .mae bonds, bends every bonded angle; torsions walk
    bonds; an improper's second atom is bonded to the other three."""
    for structure, molecule in zip(mmo, read_mae(training / "rh_enamide_training_set.mae"), strict=True):
        assert structure.name == molecule.name
        bonds = set(molecule.bonds)
        assert {tuple(sorted(t.atoms)) for t in structure.of_kind("bond")} == bonds
        neighbours = {i: {j for b in bonds for j in b if i in b and j != i} for i in range(molecule.n_atoms)}
        n_angles = sum(len(n) * (len(n) - 1) // 2 for n in neighbours.values())
        assert len({(t.atoms[1], *sorted(t.atoms[::2])) for t in structure.of_kind("angle")}) == n_angles
        for t in structure.of_kind("angle"):
            assert {tuple(sorted(t.atoms[:2])), tuple(sorted(t.atoms[1:]))} <= bonds
        for t in structure.of_kind("torsion"):
            assert all(tuple(sorted(t.atoms[k : k + 2])) in bonds for k in range(3))
        for t in structure.of_kind("improper"):
            assert {t.atoms[0], t.atoms[2], t.atoms[3]} == neighbours[t.atoms[1]] & set(t.atoms)


def _numbers(text):
    return [float(x) for x in re.findall(r"-?\d+\.\d+", text)]


def test_every_term_points_at_its_fld_row(mmo, data_dir):
    """The FF Line is the 1-based mm3.fld line; its numbers are the ones MacroModel
    printed. Two MM3* facts show up: a row continued on a second line (flag '1C…')
    is reported by its continuation line, and a wildcard torsion row (00-X-Y-00) is
    shared out over the n torsions about its bond (printed V = V_fld / n)."""
    fld = (data_dir / "rh-enamide" / "mm3.fld").read_text().splitlines()
    substructures = fld.index("-3") + 1  # 1-based line where the substructure section begins
    for structure in mmo:
        for term in structure.terms:
            line = fld[term.fld_line - 1]
            assert not line.startswith(" C") and line[:2].strip().lstrip("a") == _FLD_CODE[term.kind]
            assert (term.fld_line > substructures) == term.substructure
            numbers = _numbers(line) or _numbers(fld[term.fld_line - 2])  # continuation line
            v = term.values
            if term.kind == "bond":
                assert numbers[:2] == pytest.approx([v["r0"], v["k"]], abs=6e-5)
            elif term.kind == "angle":
                assert numbers[:2] == pytest.approx([v["theta0"], v["k"]], abs=6e-4)
            else:
                printed = np.array([v["v1"], v["v2"], v["v3"]])
                stored = np.array(numbers[:3] if term.kind == "torsion" else [*numbers[:2], 0.0])
                if not np.allclose(printed, stored, atol=6e-4):
                    assert " 00 " in line
                    n = stored[np.argmax(np.abs(stored))] / printed[np.argmax(np.abs(stored))]
                    assert n == pytest.approx(round(n), abs=1e-3) and round(n) >= 2
                    np.testing.assert_allclose(printed * round(n), stored, atol=6e-3)


def test_mmo_values_are_the_printed_numbers(mmo):
    first = mmo[0].terms[0]
    assert first.kind == "bond" and first.atoms == (0, 12) and first.fld_line == 1862 and first.substructure
    assert dict(first.values) == {"k": 1.5293, "r0": 2.2886, "r": 2.2777, "energy": 0.056}
    angle = next(t for t in mmo[0].of_kind("angle") if t.atoms == (1, 2, 3))
    assert dict(angle.values) == {
        "k": 1.07,
        "k_strbnd": 0.13,
        "theta0": 124.8,
        "theta": 123.08,
        "energy": 0.297,
        "energy_strbnd": -0.005,
    }
    assert angle.fld_line == 285 and not angle.substructure


def test_truncated_mmo_is_refused(tmp_path, training):
    lines = (training / "rh_enamide_training_set.mmo").read_text().splitlines()
    cut = tmp_path / "cut.mmo"
    cut.write_text("\n".join(lines[:30]) + "\n")  # inside the first stretch table
    with pytest.raises(ParseError):
        read_mmo(cut)


# --- plugin dispatch ---------------------------------------------------------------------


def test_catalog_records_create_these_readers(data_dir, training):
    """The core catalog's factories point at these classes: a registry holding only
    the structure formats dispatches by suffix."""
    module = types.ModuleType("structure_formats_only")
    module.Q2MM_PLUGIN_API = PLUGIN_API_VERSION
    module.q2mm_formats = hookimpl(lambda: STRUCTURE_FORMATS)
    registry = Registry()
    registry.add("core-structures", module)
    for path in [
        data_dir / "ethane" / "GS.log",
        data_dir / "ethane" / "GS.fchk",
        data_dir / "ethane" / "GS.mol2",
        data_dir / "ch3f" / "ch3f-hessian.npy",
        data_dir / "tinker-ch3f" / "ch3f.xyz",
        training / "mae" / "1_ZDMP_from_JCTC_SI.mae",
        training / "jaguar_spe_freq_in_out" / "1ZDMPfromJCTCSI_loner1.01.in",
        training / "jaguar_spe_freq_in_out" / "1ZDMPfromJCTCSI_loner1.out",
    ]:
        reader = registry.by_suffix("reader", str(path)).create()
        assert path.suffix in reader.suffixes
        molecules = reader.read(path)
        assert molecules and all(isinstance(m, Molecule) for m in molecules)
        assert all(m.source == str(path) for m in molecules)


def test_read_structures_dispatches_by_suffix(data_dir, training):
    """Through the installed core plugin (needs every built-in catalog importable)."""
    assert [m.name for m in read_structures(data_dir / "ethane" / "TS.log")] == ["Basic Ethane rotation TS"]
    assert len(read_structures(training / "rh_enamide_training_set.mae")) == 9
    assert read_structures(data_dir / "sn2-ts" / "sn2-ts-hessian.npy")[0].frequencies[0] < 0
