"""The objective on CH₃F (QFUERZA-estimated harmonic force field, NumPy engine):
gradients against central differences for every residual kind, the analytical JAX
path against the finite-difference path, parallel finite differences, failures."""

from __future__ import annotations

import math
import pickle
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import attrs
import numpy as np
import pytest
from q2mm.engine_base import SessionBase, check_supported
from q2mm.errors import ConfigError, FitFailure, UnknownPluginError
from q2mm.estimate import estimate_forcefield
from q2mm.executors import SerialExecutor
from q2mm.io import read_structures
from q2mm.model import ForceField, FunctionalForm, StationaryPoint
from q2mm.model.units import HESSIAN_AU_TO_KCALMOL_A2
from q2mm.objective import Objective
from q2mm.objective import finite_difference as fd
from q2mm.parameters import ParameterSpace
from q2mm.protocols import Capability, TraceableFunctions
from q2mm.residuals.metrics import KEYS
from q2mm.testing.harmonic_engine import HarmonicEngine
from q2mm.topology import build_system, perceive
from q2mm.vibrations import match_modes, normal_modes


@attrs.frozen
class Fit:
    molecules: list
    systems: list
    space: ParameterSpace

    def objective(self, engine=None, **options) -> Objective:
        return Objective.build(
            self.molecules, self.systems, engine or HarmonicEngine(), self.space, **options
        )

    def off_start(self) -> np.ndarray:
        """A point away from the estimate, so that every residual kind is non-zero."""
        x = np.array(self.space.x0)
        shift = np.array([1.08, 1.01, 0.93, 0.99, 1.15, 1.02, 0.9, 0.985])[: x.size]
        return x * shift


@pytest.fixture(scope="module")
def ch3f(data_dir) -> Fit:
    mol = read_structures(data_dir / "ch3f" / "ch3f-hessian.npy")[0].with_(
        stationary_point=StationaryPoint.GROUND_STATE, name="ch3f"
    )
    ff = estimate_forcefield([mol], form=FunctionalForm.HARMONIC)
    return Fit([mol], [build_system(mol, ff)], ParameterSpace.from_forcefield(ff))


@pytest.fixture(scope="module")
def ethane(data_dir) -> Fit:
    """Ethane's staggered minimum and eclipsed rotation TS with bond and angle terms
    only (the NumPy engine has no torsions; the estimate's zero torsion rows are
    dropped and the topology is given without torsions)."""
    kinds = {"GS": StationaryPoint.GROUND_STATE, "TS": StationaryPoint.TRANSITION_STATE}
    mols = [
        read_structures(data_dir / "ethane" / f"{n}.log")[0].with_(stationary_point=k, name=n)
        for n, k in kinds.items()
    ]
    ff = estimate_forcefield(mols, form=FunctionalForm.HARMONIC)
    ff = ForceField(ff.form, [r for r in ff.rows if r.kind != "torsion"], ff.conventions)
    systems = [build_system(m, ff, topology=attrs.evolve(perceive(m), torsions=())) for m in mols]
    return Fit(mols, systems, ParameterSpace.from_forcefield(ff))


def _central(objective: Objective, x: np.ndarray, fraction: float = 1e-5) -> np.ndarray:
    """Central differences of the score, written independently of q2mm.objective.finite_difference."""
    g = np.zeros_like(x)
    for i in range(x.size):
        h = fraction * max(abs(x[i]), 1.0)
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        g[i] = (objective.value(up) - objective.value(down)) / (2 * h)
    return g


@pytest.mark.parametrize("kind", ["eigenmatrix", "frequency", "hessian", "geometry", "tether"])
def test_finite_difference_gradient_of_each_kind(ch3f, kind):
    objective = ch3f.objective(terms=[(kind, 1.0, {})])
    x = ch3f.off_start()
    value, grad = objective.value_and_grad(x)
    assert value > 1e-4
    assert objective.gradient_path == "finite-difference" and not objective.traceable
    np.testing.assert_allclose(grad, _central(objective, x), rtol=2e-5, atol=1e-6 * np.abs(grad).max())


def test_finite_difference_gradient_of_relative_energies(ethane):
    objective = ethane.objective(terms=[("energy", 1.0, {})])
    x = np.array(ethane.space.x0) * np.linspace(0.97, 1.03, ethane.space.size)
    value, grad = objective.value_and_grad(x)
    assert value > 0.1
    np.testing.assert_allclose(grad, _central(objective, x), rtol=1e-5, atol=1e-8 * np.abs(grad).max())


