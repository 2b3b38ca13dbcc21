"""The Tinker engine: q2mm's energies, gradients, Hessians and relaxations computed by
the real Tinker code.

Each prepared structure gets one work folder for its life (``structure.xyz``, the
keyfile, Tinker's log; removed when the session goes) and one of two back ends:

- ``driver`` (default): q2mm's persistent driver, compiled against the user's
  ``libtinker.a`` (:mod:`q2mm_engine_tinker.driver`). One process per structure for
  the whole fit; new parameters are a rewritten keyfile that Tinker re-reads.
- ``programs``: one start of a Tinker program per call
  (:mod:`q2mm_engine_tinker.programs`), at 0.3 s or more per start.

``backend="auto"`` takes the driver when it builds and says in :meth:`describe` why
not otherwise. The force field goes through :class:`~q2mm_engine_tinker.keyfile.TinkerInput`
(one atom class per atom, canonical units; Tinker's MM3 extras switched off).

Hessians are Tinker's analytical ones (``hessian.f``, what ``testhess`` prints). They
are complete here: MM3-HBOND, the one MM3 term missing from Tinker's analytical
Hessian (TinkerTools/tinker#74), is never switched on, as q2mm's model has no hydrogen
bond term. Relaxation: Tinker's L-BFGS, then Newton steps on the analytical Hessian
(:func:`q2mm.engine_base.newton_step`) to ``gradient_tolerance``. Parameter derivatives:
none (not traceable); the core takes finite differences over parameters, fanning
sessions out over an executor; a session pickles as its system and settings and
starts its own process where it lands.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import warnings
import weakref
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from q2mm.engine_base import SessionBase, check_supported, newton_step
from q2mm.errors import ConfigError
from q2mm.model import FunctionalForm, MMSystem
from q2mm.model.units import HESSIAN_AU_TO_KCALMOL_A2
from q2mm.protocols import Capability, Minimized

from . import __version__
from .driver import KEY_NAME, XYZ_NAME, Driver, driver_executable
from .errors import ClampedBendWarning, TinkerError, TinkerNotFoundError
from .keyfile import SWITCHED_OFF, TERM_KINDS, TinkerInput
from .locate import TinkerInstall, find_tinker, tinker_version
from .programs import Programs

CAPABILITIES = frozenset({Capability.ENERGY, Capability.GRADIENT, Capability.HESSIAN, Capability.MINIMIZE})
BACKENDS = ("auto", "driver", "programs")
#: Tinker components that are part of a q2mm family (its torsion kind holds improper torsions).
FAMILY_OF_COMPONENT = {"imptors": "torsion"}
#: Tinker's floor on |a×b|² (Å⁴) in its angle derivatives (eangle1.f, eangle2.f ``eps``).
BEND_CLAMP = 1e-4


@attrs.frozen
class Settings:
    """Everything a session needs besides its system; plain values, so it pickles."""

    install: TinkerInstall
    #: The compiled driver, or None for one program start per call.
    driver: Path | None
    #: Seconds one Tinker call may take.
    timeout: float
    #: OpenMP threads per Tinker process (sessions already run concurrently).
    threads: int
    #: |∇E| (kcal/(mol·Å)) below which a relaxation is converged.
    gradient_tolerance: float
    #: RMS gradient per atom at which Tinker's L-BFGS hands over to Newton steps.
    lbfgs_rms: float
    max_iterations: int
    newton_steps: int


def _parameter_count(system: MMSystem) -> int:
    if system.n_parameters:
        return system.n_parameters
    arrays = [t.slots for t in system.terms.values()]
    nb = system.nonbonded
    if nb is not None:
        arrays += [nb.vdw_slots, nb.charge_slots, nb.pair_override]
    return max((int(a.max()) for a in arrays if a.size), default=-1) + 1


def clamped_bends(system: MMSystem, x: np.ndarray) -> list[tuple[int, int, int]]:
    """Bends (angle and stretch-bend terms) where Tinker floors |a×b|²."""
    out = []
    for kind in ("angle", "strbnd"):
        if kind in system.terms and len(system.terms[kind]):
            atoms = system.terms[kind].atoms
            a, b = x[atoms[:, 0]] - x[atoms[:, 1]], x[atoms[:, 2]] - x[atoms[:, 1]]
            small = (np.cross(a, b) ** 2).sum(axis=1) < BEND_CLAMP
            out += [tuple(t) for t in atoms[small].tolist()]
    return out


def _close(backend: Driver | Programs | None, folder: Path) -> None:
    if isinstance(backend, Driver):
        backend.close()
    shutil.rmtree(folder, ignore_errors=True)


class TinkerSession(SessionBase):
    """One prepared structure: its work folder and its Tinker process (started at the
    first evaluation)."""

    engine_name = "tinker"
    capabilities = CAPABILITIES

    def __init__(self, system: MMSystem, settings: Settings, tinker_input: TinkerInput | None = None) -> None:
        super().__init__(system)
        self.settings = settings
        self._input = tinker_input or TinkerInput.build(system)
        self._n_parameters = _parameter_count(system)
        self._backend: Driver | Programs | None = None
        self._key: str | None = None
        self._values: np.ndarray | None = None
        self._x: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        """A session travels as its system and settings; its process is its own."""
        return {"system": self.system, "settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["system"], state["settings"])

    # --- inputs -------------------------------------------------------------------

    def _start(self, key: str) -> None:
        folder = Path(tempfile.mkdtemp(prefix="q2mm-tinker-"))
        (folder / XYZ_NAME).write_text(self._input.xyz)
        (folder / KEY_NAME).write_text(key)
        s = self.settings
        if s.driver is not None:
            self._backend = Driver(s.driver, folder, s.timeout, s.threads)
        else:
            self._backend = Programs(s.install, folder, s.timeout, s.threads, self._input.xyz)
        self._finalizer = weakref.finalize(self, _close, self._backend, folder)
        self._key = key

    def _load(self, key: str) -> None:
        """Hand Tinker a keyfile (only when its text changed: a parameter the keyfile
        does not carry leaves it as it was)."""
        if self._backend is None:
            self._start(key)
        elif key != self._key:
            if isinstance(self._backend, Driver):
                self._backend.load_key(key)
            else:
                (self._backend.folder / KEY_NAME).write_text(key)
        self._key = key

    def _apply(self, values: np.ndarray, coordinates: np.ndarray | None) -> np.ndarray:
        """Hand Tinker the parameters and coordinates where they changed; returns the
        coordinates (n, 3) in Å."""
        v = np.asarray(values, dtype=float)
        if v.shape != (self._n_parameters,):
            name = self.system.molecule.name or "this structure"
            raise ConfigError(
                f"parameter vector of shape {v.shape}; the force field of {name} has "
                f"{self._n_parameters} parameters"
            )
        x = self.coordinates_or_default(coordinates)
        n = self.system.molecule.n_atoms
        if x.size != 3 * n:
            raise ConfigError(f"coordinates of shape {x.shape} for {n} atoms")
        x = x.reshape(n, 3)
        if self._values is None or not np.array_equal(v, self._values):
            self._load(self._input.key(v))
            self._values = v.copy()
        if self._x is None or not np.array_equal(x, self._x):
            if isinstance(self._backend, Driver):
                self._backend.set_coordinates(x)
            else:
                self._backend.write_coordinates(x)
            self._x = x.copy()
        return x

    # --- EngineSession ------------------------------------------------------------

    def energy(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> float:
        self._apply(values, coordinates)
        if isinstance(self._backend, Driver):
            return self._backend.energy()[0]
        return self._backend.energy()

    def term_energies(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> dict[str, float]:
        """Tinker's energy components (kcal/mol) by q2mm family name (improper torsions
        under ``torsion``), those that are non-zero — for term-by-term comparison.
        Needs the driver back end."""
        self._apply(values, coordinates)
        if not isinstance(self._backend, Driver):
            raise ConfigError("term_energies needs the driver back end (backend='driver')")
        out: dict[str, float] = {}
        for name, e in self._backend.energy()[1].items():
            family = FAMILY_OF_COMPONENT.get(name, name)
            out[family] = out.get(family, 0.0) + e
        return {k: e for k, e in out.items() if e != 0.0}

    def _warn_clamped(self, x: np.ndarray) -> None:
        bends = clamped_bends(self.system, x)
        if bends:
            warnings.warn(
                f"{self.system.molecule.name or 'structure'}: bends {bends} are so nearly linear that "
                f"Tinker floors |a×b|² at {BEND_CLAMP} Å⁴ in their derivatives; its gradient and "
                "Hessian there are not the derivatives of its energy",
                ClampedBendWarning,
                stacklevel=3,
            )

    def _gradient(self) -> np.ndarray:
        if isinstance(self._backend, Driver):
            return self._backend.gradient()[1]
        return self._backend.gradient()

    def gradient(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        """∂E/∂x in kcal/(mol·Å), shape (n_atoms, 3)."""
        self._warn_clamped(self._apply(values, coordinates))
        return self._gradient()

    def hessian(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        """Tinker's analytical Cartesian Hessian in Hartree/Bohr², (3N, 3N)."""
        self._warn_clamped(self._apply(values, coordinates))
        return self._backend.hessian() / HESSIAN_AU_TO_KCALMOL_A2

    def _lbfgs(self, x: np.ndarray) -> np.ndarray:
        s = self.settings
        if isinstance(self._backend, Driver):
            coords = self._backend.minimize(s.lbfgs_rms, s.max_iterations)[0]
        else:
            coords = self._backend.minimize(s.lbfgs_rms)
        if not np.isfinite(coords).all():
            return x
        self._x = None  # the process's coordinates moved
        return coords

    def minimize(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> Minimized:
        """Tinker's L-BFGS, then Newton steps on its analytical Hessian while the
        gradient norm is above ``gradient_tolerance``; ``converged`` says whether it
        ends below."""
        x = self._apply(values, coordinates)
        s = self.settings
        coords = self._lbfgs(x)
        grad = self.gradient(values, coords)
        norm = float(np.linalg.norm(grad))
        iterations = 1
        for _ in range(s.newton_steps):
            if not np.isfinite(norm) or norm < s.gradient_tolerance:
                break
            hessian = self.hessian(values, coords) * HESSIAN_AU_TO_KCALMOL_A2
            trial = coords + newton_step(hessian, grad, coords)
            trial_grad = self.gradient(values, trial)
            trial_norm = float(np.linalg.norm(trial_grad))
            if not trial_norm < norm:
                break
            coords, grad, norm = trial, trial_grad, trial_norm
            iterations += 1
        energy = self.energy(values, coords)
        converged = bool(np.isfinite(norm) and np.isfinite(energy) and norm < s.gradient_tolerance)
        return Minimized(coords, energy, converged, iterations, norm)


def _choose_driver(install: TinkerInstall, backend: str) -> tuple[Path | None, str]:
    """The driver executable (None: programs) and why, for describe()."""
    if backend == "programs":
        return None, "one program start per call, as asked"
    try:
        return driver_executable(install), "persistent driver"
    except (TinkerNotFoundError, TinkerError) as exc:
        if backend == "driver":
            raise
        return None, f"one program start per call: the driver could not be built ({exc})"


class TinkerEngine:
    """q2mm engine on the real Tinker. ``backend``: ``auto`` (driver when it builds),
    ``driver`` or ``programs``; ``timeout`` seconds per Tinker call; ``threads`` OpenMP
    threads per Tinker process; ``gradient_tolerance`` kcal/(mol·Å) for relaxations."""

    name = "tinker"
    capabilities = CAPABILITIES
    forms = frozenset({FunctionalForm.HARMONIC, FunctionalForm.MM3})
    term_kinds = TERM_KINDS

    def __init__(
        self,
        backend: str = "auto",
        timeout: float = 120.0,
        threads: int = 1,
        gradient_tolerance: float = 1e-8,
        lbfgs_rms: float = 1e-4,
        max_iterations: int = 10000,
        newton_steps: int = 20,
    ) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"unknown Tinker backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if not (timeout > 0 and math.isfinite(timeout)) or threads < 1:
            raise ConfigError("timeout must be positive seconds and threads at least 1")
        if not (gradient_tolerance > 0 and lbfgs_rms > 0) or max_iterations < 1 or newton_steps < 0:
            raise ConfigError("gradient_tolerance, lbfgs_rms and max_iterations must be positive")
        install = find_tinker()
        driver, self.backend_reason = _choose_driver(install, backend)
        self.settings = Settings(
            install, driver, float(timeout), int(threads), float(gradient_tolerance), float(lbfgs_rms),
            int(max_iterations), int(newton_steps),
        )  # fmt: skip

    def prepare(self, system: MMSystem) -> TinkerSession:
        check_supported(self.name, self.term_kinds, self.forms, system)
        return TinkerSession(system, self.settings, TinkerInput.build(system))

    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {
            "engine": self.name,
            "version": __version__,
            "tinker": tinker_version(s.install.program("analyze")),
            "backend": "driver" if s.driver is not None else "programs",
            "backend_reason": self.backend_reason,
            "driver": str(s.driver) if s.driver else None,
            "programs": {name: str(path) for name, path in s.install.programs.items()},
            "library": str(s.install.library) if s.install.library else None,
            "hessian": "analytical (Tinker's hessian.f; MM3-HBOND never switched on)",
            "switched_off": [*SWITCHED_OFF, "vdwtype MM3-HBOND (BUCKINGHAM, no hbond lines)"],
            "threads": s.threads,
            "timeout_s": s.timeout,
            "gradient_tolerance": s.gradient_tolerance,
        }
