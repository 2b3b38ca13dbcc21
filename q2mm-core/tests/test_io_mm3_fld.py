"""MacroModel MM3* .fld: canonical values checked against the file's own numbers and
against the energies MacroModel printed for the Rh-enamide training set (.mmo)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import attrs
import numpy as np
import pytest
from q2mm.errors import ConversionLossError, ParseError
from q2mm.io import read_forcefield, write_forcefield
from q2mm.io.mm3_fld import CONVENTIONS, IMPROPER, MM3Fld, opt_rows, rows_by_line, substructures
from q2mm.model import Row
from q2mm.model.units import DEG_TO_RAD, KCAL_TO_KJ, MDYN_A_TO_KCALMOL_A2, MDYN_RAD_TO_KCALMOL_A_RAD

FLD = MM3Fld()


@pytest.fixture(scope="module")
def fld_dir(data_dir) -> Path:
    return data_dir / "rh-enamide"


@pytest.fixture(scope="module")
def final(fld_dir):
    return FLD.read(fld_dir / "mm3.fld")


@pytest.fixture(scope="module")
def start(fld_dir):
    return FLD.read(fld_dir / "rh_hyd_enamide_start.fld")


@pytest.fixture(scope="module")
def mmo_lines(fld_dir) -> list[str]:
    return (fld_dir / "training_set" / "rh_enamide_training_set.mmo").read_text().splitlines()


@pytest.fixture(scope="module")
def by_line(final) -> dict[int, tuple[Row, ...]]:
    return rows_by_line(final)


def rows_at(by_line, line: int, kind: str) -> Row:
    (row,) = [r for r in by_line[line] if r.kind == kind]
    return row


def test_registry_finds_the_format_by_suffix(fld_dir):
    ff = read_forcefield(fld_dir / "mm3.fld")
    assert ff.source.format == "mm3-fld" and ff.form == "mm3"
    assert ff.conventions == CONVENTIONS and ff.conventions.angle_sextic == 2.2e-8  # see the bend test


def test_main_section_rows_hold_canonical_values(final):
    """Each value recomputed by hand from the text of its line."""
    assert MDYN_A_TO_KCALMOL_A2 == 71.94
    bond = final.row("bond:C3-C3@60")  # " 1  C3 - C3  1.5177  4.4900  0.0000 1C200 ..."
    assert bond.values == {"k": pytest.approx(4.49 * 71.94, rel=1e-12), "r0": 1.5177}
    assert bond.comment == "(O=C-)C(sp3)-C(sp3)"
    dipole = final.row("dipole:C2-C3@73")  # bond moment -1.0100 debye shares the line
    assert dipole.values == {"moment": -1.01, "position": 0.5}
    assert not [r for r in final.rows if r.line == 60 and r.kind == "dipole"]  # zero moment: no row
    angle = final.row("angle:H1-C3-H1@175")  # 107.6000 deg, 0.5500 mdyn·Å/rad²
    assert angle.values["theta0"] == pytest.approx(107.6 * math.pi / 180, rel=1e-14)
    assert angle.values["k"] == pytest.approx(0.55 * 71.94, rel=1e-12)
    strbnd = final.row("strbnd:00-C0-H1@437")  # 0.0800 mdyn/rad → 143.88 × 0.08 for both bonds
    assert strbnd.values == {"k1": pytest.approx(0.08 * 143.88), "k2": pytest.approx(0.08 * 143.88)}
    assert MDYN_RAD_TO_KCALMOL_A_RAD == pytest.approx(143.88)
    torsion = final.row("torsion:C3-C3-C3-C3@448")  # V1 0.185, V2 0.170, V3 0.520 kcal/mol
    assert torsion.values == {
        "k1": pytest.approx(0.0925), "phase1": 0.0,
        "k2": pytest.approx(0.085), "phase2": math.pi,
        "k3": pytest.approx(0.26), "phase3": 0.0,
    }  # fmt: skip
    pair = final.row("vdw_pair:C3-H1@1077")
    assert pair.values == {"radius": 3.56, "epsilon": 0.023}


def test_van_der_waals_block(final):
    hydrogen = final.row("vdw:H1@1044")  # offset -0.0770: MM3's 0.923 reduction
    assert hydrogen.values == {"radius": 1.62, "epsilon": 0.02, "reduction": pytest.approx(0.923)}
    assert final.row("vdw:C3@1035").values == {"radius": 2.04, "epsilon": 0.027}
    assert final.row("charge:OM@1040").values == {"q": -1.0}
    assert {r.types[0]: r.values["q"] for r in final.rows_of("charge")} == {
        "CP": 1.0, "OM": -1.0, "OP": 1.0, "OQ": 1.0, "N4": 1.0, "N5": 1.0, "B3": -1.0, "Z0": 2.0, "RH": 1.0
    }  # fmt: skip


def test_equivalences_and_unmodelled_terms(final):
    assert final.equivalences["CU"] == "C1 C2"
    assert final.equivalences["HX"] == "H1 H2 H3 H4 H5 H6 H7"
    kept = " | ".join(FLD.unmodelled(final.source))
    for what in ("bend-bend", "torsion-stretch", "hydrogen-bond", "code 'A'"):
        assert what in kept


def test_keys_are_unique_stable_and_carry_the_line(final, fld_dir):
    again = FLD.read(fld_dir / "mm3.fld")
    assert [r.key for r in again.rows] == [r.key for r in final.rows]
    assert all(r.key.endswith(f"@{r.line}") for r in final.rows)
    text = (fld_dir / "mm3.fld").read_text().splitlines()
    for row in final.rows:  # every row's line is a parameter line of the file
        assert text[row.line - 1][:2] != " C" and not text[row.line - 1].startswith("-")


def test_improper_torsions_reproduce_macromodel_energies(final, mmo_lines):
    """Code-5 lines: E = 60.19939 kJ/mol · k · (1 − cos 2φ), as every improper of the .mmo shows."""
    impropers = {r.line: r for r in final.rows if r.section == IMPROPER}
    assert [impropers[n].types for n in (1022, 1023)] == [("00", "00", "C2", "O2"), ("00", "00", "C2", "00")]
    checked = 0
    for i, line in enumerate(mmo_lines):
        if "Improper torsion interactions present" not in line:
            continue
        for entry in mmo_lines[i + 2 :]:
            fields = entry.split()
            if not fields:
                break
            row = impropers[int(fields[-1])]
            phi = float(fields[7]) * DEG_TO_RAD
            energies = [
                KCAL_TO_KJ * row.values["k2"] * (1 - math.cos(2 * (phi + d)))
                for d in (-0.05 * DEG_TO_RAD, 0.05 * DEG_TO_RAD)
            ]
            assert min(energies) - 6e-4 <= float(fields[8]) <= max(energies) + 6e-4
            checked += 1
    assert checked == 50


def _interactions(mmo_lines: list[str], title: str) -> list[list[str]]:
    """Entries of every structure's block whose title contains ``title``."""
    out = []
    for start in (i for i, line in enumerate(mmo_lines) if title in line):
        header = next(i for i in range(start, start + 12) if "FF Line" in mmo_lines[i])
        for line in mmo_lines[header + 2 :]:
            if not line.strip():
                break
            out.append(line.split())
    return out


