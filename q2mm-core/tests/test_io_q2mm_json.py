"""q2mm's JSON force-field document: every row kind and convention comes back exactly
(an estimated MM3 force field with stretch-bends, the published Rh-enamide MM3* file,
random values), a damaged document is a ParseError naming the file and the JSON path,
and a fit from an estimate writes ``fitted.json`` (and ``fitted.xml`` where OpenMM XML
holds every term) that a later run or evaluation reads."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from q2mm.cli import main
from q2mm.config import load_config
from q2mm.errors import ConversionLossError, ParseError
from q2mm.estimate import estimate_forcefield
from q2mm.io import read_forcefield, read_structures, write_forcefield
from q2mm.io.conversion import lossy_terms
from q2mm.io.q2mm_json import Q2MMJson, document
from q2mm.model import Conventions, ForceField, FunctionalForm, Row, StationaryPoint
from q2mm.run.prepare import _output_paths
from q2mm.testing.registry import testing_registry as with_test_engines

JSON = Q2MMJson()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("q2mm-json")


def _estimate(data_dir: Path, form: str = "mm3", name: str = "acetaldehyde") -> ForceField:
    """A structure estimated without a template: bonds, angles, torsions and, for
    acetaldehyde, an out-of-plane term at the carbonyl carbon; MM3 adds stretch-bends."""
    path = data_dir / "validation" / name / f"{name}-hessian.npy"
    molecule = read_structures(path)[0].with_(stationary_point=StationaryPoint("ground_state"))
    return estimate_forcefield([molecule], form=form)


def _assert_same(back: ForceField, ff: ForceField) -> None:
    assert back.rows == ff.rows  # kind, types, values, key, line, section, comment
    assert [r.key for r in back.rows] == [r.key for r in ff.rows]
    assert back.parameter_ids() == ff.parameter_ids()
    assert [v.hex() for v in back.vector()] == [v.hex() for v in ff.vector()]
    assert back.conventions == ff.conventions
    assert (back.form, back.name, dict(back.equivalences)) == (ff.form, ff.name, dict(ff.equivalences))


def test_an_estimated_mm3_force_field_with_stretch_bends_round_trips(data_dir, tmp_path):
    ff = _estimate(data_dir)
    assert {"bond", "angle", "torsion", "opbend", "strbnd"} == ff.kinds()
    assert any("strbnd" in lost for lost in lossy_terms(ff, "openmm-xml"))  # why the format exists
    assert lossy_terms(ff, "q2mm-json") == [] and JSON.losses(ff) == []
    write_forcefield(ff, tmp_path / "ff.json")
    _assert_same(read_forcefield(tmp_path / "ff.json"), ff)
    assert [p.name for p in tmp_path.iterdir()] == ["ff.json"]  # no temporary file left
    text = (tmp_path / "ff.json").read_text()
    assert json.loads(text)["units"]["energy"] == "kcal/mol"
    assert sum(line.lstrip().startswith('{"kind"') for line in text.splitlines()) == len(
        ff.rows
    )  # a row a line


def test_a_real_mm3_fld_round_trips_with_its_sections_lines_and_comments(data_dir, tmp_path):
    ff = read_forcefield(data_dir / "rh-enamide" / "mm3.fld")
    assert any(r.section for r in ff.rows) and any(r.comment for r in ff.rows) and ff.equivalences
    # Bend-bend and other text-only MM3* terms are no rows: refused as any conversion would.
    with pytest.raises(ConversionLossError, match="bend-bend"):
        write_forcefield(ff, tmp_path / "mm3.json")
    write_forcefield(ff, tmp_path / "mm3.json", allow_loss=True)
    back = read_forcefield(tmp_path / "mm3.json")
    _assert_same(back, ff)
    assert back.source is None


FINITE = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def forcefields(draw) -> ForceField:
    rows = [
        Row("bond", ("C", "H"), {"k": draw(FINITE), "r0": draw(FINITE)}),
        Row(
            "strbnd",
            ("C", "C", "O"),
            {"k1": draw(FINITE), "k2": draw(FINITE)},
            line=draw(st.integers(1, 9999)),
        ),
        Row(
            "torsion",
            ("H", "C", "C", "O"),
            {f"{p}{n}": draw(FINITE) for n in (1, 2, 3) for p in ("k", "phase")},
            section=draw(st.text(max_size=8)),
            comment=draw(st.text(max_size=12)),
        ),
        Row("vdw", ("C",), {"radius": draw(FINITE), "epsilon": draw(FINITE)}),
    ]
    conventions = Conventions(bond_cubic=draw(FINITE), angle_sextic=draw(FINITE), vdw_form=draw(st.text()))
    return ForceField(FunctionalForm.MM3, rows, conventions=conventions, name=draw(st.text(max_size=8)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ff=forcefields())
def test_random_finite_values_come_back_exactly(scratch, ff):
    path = scratch / "random.json"
    JSON.write(ff, path)
    _assert_same(JSON.read(path), ff)


def _damage(doc: dict, change) -> dict:
    doc = json.loads(json.dumps(doc))
    change(doc)
    return doc


def _set(*path, value=None, delete=False):
    def change(doc):
        for part in path[:-1]:
            doc = doc[part]
        if delete:
            del doc[path[-1]]
        else:
            doc[path[-1]] = value

    return change


DAMAGE = {
    "other format": (
        _set("format", value="openmm"),
        r"expected one of \"q2mm.forcefield\" at format, found 'openmm'",
    ),
    "no format": (_set("format", delete=True), r"expected one of \"q2mm.forcefield\" at format$"),
    "other version": (_set("version", value=2), r"expected one of 1 at version, found 2"),
    "no version": (_set("version", delete=True), r"expected one of 1 at version$"),
    "other units": (
        _set("units", "length", value="nm"),
        r"expected one of \"angstrom\" at units.length, found 'nm'",
    ),
    "unknown kind": (
        _set("rows", 1, "kind", value="bend"),
        r"expected one of \"bond\", .* at rows\[1\].kind, found 'bend'",
    ),
    "unknown convention": (
        _set("conventions", "bond_sextic", value=0.0),
        r"expected one of the entries bond_cubic, .* at conventions.bond_sextic, found 'bond_sextic'",
    ),
    "missing convention": (
        _set("conventions", "dielectric", delete=True),
        r"expected an entry at conventions.dielectric \(it is missing\)",
    ),
    "text value": (
        _set("rows", 3, "values", "k", value="abc"),
        r"expected a finite number at rows\[3\].values.k, found 'abc'",
    ),
    "true value": (
        _set("rows", 3, "values", "k", value=True),
        r"expected a finite number at rows\[3\].values.k, found True",
    ),
    "infinite value": (
        _set("rows", 0, "values", "r0", value=1e400),
        r"expected a finite number at rows\[0\].values.r0, found inf",
    ),
    "text convention": (
        _set("conventions", "bond_cubic", value="-2.55"),
        r"expected a finite number at conventions.bond_cubic",
    ),
    "missing key": (
        _set("rows", 2, "key", delete=True),
        r"expected an entry at rows\[2\].key \(it is missing\)",
    ),
    "empty key": (
        _set("rows", 2, "key", value=""),
        r"expected a non-empty string at rows\[2\].key, found ''",
    ),
    "duplicate key": (
        lambda doc: doc["rows"][1].update(key=doc["rows"][0]["key"]),
        r"expected a key no other row has at rows\[1\].key, found 'bond:",
    ),
    "unknown row entry": (
        _set("rows", 0, "charge", value=1),
        r"expected one of the entries kind, .* at rows\[0\].charge",
    ),
    "no types": (
        _set("rows", 0, "types", value=[]),
        r"expected a non-empty array of atom types at rows\[0\].types",
    ),
    "numeric type": (
        _set("rows", 0, "types", 1, value=6),
        r"expected a string at rows\[0\].types\[1\], found 6",
    ),
    "bad line": (
        _set("rows", 0, "line", value=0),
        r"expected a line number \(1 or more\) or null at rows\[0\].line",
    ),
    "unknown form": (
        _set("form", value="amoeba"),
        r"expected one of \"harmonic\", \"mm3\" at form, found 'amoeba'",
    ),
    "rows not an array": (_set("rows", value={}), r"expected a JSON array at rows, found \{\}"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_a_damaged_document_names_the_file_and_the_json_path(data_dir, tmp_path, case):
    change, message = DAMAGE[case]
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(_damage(document(_estimate(data_dir, "harmonic")), change)))
    with pytest.raises(ParseError, match=f"^{re.escape(str(path))}: {message}") as caught:
        read_forcefield(path)
    assert caught.value.path == str(path)


def test_a_file_that_is_not_json_is_a_parse_error_with_its_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "format": "q2mm.forcefield",\n  "version": 1,\n  oops\n}\n')
    with pytest.raises(ParseError, match=re.escape(f"{path}:4: expected a JSON document")):
        read_forcefield(path)
    with pytest.raises(ParseError, match="expected a JSON object at the top level, found"):
        (tmp_path / "list.json").write_text("[]")
        read_forcefield(tmp_path / "list.json")


# --------------------------------------------------------------------------- runs

CONFIG = """
engine = "harmonic-numpy"
optimizer = "scipy:lbfgsb"
output = "out"

