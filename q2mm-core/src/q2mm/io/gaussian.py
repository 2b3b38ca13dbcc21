"""Gaussian output (.log) and formatted checkpoint (.fchk) files.

Orientation. Gaussian works in its "standard orientation" but writes the archive
block (geometry and force constants) in the input orientation; the frequency
section's normal modes are in the last orientation printed before it (standard when
symmetry is on, input otherwise). A .log is returned in the archive's frame:
coordinates and Hessian both come from the last archive block, so they are
consistent, and the printed normal modes are rotated into that frame with the
proper rotation that superimposes the printed orientation on the archive geometry
(Kabsch; the fit must be exact to 1e-3 Å or the file is refused). Without an
archive, geometry and modes come from the last printed orientation and no Hessian
is read. A .fchk keeps everything in its own (standard) orientation.

Units: archive and .fchk force constants are Hartree/Bohr² (lower triangle, row by
row); .fchk coordinates are Bohr; energies are converted from Hartree to kcal/mol.
Normal modes are stored as printed (Cartesian displacements), one row per mode.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import numpy as np

from ..model import Molecule
from ..model import elements as _elements
from ..model.units import BOHR_TO_ANGSTROM, HARTREE_TO_KCALMOL
from .textlines import Lines, read_lines

#: Archive energy fields in the order Gaussian lists them; the last one present wins.
ARCHIVE_ENERGY_KEYS = (
    "HF", "MP2", "MP3", "MP4D", "MP4DQ", "MP4SDQ", "MP4SDTQ", "CISD", "QCISD", "QCISD(T)", "CCSD", "CCSD(T)",
)  # fmt: skip
#: Largest RMS deviation (Å) accepted when superimposing two orientations.
ORIENTATION_TOLERANCE = 1e-3

_ARCHIVE_START = re.compile(r"^ 1[\\|]1[\\|]")


def _lower_triangle(values: list[float], dimension: int) -> np.ndarray:
    matrix = np.zeros((dimension, dimension))
    matrix[np.tril_indices(dimension)] = values
    return matrix + np.tril(matrix, -1).T


def _label_element(lines: Lines, index: int, label: str) -> str:
    """Archive/fchk atom labels: a symbol possibly followed by digits or decorations
    (``C1``, ``H-H1-0.1``, ``C(Iso=13)``); an atomic number also works."""
    match = re.match(r"[A-Za-z]{1,2}|\d+", label.strip())
    if match is None:
        raise lines.error(index, "an atom label", label)
    token = match.group()
    if token.isalpha() and len(token) == 2:
        try:
            return _elements.normalize_symbol(token)
        except _elements.UnknownElementError:
            token = token[0]  # 'CA'-style labels: the first letter is the element
    return lines.element(index, token)


# --- archive block -------------------------------------------------------------------


@attrs.frozen
class _Archive:
    line: int  # where the block starts
    job_start: int  # where the job it closes starts: after the previous archive block
    title: str
    charge: int
    multiplicity: int
    elements: tuple[str, ...]
    coordinates: np.ndarray
    energy: float | None
    hessian: np.ndarray | None


def _archive_starts(lines: Lines) -> list[int]:
    return [i for i, text in enumerate(lines.lines) if _ARCHIVE_START.match(text)]


def _archive(lines: Lines) -> _Archive | None:
    starts = _archive_starts(lines)
    if not starts:
        return None
    start = starts[-1]
    job_start = starts[-2] + 1 if len(starts) > 1 else 0
    pieces, end = [], start
    while True:
        text = lines.line(end, "the end of the archive block ('@')")
        pieces.append(text[1:])
        if text.rstrip().endswith("@"):
            break
        end += 1
    separator = "|" if lines.lines[start][2] == "|" else "\\"
    sections = "".join(pieces).split(separator * 2)
    if len(sections) < 5:
        raise lines.error(start, "an archive block with route, title, molecule and results sections")
    title = sections[2].strip()
    spec = sections[3].split(separator)
    head = spec[0].split(",")
    if len(head) != 2:
        raise lines.error(start, "'charge,multiplicity' in the archive", spec[0])
    charge = lines.integer(start, head[0], "the archive charge")
    multiplicity = lines.integer(start, head[1], "the archive multiplicity")
    symbols, coords = [], []
    for entry in spec[1:]:
        fields = entry.split(",")
        if len(fields) not in (4, 5):
            raise lines.error(start, "Cartesian archive atoms 'El,x,y,z' or 'El,0,x,y,z'", entry)
        symbols.append(_label_element(lines, start, fields[0]))
        coords.append([lines.number(start, f, "an archive coordinate") for f in fields[-3:]])
    if not symbols:
        raise lines.error(start, "atoms in the archive geometry", sections[3][:80])
    results = dict(item.partition("=")[::2] for item in sections[4].split(separator))
    energy = None
    for key in ARCHIVE_ENERGY_KEYS:
        if key in results:
            value = results[key].split(",")[-1]
            energy = lines.number(start, value, f"the archive {key} energy") * HARTREE_TO_KCALMOL
    hessian = None
    if "NImag" in results:
        dimension = 3 * len(symbols)
        size = dimension * (dimension + 1) // 2
        raw = sections[5].split(",") if len(sections) > 5 else []
        if len(raw) != size:
            raise lines.error(
                start, f"{size} archive force constants for {len(symbols)} atoms", f"{len(raw)} values"
            )
        hessian = _lower_triangle(
            [lines.number(start, v, "an archive force constant") for v in raw], dimension
        )
    return _Archive(
        start, job_start, title, charge, multiplicity, tuple(symbols), np.array(coords), energy, hessian
    )


# --- printed sections ---------------------------------------------------------------


def _orientation(lines: Lines, header: int) -> tuple[list[str], np.ndarray]:
    """An 'Input/Standard orientation:' table: 4 header lines, rows, a dashed line."""
    symbols, coords = [], []
    i = header + 5
    while not lines.line(i, "the end of the orientation table").strip().startswith("---"):
        tokens = lines.fields(i, at_least=5, what="an orientation row 'centre number [type] x y z'")
        if len(tokens) not in (5, 6):
            raise lines.error(i, "an orientation row 'centre number [type] x y z'")
        symbols.append(lines.element(i, tokens[1]))
        coords.append([lines.number(i, t, "a coordinate") for t in tokens[-3:]])
        i += 1
    if not symbols:
        raise lines.error(i, "atoms in the orientation table")
    return symbols, np.array(coords)


def _last_orientation(lines: Lines, stop: int | None = None) -> tuple[list[str], np.ndarray] | None:
    for i in range((len(lines) if stop is None else stop) - 1, -1, -1):
        text = lines.lines[i]
        if "Standard orientation:" in text or "Input orientation:" in text:
            return _orientation(lines, i)
    return None


def _values_after(lines: Lines, index: int, marker: str) -> list[float]:
    return [lines.number(index, t, "a frequency") for t in lines.lines[index].split(marker, 1)[1].split()]


def _marker_lines(lines: Lines, marker: str, start: int, stop: int) -> list[int]:
    """Lines holding ``marker`` not followed by another dash ('--' vs hpmodes' '---')."""
    pattern = re.compile(re.escape(marker) + r"(?!-)")
    return [i for i in range(start, stop) if pattern.search(lines.lines[i])]


def _block_header(lines: Lines, after: int, test, what: str) -> int:
    for k in range(after + 1, after + 13):
        if test(lines.line(k, what)):
            return k
    raise lines.error(after, f"{what} within 12 lines")


def _modes_normal(lines: Lines, start: int, stop: int, n_atoms: int) -> tuple[list[float], list[np.ndarray]]:
    """Three modes per block: 'Frequencies --', then 'Atom AN X Y Z …' and one row per atom."""
    frequencies, modes = [], []
    for i in _marker_lines(lines, " Frequencies --", start, stop):
        values = _values_after(lines, i, "--")
        if not 1 <= len(values) <= 3:
            raise lines.error(i, "one to three frequencies")
        header = _block_header(
            lines, i, lambda t: t.split()[:2] == ["Atom", "AN"], "the 'Atom AN X Y Z' header"
        )
        block = np.empty((len(values), n_atoms, 3))
        for atom in range(n_atoms):
            k = header + 1 + atom
            tokens = lines.fields(k, count=2 + 3 * len(values), what="a normal-mode row 'atom AN x y z …'")
            if lines.integer(k, tokens[0], "an atom index") != atom + 1:
                raise lines.error(k, f"the row of atom {atom + 1}", tokens[0])
            numbers = [lines.number(k, t, "a displacement") for t in tokens[2:]]
            block[:, atom, :] = np.reshape(numbers, (len(values), 3))
        frequencies += values
        modes += list(block.reshape(len(values), 3 * n_atoms))
    return frequencies, modes


def _modes_hp(lines: Lines, start: int, stop: int, n_atoms: int) -> tuple[list[float], list[np.ndarray]]:
    """``freq=hpmodes``: up to five modes per block, 'Frequencies ---', then
    'Coord Atom Element:' and one row per Cartesian coordinate."""
    frequencies, modes = [], []
    for i in _marker_lines(lines, " Frequencies ---", start, stop):
        values = _values_after(lines, i, "---")
        if not 1 <= len(values) <= 5:
            raise lines.error(i, "one to five frequencies")
        header = _block_header(
            lines, i, lambda t: "Coord Atom Element:" in t, "the 'Coord Atom Element:' header"
        )
        block = np.empty((len(values), 3 * n_atoms))
        for row in range(3 * n_atoms):
            k = header + 1 + row
            tokens = lines.fields(k, count=3 + len(values), what="a normal-mode row 'coord atom element …'")
            position = (
                lines.integer(k, tokens[0], "a coordinate index"),
                lines.integer(k, tokens[1], "an atom index"),
            )
            if position != (row % 3 + 1, row // 3 + 1):
                raise lines.error(k, f"coordinate {row % 3 + 1} of atom {row // 3 + 1}")
            block[:, row] = [lines.number(k, t, "a displacement") for t in tokens[3:]]
        frequencies += values
        modes += list(block)
    return frequencies, modes


def _frequency_section(
    lines: Lines, n_atoms: int, start: int, stop: int
) -> tuple[int, np.ndarray, np.ndarray] | None:
    """(heading line, frequencies, modes) of the last frequency analysis between
    ``start`` and ``stop``, preferring its high-precision (hpmodes) table: with
    hpmodes Gaussian prints that table under one heading and the usual one under a
    second heading right after it."""
    headings = [i for i in range(start, stop) if "Harmonic frequencies (cm**-1)" in lines.lines[i]]
    if not headings:
        return None
    last = headings[-1]
    end = next((i for i in range(last, stop) if "Thermochemistry" in lines.lines[i]), stop)
    hp_range = None
    if _marker_lines(lines, " Frequencies ---", last, end):
        hp_range = (last, end)
    elif (
        len(headings) > 1
        and _marker_lines(lines, " Frequencies ---", headings[-2], last)
        and lines.find("orientation:", headings[-2], last) is None
    ):
        hp_range = (headings[-2], last)
    if hp_range is not None:
        frequencies, modes = _modes_hp(lines, *hp_range, n_atoms)
    else:
        frequencies, modes = _modes_normal(lines, last, end, n_atoms)
    if not frequencies:
        raise lines.error(last, "'Frequencies' lines after the heading", None)
    return last, np.array(frequencies), np.array(modes)


def _rotation_onto(mobile: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """Proper rotation R with (mobile − c_m) Rᵀ ≈ target − c_t, and the RMS misfit."""
    a = mobile - mobile.mean(axis=0)
    b = target - target.mean(axis=0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rotation, float(np.sqrt(((a @ rotation.T - b) ** 2).sum(axis=1).mean()))


def _last_match(lines: Lines, pattern: str) -> tuple[int, re.Match] | None:
    compiled = re.compile(pattern)
    for i in range(len(lines) - 1, -1, -1):
        match = compiled.search(lines.lines[i])
        if match:
            return i, match
    return None


def read_gaussian_log(path: str | Path) -> Molecule:
    lines = read_lines(path)
    archive = _archive(lines)
    if archive is not None:
        symbols, coords = list(archive.elements), archive.coordinates
    else:
        found = _last_orientation(lines)
        if found is None:
            raise lines.error(None, "an archive block or an 'orientation:' geometry table", "neither")
        symbols, coords = found
    n_atoms = len(symbols)
    fields: dict = {}
    scope = (archive.job_start, archive.line) if archive is not None else (0, len(lines))
    section = _frequency_section(lines, n_atoms, *scope)
    if section is not None:
        heading, frequencies, modes = section
        if archive is not None:
            frame = _last_orientation(lines, heading)
            if frame is None:
                raise lines.error(heading, "an orientation table before the frequencies", None)
            if frame[0] != symbols:
                raise lines.error(
                    heading, "the archive's atoms in the printed orientation", " ".join(frame[0])
                )
            rotation, misfit = _rotation_onto(frame[1], coords)
            if misfit > ORIENTATION_TOLERANCE:
                raise lines.error(heading, "a printed orientation that is a rotation of the archive geometry",
                                  f"RMS misfit {misfit:.3g} Å")  # fmt: skip
            modes = (modes.reshape(len(modes), n_atoms, 3) @ rotation.T).reshape(len(modes), 3 * n_atoms)
        fields.update(frequencies=frequencies, normal_modes=modes)
    if archive is not None:
        fields.update(
            name=archive.title,
            charge=archive.charge,
            multiplicity=archive.multiplicity,
            energy=archive.energy,
            hessian=archive.hessian,
        )
    else:
        scf = _last_match(lines, r"SCF Done:\s+E\(\S+\)\s+=\s+(\S+)")
        if scf is not None:
            fields["energy"] = lines.number(scf[0], scf[1].group(1), "the SCF energy") * HARTREE_TO_KCALMOL
        spin = _last_match(lines, r"Charge\s+=\s+(-?\d+)\s+Multiplicity\s+=\s+(\d+)")
        if spin is not None:
            fields.update(charge=int(spin[1].group(1)), multiplicity=int(spin[1].group(2)))
    return Molecule(elements=symbols, coordinates=coords, source=str(path), **fields)


@attrs.frozen
class GaussianLog:
    name: str = "gaussian-log"
    suffixes: tuple[str, ...] = (".log",)

    def read(self, path: Path) -> list[Molecule]:
        return [read_gaussian_log(path)]


# --- formatted checkpoint -----------------------------------------------------------

_FCHK_RECORD = re.compile(r"^(\S.{0,39}?)\s+([IRCLH])\s+(?:(N=)\s*(\d+)|(\S+))\s*$")
_FCHK_WANTED = (
    "Charge", "Multiplicity", "Total Energy", "Atomic numbers", "Current cartesian coordinates",
    "Cartesian Force Constants",
)  # fmt: skip


def _fchk_records(lines: Lines) -> dict[str, tuple[int, list[str]]]:
    """The wanted records as (line, value tokens); arrays are read by their N=."""
    records: dict[str, tuple[int, list[str]]] = {}
    i = 2
    while i < len(lines):
        match = _FCHK_RECORD.match(lines.lines[i])
        if match is None or match.group(1).strip() not in _FCHK_WANTED:
            i += 1
            continue
        name = match.group(1).strip()
        if match.group(3) is None:
            records[name] = (i, [match.group(5)])
            i += 1
            continue
        count = lines.integer(i, match.group(4), "an array length")
        tokens: list[str] = []
        k = i + 1
        while len(tokens) < count:
            tokens += lines.fields(k, at_least=1, what=f"{count} values of '{name}'")
            k += 1
        if len(tokens) != count:
            raise lines.error(k - 1, f"{count} values of '{name}'", f"{len(tokens)} values")
        records[name] = (i, tokens)
        i = k
    return records


def read_gaussian_fchk(path: str | Path) -> Molecule:
    lines = read_lines(path)
    if len(lines) < 2:
        raise lines.error(len(lines), "a title line and a job-type line")
    records = _fchk_records(lines)
    for required in ("Atomic numbers", "Current cartesian coordinates"):
        if required not in records:
            raise lines.error(None, f"a '{required}' record", "none")
    at, numbers = records["Atomic numbers"]
    symbols = [lines.element(at, token) for token in numbers]
    n = len(symbols)
    at, raw = records["Current cartesian coordinates"]
    if len(raw) != 3 * n:
        raise lines.error(at, f"{3 * n} coordinates for {n} atoms", f"{len(raw)} values")
    coords = np.reshape([lines.number(at, t, "a coordinate") for t in raw], (n, 3)) * BOHR_TO_ANGSTROM
    fields: dict = {}
    for key, field in (("Charge", "charge"), ("Multiplicity", "multiplicity")):
        if key in records:
            at, (token,) = records[key]
            fields[field] = lines.integer(at, token, f"the {key.lower()}")
    if "Total Energy" in records:
        at, (token,) = records["Total Energy"]
        fields["energy"] = lines.number(at, token, "the total energy") * HARTREE_TO_KCALMOL
    if "Cartesian Force Constants" in records:
        at, raw = records["Cartesian Force Constants"]
        size = 3 * n * (3 * n + 1) // 2
        if len(raw) != size:
            raise lines.error(at, f"{size} force constants for {n} atoms", f"{len(raw)} values")
        fields["hessian"] = _lower_triangle([lines.number(at, t, "a force constant") for t in raw], 3 * n)
    return Molecule(
        elements=symbols, coordinates=coords, name=lines.lines[0].strip(), source=str(path), **fields
    )


@attrs.frozen
class GaussianFchk:
    name: str = "gaussian-fchk"
    suffixes: tuple[str, ...] = (".fchk", ".fch")

    def read(self, path: Path) -> list[Molecule]:
        return [read_gaussian_fchk(path)]
