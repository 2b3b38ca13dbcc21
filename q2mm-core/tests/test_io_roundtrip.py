"""Write, read back, compare: every force-field writer with its reader, on random force
fields (fresh files) and on random changes to real files (rewritten in place).

Values must come back to the precision the file prints: 4 decimals in the file's own
units for the fixed-column and free-format text files, 15 significant digits in XML.
"""

from __future__ import annotations

import math
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from q2mm.io import read_forcefield, write_forcefield
from q2mm.io.frcmod import CONVENTIONS as AMBER
from q2mm.io.mm3_fld import CONVENTIONS as MM3_STAR
from q2mm.io.mm3_fld import IMPROPER
from q2mm.model import Conventions, ForceField, FunctionalForm, Row
from q2mm.model.units import DEG_TO_RAD

FORCEFIELDS = Path(__file__).parent / "forcefields"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def values(**ranges: tuple[float, float]):
    return st.fixed_dictionaries({f: st.floats(lo, hi, allow_nan=False) for f, (lo, hi) in ranges.items()})


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("roundtrip")


def _round_trip(ff: ForceField, suffix: str, scratch: Path) -> ForceField:
    path = scratch / f"ff{suffix}"
    write_forcefield(ff, path)
    return read_forcefield(path)


def _same_rows(back: ForceField, ff: ForceField, tolerance) -> None:
    """Same rows (as multisets keyed by kind, types, section) with values within the
    printed precision ``tolerance(row, field)``."""
    key = lambda r: (r.kind, r.types, r.section or "")  # noqa: E731
    mine, theirs = sorted(ff.rows, key=key), sorted(back.rows, key=key)
    assert [key(r) for r in theirs] == [key(r) for r in mine]
    for new, old in zip(theirs, mine, strict=True):
        assert set(new.values) == set(old.values), (new, old)
        for field, value in old.values.items():
            assert new.values[field] == pytest.approx(value, abs=tolerance(old, field), rel=1e-12), (
                old,
                field,
            )


# --------------------------------------------------------------------------- MacroModel .fld

MM3_TYPE = st.sampled_from(
    ["C1", "C2", "C3", "H1", "H2", "O2", "O3", "N2", "N3", "F0", "Cl", "RH", "PX", "00"]
)
#: Canonical value of one file unit of each row's force constants (V/2 for torsions,
#: 60.19939/4.184 for the code-5 impropers).
MM3_SCALES = {"bond": 71.94, "angle": 71.94, "strbnd": 143.88, "torsion": 0.5, IMPROPER: 14.388}


def _improper(types: tuple[str, ...], values: dict[str, float]) -> Row:
    """A periodic improper; its own key, as it may share atom types with a proper torsion."""
    return Row("torsion", types, values, section=IMPROPER, key=f"periodic-improper:{'-'.join(types)}")


def _mm3_rows(draw) -> list[Row]:
    rows: list[Row] = []
    for types in draw(st.lists(st.tuples(MM3_TYPE, MM3_TYPE), max_size=4, unique=True)):
        v = draw(values(k=(0.01 * 71.94, 30 * 71.94), r0=(0.7, 3.0)))
        rows.append(Row("bond", types, v))
        if draw(st.booleans()):
            moment = draw(st.floats(0.01, 3.0)) * draw(st.sampled_from([-1, 1]))
            rows.append(Row("dipole", types, {"moment": moment, "position": 0.5}))
    for types in draw(st.lists(st.tuples(MM3_TYPE, MM3_TYPE, MM3_TYPE), max_size=4, unique=True)):
        rows.append(Row("angle", types, draw(values(k=(0.01 * 71.94, 5 * 71.94), theta0=(0.9, math.pi)))))
    for types in draw(st.lists(st.tuples(MM3_TYPE, MM3_TYPE, MM3_TYPE), max_size=2, unique=True)):
        k = draw(st.floats(-0.5 * 143.88, 0.5 * 143.88))
        rows.append(Row("strbnd", types, {"k1": k, "k2": k}))
    for types in draw(st.lists(st.tuples(MM3_TYPE, MM3_TYPE, MM3_TYPE, MM3_TYPE), max_size=4, unique=True)):
        orders = 6 if draw(st.booleans()) else 3
        v = {}
        for n in range(1, orders + 1):
            v[f"k{n}"] = draw(st.floats(-10.0, 10.0))
            v[f"phase{n}"] = 0.0 if n % 2 else math.pi
        rows.append(Row("torsion", types, v))
    for types in draw(st.lists(st.tuples(MM3_TYPE, MM3_TYPE, MM3_TYPE, MM3_TYPE), max_size=2, unique=True)):
        rows.append(_improper(types, {"k2": draw(st.floats(0.0, 20.0)), "phase2": math.pi}))
    for types in draw(st.lists(st.tuples(MM3_TYPE, MM3_TYPE), max_size=2, unique=True)):
        rows.append(Row("vdw_pair", types, draw(values(radius=(2.0, 5.0), epsilon=(0.0, 1.0)))))
    for atom in draw(st.lists(MM3_TYPE, max_size=4, unique=True)):
        v = draw(values(radius=(0.5, 3.0), epsilon=(0.001, 1.0)))
        if draw(st.booleans()):
            v["reduction"] = draw(st.floats(0.85, 0.99))
        rows.append(Row("vdw", (atom,), v))
        if draw(st.booleans()):
            rows.append(Row("charge", (atom,), {"q": draw(st.floats(-2, 2).filter(lambda q: abs(q) > 1e-3))}))
    return rows


