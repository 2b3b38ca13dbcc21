"""The parameter space: selection, tying, bounds, the NumPy/JAX expansion and the saved
layout, on the real Rh-enamide MM3* force field and a CH₃F estimate."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from q2mm.errors import ConfigError, FitFailure
from q2mm.estimate import estimate_forcefield
from q2mm.io.mm3_fld import MM3Fld, opt_rows
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import ForceField, FunctionalForm, Row
from q2mm.parameters import PHYSICAL_BOUNDS, ParameterSpace


@pytest.fixture(scope="module")
def fld(data_dir) -> ForceField:
    return MM3Fld().read(data_dir / "rh-enamide/rh_hyd_enamide_start.fld")


@pytest.fixture(scope="module")
def ch3f_ff(data_dir) -> ForceField:
    ch3f = read_bundle(data_dir / "ch3f/ch3f-optimized.xyz", data_dir / "ch3f/ch3f-hessian.npy")
    return estimate_forcefield([ch3f.with_(stationary_point="ground_state")], method="fuerza")


def active_pairs(space: ParameterSpace) -> set[tuple[str, str]]:
    rows = {r.key: r for r in space.forcefield.rows}
    out = set()
    for group in space.groups:
        for i in group:
            key, _, field = space.all_ids[i].rpartition(".")
            out.add((rows[key].kind, field))
    return out


def test_default_active_set(fld):
    space = ParameterSpace.from_forcefield(fld)
    kinds_fields = active_pairs(space)
    assert kinds_fields <= {
        ("bond", "k"),
        ("bond", "r0"),
        ("angle", "k"),
        ("angle", "theta0"),
        ("strbnd", "k1"),
        ("strbnd", "k2"),
        ("opbend", "k"),
    } | {("torsion", f"k{n}") for n in range(1, 7)}
    assert {("bond", "k"), ("angle", "theta0"), ("torsion", "k2"), ("strbnd", "k1")} <= kinds_fields
    # Every default-active parameter of the file is there, once, in parameter-id order.
    expected = [
        pid
        for row in fld.rows
        for pid in (f"{row.key}.{f}" for f in row.fields)
        if (row.kind, pid.rpartition(".")[2]) in kinds_fields
    ]
    assert space.ids == expected
    assert space.size == len(expected)
    assert np.allclose(space.x0, fld.vector()[[g[0] for g in space.groups]])


def test_only_the_opt_substructure(fld):
    space = ParameterSpace.from_forcefield(fld, sections=["*OPT"])
    opt = {r.key for r in opt_rows(fld)}
    keys = {space.all_ids[i].rpartition(".")[0] for g in space.groups for i in g}
    assert keys and keys <= opt
    # The OPT rows' force constants and ideal values (torsions: k1..k3) are all active.
    assert len(space.ids) == sum(
        {"bond": 2, "angle": 2, "torsion": sum(1 for f in r.fields if f.startswith("k"))}.get(r.kind, 0)
        for r in opt_rows(fld)
    )
    only_k = ParameterSpace.from_forcefield(fld, sections=["*OPT"], kinds=["bond"], fields=["k"])
    assert all(i.endswith(".k") and i.startswith("bond:") for i in only_k.ids)


def test_kinds_without_fields_take_all_fields_of_a_kind_with_no_default(fld):
    space = ParameterSpace.from_forcefield(fld, kinds=["vdw"], rows=["vdw:RH@*"])
    assert space.ids == ["vdw:RH@1064.radius", "vdw:RH@1064.epsilon"]


def test_tied_rows_move_together(ch3f_ff):
    space = ParameterSpace.from_forcefield(ch3f_ff, tie=[["angle:F-C.3-H", "angle:H-C.3-H"]])
    assert "angle:F-C.3-H.k|angle:H-C.3-H.k" in space.ids
    g = space.ids.index("angle:F-C.3-H.k|angle:H-C.3-H.k")
    start = [ch3f_ff.row("angle:F-C.3-H").values["k"], ch3f_ff.row("angle:H-C.3-H").values["k"]]
    assert space.x0[g] == pytest.approx(np.mean(start))
    x = np.array(space.x0)
    x[g] = 41.5
    fitted = space.forcefield_at(x)
    assert fitted.row("angle:F-C.3-H").values["k"] == fitted.row("angle:H-C.3-H").values["k"] == 41.5
    # Rows tied by key share every active field; parameter ids tie just those.
    assert "angle:F-C.3-H.theta0|angle:H-C.3-H.theta0" in space.ids
    only_k = ParameterSpace.from_forcefield(ch3f_ff, tie=[["angle:F-C.3-H.k", "angle:H-C.3-H.k"]])
    assert only_k.size == space.size + 1
    assert {"angle:F-C.3-H.theta0", "angle:H-C.3-H.theta0", "angle:F-C.3-H.k|angle:H-C.3-H.k"} <= set(
        only_k.ids
    )
    with pytest.raises(ConfigError, match="bond:C-X"):
        ParameterSpace.from_forcefield(ch3f_ff, tie=[["bond:C.3-H", "bond:C-X"]])
    with pytest.raises(ConfigError, match="mixes"):
        ParameterSpace.from_forcefield(ch3f_ff, tie=[["bond:C.3-H", "angle:H-C.3-H"]])


def test_negative_force_constants_are_refused_unless_allowed(ch3f_ff):
    row = ch3f_ff.row("bond:C.3-H")
    negative = ForceField(
        ch3f_ff.form, [r if r.key != row.key else row.with_values(k=-10.0) for r in ch3f_ff.rows]
    )
    with pytest.raises(ConfigError, match=r"bond:C.3-H\.k"):
        ParameterSpace.from_forcefield(negative)
    space = ParameterSpace.from_forcefield(negative, allow_negative=True)
    lower, upper = space.bounds[space.ids.index("bond:C.3-H.k")]
    assert lower == -upper == -PHYSICAL_BOUNDS["bond"]["k"][1]
    # Ideal values never go negative, whatever is allowed.
    assert space.bounds[space.ids.index("bond:C.3-H.r0")][0] > 0


def test_fractional_bounds_and_refusing_results_outside(ch3f_ff):
    space = ParameterSpace.from_forcefield(ch3f_ff, fractional_bounds=0.25)
    for x0, (lo, hi), pid in zip(space.x0, space.bounds, space.ids, strict=True):
        kind, field = ch3f_ff.row(pid.rpartition(".")[0]).kind, pid.rpartition(".")[2]
        plo, phi = PHYSICAL_BOUNDS[kind][field]
        if x0 == 0.0:
            assert (lo, hi) == (plo, phi)
        else:
            assert lo == pytest.approx(max(plo, 0.75 * x0)) and hi == pytest.approx(min(phi, 1.25 * x0))
    x = np.array(space.x0)
    x[0] = space.upper[0] * 1.01
    with pytest.raises(FitFailure, match=space.ids[0]):
        space.forcefield_at(x)
    with pytest.raises(ConfigError):
        ParameterSpace.from_forcefield(ch3f_ff, fractional_bounds=-0.1)


def test_expand_is_the_same_on_numpy_and_jax(fld, jax):
    jnp = jax.numpy
    space = ParameterSpace.from_forcefield(fld, sections=["*OPT"], tie=[["bond:2-3@1861", "bond:2-3@1862"]])
    rng = np.random.default_rng(7)
    x = np.array(space.x0) * (1 + 0.1 * rng.standard_normal(space.size))
    by_numpy = space.expand(x)
    by_jax = jax.jit(lambda v: space.expand(v, jnp))(jnp.asarray(x))
    assert np.array_equal(np.asarray(by_jax), by_numpy)
    assert np.array_equal(by_numpy, space.forcefield.with_vector(by_numpy).vector())
    # d(Σ values)/dx counts how many parameters each fitted value sets (2 where tied).
    grad = jax.grad(lambda v: jnp.sum(space.expand(v, jnp)))(jnp.asarray(x))
    assert np.array_equal(np.asarray(grad), [len(g) for g in space.groups])
    assert max(len(g) for g in space.groups) == 2
    frozen = np.setdiff1d(np.arange(len(by_numpy)), [i for g in space.groups for i in g])
    assert np.array_equal(by_numpy[frozen], fld.vector()[frozen])


def test_layout_round_trip(fld, tmp_path):
    space = ParameterSpace.from_forcefield(
        fld, sections=["*OPT"], tie=[["bond:2-3@1861", "bond:2-3@1862"]], fractional_bounds=0.5
    )
    text = json.dumps(space.to_dict())
    again = ParameterSpace.from_dict(json.loads(text), fld)
    assert again.ids == space.ids and again.groups == space.groups
    assert np.array_equal(again.x0, space.x0) and again.bounds == space.bounds
    x = np.array(space.x0) * 1.01
    assert np.array_equal(again.expand(x), space.expand(x))
    other = Row("bond", ("Zz", "Zz"), {"k": 1.0, "r0": 1.0})
    with pytest.raises(ConfigError, match="different force field"):
        ParameterSpace.from_dict(json.loads(text), ForceField(fld.form, [*fld.rows, other]))
    with pytest.raises(ConfigError):
        ParameterSpace.from_dict({"format": "something else"}, fld)


def test_unbounded_sides_survive_json():
    ff = ForceField(FunctionalForm.HARMONIC, [Row("bond", ("A", "B"), {"k": 1.0, "r0": 1.0, "extra": 2.0})])
    space = ParameterSpace.from_forcefield(ff, fields=["extra"])
    assert space.bounds == [(-math.inf, math.inf)]
    again = ParameterSpace.from_dict(json.loads(json.dumps(space.to_dict())), ff)
    assert again.bounds == [(-math.inf, math.inf)]


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_fitted_values_land_where_the_groups_say(ch3f_ff, data):
    space = ParameterSpace.from_forcefield(ch3f_ff, tie=[["angle:F-C.3-H", "angle:H-C.3-H"]])
    x = np.array([data.draw(st.floats(lo, hi)) for lo, hi in space.bounds])
    values = space.forcefield_at(x).vector()
    for g, group in enumerate(space.groups):
        assert np.all(values[list(group)] == x[g])
