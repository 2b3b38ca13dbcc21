"""Parity with the JAX engine (analytical Hessians) on the real structures: CH₃F, the
S_N2 transition state and ethane GS/TS with force fields estimated from their QM
Hessians (QFUERZA, harmonic and MM3), and the nine Rh-enamide transition states with
the starting force field of the Q2MM fit (MM3, and the same rows with the harmonic
stretch and bend). Double-precision Reference platform; energies to 1e-6 kcal/mol,
Hessians to 1e-6 of their largest element (the brief asks for 1e-4), frequencies to
0.01 cm⁻¹ — each term family on its own and all together.

The Rh-enamide force field gives Rh a point charge (the only one: no charge–charge
pairs) and bonds dipoles, so those structures carry charge–dipole interactions too.
"""

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
from q2mm_engine_openmm.engine import OpenMMEngine

_REASON = (
    "q2mm-engine-jax is not installed: the parity tests need it (pip install 'q2mm-engine-openmm[parity]')"
)
jax_engine_module = pytest.importorskip("q2mm_engine_jax.engine", reason=_REASON, exc_type=ImportError)
jax_energy = pytest.importorskip("q2mm_engine_jax.energy", reason=_REASON, exc_type=ImportError)

TS, GS = StationaryPoint.TRANSITION_STATE, StationaryPoint.GROUND_STATE
ENERGY_TOL = 1e-6  # kcal/mol
HESSIAN_TOL = 1e-6  # of the largest |H| element
FREQUENCY_TOL = 0.01  # cm⁻¹


HARMONIC_ZEROS = {
    name: 0.0
    for name in (
        "bond_cubic",
        "bond_quartic",
        *(f"{t}_{n}" for t in ("angle", "opbend") for n in ("cubic", "quartic", "pentic", "sextic")),
    )
}


def harmonic(system: MMSystem) -> MMSystem:
    """The same terms with harmonic stretch, bend and out-of-plane bend."""
    return attrs.evolve(
        system, form=FunctionalForm.HARMONIC, conventions=attrs.evolve(system.conventions, **HARMONIC_ZEROS)
    )


def with_torsion_barriers(ff: ForceField) -> ForceField:
    """Estimated torsion rows start at k = 0 (for the fit to set); give them the size of
    an H–C–C–H barrier so torsions contribute to energies and Hessians."""
    rows = [r.with_values(k1=0.2, k2=-0.15, k3=0.28) if r.kind == "torsion" else r for r in ff.rows]
    return attrs.evolve(ff, rows=rows)


def family_systems(system: MMSystem) -> dict[str, MMSystem]:
    """One system per term family of ``system`` (nonbonded pairs as one family; the
    charge–dipole interactions together with the dipole pairs)."""
    out = {
        kind: attrs.evolve(system, terms={kind: t}, nonbonded=None)
        for kind, t in system.terms.items()
        if len(t)
    }
    nb = system.nonbonded
    if nb is not None and len(nb.pairs):
        out["nonbonded"] = attrs.evolve(system, terms={})
    if "dipole" in out and nb is not None and (nb.charge_slots >= 0).any():
        # the charges' interactions with the dipoles, without the charge and vdW pairs
        no_pairs = attrs.evolve(
            nb, pairs=np.zeros((0, 2)), vdw_scale=[], elec_scale=[], pair_override=np.zeros((0, 2))
        )
        out["dipole+charge"] = attrs.evolve(out["dipole"], nonbonded=no_pairs)
    return out


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


@pytest.fixture(scope="module")
def engines():
    return OpenMMEngine(platform="Reference"), jax_engine_module.JaxEngine()


@pytest.fixture(scope="module")
def small_systems(data_dir):
    """(name, form) → systems of the molecule(s) under their estimated force field."""
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
    assert len(molecules) == len(mmo) == 9
    return molecules, mmo, ff


#: JAX term families named as the OpenMM engine's.
JAX_FAMILY = {"dipole_pair": "dipole", "coulomb": "charge"}


def family_energies(openmm_session, jax_session, values) -> tuple[dict, dict]:
    omm, jx = openmm_session.term_energies(values), {}
    plan = jax_session.plan
    coords = jax_session.system.molecule.coordinates
    for kind, e in jax_energy.term_energies(plan, values, coords).items():
        key = JAX_FAMILY.get(kind, kind)
        jx[key] = jx.get(key, 0.0) + float(np.sum(e))
    return omm, jx


