"""MM3 term by term against the real Tinker 26.2 program (``analyze D`` of CH₃F with
stock mm3.prm, data/tinker-ch3f). Tinker prints every interaction with its ideal
value, actual value and energy to 4 decimals; the force field is rebuilt from
parameters.md with Tinker's ideal values (C–H 1.1044 Å after the electronegativity
correction). Tinker's MM3 also has an angle-angle cross term, which is not in q2mm's
term list: it is compared separately, never silently folded in."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

TINKER_KINDS = {"Bond": "bond", "Angle": "angle", "StrBend": "strbnd"}
COMPONENTS = {"Bond Stretching": "bond", "Angle Bending": "angle", "Stretch-Bend": "strbnd"}


def parse_analyze_d(text: str):
    """Per-interaction rows {kind: [(atoms 0-based, col1, col2, energy)]} and the
    energy component breakdown."""
    rows: dict[str, list] = {k: [] for k in TINKER_KINDS.values()}
    for line in text.splitlines():
        words = line.split()
        if len(words) > 2 and words[0] in TINKER_KINDS and re.fullmatch(r"\d+-[A-Z][a-z]?", words[1]):
            atoms = tuple(int(w.split("-")[0]) - 1 for w in words[1:] if re.fullmatch(r"\d+-[A-Z][a-z]?", w))
            numbers = [float(w) for w in words[1 + len(atoms) :]]
            rows[TINKER_KINDS[words[0]]].append((atoms, *numbers))
    components = {}
    for name, kind in COMPONENTS.items():
        match = re.search(rf"^ {re.escape(name)}\s+(-?\d+\.\d+)\s+(\d+)", text, re.M)
        components[kind] = (float(match.group(1)), int(match.group(2)))
    angang = float(re.search(r"^ Angle-Angle\s+(-?\d+\.\d+)", text, re.M).group(1))
    total = float(re.search(r"Total Potential Energy :\s+(-?\d+\.\d+)", text).group(1))
    return rows, components, angang, total


@pytest.fixture(scope="module")
def tinker(data_dir):
    return parse_analyze_d((data_dir / "tinker-ch3f" / "analyze-D.txt").read_text())


@pytest.fixture(scope="module")
def ours(ch3f, engine):
    from q2mm_engine_jax.energy import term_energies

    system, values = ch3f
    session = engine.prepare(system)
    energies = term_energies(session.plan, values, np.asarray(system.molecule.coordinates)[None])
    return session, {kind: np.asarray(e) for kind, e in energies.items()}


def index_in(listed: list[tuple[int, ...]], atoms: tuple[int, ...]) -> int:
    return listed.index(atoms) if atoms in listed else listed.index(atoms[::-1])


def term_index(system, kind: str, atoms: tuple[int, ...]) -> int:
    return index_in([tuple(a) for a in system.terms[kind].atoms.tolist()], atoms)


def entry_index(session, kind: str, atoms: tuple[int, ...]) -> int:
    """Where the plan keeps the terms on ``atoms`` (one entry per atom tuple)."""
    block = next(b for b in session.plan.blocks if b.kind == kind)
    return index_in([tuple(a) for a in np.asarray(block.atoms).tolist()], atoms)


@pytest.mark.parametrize("kind", ["bond", "angle", "strbnd"])
def test_every_interaction_matches_tinker(ch3f, tinker, ours, kind):
    system, values = ch3f
    rows = tinker[0][kind]
    assert len(rows) == len(system.terms[kind])
    coords = system.molecule.coordinates
    for atoms, first, second, energy in rows:
        i = term_index(system, kind, atoms)
        entry = entry_index(ours[0], kind, atoms)
        assert ours[1][kind][entry] == pytest.approx(energy, abs=1e-4), (kind, atoms)
        if kind == "bond":  # ideal and actual length
            slot = system.terms["bond"].slots[i, 1]
            assert values[slot] == pytest.approx(first, abs=1e-4)
            assert np.linalg.norm(coords[atoms[0]] - coords[atoms[1]]) == pytest.approx(second, abs=1e-4)
        elif kind == "angle":  # ideal and actual angle in degrees
            slot = system.terms["angle"].slots[i, 1]
            assert math.degrees(values[slot]) == pytest.approx(first, abs=1e-4)
            a, b = coords[atoms[0]] - coords[atoms[1]], coords[atoms[2]] - coords[atoms[1]]
            actual = math.degrees(math.acos(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
            assert actual == pytest.approx(second, abs=1e-4)


def test_energy_components_and_total(ch3f, tinker, ours):
    """Component sums to Tinker's 4 decimals; the total differs from Tinker's by
    exactly Tinker's angle-angle energy (the one MM3 term q2mm does not have)."""
    session, energies = ours
    _, components, angang, total = tinker
    for kind, (energy, count) in components.items():
        assert len(energies[kind]) == count
        assert energies[kind].sum() == pytest.approx(energy, abs=1e-4)
    ours_total = sum(e.sum() for e in energies.values())
    assert session.energy(ch3f[1]) == pytest.approx(ours_total, abs=1e-12)
    assert ours_total + angang == pytest.approx(total, abs=1e-4)
    assert angang == pytest.approx(-0.0122)
    # One bond dipole and no pair beyond 1-3: no dipole-dipole or vdW energy, as in Tinker.
    assert set(energies) == {"bond", "angle", "strbnd"}
