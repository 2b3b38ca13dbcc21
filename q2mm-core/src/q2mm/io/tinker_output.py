"""What Tinker's programs print: ``analyze`` (E and D), ``vibrate``, ``minimize``, the
``.hes`` Hessian of ``testhess`` and the normal-mode frame files ``vibrate`` writes.

Energies stay in kcal/mol as Tinker prints them; the Hessian comes back in
Hartree/Bohr², the unit QM Hessians use, so it compares with them directly; atom
indices are 0-based. Minimized coordinates are a Tinker XYZ file: read them with
:func:`q2mm.io.xyz.read_xyz`.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import numpy as np

from ..model.units import HESSIAN_AU_TO_KCALMOL_A2
from .textlines import Lines, read_lines
from .xyz import read_xyz

_REAL = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+)(?:[eEdD][-+]?\d+)?")
#: analyze's "Individual … Interactions" titles → canonical term names.
_TERMS = {
    "Bond Stretching": "bond",
    "Angle Bending": "angle",
    "Stretch-Bend": "strbnd",
    "Urey-Bradley": "urey_bradley",
    "Angle-Angle": "angang",
    "Out-of-Plane Bending": "opbend",
    "Improper Dihedral": "improper",
    "Improper Torsion": "imptors",
    "Torsional Angle": "torsion",
    "Stretch-Torsion": "strtors",
    "Charge-Charge": "charge",
    "Dipole-Dipole": "dipole",
    "van der Waals": "vdw",
}


@attrs.frozen
class EnergyComponent:
    """One line of analyze's energy breakdown (kcal/mol)."""

    name: str
    energy: float
    interactions: int


@attrs.frozen
class Interaction:
    """One line of ``analyze D``: ``values`` are the numbers Tinker prints before the
    energy (ideal and actual value for bonds and angles, dSB1 and dSB2 for stretch-bends,
    the two angle deviations for angle-angle terms, …). For angle-angle terms ``atoms``
    is the centre followed by the outer atoms of the two angles."""

    term: str
    atoms: tuple[int, ...]
    values: tuple[float, ...]
    energy: float


@attrs.frozen(eq=False)
class Analysis:
    """``analyze`` output: total energy, breakdown and (for option D) every interaction."""

    total: float
    components: tuple[EnergyComponent, ...]
    interactions: tuple[Interaction, ...] = ()

    def component(self, name: str) -> EnergyComponent | None:
        return next((c for c in self.components if c.name == name), None)

    def of_term(self, term: str) -> tuple[Interaction, ...]:
        return tuple(i for i in self.interactions if i.term == term)


@attrs.frozen(eq=False)
class Vibrations:
    """``vibrate`` output. ``eigenvalues`` are of the Cartesian Hessian before mass
    weighting (kcal/mol/Å²), ``frequencies`` in cm⁻¹ with imaginary modes negative — all 3N,
    rigid motions included, as Tinker prints them. ``modes`` (n_printed, n_atoms, 3)
    holds the normal modes the output lists, with ``mode_numbers`` their 1-based numbers."""

    eigenvalues: np.ndarray
    frequencies: np.ndarray
    modes: np.ndarray
    mode_numbers: tuple[int, ...]


@attrs.frozen(eq=False)
class Minimization:
    """``minimize`` output: final energy (kcal/mol), RMS gradient and gradient norm
    (kcal/mol/Å), iterations, and the termination reason Tinker gives."""

    energy: float
    rms_gradient: float
    gradient_norm: float
    iterations: int
    termination: str
    converged: bool


def _title_value(lines: Lines, index: int, what: str) -> float:
    """The number after the colon of a ``Title :   value`` line."""
    text = lines.line(index)
    tail = text.split(":", 1)[1].split() if ":" in text else []
    if not tail:
        raise lines.error(index, what)
    return lines.number(index, tail[0], what)