def _mm3(delta: float, series: tuple[float, ...]) -> float:
    return 1 + sum(c * delta ** (i + 1) for i, c in enumerate(series))


def test_bonds_reproduce_macromodel_stretch_energies(final, by_line, mmo_lines):
    """Every stretch of the nine structures but one bond: MacroModel adds something the
    .fld does not explain to the forming C–H bond of the TS (FF line 1866; its printed
    energy is not even monotonic in its length across the structures)."""
    c = final.conventions
    bonds = _interactions(mmo_lines, "BOND LENGTHS AND STRETCH ENERGIES")
    assert len(bonds) == 500  # the "Stretch interactions present" counts of the nine blocks
    for fields in (f for f in bonds if f[-1] != "1866"):
        row = rows_at(by_line, int(fields[-1]), "bond")
        assert row.values["k"] / 71.94 == pytest.approx(float(fields[2]), abs=5e-5)
        assert row.values["r0"] == pytest.approx(float(fields[3]), abs=5e-5)
        energies = []
        for actual in (float(fields[4]) - 5e-5, float(fields[4]) + 5e-5):
            dr = actual - row.values["r0"]
            energies.append(KCAL_TO_KJ * row.values["k"] * dr**2 * _mm3(dr, (c.bond_cubic, c.bond_quartic)))
        assert min(energies) - 6e-4 <= float(fields[5]) <= max(energies) + 6e-4