@st.composite
def mm3_forcefields(draw) -> ForceField:
    return ForceField(FunctionalForm.MM3, _mm3_rows(draw), conventions=MM3_STAR, name="random")


def _mm3_tolerance(row: Row, field: str) -> float:
    if field.startswith("phase"):
        return 1e-12
    if field == "theta0":
        return 5e-5 * DEG_TO_RAD
    scale = MM3_SCALES.get(row.section if row.section == IMPROPER else row.kind, 1.0)
    return 5.01e-5 * (scale if field.startswith("k") else 1.0)


@SETTINGS
@given(mm3_forcefields())
def test_mm3_fld_fresh_round_trip(scratch, ff):
    back = _round_trip(ff, ".fld", scratch)
    assert back.conventions == MM3_STAR and back.form == "mm3"
    _same_rows(back, ff, _mm3_tolerance)


@pytest.fixture(scope="module")
def rh_fld(data_dir):
    return read_forcefield(data_dir / "rh-enamide" / "mm3.fld")


@settings(SETTINGS, max_examples=15)
@given(data=st.data())
def test_mm3_fld_changed_in_place_round_trip(scratch, rh_fld, data):
    """Random new values for random rows of the real file; every other line stays as it was."""
    changed = {}
    for index in data.draw(
        st.lists(st.integers(0, len(rh_fld.rows) - 1), min_size=1, max_size=8, unique=True)
    ):
        row = rh_fld.rows[index]
        new = {}
        for field, value in row.values.items():
            if field.startswith("phase") or field == "position":
                new[field] = value
            elif row.kind == "strbnd":
                new[field] = new.get("k1", value * data.draw(st.floats(0.5, 2.0)))
            else:
                new[field] = value * data.draw(st.floats(0.5, 1.5)) + data.draw(st.floats(-0.5, 0.5))
        changed[row.key] = attrs.evolve(row, values=new)
    ff = attrs.evolve(rh_fld, rows=[changed.get(r.key, r) for r in rh_fld.rows])
    back = _round_trip(ff, ".fld", scratch)
    assert [r.key for r in back.rows if r.kind != "dipole" and r.kind != "charge"] == [
        r.key for r in ff.rows if r.kind != "dipole" and r.kind != "charge"
    ]
    rows = {r.key: r for r in back.rows}
    for key, row in changed.items():
        for field, value in row.values.items():
            if row.kind in ("dipole", "charge") and abs(value) < 5e-5:
                assert key not in rows  # printed as zero: no row
                continue
            assert rows[key].values.get(field, 1.0) == pytest.approx(value, abs=_mm3_tolerance(row, field))
    lines = {row.line for row in changed.values()}
    old = rh_fld.source.lines
    rewritten = {i + 1 for i, (a, b) in enumerate(zip(old, back.source.lines, strict=True)) if a != b}
    assert rewritten <= lines  # only the lines of changed rows differ


