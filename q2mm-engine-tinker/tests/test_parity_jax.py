"""Parity with the JAX engine on the real structures, Tinker computing: CH₃F, the S_N2
transition state and ethane GS/TS under force fields estimated from their QM Hessians
(QFUERZA, harmonic and MM3, torsion barriers added), and the nine Rh-enamide
transition states under the starting MM3 force field of the Q2MM fit. Energies to
1e-4 kcal/mol per term family (Tinker's own energy components) and in total, Hessians
to 1e-6 of their largest element, frequencies to 0.01 cm⁻¹. Skipped without Tinker
or without the JAX engine."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pytest
from q2mm.estimate import estimate_forcefield
from q2mm.io import read_structures
from q2mm.io.macromodel import read_mmo
from q2mm.io.mm3_fld import MM3Fld
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import ForceField, FunctionalForm, MMSystem, StationaryPoint
from q2mm.topology import build_system
from q2mm.vibrations import frequencies_from_hessian
from q2mm_engine_tinker.engine import clamped_bends
from q2mm_engine_tinker.errors import ClampedBendWarning
from q2mm_engine_tinker.locate import missing_reason

from .systems import expressible, formaldehyde_like, keep_terms

_REASON = (
    "q2mm-engine-jax is not installed: the parity tests need it (pip install q2mm-engine-tinker[parity])"
)
jax_engine_module = pytest.importorskip("q2mm_engine_jax.engine", reason=_REASON, exc_type=ImportError)
jax_energy = pytest.importorskip("q2mm_engine_jax.energy", reason=_REASON, exc_type=ImportError)
pytestmark = pytest.mark.skipif(bool(missing_reason()), reason=str(missing_reason()))

TS, GS = StationaryPoint.TRANSITION_STATE, StationaryPoint.GROUND_STATE
ENERGY_TOL = 1e-4  # kcal/mol
HESSIAN_TOL = 1e-6  # of the largest |H| element
FREQUENCY_TOL = 0.01  # cm⁻¹
#: JAX term families named as Tinker's components.
JAX_FAMILY = {"dipole_pair": "dipole", "coulomb": "charge"}
HARMONIC_ZEROS = {
    name: 0.0
    for name in (
        "bond_cubic",
        "bond_quartic",
        *(f"{t}_{n}" for t in ("angle", "opbend") for n in ("cubic", "quartic", "pentic", "sextic")),
    )
}


def harmonic(system: MMSystem) -> MMSystem:
    return attrs.evolve(
        system, form=FunctionalForm.HARMONIC, conventions=attrs.evolve(system.conventions, **HARMONIC_ZEROS)
    )


def with_torsion_barriers(ff: ForceField) -> ForceField:
    rows = [r.with_values(k1=0.2, k2=-0.15, k3=0.28) if r.kind == "torsion" else r for r in ff.rows]
    return attrs.evolve(ff, rows=rows)


def without_clamped_bends(system: MMSystem) -> MMSystem:
    """The bends Tinker's derivatives are exact for (see ClampedBendWarning)."""
    clamped = set(clamped_bends(system, system.molecule.coordinates))
    for kind in ("angle", "strbnd"):
        if kind in system.terms:
            system = keep_terms(system, kind, lambda a: a not in clamped)
    return system


def small_molecules(data_dir: Path):
    ch3f = read_bundle(data_dir / "ch3f/ch3f-optimized.xyz", data_dir / "ch3f/ch3f-hessian.npy")
    sn2 = read_bundle(data_dir / "sn2-ts/sn2-ts-optimized.xyz", data_dir / "sn2-ts/sn2-ts-hessian.npy")
    ethanes = []
    for name in ("GS", "TS"):
        fchk = read_structures(data_dir / f"ethane/{name}.fchk")[0]
        mol2 = read_structures(data_dir / f"ethane/{name}.mol2")[0]
        kind = GS if name == "GS" else TS
        ethanes.append(
            fchk.with_(
                atom_types=mol2.atom_types, bonds=mol2.bonds, stationary_point=kind, name=f"ethane-{name}"
            )
        )
    return {
        "ch3f": [ch3f.with_(stationary_point=GS, name="ch3f")],
        "sn2": [sn2.with_(stationary_point=TS, name="sn2-ts")],
        "ethane": ethanes,
    }


TINKER_AND_JAX: list = []


@pytest.fixture(scope="module")
def engines(tinker_engine):
    TINKER_AND_JAX[:] = [tinker_engine, jax_engine_module.JaxEngine()]
    return tuple(TINKER_AND_JAX)


@pytest.fixture(scope="module")
def small_systems(data_dir):
    out = {}
    for name, molecules in small_molecules(data_dir).items():
        for form in ("harmonic", "mm3"):
            ff = with_torsion_barriers(estimate_forcefield(molecules, form=form))
            out[(name, form)] = ([build_system(m, ff) for m in molecules], ff.vector())
    return out


@pytest.fixture(scope="module")
def rh(data_dir):
    folder = data_dir / "rh-enamide/training_set"
    molecules = read_structures(folder / "rh_enamide_training_set.mol2")
    mmo = read_mmo(folder / "rh_enamide_training_set.mmo")
    ff = MM3Fld().read(data_dir / "rh-enamide/rh_hyd_enamide_start.fld")
    return molecules, mmo, ff


def jax_families(jax_session, values) -> dict[str, float]:
    out: dict[str, float] = {}
    coords = jax_session.system.molecule.coordinates
    for kind, e in jax_energy.term_energies(jax_session.plan, values, coords).items():
        key = JAX_FAMILY.get(kind, kind)
        out[key] = out.get(key, 0.0) + float(np.sum(e))
    return {k: e for k, e in out.items() if e != 0.0}