def test_angles_reproduce_macromodel_bend_energies(final, by_line, mmo_lines):
    """All 1050 bends of the nine structures, which pins MacroModel's sextic at 2.2e-8."""
    c = final.conventions
    series = (c.angle_cubic, c.angle_quartic, c.angle_pentic, c.angle_sextic)
    angles = _interactions(mmo_lines, "ANGLES, BEND AND STRETCH BEND ENERGIES")
    assert len(angles) == 1050
    for fields in angles:
        row = rows_at(by_line, int(fields[-1]), "angle")
        assert row.values["k"] / 71.94 == pytest.approx(
            float(fields[3]), abs=5.01e-4
        )  # printed to 3 decimals
        theta0 = row.values["theta0"] / DEG_TO_RAD
        assert theta0 == pytest.approx(float(fields[5]), abs=5.01e-4)
        energies = []
        for actual in (float(fields[6]) - 5e-4, float(fields[6]) + 5e-4):
            d = actual - theta0
            energies.append(KCAL_TO_KJ * row.values["k"] * (d * DEG_TO_RAD) ** 2 * _mm3(d, series))
        assert min(energies) - 6e-4 <= float(fields[7]) <= max(energies) + 6e-4


def test_continuation_lines_name_the_row_they_continue(final, by_line):
    """MacroModel reports line 115 (the O200 alternative of line 114's descriptors)."""
    assert by_line[115] == by_line[114] == (final.row("bond:N2-H3@114"), final.row("dipole:N2-H3@114"))


def test_opt_substructures(final, mmo_lines):
    subs = substructures(final)
    assert len(subs) == 18 and [s.index for s in subs if s.opt] == [17, 18]
    rh = subs[16]
    assert rh.pattern == "HX-RH(-PX)-HX.C2*C2(.2)-N2-C2=O2.2" and rh.line == 1857
    assert rh.name == "Rhodium catalyzed hydrogenation of enamides (RhH3-E / Eric) OPT"
    rows = opt_rows(final)
    assert len(rows) == 55 and {r.section for r in rows} == {rh.name}
    lines = sorted({r.line for r in rows})
    assert lines == [*range(1860, 1905), 1909, 1910]
    assert final.row("bond:1-2@1860").types == ("1", "2")  # pattern positions, as read
    assert final.row("bond:2-3@1862").values["k"] == pytest.approx(1.5293 * 71.94)  # alternate "a1" row
    # MacroModel names the substructure of every row it used: "Subst 17" / "Subst 18" and the line
    used = {}
    for line in mmo_lines:
        match = re.search(r"Subst\s+(\d+)\s.*\s(\d+)\s*$", line)
        if match:
            used[int(match.group(2))] = int(match.group(1))
    owner = {final.row(key).line: sub.index for sub in subs for key in sub.row_keys}
    assert {line: owner.get(line) for line in used} == used
    assert {1860, 1868, 1909} <= set(used)


def test_unchanged_files_are_written_byte_for_byte(fld_dir, final, start, tmp_path):
    for ff, name in ((final, "mm3.fld"), (start, "rh_hyd_enamide_start.fld")):
        write_forcefield(ff, tmp_path / name)
        assert (tmp_path / name).read_bytes() == (fld_dir / name).read_bytes()


def test_fitted_values_written_into_the_start_file_give_the_published_file(fld_dir, final, start, tmp_path):
    """The Q2MM fit changed only OPT rows; putting its values into the start file must
    reproduce mm3.fld exactly, columns and all."""
    fitted = {row.key: row for row in opt_rows(final)}
    changed = [attrs.evolve(r, values=fitted[r.key].values) if r.key in fitted else r for r in start.rows]
    assert sum(r.values != s.values for r, s in zip(changed, start.rows, strict=True)) == 31
    FLD.write(attrs.evolve(start, rows=changed), tmp_path / "fitted.fld")
    assert (tmp_path / "fitted.fld").read_bytes() == (fld_dir / "mm3.fld").read_bytes()


def test_a_changed_value_rewrites_only_its_columns(fld_dir, final, tmp_path):
    rows = [r.with_values(k=5.0 * 71.94) if r.key == "bond:C3-C3@72" else r for r in final.rows]
    rows = [r.with_values(moment=0.25) if r.key == "dipole:C2-C3@73" else r for r in rows]
    FLD.write(attrs.evolve(final, rows=rows), tmp_path / "x.fld")
    old = (fld_dir / "mm3.fld").read_text().splitlines(keepends=True)
    new = (tmp_path / "x.fld").read_text().splitlines(keepends=True)
    assert [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b] == [71, 72]
    assert new[71] == old[71][:34] + "    5.0000" + old[71][44:]
    assert new[72] == old[72][:45] + "    0.2500" + old[72][55:]
    back = FLD.read(tmp_path / "x.fld")
    assert back.row("bond:C3-C3@72").values["k"] == pytest.approx(5.0 * 71.94)


