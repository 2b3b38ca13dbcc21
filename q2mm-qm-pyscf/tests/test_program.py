"""The pyscf qm plugin on systems small enough for seconds (HF/STO-3G water and
ammonia): its Hessian against PySCF's own finite differences of analytic gradients,
its frequencies through the core's bundle reader and against PySCF's harmonic
analysis, the cache, and every error path (nothing written when a check fails)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from q2mm.cli import main
from q2mm.errors import ParseError, QMConvergenceError, QMError, StationaryPointError
from q2mm.io.numpy_bundle import NumpyBundle
from q2mm.model.elements import mass
from q2mm.plugins import registry
from q2mm.protocols import QMProgram, QMRequest
from q2mm.vibrations import frequencies_from_hessian
from q2mm_qm_pyscf.program import CACHE_DIR, PySCFProgram

# Water near its HF/STO-3G minimum; ammonia planar (the inversion saddle point) and
# slightly pyramidal (already on the saddle's negative curvature: the TS search flattens it).
WATER = "3\nwater\nO 0.0 0.0 0.1271\nH 0.0 0.7580 -0.5085\nH 0.0 -0.7580 -0.5085\n"
PLANAR_NH3 = "4\nplanar ammonia\nN 0 0 0\nH 1.00 0 0\nH -0.50 0.8660 0\nH -0.50 -0.8660 0\n"
PYRAMIDAL_NH3 = "4\nammonia\nN 0 0 0.06\nH 1.00 0 -0.02\nH -0.50 0.866 -0.02\nH -0.50 -0.866 -0.02\n"
HF_STO3G = dict(method="HF", basis="STO-3G")


def xyz(tmp_path: Path, text: str, name: str = "water") -> Path:
    path = tmp_path / f"{name}.xyz"
    path.write_text(text)
    return path


def program(**options) -> PySCFProgram:
    return PySCFProgram(progress=False, **options)


def request(path: Path, **changes) -> QMRequest:
    return QMRequest(path, **{**HF_STO3G, **changes})


@pytest.fixture(scope="module")
def water_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("water")
    path = xyz(tmp, WATER)
    result = program().run(request(path), tmp / "out")
    return path, tmp / "out", result


def test_registered_under_kind_qm_and_satisfies_the_protocol():
    record = registry().get("qm", "pyscf")
    assert record.distribution == "q2mm-qm-pyscf"
    created = record.create(progress=False)
    assert isinstance(created, QMProgram) and created.name == "pyscf"


def test_hessian_equals_finite_differences_of_pyscf_analytic_gradients(water_run):
    from pyscf import gto, scf

    _path, _out, result = water_run
    molecule = NumpyBundle().read(result.hessian_path)[0]
    atoms = [(e, tuple(c)) for e, c in zip(molecule.elements, molecule.coordinates, strict=True)]
    mol = gto.M(atom=atoms, basis="STO-3G", unit="Angstrom", verbose=0)
    x0 = mol.atom_coords(unit="Bohr")
    step = 1e-4  # Bohr, central differences

    def gradient(coords):
        moved = mol.set_geom_(coords, unit="Bohr", inplace=False)
        mf = scf.RHF(moved)
        mf.conv_tol = 1e-12
        mf.kernel()
        assert mf.converged
        return mf.nuc_grad_method().kernel().ravel()

    n = 3 * mol.natm
    fd = np.empty((n, n))
    for k in range(n):
        plus, minus = x0.copy().ravel(), x0.copy().ravel()
        plus[k] += step
        minus[k] -= step
        fd[k] = (gradient(plus.reshape(-1, 3)) - gradient(minus.reshape(-1, 3))) / (2 * step)
    fd = 0.5 * (fd + fd.T)
    # O(h²) truncation plus SCF noise: 2.8e-7 Hartree/Bohr² measured; elements reach ~0.7.
    assert np.abs(molecule.hessian - fd).max() < 2e-6
    assert np.abs(molecule.hessian).max() > 0.3


def test_frequencies_read_back_by_the_core_agree_with_pyscf_harmonic_analysis(water_run):
    from pyscf import gto
    from pyscf.hessian import thermo

    _, _out, result = water_run
    molecule = NumpyBundle().read(result.hessian_path)[0]
    masses = [mass(e) for e in molecule.elements]
    assert result.meta["masses_amu"] == masses
    recomputed = frequencies_from_hessian(molecule.hessian, molecule.coordinates, masses)
    np.testing.assert_allclose(molecule.frequencies, recomputed, atol=1e-3)
    np.testing.assert_allclose(result.meta["frequencies_cm1"], recomputed, atol=1e-3)
    mol = gto.M(
        atom=[(e, tuple(c)) for e, c in zip(molecule.elements, molecule.coordinates, strict=True)],
        basis="STO-3G",
        unit="Angstrom",
        verbose=0,
    )
    n = molecule.n_atoms
    hessian = molecule.hessian.reshape(n, 3, n, 3).transpose(0, 2, 1, 3)
    pyscf_freqs = thermo.harmonic_analysis(mol, hessian, mass=np.array(masses))["freq_wavenumber"]
    # Same masses, PySCF's own projection and constants: equal to ~1e-3 cm⁻¹. With PySCF's
    # default isotope-averaged masses they differ by ~0.4 cm⁻¹ (why meta records masses).
    np.testing.assert_allclose(np.sort(np.real(pyscf_freqs)), recomputed, atol=0.02)
    assert 2000 < recomputed[0] < 2400 and recomputed[-1] > 4000
    assert molecule.energy is not None and abs(molecule.energy / 627.5094740631 - (-74.9659)) < 1e-3


def test_meta_records_provenance(water_run):
    _, out, result = water_run
    meta = json.loads((out / "meta.json").read_text())
    assert meta == result.meta
    assert meta["versions"]["pyscf"] and meta["versions"]["geometric"]
    assert meta["method"] == "HF" and meta["basis"] == "STO-3G" and meta["grid"] is None
    assert meta["n_imaginary"] == 0 and meta["kind"] == "ground_state" and meta["optimization"] is None
    assert meta["residual_gradient_hartree_per_bohr"]["max"] < 5e-3
    assert meta["wall_time_s"]["hessian"] > 0 and meta["cpu_time_s"] > 0 and meta["scf"]["converged"] is True
    assert set(meta["files"]) == {
        f"water{s}" for s in ("-optimized.xyz", "-hessian.npy", "-frequencies.txt", "-energy.txt")
    }


def test_repeated_call_reuses_the_cache_and_new_inputs_do_not(water_run, tmp_path):
    path, out, first = water_run
    hessian_bytes = first.hessian_path.read_bytes()
    start = time.perf_counter()
    again = program().run(request(path), out)
    assert again.cached and not first.cached
    assert time.perf_counter() - start < 1.0
    assert again.hessian_path.read_bytes() == hessian_bytes and again.meta == first.meta
    # the same inputs into a new folder, and a changed basis, compute afresh
    other = program().run(request(path, basis="3-21G"), out)
    assert not other.cached and other.meta["cache_key"] != first.meta["cache_key"]
    assert len(list((out / CACHE_DIR).iterdir())) == 2


def test_published_files_are_restored_from_the_cache(water_run):
    path, out, first = water_run
    program().run(request(path), out)
    (out / "water-hessian.npy").write_bytes(b"clobbered")
    again = program().run(request(path), out)
    assert again.cached and (out / "water-hessian.npy").read_bytes() == first.hessian_path.read_bytes()


def test_dft_records_the_functional_and_the_grid(tmp_path):
    path = xyz(tmp_path, "2\nH2\nH 0 0 0\nH 0 0 0.74\n", "h2")
    result = program(grid=(50, 194)).run(request(path, method="B3LYPG", basis="STO-3G"), tmp_path / "out")
    meta = result.meta
    assert meta["xc"] == "B3LYPG" and "1*HYB_GGA_XC_B3LYP; exact exchange 0.2 " in meta["xc_libxc"]
    assert "VWN-RPA" in meta["xc_libxc"]
    assert meta["grid"]["atom_grid"] == [50, 194] and meta["grid"]["n_points"] > 1000
    assert meta["frequencies_cm1"][0] > 4000  # H2 at B3LYP/STO-3G: one stretch


def test_b3lyp_and_b3lypg_are_the_same_functional_in_this_pyscf():
    """PySCF ≥ 2.3 maps "B3LYP" to libxc's B3LYP with VWN-RPA (Gaussian's); B3LYP5 is the
    VWN5 variant. meta.json records the libxc parse so the difference stays visible."""
    from pyscf.dft import libxc

    assert libxc.parse_xc("B3LYP") == libxc.parse_xc("B3LYPG")
    assert libxc.parse_xc("B3LYP5") != libxc.parse_xc("B3LYPG")


def test_transition_state_search_finds_planar_ammonia(tmp_path):
    path = xyz(tmp_path, PYRAMIDAL_NH3, "nh3")
    result = program().run(request(path, kind="transition_state", optimize=True), tmp_path / "out")
    meta = result.meta
    assert meta["n_imaginary"] == 1 and meta["imaginary_frequencies_cm1"][0] < -500
    assert meta["optimization"]["transition"] and meta["optimization"]["converged"]
    molecule = NumpyBundle().read(result.hessian_path)[0]
    x = molecule.coordinates - molecule.coordinates[0]
    normal = np.cross(x[1], x[2])
    assert abs(np.dot(normal / np.linalg.norm(normal), x[3])) < 1e-3  # N and the three H coplanar
    assert meta["residual_gradient_hartree_per_bohr"]["max"] < 2e-5
    assert (tmp_path / "out" / "nh3-geometric.log").read_text().count("Converged!") == 1


# -- error paths: typed, naming the file, nothing written ---------------------------------


def assert_nothing_written(out: Path) -> None:
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


def test_ground_state_with_an_imaginary_mode_is_refused(tmp_path):
    path = xyz(tmp_path, PLANAR_NH3, "nh3")
    with pytest.raises(
        StationaryPointError, match=r"nh3\.xyz: declared ground_state.*1 imaginary mode"
    ) as info:
        program().run(request(path), tmp_path / "out")
    assert "input geometry" in str(info.value)
    assert_nothing_written(tmp_path / "out")


def test_transition_state_without_an_imaginary_mode_is_refused(tmp_path):
    path = xyz(tmp_path, WATER)
    with pytest.raises(
        StationaryPointError, match=r"water\.xyz: declared transition_state.* 0 imaginary modes"
    ):
        program().run(request(path, kind="transition_state"), tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


def test_scf_that_does_not_converge_is_refused(tmp_path):
    path = xyz(tmp_path, WATER)
    with pytest.raises(QMConvergenceError, match=r"water\.xyz: SCF did not converge in 2 cycles"):
        program(scf_max_cycle=2).run(request(path), tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


def test_optimization_that_does_not_converge_is_refused(tmp_path):
    distorted = "3\nwater\nO 0.0 0.0 0.0\nH 0.0 1.2 -0.2\nH 0.0 -0.6 -0.9\n"
    path = xyz(tmp_path, distorted)
    with pytest.raises(QMConvergenceError, match=r"water\.xyz: optimization did not converge in 2 steps"):
        program(max_steps=2).run(request(path, optimize=True), tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("3\nwater\nO 0 0 0\nH 0 0.76 zero\nH 0 -0.76 -0.5\n", ParseError, r"bad\.xyz:4"),
        ("", ParseError, r"bad\.xyz:1: expected an atom count"),
        ("3\nwater\nO 0 0 0\nH 0 0.76 -0.5\n", ParseError, r"bad\.xyz"),
    ],
)
def test_bad_input_files_are_named(tmp_path, text, error, message):
    path = xyz(tmp_path, text, "bad")
    with pytest.raises(error, match=message):
        program().run(request(path), tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


def test_impossible_charge_and_multiplicity_and_unknown_method(tmp_path):
    path = xyz(tmp_path, WATER)
    with pytest.raises(QMError, match=r"water\.xyz: PySCF refused the molecule .*multiplicity 2"):
        program().run(request(path, multiplicity=2), tmp_path / "out")
    with pytest.raises(QMError, match=r"water\.xyz: unknown method 'NOT-A-FUNCTIONAL'"):
        program().run(request(path, method="NOT-A-FUNCTIONAL"), tmp_path / "out")
    with pytest.raises(QMError, match=r"water\.xyz: PySCF refused the molecule \(no-such-basis"):
        program().run(request(path, basis="no-such-basis"), tmp_path / "out")
    assert_nothing_written(tmp_path / "out")


# -- the command line ------------------------------------------------------------------


def test_cli_writes_the_bundle_and_reports_cache_use(tmp_path):
    path = xyz(tmp_path, WATER)
    args = ["qm", str(path), "--method", "HF", "--basis", "STO-3G", "-o", str(tmp_path / "out"), "--quiet"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "water-hessian.npy (HF/STO-3G" in first.output and "0 imaginary" in first.output
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0 and "cached" in second.output
    molecule = NumpyBundle().read(tmp_path / "out" / "water-hessian.npy")[0]
    assert molecule.hessian.shape == (9, 9) and len(molecule.frequencies) == 3


def test_cli_errors_are_one_line_exit_2(tmp_path):
    path = xyz(tmp_path, PLANAR_NH3, "nh3")
    cases = [
        (
            ["qm", str(path), "--method", "HF", "--basis", "STO-3G", "-o", str(tmp_path / "o")],
            "nh3.xyz: declared",
        ),
        (["qm", str(tmp_path / "missing.xyz"), "-o", str(tmp_path / "o")], "missing.xyz: file not found"),
        (["qm", str(path), "--program", "gaussian", "-o", str(tmp_path / "o")], "no qm named 'gaussian'"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(main, [*args, "--quiet"])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("q2mm: error:") and message in lines[0]
    assert_nothing_written(tmp_path / "o")