def test_score_is_the_sum_over_kinds_and_weights_scale_it(ch3f):
    x = ch3f.off_start()
    objective = ch3f.objective()
    by_residual = objective.score_by_residual(x)
    assert set(by_residual) == {"eigenmatrix", "geometry", "stability", "tether"}  # the default
    assert sum(by_residual.values()) == pytest.approx(objective.value(x), rel=1e-12)
    doubled = ch3f.objective(terms=[("eigenmatrix", 2.0, {}), ("geometry", 1.0, {})])
    assert doubled.score_by_residual(x)["eigenmatrix"] == pytest.approx(
        4 * by_residual["eigenmatrix"], rel=1e-12
    )
    # diagonal, couplings, bonds, angles, one curvature per mode, one per fitted value
    assert objective.residuals(x).size == 9 + 36 + 4 + 6 + 9 + ch3f.space.size


def test_metrics_are_always_reported_and_agree_with_an_independent_route(ch3f):
    """Geometry: r0 and θ0 came from the QM geometry, so the MM minimum is the QM
    geometry (up to the 1e-6 Å by which the data's three C–H bonds differ).
    Frequencies: recomputed with q2mm.vibrations and Hungarian pairing."""
    objective = ch3f.objective(terms=[("eigenmatrix", 1.0, {})])
    x = np.array(ch3f.space.x0)
    metrics = objective.metrics(x)
    assert set(metrics) == set(KEYS)
    assert metrics["bond_rmsd_angstrom"] < 1e-5
    assert metrics["angle_rmsd_degree"] < 1e-3
    mol = ch3f.molecules[0]
    mm_hessian = HarmonicEngine().prepare(ch3f.systems[0]).hessian(ch3f.space.expand(x))
    qm = normal_modes(mol.hessian, mol.coordinates, mol.masses)
    mm = normal_modes(mm_hessian, mol.coordinates, mol.masses)
    paired = mm.frequencies[match_modes(qm.vectors, mm.vectors)]
    errors = paired - qm.frequencies
    assert metrics["frequency_rmsd_cm1"] == pytest.approx(math.sqrt(np.mean(errors**2)), rel=1e-9)
    assert metrics["frequency_mae_cm1"] == pytest.approx(np.mean(np.abs(errors)), rel=1e-9)
    assert 0.9 < metrics["eigenmatrix_diagonal_r2"] < 1.0


def test_parallel_finite_differences_match_serial(ch3f):
    x = ch3f.off_start()
    serial = ch3f.objective()
    value, grad = serial.value_and_grad(x)
    assert serial.counters.evaluations == 1 + 2 * x.size  # every parameter is inside its bounds
    with ThreadPoolExecutor(2) as threads, ProcessPoolExecutor(2) as processes:
        for executor in (SerialExecutor(), threads, processes):
            objective = ch3f.objective(executor=executor)
            v, g = objective.value_and_grad(x)
            assert v == value
            np.testing.assert_allclose(g, grad, rtol=1e-12, atol=0)
            assert objective.counters.evaluations == serial.counters.evaluations
    copy = pickle.loads(pickle.dumps(serial))
    assert copy.value(x) == value


def test_stencil_never_leaves_the_bounds():
    x = np.array([0.0, 5.0, 1.0, 2.0, 3.0])
    steps = np.full(5, 0.1)
    bounds = [(0.0, 10.0), (0.0, 5.0), (0.95, 1.02), (2.0, 2.0), (-np.inf, np.inf)]
    st = fd.stencil(x, steps, bounds)
    lower, upper = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
    assert ((st.points >= lower) & (st.points <= upper)).all()
    # at the lower bound: forward; at the upper: backward; a narrow interval: the
    # longer side, shortened; a fixed parameter: nothing; free: central.
    assert st.minus[0] == -1 and st.width[0] == pytest.approx(0.1)
    assert st.plus[1] == -1 and st.width[1] == pytest.approx(0.1)
    assert st.plus[2] == -1 and st.width[2] == pytest.approx(0.05)
    assert st.width[3] == 0
    assert st.width[4] == pytest.approx(0.2)
    base = np.array([1.0])
    rows = [np.array([1.0 + w]) for w in (0.1, -0.1, -0.05, 0.1, -0.1)]  # f = 1 + Σ (x − x₀)
    np.testing.assert_allclose(fd.jacobian(st, base, rows).ravel(), [1.0, 1.0, 1.0, 0.0, 1.0])