def compare(tinker_session, jax_session, values, label: str, batched=None) -> dict[str, float]:
    """Differences found (for the record), asserting each is within tolerance. A
    structure with bends whose derivatives Tinker clamps has its Hessians compared
    without those bends (and the engine must warn about them)."""
    system = tinker_session.system
    if clamped_bends(system, system.molecule.coordinates):
        energies = compare_energies(tinker_session, jax_session, values, label)
        with pytest.warns(ClampedBendWarning):
            h_full = tinker_session.hessian(values)
        full = np.abs(h_full - jax_session.hessian(values)).max() / np.abs(h_full).max()
        reduced = without_clamped_bends(system)
        engine_t, engine_j = TINKER_AND_JAX
        rest = compare(engine_t.prepare(reduced), engine_j.prepare(reduced), values, label + " unclamped")
        return {**energies, **rest, "hessian_with_clamped_bends": float(full)}
    return {
        **compare_energies(tinker_session, jax_session, values, label, batched),
        **compare_hessians(tinker_session, jax_session, values, label, batched),
    }


def compare_energies(tinker_session, jax_session, values, label: str, batched=None) -> dict[str, float]:
    e_t = tinker_session.energy(values)
    e_j = jax_session.energy(values) if batched is None else float(batched[0])
    assert abs(e_t - e_j) < ENERGY_TOL, f"{label}: energy {e_t} vs {e_j}"
    if batched is None:
        per_t, per_j = tinker_session.term_energies(values), jax_families(jax_session, values)
        for family in set(per_t) | set(per_j):
            assert abs(per_t.get(family, 0.0) - per_j.get(family, 0.0)) < ENERGY_TOL, f"{label} {family}"
    return {"energy": abs(e_t - e_j)}


def compare_hessians(tinker_session, jax_session, values, label: str, batched=None) -> dict[str, float]:
    x = tinker_session.system.molecule.coordinates
    h_t = tinker_session.hessian(values)
    h_j = jax_session.hessian(values) if batched is None else np.asarray(batched[1])
    h_err = np.abs(h_t - h_j).max() / np.abs(h_j).max()
    assert h_err < HESSIAN_TOL, f"{label}: Hessians differ by {h_err:.2e} of the largest element"
    masses = tinker_session.system.molecule.masses
    f_t = frequencies_from_hessian(h_t, x, masses)
    f_j = frequencies_from_hessian(h_j, x, masses)
    np.testing.assert_allclose(f_t, f_j, rtol=0, atol=FREQUENCY_TOL, err_msg=label)
    return {"hessian": float(h_err), "frequency": float(np.abs(f_t - f_j).max())}


@pytest.mark.parametrize("name", ["ch3f", "sn2", "ethane"])
@pytest.mark.parametrize("form", ["harmonic", "mm3"])
def test_small_molecules(engines, small_systems, name, form):
    tinker, jx = engines
    systems, values = small_systems[(name, form)]
    for system in systems:
        diff = compare(tinker.prepare(system), jx.prepare(system), values, f"{system.molecule.name} {form}")
        print(system.molecule.name, form, diff)


def test_rh_enamide_all_nine(engines, rh):
    """All terms (bonds, angles, torsions with MacroModel's scales, stretch-bends,
    bond dipoles, the Rh charge with the dipoles, Buckingham vdW with hydrogen
    reduction) on the nine structures; per family on the first."""
    tinker, jx = engines
    molecules, mmo, ff = rh
    values = ff.vector()
    systems, dropped = zip(
        *(expressible(build_system(m, ff, mmo=s)) for m, s in zip(molecules, mmo, strict=True)), strict=True
    )
    print("(torsions Tinker cannot hold, hydrogens bonded twice) per structure:", dropped)
    batch = jx.prepare_batch(systems)
    results = zip(batch.energy(values), batch.hessian(values), strict=True)
    for index, (system, batched) in enumerate(zip(systems, results, strict=True)):
        label = f"{system.molecule.name} mm3"
        given = None if index == 0 else batched
        diff = compare(tinker.prepare(system), jx.prepare(system), values, label, given)
        print(label, diff)


def test_relaxed_geometries_agree(engines, small_systems):
    """From a perturbed ethane, both engines relax to the same MM3 minimum."""
    tinker, jx = engines
    systems, values = small_systems[("ethane", "mm3")]
    system = systems[0]
    start = system.molecule.coordinates + np.random.default_rng(5).uniform(-0.05, 0.05, (8, 3))
    a, b = tinker.prepare(system).minimize(values, start), jx.prepare(system).minimize(values, start)
    assert a.converged and b.converged
    assert a.energy == pytest.approx(b.energy, abs=1e-9)
    da = np.linalg.norm(a.coordinates[:, None] - a.coordinates[None], axis=-1)
    db = np.linalg.norm(b.coordinates[:, None] - b.coordinates[None], axis=-1)
    np.testing.assert_allclose(da, db, atol=1e-7)


@pytest.mark.parametrize("form", [FunctionalForm.HARMONIC, FunctionalForm.MM3])
def test_out_of_plane_urey_bradley_and_improper(engines, form):
    tinker, jx = engines
    system, values = formaldehyde_like(form)
    diff = compare(tinker.prepare(system), jx.prepare(system), values, f"trigonal {form}")
    print("trigonal", form, diff)