# --------------------------------------------------------------------------- Tinker .prm

CLASS = st.integers(1, 120).map(str)


@st.composite
def tinker_conventions(draw) -> Conventions:
    series = ("bond_cubic", "bond_quartic", "angle_cubic", "angle_quartic", "angle_pentic", "angle_sextic",
              "opbend_cubic", "opbend_quartic", "opbend_pentic", "opbend_sextic")  # fmt: skip
    return Conventions(
        **{name: draw(st.floats(-5, 5)) for name in series},
        vdw_form=draw(st.sampled_from(["lennard-jones", "buckingham"])),
        vdw_a=draw(st.floats(1e3, 1e6)),
        vdw_b=draw(st.floats(5, 20)),
        vdw_c=draw(st.floats(0.5, 5)),
        vdw_scale_14=draw(st.floats(0, 1)),
        elec_scale_14=draw(st.floats(0, 1)),
        dielectric=draw(st.floats(1, 80)),
        electric=draw(st.floats(330, 333)),
    )


@st.composite
def tinker_forcefields(draw) -> ForceField:
    conventions = draw(tinker_conventions())
    rows = []
    n = lambda c: st.lists(st.tuples(*[CLASS] * c), max_size=3, unique=True)  # noqa: E731
    for types in draw(n(2)):
        rows.append(Row("bond", types, draw(values(k=(1, 2000), r0=(0.7, 3.0)))))
        rows.append(Row("dipole", types, draw(values(moment=(-3, 3), position=(0.1, 0.9)))))
        rows.append(Row("vdw_pair", types, draw(values(radius=(2, 5), epsilon=(0, 1)))))
    for types in draw(n(3)):
        angle = draw(
            values(k=(1, 500), theta0=(0.9, math.pi), theta0_h1=(0.9, math.pi), theta0_h2=(0.9, math.pi))
        )
        rows.append(
            Row("angle", types, angle if draw(st.booleans()) else {f: angle[f] for f in ("k", "theta0")})
        )
        rows.append(Row("strbnd", types, draw(values(k1=(-50, 50), k2=(-50, 50)))))
        rows.append(Row("urey_bradley", types, draw(values(k=(1, 100), r0=(1.5, 3)))))
    for types in draw(n(4)):
        orders = draw(st.lists(st.integers(1, 6), min_size=1, max_size=4, unique=True))
        torsion = {}
        for order in orders:
            torsion |= {f"k{order}": draw(st.floats(-10, 10)), f"phase{order}": draw(st.floats(0, math.pi))}
        rows.append(_improper(types, torsion) if draw(st.booleans()) else Row("torsion", types, torsion))
        rows.append(Row("opbend", types, draw(values(k=(0, 50)))))
        rows.append(Row("improper", types, draw(values(k=(0, 50), phi0=(-1, 1)))))
    for (atom,) in draw(n(1)):
        vdw = draw(values(radius=(0.5, 3), epsilon=(0.001, 1), reduction=(0.8, 1)))
        rows.append(
            Row("vdw", (atom,), vdw if draw(st.booleans()) else {f: vdw[f] for f in ("radius", "epsilon")})
        )
        rows.append(Row("charge", (atom,), draw(values(q=(-2, 2)))))
    form = draw(st.sampled_from(list(FunctionalForm)))
    return ForceField(form, rows, conventions=conventions, name=draw(st.sampled_from(["MM3-2000", "fit"])))


def _tinker_tolerance(ff: ForceField):
    mm3 = ff.form == FunctionalForm.MM3
    scales = {"bond": 71.94, "angle": 71.94, "opbend": 71.94, "strbnd": 143.88} if mm3 else {}

    def tolerance(row: Row, field: str) -> float:
        if field.startswith(("theta0", "phase", "phi0")):
            return 5.01e-5 * DEG_TO_RAD
        if field == "k" and row.kind == "improper":
            return 5.01e-5  # impropunit (π/180)² with k per degree²: kcal/mol/rad² as written
        if row.kind == "torsion" and field.startswith("k"):
            return 5.01e-5 * (0.5 if mm3 and row.section is None else 1.0)
        return 5.01e-5 * (scales.get(row.kind, 1.0) if field.startswith("k") else 1.0)

    return tolerance


