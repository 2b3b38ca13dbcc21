"""QM readers on the real outputs: Gaussian .log/.fchk, Jaguar .in/.out, NumPy bundles.

Every Hessian read is checked by what it must reproduce: the frequencies the QM
program printed for it."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from q2mm import vibrations
from q2mm.errors import ParseError
from q2mm.io.gaussian import GaussianFchk, GaussianLog
from q2mm.io.jaguar import JaguarInput, JaguarOutput
from q2mm.io.numpy_bundle import NumpyBundle, read_bundle
from q2mm.model.units import HARTREE_TO_KCALMOL
from scipy.spatial.transform import Rotation

#: Masses of the most abundant isotopes (NIST / AME2016), what Jaguar uses.
ISOTOPE_MASSES = {
    "H": 1.00782503223,
    "C": 12.0,
    "N": 14.00307400443,
    "O": 15.99491461957,
    "P": 30.97376199842,
    "Rh": 102.905498,
}


def _printed_masses(log_text: str) -> np.ndarray:
    """The masses Gaussian states it used (thermochemistry section)."""
    return np.array([float(m) for m in re.findall(r"has atomic number\s+\d+ and mass\s+(\S+)", log_text)])


def _align(mobile, target):
    """Rotation taking mobile onto target (both centred), via scipy, independent of the reader."""
    a = mobile - mobile.mean(axis=0)
    b = target - target.mean(axis=0)
    rotation, rssd = Rotation.align_vectors(b, a)
    return rotation.as_matrix(), rssd


# --- Gaussian ----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["GS", "TS"])
def ethane(request, data_dir):
    log_path = data_dir / "ethane" / f"{request.param}.log"
    log = GaussianLog().read(log_path)
    fchk = GaussianFchk().read(data_dir / "ethane" / f"{request.param}.fchk")
    assert len(log) == len(fchk) == 1
    return request.param, log[0], fchk[0], _printed_masses(log_path.read_text())


def test_gaussian_log_reads_the_archive(ethane):
    kind, log, fchk, _ = ethane
    assert log.elements == ("H", "C", "H", "C", "H", "H", "H", "H")
    assert (log.charge, log.multiplicity) == (0, 1)
    assert log.name == {"GS": "Basic Ethane minimum", "TS": "Basic Ethane rotation TS"}[kind]
    assert log.hessian.shape == (24, 24)
    # The archive rounds the energy to 1e-7 Hartree; the checkpoint has it in full.
    assert log.energy == pytest.approx(fchk.energy, abs=1e-7 * HARTREE_TO_KCALMOL)
    expected = {"GS": -79.8304169, "TS": -79.8259265}[kind] * HARTREE_TO_KCALMOL
    assert log.energy == pytest.approx(expected, abs=1e-9)
    assert fchk.energy == pytest.approx(
        {"GS": -79.83041689192832, "TS": -79.8259264529}[kind] * HARTREE_TO_KCALMOL
    )


def test_log_and_fchk_hessians_agree_once_in_one_orientation(ethane):
    kind, log, fchk, _ = ethane
    rotation, rssd = _align(np.asarray(fchk.coordinates), np.asarray(log.coordinates))
    assert rssd < 1e-4
    if kind == "GS":  # run with NoSym: the checkpoint kept the input orientation
        np.testing.assert_allclose(rotation, np.eye(3), atol=1e-6)
    else:  # the TS checkpoint is in the standard orientation
        assert np.abs(rotation - np.eye(3)).max() > 0.1
    block = np.kron(np.eye(8), rotation)
    rotated = block @ fchk.hessian @ block.T
    assert np.linalg.norm(rotated - log.hessian) / np.linalg.norm(log.hessian) < 1e-6


def test_both_hessians_reproduce_the_printed_frequencies(ethane):
    kind, log, fchk, masses = ethane
    assert len(masses) == 8 and masses[1] == 12.0
    assert log.frequencies.shape == (18,)
    for molecule in (log, fchk):
        computed = vibrations.frequencies_from_hessian(molecule.hessian, molecule.coordinates, masses)
        np.testing.assert_allclose(computed, log.frequencies, atol=0.5, rtol=0)
    n_imaginary = (log.frequencies < 0).sum()
    assert n_imaginary == {"GS": 0, "TS": 1}[kind]
    if kind == "TS":
        assert log.frequencies[0] == pytest.approx(-304.8914)


def test_printed_normal_modes_are_in_the_archive_frame(ethane):
    """Gaussian prints TS modes in the standard orientation; the reader rotates them
    onto the archive geometry. Each printed mode must lie in the span of our modes of
    (nearly) the same frequency, computed from the archive Hessian."""
    _, log, _, masses = ethane
    ours = vibrations.normal_modes(log.hessian, log.coordinates, masses)
    printed = log.normal_modes / np.linalg.norm(log.normal_modes, axis=1, keepdims=True)
    for mode, frequency in zip(printed, log.frequencies, strict=True):
        near = ours.displacements[np.abs(ours.frequencies - frequency) < 1.0]
        basis = np.linalg.qr(near.T)[0]
        assert np.linalg.norm(basis.T @ mode) > 0.99


def test_hpmodes_table_is_preferred(data_dir, tmp_path):
    """Rewrite GS.log's modes as Gaussian's freq=hpmodes table (5 decimals, five modes
    per block, printed before the usual table) and read them back."""
    source = data_dir / "ethane" / "GS.log"
    reference = GaussianLog().read(source)[0]
    lines = source.read_text().splitlines()
    heading = max(i for i, t in enumerate(lines) if "Harmonic frequencies (cm**-1)" in t)
    hp = [" Harmonic frequencies (cm**-1), IR intensities (KM/Mole), Raman scattering"]
    # Undo the reader's rotation: GS has none (NoSym), so the printed frame is the archive's.
    modes = reference.normal_modes + 1e-5  # distinguishable from the 2-decimal table
    for first in range(0, 18, 5):
        columns = range(first, min(first + 5, 18))
        hp.append("".join(f"{c + 1:23d}" for c in columns))
        hp.append(" Frequencies --- " + "".join(f"{reference.frequencies[c]:23.4f}" for c in columns))
        hp.append(" Reduced masses --- " + "".join(f"{1.0:23.4f}" for _ in columns))
        hp.append(" Coord Atom Element:")
        for row in range(24):
            element = 1 if reference.elements[row // 3] == "H" else 6
            values = "".join(f"{modes[c, row]:11.5f}" for c in columns)
            hp.append(f"   {row % 3 + 1:d}   {row // 3 + 1:3d}   {element:3d}{values}")
    target = tmp_path / "GS-hp.log"
    target.write_text("\n".join([*lines[:heading], *hp, *lines[heading:]]) + "\n")
    read = GaussianLog().read(target)[0]
    # Rounding of the printed 6-decimal orientations leaves a ~1e-7 rotation.
    np.testing.assert_allclose(read.normal_modes, np.round(modes, 5), atol=1e-6)
    np.testing.assert_allclose(read.frequencies, reference.frequencies)


def test_log_without_archive_falls_back_to_the_printed_tables(data_dir, tmp_path):
    source = data_dir / "ethane" / "TS.log"
    lines, inside = [], False
    for text in source.read_text().splitlines():  # drop both archive blocks
        inside = inside or text.startswith(" 1\\1\\")
        if not inside:
            lines.append(text)
        inside = inside and not text.rstrip().endswith("@")
    target = tmp_path / "TS-no-archive.log"
    target.write_text("\n".join(lines) + "\n")
    molecule = GaussianLog().read(target)[0]
    assert molecule.hessian is None
    assert molecule.energy == pytest.approx(-79.8259264529 * HARTREE_TO_KCALMOL, abs=1e-9)
    # Last table printed is the standard orientation: C–C along z at ±0.772390 Å.
    np.testing.assert_allclose(molecule.coordinates[1], [0.0, 0.0, 0.772390])
    assert molecule.frequencies[0] == pytest.approx(-304.8914)


# --- Jaguar ------------------------------------------------------------------------------

JAGUAR_JOBS = [
    "1ZDMPfromJCTCSI_loner1",
    "2DMPEConformation1fromJCTCSI_isomer1",
    "3DMPEConformation2fromJCTCSI_isomer2",
    "4RR-Me-DuPHOSpro-RfromJCTCSI_isomer3",
    "5RR-Me-DuPHOSpro-SfromJCTCSI_isomer4",
    "6RR-Me-BPEpro-RConformation1fromJCTCSI_isomer5",
    "7RR-Me-BPEpro-RConformation2fromJCTCSI_isomer6",
    "8RR-Me-BPEpro-SConformation1fromJCTCSI_isomer7",
    "9RR-Me-BPEpro-SConformation2fromJCTCSI_isomer8",
]


@pytest.mark.parametrize("job", JAGUAR_JOBS)
def test_jaguar_hessian_reproduces_the_output_frequencies(data_dir, job):
    folder = data_dir / "rh-enamide" / "training_set" / "jaguar_spe_freq_in_out"
    (inp,) = JaguarInput().read(folder / f"{job}.01.in")
    (out,) = JaguarOutput().read(folder / f"{job}.out")
    assert inp.elements == out.elements and inp.elements[0] == "Rh"
    np.testing.assert_allclose(inp.coordinates, out.coordinates, atol=1e-9)
    assert inp.charge == out.charge == 1 and out.multiplicity == 1
    assert out.energy < 0 and out.name == job
    n = inp.n_atoms
    assert out.frequencies.shape == (3 * n - 6,) and out.normal_modes.shape == (3 * n - 6, 3 * n)
    masses = [ISOTOPE_MASSES[e] for e in inp.elements]
    computed = vibrations.frequencies_from_hessian(inp.hessian, inp.coordinates, masses)
    np.testing.assert_allclose(computed, out.frequencies, atol=0.5, rtol=0)
    assert (out.frequencies < 0).sum() == 1  # a transition state


def test_jaguar_energy_and_modes(data_dir):
    folder = data_dir / "rh-enamide" / "training_set" / "jaguar_spe_freq_in_out"
    (out,) = JaguarOutput().read(folder / "1ZDMPfromJCTCSI_loner1.out")
    assert out.energy == pytest.approx(-1369.88293508102 * HARTREE_TO_KCALMOL)
    assert out.frequencies[0] == pytest.approx(-705.89)
    # Mode 1, atom H18 (17), x — as printed: -0.86408.
    assert out.normal_modes[0, 3 * 17] == pytest.approx(-0.86408)
    (inp,) = JaguarInput().read(folder / "1ZDMPfromJCTCSI_loner1.01.in")
    assert inp.hessian[0, 0] == pytest.approx(2.944868e-01)
    assert inp.hessian[1, 0] == inp.hessian[0, 1] == pytest.approx(-1.904832e-02)
    ours = vibrations.normal_modes(inp.hessian, inp.coordinates, [ISOTOPE_MASSES[e] for e in inp.elements])
    # The reaction mode: the moving hydride (H18) dominates.
    printed = out.normal_modes[0] / np.linalg.norm(out.normal_modes[0])
    assert abs(printed @ ours.displacements[0]) > 0.999


def test_jaguar_input_without_hessian_and_with_bad_rows(tmp_path, data_dir):
    source = (
        data_dir / "rh-enamide" / "training_set" / "jaguar_spe_freq_in_out" / "1ZDMPfromJCTCSI_loner1.01.in"
    )
    lines = source.read_text().splitlines()
    start = lines.index("&hess")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("&"))
    no_hess = tmp_path / "nohess.in"
    no_hess.write_text("\n".join(lines[:start] + lines[end + 1 :]) + "\n")
    assert JaguarInput().read(no_hess)[0].hessian is None
    missing = tmp_path / "missing.in"
    missing.write_text("\n".join(lines[: start + 3] + lines[start + 4 :]) + "\n")  # drop row 2 of block 1
    with pytest.raises(ParseError, match="every lower-triangle element"):
        JaguarInput().read(missing)
    garbage = tmp_path / "garbage.in"
    bad = list(lines)
    bad[start + 5] = bad[start + 5].replace("E-", "X-", 1)
    garbage.write_text("\n".join(bad) + "\n")
    with pytest.raises(ParseError) as info:
        JaguarInput().read(garbage)
    assert info.value.line == start + 6


# --- NumPy bundles -----------------------------------------------------------------------


def test_numpy_bundle_finds_its_siblings(data_dir):
    (molecule,) = NumpyBundle().read(data_dir / "ch3f" / "ch3f-hessian.npy")
    assert molecule.name == "ch3f"  # the xyz comment line is empty
    assert molecule.elements == ("C", "F", "H", "H", "H")
    assert molecule.energy == pytest.approx(-139.751112913417 * HARTREE_TO_KCALMOL)
    assert molecule.frequencies[0] == pytest.approx(1040.581386071783)
    np.testing.assert_array_equal(molecule.hessian, np.load(data_dir / "ch3f" / "ch3f-hessian.npy"))
    assert molecule.coordinates[1, 1] == pytest.approx(0.648360592579)


def test_read_bundle_with_explicit_paths(data_dir, tmp_path):
    folder = data_dir / "sn2-ts"
    geometry_only = read_bundle(folder / "sn2-ts-optimized.xyz")
    assert geometry_only.hessian is None and geometry_only.energy is None
    full = read_bundle(
        folder / "sn2-ts-optimized.xyz",
        hessian=folder / "sn2-ts-hessian.npy",
        frequencies=folder / "sn2-ts-frequencies.txt",
        energy=folder / "sn2-ts-energy.txt",
    )
    assert full.frequencies.shape == (12,) and full.frequencies[0] == pytest.approx(-461.7175680732779)
    # A Hessian of the wrong size for the geometry is refused, naming the file.
    with pytest.raises(ParseError, match=r"\(15, 15\) float Hessian"):
        read_bundle(data_dir / "ch3f" / "ch3f-optimized.xyz", hessian=folder / "sn2-ts-hessian.npy")
    # The reader needs the <prefix>-hessian.npy name and its xyz sibling.
    lonely = tmp_path / "lonely-hessian.npy"
    shutil.copy(folder / "sn2-ts-hessian.npy", lonely)
    with pytest.raises(ParseError, match=r"lonely-optimized\.xyz"):
        NumpyBundle().read(lonely)
    misnamed = tmp_path / "hessian.npy"
    shutil.copy(folder / "sn2-ts-hessian.npy", misnamed)
    with pytest.raises(ParseError, match=r"-hessian\.npy"):
        NumpyBundle().read(misnamed)
