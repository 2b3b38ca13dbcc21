"""Physical windows: how far a fit may move ideal geometry and weaken force constants.

The physical bounds of :mod:`q2mm.parameters` only rule out the absurd (r0 in
0.5…4 Å, k ≥ 0). Inside them a fit can still trade one term against another until
the parameters stop meaning anything — an H–C–H θ0 drifting 7° from every H–C–H
angle in the data while the MM minimum still looks right, a k(C–H) at zero with r0 at
0.56 Å. So each fitted ideal value stays within a window around the QM values of the
very bonds and angles its row parameterizes, and bond, angle and out-of-plane force
constants keep a floor:

=====================  ===============  ==============================================
quantity               default          window
=====================  ===============  ==============================================
bond r0                0.05 Å           [min QM length − w, max QM length + w]
angle theta0           5°               [min QM angle − w, max QM angle + w]
TS partial bonds       × 4              a bond of a declared transition state longer
                                        than its covalent-radii sum by more than
                                        ``PARTIAL_BOND_EXCESS`` (forming or breaking),
                                        and the angles that contain one: 0.2 Å, 20°
bond, angle and        0.1 × start      floor (0 for a zero start; none when negative
out-of-plane k                          force constants are allowed)
=====================  ===============  ==============================================

Out-of-plane k gets the floor for the same reason: the torsions about a trigonal
centre's bonds bend it out of plane too, and without a floor the default fits put all
of that curvature in them — formamide's three N out-of-plane rows and two of the
cyclobutene-opening TS's ended at 0 (at 0.1 × start, same verdicts: formamide's score
108.9 → 113.4, frequency MAE 8.3 → 8.2 cm⁻¹).

The window always contains the starting value (a template may start a row elsewhere
on purpose; the fit may then move it toward the data, not beyond the window), and it
narrows the physical bounds, never widens them. Rows no structure measures (a
template's unused rows) keep their physical bounds. Configure with the ``[parameters]``
keys ``r0_window``, ``theta0_window``, ``partial_window_factor`` and
``force_constant_floor`` (0 turns a window or the floor off).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import attrs
import numpy as np

from .model import ForceField, MMSystem, StationaryPoint
from .model import elements as _elements
from .residuals.geometry import bond_angles, bond_lengths

#: Å beyond the sum of covalent radii from which a transition state's bond is partial
#: (a covalent bond sits within ~0.1 Å of Cordero's sum; the S_N2 C···F is 0.52 beyond).
PARTIAL_BOND_EXCESS = 0.25


@attrs.frozen
class Windows:
    """Window half-widths (r0 in Å, theta0 in degrees), the factor for partial bonds,
    and the force-constant floor as a fraction of the start."""

    r0_window: float = 0.05
    theta0_window: float = 5.0
    partial_window_factor: float = 4.0
    force_constant_floor: float = 0.1


def _partial_bonds(system: MMSystem) -> np.ndarray:
    """Which of the system's bond terms are partial (see the module table)."""
    bonds = system.terms["bond"].atoms
    molecule = system.molecule
    if molecule.stationary_point != StationaryPoint.TRANSITION_STATE:
        return np.zeros(len(bonds), dtype=bool)
    radii = np.array([_elements.covalent_radius(e) for e in molecule.elements])
    lengths = bond_lengths(molecule.coordinates, bonds, np)
    return lengths > radii[bonds[:, 0]] + radii[bonds[:, 1]] + PARTIAL_BOND_EXCESS


def limits(
    systems: Iterable[MMSystem], forcefield: ForceField, windows: Windows, allow_negative: bool = False
) -> dict[int, tuple[float, float]]:
    """Per parameter slot (``ForceField.vector()`` index): the (lower, upper) the module
    doc describes, for the slots the systems' bond and angle terms use."""
    start = forcefield.vector()
    spans: dict[int, list[float]] = {}  # slot → [min, max, half-width]
    floors: set[int] = set()

    def widen(slot: int, values: np.ndarray, width: float) -> None:
        span = spans.setdefault(slot, [math.inf, -math.inf, 0.0])
        span[0], span[1], span[2] = (
            min(span[0], values.min()),
            max(span[1], values.max()),
            max(span[2], width),
        )

    for system in systems:
        if "bond" not in system.terms or "angle" not in system.terms:
            continue
        x = system.molecule.coordinates
        bonds, angles = system.terms["bond"], system.terms["angle"]
        partial = _partial_bonds(system)
        partial_pairs = {frozenset(p) for p in bonds.atoms[partial].tolist()}
        lengths = bond_lengths(x, bonds.atoms, np)
        for n, slot in enumerate(bonds.slots[:, bonds.fields.index("r0")]):
            factor = windows.partial_window_factor if partial[n] else 1.0
            widen(int(slot), lengths[n : n + 1], windows.r0_window * factor)
        values = bond_angles(x, angles.atoms, np)
        for n, slot in enumerate(angles.slots[:, angles.fields.index("theta0")]):
            i, j, k = angles.atoms[n].tolist()
            has_partial = frozenset((i, j)) in partial_pairs or frozenset((j, k)) in partial_pairs
            factor = windows.partial_window_factor if has_partial else 1.0
            widen(int(slot), values[n : n + 1], math.radians(windows.theta0_window) * factor)
        for terms in (bonds, angles, system.terms.get("opbend")):
            if terms is not None:
                floors.update(int(s) for s in terms.slots[:, terms.fields.index("k")])

    out: dict[int, tuple[float, float]] = {}
    for slot, (low, high, width) in spans.items():
        if width > 0:
            out[slot] = (min(low - width, start[slot]), max(high + width, start[slot]))
    if not allow_negative and windows.force_constant_floor > 0:
        for slot in floors:
            out[slot] = (windows.force_constant_floor * max(start[slot], 0.0), math.inf)
    return out