@SETTINGS
@given(tinker_forcefields())
def test_tinker_prm_fresh_round_trip(scratch, ff):
    back = _round_trip(ff, ".prm", scratch)
    assert back.conventions == ff.conventions
    anharmonic = any(
        getattr(ff.conventions, f) for f in ("bond_cubic", "bond_quartic", "angle_cubic", "angle_quartic")
    )
    mm3 = anharmonic or ff.conventions.vdw_form == "buckingham" or ff.name == "MM3-2000"
    expected_form = FunctionalForm.MM3 if mm3 else FunctionalForm.HARMONIC
    assert back.form == expected_form
    _same_rows(back, attrs.evolve(ff, form=expected_form), _tinker_tolerance(ff))


@SETTINGS
@given(data=st.data())
def test_tinker_prm_changed_in_place_round_trip(scratch, data):
    ff = read_forcefield(FORCEFIELDS / "mm3-ch3f.prm")
    factors = data.draw(st.lists(st.floats(0.5, 2.0), min_size=len(ff.vector()), max_size=len(ff.vector())))
    changed = ff.with_vector(ff.vector() * factors)
    back = _round_trip(changed, ".prm", scratch)
    _same_rows(back, changed, _tinker_tolerance(ff))
    parameter_lines = {row.line for row in ff.rows}
    assert [line for n, line in enumerate(back.source.lines, 1) if n not in parameter_lines] == [
        line for n, line in enumerate(ff.source.lines, 1) if n not in parameter_lines
    ]


# --------------------------------------------------------------------------- Amber frcmod

AMBER_TYPE = st.sampled_from(["c3", "hc", "ca", "ha", "n", "o", "X", "CT", "H1", "c", "os", "N*"])


@st.composite
def amber_forcefields(draw) -> ForceField:
    rows = []
    for types in draw(st.lists(st.tuples(AMBER_TYPE, AMBER_TYPE), max_size=4, unique=True)):
        rows.append(Row("bond", types, draw(values(k=(10, 1000), r0=(0.9, 2.5)))))
    for types in draw(st.lists(st.tuples(AMBER_TYPE, AMBER_TYPE, AMBER_TYPE), max_size=4, unique=True)):
        rows.append(Row("angle", types, draw(values(k=(10, 200), theta0=(1.5, math.pi)))))
    for types in draw(st.lists(st.tuples(*[AMBER_TYPE] * 4), max_size=4, unique=True)):
        torsion = {}
        for order in draw(st.lists(st.integers(1, 6), min_size=1, max_size=4, unique=True)):
            torsion |= {
                f"k{order}": draw(st.floats(-5, 5)),
                f"phase{order}": draw(st.sampled_from([0.0, math.pi])),
            }
        rows.append(_improper(types, torsion) if draw(st.booleans()) else Row("torsion", types, torsion))
    for (atom,) in draw(st.lists(st.tuples(AMBER_TYPE), max_size=4, unique=True)):
        rows.append(Row("vdw", (atom,), draw(values(radius=(0.3, 2.5), epsilon=(0, 1)))))
    return ForceField(FunctionalForm.HARMONIC, rows, conventions=AMBER, name="random")


def _amber_tolerance(row: Row, field: str) -> float:
    return 5.01e-5 * (DEG_TO_RAD if field.startswith(("theta0", "phase")) else 1.0)


@SETTINGS
@given(amber_forcefields())
def test_frcmod_fresh_round_trip(scratch, ff):
    back = _round_trip(ff, ".frcmod", scratch)
    assert back.conventions == AMBER and back.form == "harmonic"
    _same_rows(back, ff, _amber_tolerance)


@SETTINGS
@given(st.lists(st.floats(0.5, 2.0), min_size=4, max_size=4), st.integers(0, 135))
def test_frcmod_changed_in_place_round_trip(scratch, factors, start):
    ff = read_forcefield(FORCEFIELDS / "thiohemiacetal-ts.frcmod")
    vector = ff.vector()
    vector[start : start + 4] *= factors[: len(vector[start : start + 4])]
    changed = ff.with_vector(vector)
    _same_rows(_round_trip(changed, ".frcmod", scratch), changed, _amber_tolerance)


