"""The bound transform of the quasi-Newton methods without bounds: T maps every real z
into the box, inverts exactly inside it, has finite derivatives whichever sides are
infinite, and reaches each finite bound only in the limit."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from q2mm_opt_jaxopt import programs  # noqa: F401  (float64 on, as in every run)
from q2mm_opt_jaxopt.bounds import EDGE, from_box, to_box

to_box_jit = jax.jit(to_box)
from_box_jit = jax.jit(from_box)
jacobian = jax.jit(jax.vmap(jax.grad(lambda z, lo, hi: to_box(z, lo, hi)), in_axes=(0, 0, 0)))

finite = st.floats(-1e3, 1e3, allow_nan=False)


@st.composite
def boxes(draw):
    """Per coordinate: both sides, lower only, upper only or neither; and a point."""
    n = draw(st.integers(1, 6))
    lower, upper, y = [], [], []
    for _ in range(n):
        sides = draw(st.sampled_from(["both", "lower", "upper", "none"]))
        a = draw(finite)
        width = draw(st.floats(1e-3, 1e3))
        lo = a if sides in ("both", "lower") else -math.inf
        hi = (a + width if sides == "both" else a) if sides in ("both", "upper") else math.inf
        fraction = draw(st.floats(0.01, 0.99))
        if sides == "both":
            point = a + fraction * width
        elif sides == "lower":
            point = a + width * fraction
        elif sides == "upper":
            point = a - width * fraction
        else:
            point = a
        lower.append(lo)
        upper.append(hi)
        y.append(point)
    return np.array(lower), np.array(upper), np.array(y)


@settings(max_examples=60, deadline=None)
@given(boxes())
def test_transform_inverts_inside_the_box(box):
    lower, upper, y = box
    z = np.asarray(from_box_jit(y, lower, upper))
    assert np.all(np.isfinite(z))
    back = np.asarray(to_box_jit(z, lower, upper))
    assert np.all(np.abs(back - y) <= 1e-9 * (1 + np.abs(y)))


@settings(max_examples=60, deadline=None)
@given(boxes(), st.lists(st.floats(-60, 60), min_size=6, max_size=6))
def test_every_z_lands_inside_with_a_finite_positive_derivative(box, zs):
    lower, upper, _ = box
    z = np.array(zs[: len(lower)])
    y = np.asarray(to_box_jit(z, lower, upper))
    assert np.all(y >= lower) and np.all(y <= upper)
    d = np.asarray(jacobian(z, lower, upper))
    assert np.all(np.isfinite(d)) and np.all(d >= 0)


def test_bounds_are_reached_only_in_the_limit_and_starts_on_a_bound_stay_movable():
    lower, upper = np.array([0.0, 1.0, -np.inf]), np.array([10.0, np.inf, 2.0])
    near = np.asarray(to_box_jit(np.array([30.0, -30.0, 30.0]), lower, upper))
    assert near[0] < 10.0 and near[0] == pytest.approx(10.0, abs=1e-9)
    assert near[1] > 1.0 and near[1] == pytest.approx(1.0, abs=1e-9)
    assert near[2] < 2.0 and near[2] == pytest.approx(2.0, abs=1e-9)
    # a start on a bound is moved EDGE of the interval inside: finite z, usable slope
    z = np.asarray(from_box_jit(np.array([10.0, 1.0, 2.0]), lower, upper))
    slopes = np.asarray(jacobian(z, lower, upper))
    assert np.all(np.isfinite(z))
    assert slopes[0] == pytest.approx(10.0 * EDGE * (1 - EDGE), rel=1e-3)
    assert np.all(slopes > 0.5 * EDGE)