def read_analyze(path: str | Path) -> Analysis:
    """``analyze`` output (option E or D)."""
    lines = read_lines(path)
    total_at = lines.find_last("Total Potential Energy")
    if total_at is None:
        raise lines.error(None, "a 'Total Potential Energy' line")
    total = _title_value(lines, total_at, "the total potential energy")
    head = lines.find("Energy Component Breakdown", total_at)
    if head is None:
        raise lines.error(total_at, "an 'Energy Component Breakdown' after the total energy")
    components = []
    for i in range(head + 1, len(lines)):
        fields = lines.lines[i].split()
        if not fields:
            if components:
                break
            continue
        if len(fields) < 3:
            raise lines.error(i, "an energy component 'Name  energy  interactions'")
        name = " ".join(fields[:-2])
        components.append(
            EnergyComponent(
                name,
                lines.number(i, fields[-2], f"the {name} energy"),
                lines.integer(i, fields[-1], f"the number of {name} interactions"),
            )
        )
    return Analysis(total, tuple(components), tuple(_interactions(lines)))


def _interactions(lines: Lines) -> list[Interaction]:
    out = []
    i = 0
    while (i := lines.find("Individual ", i)) is not None:
        title = lines.line(i).split("Individual", 1)[1].rsplit("Interactions", 1)[0].strip()
        term = _TERMS.get(title, title.lower())
        header = lines.find("Type", i + 1, i + 4)
        if header is None:
            raise lines.error(i + 1, f"the column header of the {title} interactions")
        i = header + 2  # one blank line, then entries until a blank line (none: an empty block)
        while i < len(lines) and lines.lines[i].strip():
            out.append(_interaction(lines, i, term))
            i += 1
    return out


def _interaction(lines: Lines, index: int, term: str) -> Interaction:
    atoms, values = [], []
    for token in lines.fields(index, at_least=3, what=f"a {term} interaction")[1:]:
        if _REAL.fullmatch(token):
            values.append(lines.number(index, token, "a value"))
        elif values:
            raise lines.error(index, "numbers after the atoms", token)
        else:
            atoms.append(lines.integer(index, token.split("-", 1)[0], "an atom 'index-name' or index") - 1)
    if not atoms or not values:
        raise lines.error(index, f"a {term} interaction: atoms, then values and the energy")
    return Interaction(term, tuple(atoms), tuple(values[:-1]), values[-1])


def _numbered_block(lines: Lines, title: str) -> tuple[int, np.ndarray]:
    """The ``index value`` pairs (``(5(i5,f10.3))``) after ``title``: (end line, values)."""
    start = lines.find(title)
    if start is None:
        raise lines.error(None, f"a '{title}' block")
    values, i = [], start + 1
    while i < len(lines) and not lines.lines[i].strip():
        i += 1
    while i < len(lines) and lines.lines[i].strip():
        text = lines.lines[i].rstrip()
        for k in range(0, len(text), 15):
            chunk = text[k : k + 15]
            number = lines.integer(i, chunk[:5].strip() or "?", "a mode number in a 5-column field")
            if number != len(values) + 1:
                raise lines.error(i, f"mode number {len(values) + 1}", str(number))
            values.append(lines.number(i, chunk[5:].strip() or "?", "a value in a 10-column field"))
        i += 1
    if not values:
        raise lines.error(start, f"values after '{title}'")
    return i, np.array(values)


def read_vibrate(path: str | Path) -> Vibrations:
    lines = read_lines(path)
    _, eigenvalues = _numbered_block(lines, "Eigenvalues of the Hessian Matrix")
    end, frequencies = _numbered_block(lines, "Vibrational Frequencies")
    if len(frequencies) != len(eigenvalues) or len(frequencies) % 3:
        raise lines.error(
            end, f"3N frequencies, one per eigenvalue ({len(eigenvalues)})", str(len(frequencies))
        )
    n_atoms = len(frequencies) // 3
    modes, numbers = [], []
    i = end
    while (i := lines.find("Vibrational Normal Mode", i)) is not None:
        fields = lines.fields(i, at_least=5, what="'Vibrational Normal Mode N with Frequency F cm-1'")
        numbers.append(lines.integer(i, fields[3], "the mode number"))
        header = lines.find("Atom", i + 1, i + 4)
        if header is None:
            raise lines.error(i + 1, "the 'Atom  Delta X  Delta Y  Delta Z' header")
        rows = []
        for k in range(header + 2, header + 2 + n_atoms):
            atom = lines.fields(k, count=4, what="an atom line 'index dx dy dz'")
            if lines.integer(k, atom[0], "the atom index") != len(rows) + 1:
                raise lines.error(k, f"atom {len(rows) + 1}", atom[0])
            rows.append([lines.number(k, t, "a displacement") for t in atom[1:]])
        modes.append(rows)
        i = header + 2 + n_atoms
    shape = (len(modes), n_atoms, 3)
    return Vibrations(eigenvalues, frequencies, np.array(modes, dtype=float).reshape(shape), tuple(numbers))


