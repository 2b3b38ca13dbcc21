"""The OpenMM engine: q2mm's energies, gradients, Hessians and relaxations evaluated
by OpenMM.

Each prepared structure gets its own ``openmm.System`` and one ``Context``. OpenMM's
force objects are shared by every context built from one System, and a parameter set
on a force leaks into the next ``updateParametersInContext`` of any of them — so no
two sessions ever share a System, and a session writes parameters only into its own.

Parameters are updated in place: the force-field vector is turned into per-term
parameters and only the terms whose parameters changed are rewritten
(:class:`~q2mm_engine_openmm.forces.base.ForceTerms`), which costs microseconds.

Hessians are central differences of OpenMM's analytical forces,
H[a] = −(F(x + h e_a) − F(x − h e_a)) / 2h, symmetrized. ``hessian_step`` h is in Å
like every length q2mm hands an engine. The error against the JAX engine's analytical
Hessians, measured on the Rh-enamide structures (largest element difference over the
largest element), falls as h² from 1.4e-4 at h = 1e-3 Å to 1.4e-8 at 1e-5 Å and
reaches round-off (~3e-10) near 1e-6 Å; the default 1e-5 Å keeps a factor ten from
both. A bend close to linear is a kink in the energy (θ cannot pass π), so a step
that crosses linearity mixes both sides of it, and even one that does not sees the
curvature of θ grow as 1/d with d the centre atom's distance from the line of its
outer atoms: the finite-difference error goes as (h/d)². The S_N2 transition state's
F–C–F bend has d = 5.8e-7 Å. The step is therefore shortened to a thousandth of the
smallest such d, not below 1e-10 Å (there, h = 5.8e-10 Å and the Hessian is within
8e-8 of the largest element of the JAX engine's; round-off stays that small because
the quotient uses the step as represented in floating point, not the nominal 2h).
At an exactly linear bend whose ideal angle is not π the Hessian does not exist, and
no step gives one.

Parameter derivatives: OpenMM differentiates energies with respect to *global*
parameters only (``addEnergyParameterDerivative``), and the residuals q2mm fits are
built from Hessians and relaxed geometries, whose parameter derivatives OpenMM cannot
give. So the engine is not ``traceable``; the core takes finite
differences over parameters, fanning structures out over an executor. Sessions pickle
as their MMSystem and settings and rebuild their own System and Context in the worker
that unpickles them.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
import openmm
from openmm import unit
from q2mm.engine_base import SessionBase, check_supported, newton_step
from q2mm.errors import ConfigError
from q2mm.model import FunctionalForm, MMSystem
from q2mm.protocols import Capability, Minimized

from . import __version__, units
from .forces import FAMILIES, TERM_KINDS, build_forces
from .platform import PlatformChoice, choose_platform

CAPABILITIES = frozenset({Capability.ENERGY, Capability.GRADIENT, Capability.HESSIAN, Capability.MINIMIZE})
_FORCE_UNIT = unit.kilojoule_per_mole / unit.nanometer
#: Near a linear bend the Hessian step is at most this fraction of the centre atom's
#: distance from the line of the outer atoms, and never below MIN_HESSIAN_STEP (Å).
LINEAR_STEP_FRACTION = 1e-3
MIN_HESSIAN_STEP = 1e-10


@attrs.frozen
class Settings:
    """Everything a session needs besides its system; plain values, so it pickles."""

    platform: PlatformChoice
    #: Finite-difference step of the Hessian, Å.
    hessian_step: float
    #: A relaxation is converged when the norm of the whole gradient is below this
    #: (kcal/(mol·Å)), the JAX engine's criterion.
    gradient_tolerance: float
    #: L-BFGS iterations allowed to OpenMM's minimizer (0: until it stops itself).
    max_iterations: int
    #: Newton steps allowed after L-BFGS (see :func:`q2mm.engine_base.newton_step`).
    newton_steps: int


class _IterationCounter(openmm.MinimizationReporter):
    """Counts L-BFGS iterations (OpenMM's minimizer does not return them)."""

    def __init__(self) -> None:
        super().__init__()
        self.iterations = 0

    def report(self, iteration, x, grad, args):
        self.iterations += 1
        return False


def _parameter_count(system: MMSystem) -> int:
    if system.n_parameters:
        return system.n_parameters
    arrays = [t.slots for t in system.terms.values()]
    nb = system.nonbonded
    if nb is not None:
        arrays += [nb.vdw_slots, nb.charge_slots, nb.pair_override]
    return max((int(a.max()) for a in arrays if a.size), default=-1) + 1


class OpenMMSession(SessionBase):
    """One prepared structure: its own OpenMM System and Context."""

    engine_name = "openmm"
    capabilities = CAPABILITIES

    def __init__(self, system: MMSystem, settings: Settings) -> None:
        super().__init__(system)
        self.settings = settings
        self._build()

    def _build(self) -> None:
        system = self.system
        self._n_parameters = _parameter_count(system)
        self._forces = build_forces(system)
        omm = openmm.System()
        for mass in system.molecule.masses:
            omm.addParticle(float(mass))
        centres = self._forces.centres
        for m in range(len(centres) if centres is not None else 0):
            omm.addParticle(0.0)
            omm.setVirtualSite(omm.getNumParticles() - 1, centres.site(m, 1.0))
        for force_terms in self._forces.terms:
            force_terms.force.setForceGroup(FAMILIES.index(force_terms.family))
            omm.addForce(force_terms.force)
        self._omm_system = omm
        self._bends = np.concatenate(
            [system.terms[k].atoms for k in ("angle", "strbnd") if k in system.terms and len(system.terms[k])]
            or [np.zeros((0, 3), dtype=np.int64)]
        )
        # Created at the first evaluation, once every force holds real parameters.
        self._context: openmm.Context | None = None
        self._factors: np.ndarray | None = None
        self._values: np.ndarray | None = None
        self._positions: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        """A session travels as its system and settings; the OpenMM objects are rebuilt
        where it lands (each worker process owns its contexts)."""
        return {"system": self.system, "settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.system = state["system"]
        self.settings = state["settings"]
        self._build()

    # --- inputs -------------------------------------------------------------------

    def _apply(self, values: np.ndarray, coordinates: np.ndarray | None) -> np.ndarray:
        """Write parameters and positions into the context where they changed;
        returns the coordinates (n, 3) in Å."""
        v = np.asarray(values, dtype=float)
        if v.shape != (self._n_parameters,):
            name = self.system.molecule.name or "this structure"
            raise ConfigError(
                f"parameter vector of shape {v.shape}; the force field of {name} has "
                f"{self._n_parameters} parameters"
            )
        if self._values is None or not np.array_equal(v, self._values):
            for force_terms in self._forces.terms:
                force_terms.apply(v, self._context)
            sites_moved = self._apply_centres(v)
            if self._context is None:
                choice = self.settings.platform
                self._context = openmm.Context(
                    self._omm_system,
                    openmm.VerletIntegrator(1.0),
                    choice.platform(),
                    choice.context_properties(),
                )
            elif sites_moved:
                self._context.reinitialize(preserveState=True)
                self._positions = None
            self._values = v.copy()
        x = self.coordinates_or_default(coordinates)
        n = self.system.molecule.n_atoms
        if x.size != 3 * n:
            raise ConfigError(f"coordinates of shape {x.shape} for {n} atoms")
        x = x.reshape(n, 3)
        self._set_positions(units.positions_to_openmm(x))
        return x

    def _apply_centres(self, values: np.ndarray) -> bool:
        """Move the reduced vdW centres' virtual sites where their factor changed;
        True when the context must be reinitialized to see it."""
        centres = self._forces.centres
        if centres is None:
            return False
        factors = centres.factors(values)
        if self._factors is not None and np.array_equal(factors, self._factors):
            return False
        n = self.system.molecule.n_atoms
        for m, factor in enumerate(factors):
            self._omm_system.setVirtualSite(n + m, centres.site(m, float(factor)))
        self._factors = factors.copy()
        return True

    def _set_positions(self, positions_nm: np.ndarray) -> None:
        """Positions of the atoms (n, 3) nm; the virtual sites follow."""
        if self._positions is None or not np.array_equal(positions_nm, self._positions):
            centres = self._forces.centres
            if centres is None:
                self._context.setPositions(positions_nm)
            else:
                self._context.setPositions(np.concatenate([positions_nm, np.zeros((len(centres), 3))]))
                self._context.computeVirtualSites()
            self._positions = positions_nm.copy()

    def _forces_nm(self) -> np.ndarray:
        """Forces on the atoms (those on virtual sites are already handed to their atoms)."""
        forces = self._context.getState(getForces=True).getForces(asNumpy=True).value_in_unit(_FORCE_UNIT)
        return forces[: self.system.molecule.n_atoms]

    # --- EngineSession ------------------------------------------------------------

    def energy(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> float:
        self._apply(values, coordinates)
        state = self._context.getState(getEnergy=True)
        return float(
            units.energy_from_openmm(state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
        )

    def term_energies(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> dict[str, float]:
        """Energy of each term family present (kcal/mol): ``bond``, ``angle``, …,
        ``vdw``, ``charge``, ``dipole`` — for term-by-term comparison."""
        self._apply(values, coordinates)
        out = {}
        for family in dict.fromkeys(f.family for f in self._forces.terms):
            state = self._context.getState(getEnergy=True, groups={FAMILIES.index(family)})
            out[family] = float(
                units.energy_from_openmm(state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
            )
        return out

    def gradient(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        """∂E/∂x in kcal/(mol·Å), shape (n_atoms, 3)."""
        self._apply(values, coordinates)
        return units.gradient_from_forces(self._forces_nm())

    def _hessian_step_nm(self) -> float:
        """The step, shortened near a linear bend (see the module doc)."""
        step = self.settings.hessian_step
        if len(self._bends):
            x = units.positions_from_openmm(self._positions)
            i, j, k = x[self._bends[:, 0]], x[self._bends[:, 1]], x[self._bends[:, 2]]
            outer = np.linalg.norm(k - i, axis=1)
            off_line = np.linalg.norm(np.cross(i - j, k - j), axis=1) / np.where(outer > 0, outer, 1.0)
            step = min(step, max(MIN_HESSIAN_STEP, LINEAR_STEP_FRACTION * float(off_line.min())))
        return units.length_to_openmm(step)

    def _hessian_nm(self) -> np.ndarray:
        """Central differences of the forces around the context's positions,
        symmetrized; kJ/(mol·nm²). The denominator is the step as represented in
        floating point, (x + h) − (x − h), not the nominal 2h."""
        x0 = self._positions
        h = self._hessian_step_nm()
        size = x0.size
        hessian = np.empty((size, size))
        for a in range(size):
            up, down = x0.copy(), x0.copy()
            up.reshape(-1)[a] += h
            down.reshape(-1)[a] -= h
            self._set_positions(up)
            forces_up = self._forces_nm()
            self._set_positions(down)
            forces_down = self._forces_nm()
            hessian[a] = (forces_down - forces_up).reshape(-1) / (up.reshape(-1)[a] - down.reshape(-1)[a])
        self._set_positions(x0)
        return 0.5 * (hessian + hessian.T)

    def hessian(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        """Cartesian Hessian in Hartree/Bohr², (3N, 3N) atom-major."""
        self._apply(values, coordinates)
        return units.hessian_from_openmm(self._hessian_nm())

    def minimize(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> Minimized:
        """L-BFGS (``LocalEnergyMinimizer``) to the gradient tolerance, then Newton
        steps while the gradient norm is still above it. ``converged`` says whether
        the norm of the final gradient is below ``gradient_tolerance``."""
        x = self._apply(values, coordinates)
        settings = self.settings
        # OpenMM stops on the RMS force component; |g| ≤ tol needs RMS ≤ tol/√(3N).
        rms = units.gradient_to_openmm(settings.gradient_tolerance) / math.sqrt(x.size)
        counter = _IterationCounter()
        openmm.LocalEnergyMinimizer.minimize(self._context, rms, settings.max_iterations, counter)
        iterations = counter.iterations
        positions = (
            self._context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        )
        self._positions = np.asarray(positions, dtype=float)[: x.shape[0]]
        coords = units.positions_from_openmm(self._positions)
        grad = units.gradient_from_forces(self._forces_nm())
        norm = float(np.linalg.norm(grad))
        for _ in range(settings.newton_steps):
            if not np.isfinite(norm) or norm < settings.gradient_tolerance:
                break
            step = newton_step(units.curvature_from_openmm(self._hessian_nm()), grad, coords)
            trial = coords + step
            trial_grad = self.gradient(values, trial)
            trial_norm = float(np.linalg.norm(trial_grad))
            if not trial_norm < norm:
                self._set_positions(units.positions_to_openmm(coords))
                break
            coords, grad, norm = trial, trial_grad, trial_norm
            iterations += 1
        energy = self.energy(values, coords)
        converged = bool(np.isfinite(norm) and np.isfinite(energy) and norm < settings.gradient_tolerance)
        return Minimized(coords, energy, converged, iterations, norm)


class OpenMMEngine:
    """q2mm engine on OpenMM. ``platform`` by name (no silent fall-back; the error
    lists what is available); ``precision`` where the platform lets one choose
    (double by default); ``hessian_step`` in Å; extra keyword options are OpenMM
    platform properties (e.g. ``Threads="1"`` for CPU)."""

    name = "openmm"
    capabilities = CAPABILITIES
    forms = frozenset({FunctionalForm.HARMONIC, FunctionalForm.MM3})
    term_kinds = TERM_KINDS

    def __init__(
        self,
        platform: str = "CPU",
        precision: str | None = None,
        hessian_step: float = 1e-5,
        gradient_tolerance: float = 1e-8,
        max_iterations: int = 0,
        newton_steps: int = 20,
        **properties: Any,
    ) -> None:
        if not (hessian_step > 0 and math.isfinite(hessian_step)):
            raise ConfigError(f"hessian_step must be a positive length in Å, got {hessian_step!r}")
        if not gradient_tolerance > 0:
            raise ConfigError(f"gradient_tolerance must be positive, got {gradient_tolerance!r}")
        if max_iterations < 0 or newton_steps < 0:
            raise ConfigError("max_iterations and newton_steps must not be negative")
        self.settings = Settings(
            choose_platform(platform, precision, properties),
            float(hessian_step),
            float(gradient_tolerance),
            int(max_iterations),
            int(newton_steps),
        )

    def prepare(self, system: MMSystem) -> OpenMMSession:
        check_supported(self.name, self.term_kinds, self.forms, system)
        return OpenMMSession(system, self.settings)

    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {
            "engine": self.name,
            "version": __version__,
            "openmm": openmm.__version__,
            "platform": s.platform.name,
            "precision": s.platform.precision,
            "properties": s.platform.context_properties(),
            "hessian": "central differences of analytical forces",
            "hessian_step_angstrom": s.hessian_step,
            "gradient_tolerance": s.gradient_tolerance,
            "max_iterations": s.max_iterations,
            "newton_steps": s.newton_steps,
        }