def test_a_zero_dipole_column_can_be_given_a_value(final, tmp_path):
    rows = [*final.rows, Row("dipole", ("C3", "C3"), {"moment": 0.5, "position": 0.5}, line=72)]
    FLD.write(attrs.evolve(final, rows=rows), tmp_path / "x.fld")
    assert FLD.read(tmp_path / "x.fld").row("dipole:C3-C3@72").values["moment"] == 0.5


def test_new_rows_go_into_their_block(final, tmp_path):
    new_bond = Row("bond", ("C3", "Si"), {"k": 3.0 * 71.94, "r0": 1.9})
    new_opt = Row(
        "angle",
        ("1", "2", "5"),
        {"k": 0.5 * 71.94, "theta0": 100 * DEG_TO_RAD},
        section=opt_rows(final)[0].section,
    )
    FLD.write(attrs.evolve(final, rows=[*final.rows, new_bond, new_opt]), tmp_path / "x.fld")
    back = FLD.read(tmp_path / "x.fld")
    (bond,) = [r for r in back.rows if r.types == ("C3", "Si") and r.kind == "bond" and r.values["r0"] == 1.9]
    assert bond.line == 167 and bond.section is None  # after the last main-section stretch (line 166)
    (angle,) = [r for r in back.rows if r.types == ("1", "2", "5")]
    assert angle.values["k"] == pytest.approx(0.5 * 71.94) and angle in opt_rows(back)
    assert len(back.rows) == len(final.rows) + 2


def test_what_an_fld_cannot_hold_is_refused(final, tmp_path):
    rows = [r.with_values(phase3=1.0) if r.key == "torsion:C3-C3-C3-C3@448" else r for r in final.rows]
    with pytest.raises(ConversionLossError, match="phase3"):
        FLD.write(attrs.evolve(final, rows=rows), tmp_path / "x.fld")
    rows = [r.with_values(k2=1.0) if r.key == "strbnd:00-C0-H1@437" else r for r in final.rows]
    with pytest.raises(ConversionLossError, match="holds one value"):
        FLD.write(attrs.evolve(final, rows=rows), tmp_path / "x.fld")
    rows = [r.with_values(k=1e9) if r.key == "bond:C3-C3@72" else r for r in final.rows]
    with pytest.raises(ConversionLossError, match="does not fit"):
        FLD.write(attrs.evolve(final, rows=rows), tmp_path / "x.fld")
    assert not (tmp_path / "x.fld").exists()


def test_a_fresh_file_from_main_section_rows_reads_back(final, tmp_path):
    main = [r for r in final.rows if r.section in (None, IMPROPER)]
    fresh = attrs.evolve(final, rows=main, source=None)
    assert FLD.losses(fresh) == []
    FLD.write(fresh, tmp_path / "fresh.fld")
    back = FLD.read(tmp_path / "fresh.fld")
    assert back.equivalences == final.equivalences
    key = lambda r: (r.kind, r.types, r.section, tuple(sorted(r.values.items())))  # noqa: E731
    assert [key(r)[:3] for r in sorted(back.rows, key=key)] == [key(r)[:3] for r in sorted(main, key=key)]
    np.testing.assert_allclose(
        [v for r in sorted(back.rows, key=key) for _, v in sorted(r.values.items())],
        [v for r in sorted(main, key=key) for _, v in sorted(r.values.items())],
        atol=1e-4 * 71.94,
    )
    assert any("substructure" in lost for lost in FLD.losses(attrs.evolve(final, source=None)))


@pytest.mark.parametrize(
    ("line", "text", "expected"),
    [
        (60, " 1  C3 - C3                1.51x7     4.4900     0.0000", "first value"),
        (60, " 1  C3 - C3                1.5177     4.49000000.0000", "blank column 45"),
        (60, " 1     - C3                1.5177     4.4900     0.0000", "atom type in columns 5-6"),
        (10, " 0    STR     2      601.99392", "STR equation 3"),
        (59, "-7", "section marker"),
        (1127, " 1  C2*C2*AA", "substructure pattern line"),
    ],
)
def test_bad_lines_name_file_line_and_what_was_expected(fld_dir, tmp_path, line, text, expected):
    lines = (fld_dir / "mm3.fld").read_text().splitlines()
    lines[line - 1] = text
    (tmp_path / "bad.fld").write_text("\n".join(lines) + "\n")
    with pytest.raises(ParseError, match=expected) as caught:
        FLD.read(tmp_path / "bad.fld")
    assert caught.value.line == line and caught.value.path == str(tmp_path / "bad.fld")