def test_gradient_at_a_bound_is_one_sided_and_right(ch3f):
    space = ParameterSpace.from_forcefield(ch3f.space.forcefield, fractional_bounds=0.2)
    fit = Fit(ch3f.molecules, ch3f.systems, space)
    objective = fit.objective()
    x = fit.off_start()
    k = 2  # C–H force constant, put on its upper bound
    x[k] = space.upper[k]
    _, grad = objective.value_and_grad(x)
    h = 1e-5 * x[k]
    down = x.copy()
    down[k] -= h
    down2 = x.copy()
    down2[k] -= 2 * h
    one_sided = (3 * objective.value(x) - 4 * objective.value(down) + objective.value(down2)) / (2 * h)
    assert grad[k] == pytest.approx(one_sided, rel=1e-4)


def test_failures_raise_fitfailure(ch3f):
    x = ch3f.off_start()
    stubborn = ch3f.objective(engine=HarmonicEngine(gradient_tolerance=1e-30))
    with pytest.raises(FitFailure, match="relaxation of ch3f did not converge"):
        stubborn.value(x)
    x_nan = x.copy()
    x_nan[0] = np.nan
    with pytest.raises(FitFailure, match=r"non-finite residuals in eigenmatrix\[ch3f\]"):
        ch3f.objective(terms=[("eigenmatrix", 1.0, {})]).value(x_nan)


def test_build_errors_are_typed(ch3f):
    with pytest.raises(UnknownPluginError, match="no residual named 'frequencies'"):
        ch3f.objective(terms=[("frequencies", 1.0, {})])
    with pytest.raises(ConfigError, match="unknown option"):
        ch3f.objective(terms=[("eigenmatrix", 1.0, {"diagonal": 3.0})])
    with pytest.raises(ConfigError, match="no structure named"):
        ch3f.objective(terms=[("geometry", 1.0, {"structures": ["water"]})])
    with pytest.raises(ConfigError, match="weight"):
        ch3f.objective(terms=[("geometry", -1.0, {})])
    with pytest.raises(ConfigError, match="'hessian' capability"):
        ch3f.objective(engine=TinyJaxEngine(), gradient="finite-difference")


# ----------------------------------------------------------------------------- analytical path


class TinyJaxSession(SessionBase):
    """Harmonic bonds and angles in jax.numpy; relaxation by Newton steps, its
    derivative by implicit differentiation (``custom_vjp``)."""

    engine_name = "tiny-jax"
    capabilities = frozenset({Capability.ENERGY, Capability.TRACEABLE})

    def __init__(self, system, newton_steps: int):
        super().__init__(system)
        self.newton_steps = newton_steps
        self.bonds, self.angles = system.terms["bond"], system.terms["angle"]

    def _energy(self, values, x):
        import jax.numpy as jnp

        b, a = self.bonds, self.angles
        d = x[b.atoms[:, 0]] - x[b.atoms[:, 1]]
        r = jnp.sqrt(jnp.sum(d * d, axis=1))
        u, v = x[a.atoms[:, 0]] - x[a.atoms[:, 1]], x[a.atoms[:, 2]] - x[a.atoms[:, 1]]
        cross = jnp.cross(u, v)
        theta = jnp.arctan2(jnp.sqrt(jnp.sum(cross * cross, axis=1)), jnp.sum(u * v, axis=1))
        return jnp.sum(values[b.slots[:, 0]] * (r - values[b.slots[:, 1]]) ** 2) + jnp.sum(
            values[a.slots[:, 0]] * (theta - values[a.slots[:, 1]]) ** 2
        )

    def energy(self, values, coordinates=None):
        return float(self._energy(values, self.coordinates_or_default(coordinates)))

    def traceable(self, frozen=None) -> TraceableFunctions:
        import jax
        import jax.numpy as jnp

        n = self.system.molecule.n_atoms
        own = jnp.asarray(self.system.molecule.coordinates)

        def energy(values, x=None):
            return self._energy(values, own if x is None else x)

        gradient = jax.grad(energy, argnums=1)

        def hessian_kcal(values, x=None):
            return jax.hessian(self._energy, argnums=1)(values, own if x is None else x).reshape(3 * n, 3 * n)

        def newton(h, g):  # rigid modes get a tiny shift; the gradient has no part along them
            return jnp.linalg.solve(h + 1e-6 * jnp.eye(3 * n), g)

        def solve(values, x0):
            return jax.lax.fori_loop(
                0,
                self.newton_steps,
                lambda _, x: (
                    x - newton(hessian_kcal(values, x), gradient(values, x).reshape(-1)).reshape(n, 3)
                ),
                x0,
            )

        @jax.custom_vjp
        def minimum(values, x0):
            return solve(values, x0)

        def minimum_fwd(values, x0):
            x = solve(values, x0)
            return x, (values, x)

        def minimum_bwd(saved, x_bar):
            # Implicit function theorem at ∇ₓE(v, x*) = 0: v̄ = −(∂²E/∂v∂x)ᵀ H⁻¹ x̄.
            values, x = saved
            lam = newton(hessian_kcal(values, x), x_bar.reshape(-1))
            _, vjp = jax.vjp(lambda v: gradient(v, x).reshape(-1), values)
            return (-vjp(lam)[0], jnp.zeros_like(x))

        minimum.defvjp(minimum_fwd, minimum_bwd)

        def relax(values, x0):
            x = minimum(values, x0)
            return x, jnp.max(jnp.abs(gradient(values, x))) < 1e-8, x

        return TraceableFunctions(
            energy=energy,
            gradient=gradient,
            relax=relax,
            hessian=lambda values, x=None: hessian_kcal(values, x) / HESSIAN_AU_TO_KCALMOL_A2,
        )