def compare(openmm_session, jax_session, values, label: str, batched=None) -> None:
    """Energies (total, and per family unless ``batched``), Hessians and frequencies.
    ``batched`` is the JAX (energy, Hessian) already computed in a batch; per-family
    energies are then left to the per-family test (JAX evaluates them unjitted, which
    costs seconds per Rh-enamide structure)."""
    x = openmm_session.system.molecule.coordinates
    e_omm = openmm_session.energy(values)
    e_jax = jax_session.energy(values) if batched is None else float(batched[0])
    assert abs(e_omm - e_jax) < ENERGY_TOL, f"{label}: energy {e_omm} vs {e_jax}"
    if batched is None:
        per_omm, per_jax = family_energies(openmm_session, jax_session, values)
        assert per_omm.keys() == per_jax.keys(), label
        for family in per_omm:
            assert abs(per_omm[family] - per_jax[family]) < ENERGY_TOL, f"{label} {family}"
    h_omm = openmm_session.hessian(values)
    h_jax = jax_session.hessian(values) if batched is None else np.asarray(batched[1])
    assert np.abs(h_omm - h_jax).max() < HESSIAN_TOL * np.abs(h_jax).max(), f"{label}: Hessians differ"
    masses = openmm_session.system.molecule.masses
    np.testing.assert_allclose(
        frequencies_from_hessian(h_omm, x, masses),
        frequencies_from_hessian(h_jax, x, masses),
        rtol=0,
        atol=FREQUENCY_TOL,
        err_msg=label,
    )


def compare_hessians(openmm_session, jax_session, values, label: str) -> None:
    h_omm, h_jax = openmm_session.hessian(values), jax_session.hessian(values)
    scale = np.abs(h_jax).max()
    assert scale > 0, f"{label}: the family contributes nothing"
    assert np.abs(h_omm - h_jax).max() < HESSIAN_TOL * scale, f"{label}: Hessians differ"


@pytest.mark.parametrize("name", ["ch3f", "sn2", "ethane"])
@pytest.mark.parametrize("form", ["harmonic", "mm3"])
def test_small_molecules(engines, small_systems, name, form):
    """Energies per family and in total, Hessians, frequencies. The S_N2 TS's F–C–F
    bend's centre is 5.8e-7 Å off the F···F line (OpenMM's own angle forces would be off there)."""
    omm, jx = engines
    systems, values = small_systems[(name, form)]
    for system in systems:
        assert system.form == form
        compare(omm.prepare(system), jx.prepare(system), values, f"{system.molecule.name} {form}")


def test_rh_enamide_per_family(engines, rh):
    """Structure 1 (36 atoms), MM3: the energy of each family, and the Hessian of each
    family on its own — bonds, angles, torsions, stretch-bends, bond dipoles, vdW pairs
    (Buckingham with hydrogen reduction), the Rh charge with the bond dipoles."""
    omm, jx = engines
    molecules, mmo, ff = rh
    system = build_system(molecules[0], ff, mmo=mmo[0])
    values = ff.vector()
    per_omm, per_jax = family_energies(omm.prepare(system), jx.prepare(system), values)
    expected = {"bond", "angle", "torsion", "strbnd", "dipole", "charge_dipole", "vdw"}
    assert set(per_omm) == set(per_jax) == expected
    for family in per_omm:
        assert abs(per_omm[family] - per_jax[family]) < ENERGY_TOL, family
    families = family_systems(system)
    assert set(families) == {"bond", "angle", "torsion", "strbnd", "dipole", "dipole+charge", "nonbonded"}
    for family, sub in families.items():
        compare_hessians(omm.prepare(sub), jx.prepare(sub), values, f"rh-1 {family}")


@pytest.mark.slow
@pytest.mark.parametrize("form", ["mm3", "harmonic"])
def test_rh_enamide_all_nine(engines, rh, form):
    """All terms on the nine structures; the JAX side runs them as one padded batch
    (one compilation)."""
    omm, jx = engines
    molecules, mmo, ff = rh
    values = ff.vector()
    systems = [build_system(m, ff, mmo=s) for m, s in zip(molecules, mmo, strict=True)]
    if form == "harmonic":
        systems = [harmonic(s) for s in systems]
    batch = jx.prepare_batch(systems)
    results = zip(batch.energy(values), batch.hessian(values), strict=True)
    for system, batched in zip(systems, results, strict=True):
        compare(omm.prepare(system), jx.prepare(system), values, f"{system.molecule.name} {form}", batched)


def test_relaxed_geometries_agree(engines, small_systems):
    """From a perturbed ethane, both engines relax to the same MM3 minimum."""
    omm, jx = engines
    systems, values = small_systems[("ethane", "mm3")]
    system = systems[0]
    start = system.molecule.coordinates + np.random.default_rng(5).uniform(-0.05, 0.05, (8, 3))
    a, b = omm.prepare(system).minimize(values, start), jx.prepare(system).minimize(values, start)
    assert a.converged and b.converged
    assert a.gradient_norm < 1e-8
    assert a.energy == pytest.approx(b.energy, abs=1e-9)
    da = np.linalg.norm(a.coordinates[:, None] - a.coordinates[None], axis=-1)
    db = np.linalg.norm(b.coordinates[:, None] - b.coordinates[None], axis=-1)
    np.testing.assert_allclose(da, db, atol=1e-7)