# --------------------------------------------------------------------------- OpenMM XML

XML_NAME = st.text(st.sampled_from("abcXYZ019_-+*&<>\"' "), min_size=1, max_size=4)


@st.composite
def openmm_forcefields(draw) -> ForceField:
    mm3 = draw(st.booleans())
    scales = dict(vdw_scale_14=draw(st.sampled_from([0.0, 1.0])) if mm3 else draw(st.floats(0, 1)),
                  elec_scale_14=draw(st.floats(0, 1)))  # fmt: skip
    conventions = attrs.evolve(
        Conventions.mm3(), dielectric=1.0, opbend_cubic=0.0, opbend_quartic=0.0, opbend_pentic=0.0,
        opbend_sextic=0.0, **scales
    ) if mm3 else Conventions(**scales)  # fmt: skip
    rows = []
    for types in draw(st.lists(st.tuples(XML_NAME, XML_NAME), max_size=3, unique=True)):
        rows.append(Row("bond", types, draw(values(k=(1, 2000), r0=(0.7, 3.0)))))
    for types in draw(st.lists(st.tuples(XML_NAME, XML_NAME, XML_NAME), max_size=3, unique=True)):
        rows.append(Row("angle", types, draw(values(k=(1, 500), theta0=(0.9, math.pi)))))
    for types in draw(st.lists(st.tuples(*[XML_NAME] * 4), max_size=3, unique=True)):
        torsion = {}
        for order in draw(st.lists(st.integers(1, 6), min_size=1, max_size=4, unique=True)):
            torsion |= {f"k{order}": draw(st.floats(-10, 10)), f"phase{order}": draw(st.floats(0, math.pi))}
        rows.append(_improper(types, torsion) if draw(st.booleans()) else Row("torsion", types, torsion))
    for (atom,) in draw(st.lists(st.tuples(XML_NAME), min_size=1, max_size=3, unique=True)):
        rows.append(Row("vdw", (atom,), draw(values(radius=(0.5, 3), epsilon=(0.001, 1)))))
        rows.append(Row("charge", (atom,), draw(values(q=(-2, 2)))))
    return ForceField(FunctionalForm.MM3 if mm3 else FunctionalForm.HARMONIC, rows, conventions=conventions)


@SETTINGS
@given(openmm_forcefields())
def test_openmm_xml_fresh_round_trip(scratch, ff):
    back = _round_trip(ff, ".xml", scratch)
    assert back.form == ff.form
    if ff.form == FunctionalForm.MM3:  # the MM3 constants travel with the custom forces that use them
        stated = ["vdw_a", "vdw_b", "vdw_c", "vdw_scale_14"]
        stated += ["bond_cubic", "bond_quartic"] if ff.rows_of("bond") else []
        stated += (
            ["angle_cubic", "angle_quartic", "angle_pentic", "angle_sextic"] if ff.rows_of("angle") else []
        )
        for field in stated:
            assert getattr(back.conventions, field) == pytest.approx(
                getattr(ff.conventions, field), rel=1e-13
            )
        assert back.conventions.vdw_form == "buckingham"
    else:
        assert back.conventions.vdw_scale_14 == pytest.approx(
            ff.conventions.vdw_scale_14, rel=1e-13, abs=1e-300
        )
    assert back.conventions.elec_scale_14 == pytest.approx(
        ff.conventions.elec_scale_14, rel=1e-13, abs=1e-300
    )
    _same_rows(back, ff, lambda row, field: 1e-13)


@SETTINGS
@given(data=st.data())
def test_openmm_xml_changed_in_place_round_trip(scratch, data, openmm_data):
    ff = read_forcefield(openmm_data / "tip3p.xml")
    factors = data.draw(st.lists(st.floats(0.5, 2.0), min_size=len(ff.vector()), max_size=len(ff.vector())))
    changed = ff.with_vector(ff.vector() * factors)
    back = _round_trip(changed, ".xml", scratch)
    _same_rows(back, changed, lambda row, field: 1e-13)
    lines_with_values = {row.line for row in ff.rows}
    assert [line for n, line in enumerate(back.source.lines, 1) if n not in lines_with_values] == [
        line for n, line in enumerate(ff.source.lines, 1) if n not in lines_with_values
    ]