class TinyJaxEngine:
    name = "tiny-jax"
    capabilities = TinyJaxSession.capabilities
    forms = frozenset({FunctionalForm.HARMONIC})
    term_kinds = frozenset({"bond", "angle"})

    def __init__(self, newton_steps: int = 8):
        self.newton_steps = newton_steps

    def prepare(self, system):
        check_supported(self.name, self.term_kinds, self.forms, system)
        return TinyJaxSession(system, self.newton_steps)

    def describe(self):
        return {"platform": "jax"}


def test_analytical_path_matches_the_finite_difference_path(ch3f, jax):
    """The same harmonic physics twice: JAX engine + exact gradient in one jit, and the
    NumPy engine + central differences. Values agree to rounding, gradients to the
    accuracy of the differences."""
    terms = [("eigenmatrix", 1.0, {}), ("geometry", 1.0, {}), ("frequency", 1.0, {})]
    analytical = ch3f.objective(engine=TinyJaxEngine(), terms=terms)
    numeric = ch3f.objective(terms=terms)
    assert analytical.gradient_path == "analytical" and analytical.traceable
    x = ch3f.off_start()
    value, grad = analytical.value_and_grad(x)
    assert analytical.counters.compile_seconds > 0
    expected_value, expected_grad = numeric.value_and_grad(x)
    assert value == pytest.approx(expected_value, rel=1e-10)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-7 * np.abs(grad).max())
    in_jit_value, in_jit_grad = jax.jit(jax.value_and_grad(analytical.traced_score()))(x)
    assert float(in_jit_value) == value
    np.testing.assert_array_equal(np.asarray(in_jit_grad), grad)


def test_unconverged_relaxation_fails_on_the_analytical_path(ch3f, jax):
    objective = ch3f.objective(engine=TinyJaxEngine(newton_steps=1), terms=[("geometry", 1.0, {})])
    x = ch3f.off_start()
    with pytest.raises(FitFailure, match="relaxation of ch3f did not converge"):
        objective.value(x)
    assert float(jax.jit(objective.traced_score())(x)) == math.inf  # what an in-JIT optimizer sees


def test_the_finite_difference_path_never_imports_jax(data_dir):
    """q2mm-core imports JAX only for a traceable engine: a whole NumPy fit step —
    registry, objective, gradient, metrics, an optimizer — runs without it."""
    import subprocess
    import sys

    script = f"""
import sys
import numpy as np
from q2mm.estimate import estimate_forcefield
from q2mm.io import read_structures
from q2mm.model import FunctionalForm, StationaryPoint
from q2mm.objective import Objective
from q2mm.parameters import ParameterSpace
from q2mm.plugins import registry
from q2mm.testing.harmonic_engine import HarmonicEngine
from q2mm.topology import build_system
mol = read_structures({str(data_dir / "ch3f" / "ch3f-hessian.npy")!r})[0]
mol = mol.with_(stationary_point=StationaryPoint.GROUND_STATE)
ff = estimate_forcefield([mol], form=FunctionalForm.HARMONIC)
space = ParameterSpace.from_forcefield(ff)
objective = Objective.build([mol], [build_system(mol, ff)], HarmonicEngine(), space)
objective.value_and_grad(np.array(space.x0))
objective.metrics(np.array(space.x0))
registry().create("optimizer", "scipy:lbfgsb", max_iterations=1).minimize(objective, space.x0, space.bounds)
assert "jax" not in sys.modules, sorted(m for m in sys.modules if m.startswith("jax"))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