[optimizer_options]
max_iterations = 5

[forcefield]
{forcefield}

[[structures]]
file = "ch3f-hessian.npy"
kind = "ground_state"
"""


def q2mm(*args: str):
    return CliRunner().invoke(main, list(args), obj=with_test_engines())


def test_an_estimated_run_writes_json_and_xml_and_the_json_is_read_again(tmp_path, data_dir):
    for name in ("ch3f-optimized.xyz", "ch3f-hessian.npy", "ch3f-frequencies.txt", "ch3f-energy.txt"):
        shutil.copy(data_dir / "ch3f" / name, tmp_path / name)
    config = tmp_path / "q2mm.toml"
    config.write_text(CONFIG.format(forcefield='estimate = "fuerza"\nform = "harmonic"'))
    run = q2mm("run", str(config), "--json", "--quiet")
    assert run.exit_code == 0, run.output
    result = json.loads(run.stdout)
    assert result["files"] == ["fitted.json", "fitted.xml"]
    final = {p["id"]: p["final"] for p in result["parameters"]}
    fitted = read_forcefield(tmp_path / "out" / "fitted.json")
    on_file = dict(zip(fitted.parameter_ids(), fitted.vector(), strict=True))
    assert {pid: on_file[pid] for pid in final} == final  # same ids, exact values
    xml = read_forcefield(tmp_path / "out" / "fitted.xml")
    assert sorted(xml.vector()) == pytest.approx(sorted(fitted.vector()), rel=1e-12)

    evaluated = q2mm(
        "evaluate", str(config), "--forcefield", str(tmp_path / "out" / "fitted.json"), "--json", "--quiet"
    )
    assert evaluated.exit_code == 0, evaluated.output
    # scored without the tether's share: it measures a run's move from its own start
    unmoved = result["score"]["final"] - result["score"]["by_residual"]["tether"]
    assert json.loads(evaluated.stdout)["score"]["final"] == pytest.approx(unmoved, rel=1e-9)

    config.write_text(CONFIG.format(forcefield='file = "out/fitted.json"').replace('"out"', '"again"'))
    again = q2mm("run", str(config), "--json", "--quiet")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["files"] == ["fitted.json"]
    assert json.loads(again.stdout)["score"]["initial"] == pytest.approx(unmoved, rel=1e-9)


def test_an_estimate_gets_openmm_xml_beside_its_json_only_where_xml_holds_every_term(data_dir, tmp_path):
    cfg = attrs.evolve(load_config(_config(tmp_path, data_dir)), output=tmp_path / "out")
    plain = _estimate(data_dir, "harmonic", "oxirane")  # bonds, angles, torsions: XML holds them
    assert [p.name for p in _output_paths(cfg, plain)] == ["fitted.json", "fitted.xml"]
    assert [p.name for p in _output_paths(cfg, _estimate(data_dir))] == ["fitted.json"]  # stretch-bends
    asked = attrs.evolve(cfg, forcefield=attrs.evolve(cfg.forcefield, write=(tmp_path / "fitted.xml",)))
    assert [p.name for p in _output_paths(asked, plain)] == ["fitted.json", "fitted.xml"]  # once


def _config(tmp_path: Path, data_dir: Path) -> Path:
    shutil.copy(data_dir / "ch3f" / "ch3f-hessian.npy", tmp_path / "ch3f-hessian.npy")
    shutil.copy(data_dir / "ch3f" / "ch3f-optimized.xyz", tmp_path / "ch3f-optimized.xyz")
    config = tmp_path / "q2mm.toml"
    config.write_text(CONFIG.format(forcefield='estimate = "qfuerza"'))
    return config
