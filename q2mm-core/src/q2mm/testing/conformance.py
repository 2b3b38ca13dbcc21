"""Engine conformance kit.

An engine package subclasses :class:`EngineConformance` in its own tests and names its
engine; pytest then checks the engine against closed forms on real CH₃F data
(B3LYP geometry bundled here): declared protocol and capabilities, energies of
harmonic bonds and angles, coordinate gradients and Hessians against central
differences, the unit of the Hessian (Hartree/Bohr²), minimization, typed refusals
of undeclared capabilities and unsupported terms, and — for traceable engines — that
the pure JAX functions agree with the session methods.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, ClassVar

import numpy as np
import pytest

from ..errors import CapabilityError, UnsupportedTermError
from ..model import Conventions, FunctionalForm, MMSystem, Molecule, TermSet
from ..model.forcefield import TERM_KINDS
from ..model.units import HESSIAN_AU_TO_KCALMOL_A2
from ..plugins import registry
from ..protocols import Capability, Engine, FrozenValues


def ch3f_molecule() -> Molecule:
    """CH₃F at its B3LYP/6-31+G(d) minimum (the bundled copy of data/ch3f)."""
    text = resources.files("q2mm.testing").joinpath("data/ch3f-optimized.xyz").read_text()
    rows = [line.split() for line in text.splitlines()[2:] if line.strip()]
    return Molecule([r[0] for r in rows], [[float(v) for v in r[1:4]] for r in rows], name="ch3f")


#: Bonds and angles of CH₃F (C=0, F=1, H=2..4) and parameters chosen so that no term
#: sits at its minimum: k in kcal/mol/Å² (bonds) and kcal/mol/rad² (angles).
BONDS = ((0, 1), (0, 2), (0, 3), (0, 4))
ANGLES = ((1, 0, 2), (1, 0, 3), (1, 0, 4), (2, 0, 3), (2, 0, 4), (3, 0, 4))
VALUES = np.array(
    [
        360.0,
        1.37,  # C–F  k, r0
        340.0,
        1.10,  # C–H  k, r0
        50.0,
        1.90,  # F–C–H k, θ0 (rad)
        35.0,
        1.88,  # H–C–H k, θ0 (rad)
    ]
)


def harmonic_ch3f_system(molecule: Molecule | None = None) -> MMSystem:
    mol = molecule or ch3f_molecule()
    bond_slots = [[0, 1] if 1 in b else [2, 3] for b in BONDS]
    angle_slots = [[4, 5] if 1 in a else [6, 7] for a in ANGLES]
    return MMSystem(
        molecule=mol,
        form=FunctionalForm.HARMONIC,
        conventions=Conventions(),
        terms={
            "bond": TermSet("bond", BONDS, bond_slots, ("k", "r0")),
            "angle": TermSet("angle", ANGLES, angle_slots, ("k", "theta0")),
        },
        n_parameters=len(VALUES),
    )


def closed_form_energy(values: np.ndarray, coords: np.ndarray) -> float:
    """E = Σ k (r − r0)² + Σ k (θ − θ0)², written out independently of any engine."""
    energy = 0.0
    for (i, j), (ks, rs) in zip(BONDS, ([0, 1] if 1 in b else [2, 3] for b in BONDS), strict=True):
        r = np.linalg.norm(coords[i] - coords[j])
        energy += values[ks] * (r - values[rs]) ** 2
    for (i, j, k), (ks, ts) in zip(ANGLES, ([4, 5] if 1 in a else [6, 7] for a in ANGLES), strict=True):
        a, b = coords[i] - coords[j], coords[k] - coords[j]
        theta = np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        energy += values[ks] * (theta - values[ts]) ** 2
    return float(energy)


def _central_gradient(f, x: np.ndarray, h: float) -> np.ndarray:
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        g.reshape(-1)[i] = (f(up.reshape(x.shape)) - f(down.reshape(x.shape))) / (2 * h)
    return g


class EngineConformance:
    """Subclass in your test suite and set ``engine_name`` (resolved through the
    plugin registry, so the entry point is checked too) or override ``make_engine``."""

    engine_name: ClassVar[str] = ""
    engine_options: ClassVar[dict[str, Any]] = {}
    energy_tolerance: ClassVar[float] = 1e-8  # kcal/mol
    derivative_tolerance: ClassVar[float] = 1e-5  # relative

    @classmethod
    def make_engine(cls) -> Engine:
        return registry().create("engine", cls.engine_name, **cls.engine_options)

    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls) -> Engine:
        return cls.make_engine()

    @pytest.fixture(scope="class")
    @classmethod
    def session(cls, engine):
        return engine.prepare(harmonic_ch3f_system())

    def test_declares_the_engine_protocol(self, engine):
        assert isinstance(engine, Engine)
        assert engine.name
        assert all(isinstance(c, Capability) or c in set(Capability) for c in engine.capabilities)
        assert Capability.ENERGY in engine.capabilities
        assert FunctionalForm.HARMONIC in engine.forms
        assert {"bond", "angle"} <= set(engine.term_kinds) <= set(TERM_KINDS)
        assert isinstance(engine.describe(), dict)

    def test_energy_matches_closed_form(self, session):
        coords = session.system.molecule.coordinates
        expected = closed_form_energy(VALUES, coords)
        assert expected > 0.1  # the parameters are deliberately off-minimum
        assert abs(session.energy(VALUES) - expected) < self.energy_tolerance
        shifted = coords + np.array([0.0, 0.0, 0.02]) * np.arange(5)[:, None]
        expected_shifted = closed_form_energy(VALUES, shifted)
        assert abs(session.energy(VALUES, shifted) - expected_shifted) < self.energy_tolerance

    def test_energy_is_linear_in_force_constants(self, session):
        doubled = VALUES.copy()
        doubled[[0, 2, 4, 6]] *= 2
        assert session.energy(doubled) == pytest.approx(2 * session.energy(VALUES), rel=1e-10)

    def test_gradient_against_central_differences(self, engine, session):
        if Capability.GRADIENT not in engine.capabilities:
            pytest.skip("engine does not declare gradients")
        coords = np.asarray(session.system.molecule.coordinates)
        numeric = _central_gradient(lambda c: closed_form_energy(VALUES, c), coords, 1e-5)
        analytic = np.asarray(session.gradient(VALUES)).reshape(coords.shape)
        np.testing.assert_allclose(analytic, numeric, rtol=self.derivative_tolerance, atol=1e-6)

    def test_hessian_units_and_values(self, engine, session):
        if Capability.HESSIAN not in engine.capabilities:
            pytest.skip("engine does not declare Hessians")
        coords = np.asarray(session.system.molecule.coordinates)
        h = 1e-4
        numeric = np.zeros((coords.size, coords.size))
        for i in range(coords.size):
            up, down = coords.reshape(-1).copy(), coords.reshape(-1).copy()
            up[i] += h
            down[i] -= h
            gu = _central_gradient(lambda c: closed_form_energy(VALUES, c), up.reshape(coords.shape), 1e-5)
            gd = _central_gradient(lambda c: closed_form_energy(VALUES, c), down.reshape(coords.shape), 1e-5)
            numeric[i] = (gu - gd).reshape(-1) / (2 * h)
        hessian = np.asarray(session.hessian(VALUES))
        assert hessian.shape == (coords.size, coords.size)
        np.testing.assert_allclose(hessian, hessian.T, atol=1e-10)
        # Engines return Hartree/Bohr²; the numbers above are kcal/mol/Å².
        np.testing.assert_allclose(hessian * HESSIAN_AU_TO_KCALMOL_A2, numeric, rtol=1e-4, atol=1e-3)

    def test_minimize_reaches_a_minimum(self, engine, session):
        if Capability.MINIMIZE not in engine.capabilities:
            pytest.skip("engine does not declare minimization")
        result = session.minimize(VALUES)
        assert result.converged
        assert result.energy < session.energy(VALUES)
        coords = np.asarray(result.coordinates)
        numeric = _central_gradient(lambda c: closed_form_energy(VALUES, c), coords, 1e-5)
        assert np.abs(numeric).max() < 1e-3
        r_cf = np.linalg.norm(coords[0] - coords[1])
        assert 1.30 < r_cf < 1.45

    def test_undeclared_capabilities_raise_typed_errors(self, engine, session):
        calls = {
            Capability.GRADIENT: lambda: session.gradient(VALUES),
            Capability.HESSIAN: lambda: session.hessian(VALUES),
            Capability.MINIMIZE: lambda: session.minimize(VALUES),
            Capability.TRACEABLE: lambda: session.traceable(),
        }
        for capability, call in calls.items():
            if capability not in engine.capabilities:
                with pytest.raises(CapabilityError):
                    call()

    def test_unsupported_term_is_refused_by_name(self, engine):
        missing = [k for k in ("urey_bradley", "opbend", "strbnd", "improper") if k not in engine.term_kinds]
        if not missing:
            pytest.skip("engine evaluates every bonded term kind")
        system = harmonic_ch3f_system()
        kind = missing[0]
        arity = {"urey_bradley": 3, "strbnd": 3, "opbend": 4, "improper": 4}[kind]
        extra = TermSet(kind, [list(range(arity))], [[0]], ("k",))
        system = MMSystem(
            system.molecule,
            system.form,
            system.conventions,
            {**system.terms, kind: extra},
            n_parameters=system.n_parameters,
        )
        with pytest.raises(UnsupportedTermError, match=kind):
            engine.prepare(system)

    def test_traceable_functions_agree(self, engine, session):
        if Capability.TRACEABLE not in engine.capabilities:
            pytest.skip("engine is not traceable")
        import jax
        import jax.numpy as jnp

        fns = session.traceable()
        coords = jnp.asarray(session.system.molecule.coordinates)
        values = jnp.asarray(VALUES)
        assert float(jax.jit(fns.energy)(values, coords)) == pytest.approx(session.energy(VALUES), abs=1e-8)
        np.testing.assert_allclose(jax.jit(fns.hessian)(values, coords), session.hessian(VALUES), atol=1e-10)
        dE = jax.grad(fns.energy)(values, coords)
        step = 1e-6
        for i in range(len(VALUES)):
            up, down = VALUES.copy(), VALUES.copy()
            up[i] += step
            down[i] -= step
            fd = (session.energy(up) - session.energy(down)) / (2 * step)
            assert float(dE[i]) == pytest.approx(fd, rel=1e-5, abs=1e-6)

    def test_traceable_functions_with_frozen_values(self, engine, session):
        """A fit that moves only the C–H parameters (:class:`FrozenValues`): at the
        structure's own coordinates (``coordinates=None``) energy, Hessian and their
        parameter gradients agree with the unfrozen functions at values that differ
        from the frozen ones only where they may; a relaxation from
        ``relax_start`` converges and hands back a start that converges again."""
        if Capability.TRACEABLE not in engine.capabilities:
            pytest.skip("engine is not traceable")
        import jax
        import jax.numpy as jnp

        varying = np.zeros(len(VALUES), dtype=bool)
        varying[[2, 3]] = True
        moved = VALUES.copy()
        moved[[2, 3]] *= (1.05, 0.99)
        plain, frozen = session.traceable(), session.traceable(FrozenValues(VALUES, varying))
        coords = jnp.asarray(session.system.molecule.coordinates)
        values = jnp.asarray(moved)
        assert float(jax.jit(frozen.energy)(values)) == pytest.approx(
            float(plain.energy(values, coords)), abs=1e-9
        )
        np.testing.assert_allclose(
            jax.jit(frozen.hessian)(values), plain.hessian(values, coords), rtol=0, atol=1e-12
        )
        for fns, at in ((frozen, None), (plain, coords)):

            def probe(v, fns=fns, at=at):
                return jnp.sum(fns.hessian(v, at) ** 2) + fns.energy(v, at)

            grad = np.asarray(jax.grad(probe)(values))
            if at is None:
                frozen_grad = grad
            else:
                np.testing.assert_allclose(frozen_grad[varying], grad[varying], rtol=1e-9)
        relax = jax.jit(frozen.relax)
        relaxed, converged, again = relax(values, frozen.relax_start(coords))
        relaxed_again, converged_again, _ = relax(values, again)
        assert bool(converged) and bool(converged_again)

        def distances(x):
            x = np.asarray(x)
            return np.linalg.norm(x[:, None] - x[None], axis=-1)

        np.testing.assert_allclose(distances(relaxed_again), distances(relaxed), atol=1e-8)
