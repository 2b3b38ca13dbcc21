"""Physical windows (:mod:`q2mm.windows`) on QFUERZA estimates from real QM data: each
r0/θ0 window spans the QM values its row covers plus the half-width (four times it on
a transition state's partial bonds and their angles), and bond, angle and
out-of-plane force constants are floored at a fraction of their start. The expected
windows are recomputed here from the coordinates, not read back from the module."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from q2mm.estimate import estimate_forcefield
from q2mm.io import read_structures
from q2mm.model import StationaryPoint
from q2mm.topology import build_system
from q2mm.windows import Windows, limits


def _fitted(data_dir, file: str, kind: StationaryPoint):
    molecule = read_structures(data_dir / file)[0].with_(stationary_point=kind, name="m")
    forcefield = estimate_forcefield([molecule])
    return molecule, forcefield, build_system(molecule, forcefield)


def _angle(x: np.ndarray, i: int, j: int, k: int) -> float:
    a, b = x[i] - x[j], x[k] - x[j]
    return math.acos(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _expected_windows(molecule, system, partial: set[frozenset[int]], windows: Windows):
    """slot → (low, high) from the geometry alone."""
    x = molecule.coordinates
    spans: dict[int, list[float]] = defaultdict(lambda: [math.inf, -math.inf, 0.0])
    bonds, angles = system.terms["bond"], system.terms["angle"]
    for (i, j), slot in zip(bonds.atoms, bonds.slots[:, bonds.fields.index("r0")], strict=True):
        width = windows.r0_window * (windows.partial_window_factor if {i, j} in partial else 1.0)
        value = float(np.linalg.norm(x[i] - x[j]))
        span = spans[int(slot)]
        span[:] = min(span[0], value), max(span[1], value), max(span[2], width)
    for (i, j, k), slot in zip(angles.atoms, angles.slots[:, angles.fields.index("theta0")], strict=True):
        wide = {i, j} in partial or {j, k} in partial
        width = math.radians(windows.theta0_window) * (windows.partial_window_factor if wide else 1.0)
        value = _angle(x, int(i), int(j), int(k))
        span = spans[int(slot)]
        span[:] = min(span[0], value), max(span[1], value), max(span[2], width)
    return {slot: (low - width, high + width) for slot, (low, high, width) in spans.items()}


@pytest.mark.parametrize(
    ("file", "kind", "partial"),
    [
        ("validation/formamide/formamide-hessian.npy", StationaryPoint.GROUND_STATE, set()),
        # F⁻ + CH₃F: both C···F bonds are partial (1.85 Å against a 1.33 Å radii sum)
        (
            "sn2-ts/sn2-ts-hessian.npy",
            StationaryPoint.TRANSITION_STATE,
            {frozenset({0, 1}), frozenset({0, 2})},
        ),
    ],
)
def test_windows_and_floors(data_dir, file, kind, partial):
    molecule, forcefield, system = _fitted(data_dir, file, kind)
    elements = molecule.elements
    if partial:  # the indices above name C and the two F
        assert {elements[i] for pair in partial for i in pair} == {"C", "F"}
    windows = Windows()
    got = limits([system], forcefield, windows)
    start = forcefield.vector()
    for slot, (low, high) in _expected_windows(molecule, system, partial, windows).items():
        assert got[slot] == pytest.approx((min(low, start[slot]), max(high, start[slot])), abs=1e-8)
    floored = ["bond", "angle"] + (["opbend"] if "opbend" in system.terms else [])
    assert kind == StationaryPoint.TRANSITION_STATE or "opbend" in floored  # formamide's N and C
    for name in floored:
        terms = system.terms[name]
        for slot in terms.slots[:, terms.fields.index("k")]:
            assert got[int(slot)] == (pytest.approx(0.1 * start[slot], rel=1e-12), math.inf)
            assert start[slot] > 0
    untouched = (
        {int(s) for s in system.terms["torsion"].slots.ravel()} if "torsion" in system.terms else set()
    )
    assert not untouched & got.keys()  # torsion heights keep their physical bounds


def test_a_zero_floor_and_negative_constants_leave_force_constants_free(data_dir):
    _, forcefield, system = _fitted(
        data_dir, "validation/formamide/formamide-hessian.npy", StationaryPoint.GROUND_STATE
    )
    k = system.terms["opbend"].slots[:, 0]
    for got in (
        limits([system], forcefield, Windows(force_constant_floor=0.0)),
        limits([system], forcefield, Windows(), allow_negative=True),
    ):
        assert not {int(s) for s in k} & got.keys()