def read_hessian(path: str | Path) -> np.ndarray:
    """The ``.hes`` file of ``testhess``: the 3N diagonal elements, then for every
    coordinate but the last the elements right of the diagonal of its row, in
    kcal/mol/Å². Returned symmetric, in Hartree/Bohr²."""
    lines = read_lines(path)
    start = lines.find("Diagonal Hessian Elements")
    if start is None:
        raise lines.error(None, "a 'Diagonal Hessian Elements' block")
    blocks: list[tuple[int, list[float]]] = [(start, [])]
    for i in range(start + 1, len(lines)):
        text = lines.lines[i]
        if "Off-diagonal Hessian Elements" in text:
            blocks.append((i, []))
        elif text.strip():
            numbers = _REAL.findall(text)
            if not numbers or "".join(numbers) != "".join(text.split()):
                raise lines.error(i, "Hessian elements")
            blocks[-1][1].extend(lines.number(i, t, "a Hessian element") for t in numbers)
    n = len(blocks[0][1])
    if n == 0 or n % 3:
        raise lines.error(start, "3N diagonal elements", str(n))
    rows = blocks[1:]
    if len(rows) == n and not rows[-1][1]:
        rows = rows[:-1]  # the last coordinate has nothing right of the diagonal
    if len(rows) != n - 1:
        raise lines.error(None, f"{n - 1} off-diagonal blocks for {n} coordinates", str(len(rows)))
    hessian = np.diag(blocks[0][1])
    for row, (index, values) in enumerate(rows):
        if len(values) != n - 1 - row:
            raise lines.error(
                index, f"{n - 1 - row} off-diagonal elements for coordinate {row + 1}", str(len(values))
            )
        hessian[row, row + 1 :] = values
        hessian[row + 1 :, row] = values
    return hessian / HESSIAN_AU_TO_KCALMOL_A2


def read_minimize(path: str | Path) -> Minimization:
    lines = read_lines(path)
    marks = {}
    for title in ("Final Function Value", "Final RMS Gradient", "Final Gradient Norm"):
        index = lines.find(title)
        if index is None:
            raise lines.error(None, f"a '{title}' line")
        marks[title] = _title_value(lines, index, title.lower())
    header = lines.find("Iter")
    if header is None:
        raise lines.error(None, "the iteration table")
    iterations = None
    for i in range(header + 1, len(lines)):
        fields = lines.lines[i].split()
        if not fields:
            if iterations is not None:
                break
            continue
        iterations = lines.integer(i, fields[0], "an iteration number")
    if iterations is None:
        raise lines.error(header + 1, "iteration lines")
    end = lines.find_last("Termination")
    termination = lines.line(end).split("due to", 1)[-1].strip() if end is not None else ""
    converged = end is not None and "Normal Termination" in lines.line(end)
    return Minimization(
        marks["Final Function Value"],
        marks["Final RMS Gradient"],
        marks["Final Gradient Norm"],
        iterations,
        termination,
        converged,
    )


def read_mode_frames(path: str | Path) -> np.ndarray:
    """The frames of a normal-mode file ``vibrate`` writes (``name.001``…): an
    animation of one mode about the structure, returned as (n_frames, n_atoms, 3) Å."""
    coordinates = [frame.coordinates for frame in read_xyz(path)]
    if (
        len(coordinates) < 2
        or any(c.shape != coordinates[0].shape for c in coordinates)
        or not np.any(coordinates[-1] != coordinates[0])
    ):
        raise read_lines(path).error(None, "two or more frames of the same atoms, moving")
    return np.array(coordinates)


def mode_from_frames(frames: np.ndarray) -> np.ndarray:
    """The unit displacement a mode file animates (last frame minus first), (n_atoms, 3)."""
    step = frames[-1] - frames[0]
    return step / np.linalg.norm(step)
