"""The vocabulary every plugin speaks.

Plugins implement these protocols; the core only ever talks to them through these
methods. Capabilities are declared up front so that the objective can choose the
fastest honest path (analytical gradients for traceable engines, finite differences
fanned out over an executor otherwise) without trying and failing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs
import numpy as np

from .model import ForceField, FunctionalForm, MMSystem, Molecule


class Capability(enum.StrEnum):
    ENERGY = "energy"
    GRADIENT = "gradient"  # coordinate gradient
    HESSIAN = "hessian"
    MINIMIZE = "minimize"
    TRACEABLE = "traceable"  # hands out pure JAX functions of (values, coordinates)


@attrs.frozen(eq=False)
class Minimized:
    """An MM relaxation. ``converged`` False is a failed trial, never a result."""

    coordinates: np.ndarray
    energy: float
    converged: bool
    iterations: int
    gradient_norm: float


def _identity(x: Any) -> Any:
    return x


@attrs.frozen(eq=False)
class TraceableFunctions:
    """Pure JAX functions of ``(values, coordinates)`` from a traceable engine, so the
    objective can put every residual and its exact parameter gradient inside one
    ``jax.jit``. ``hessian`` returns Hartree/Bohr². ``coordinates`` None means the
    structures' own (the QM geometries a fit compares Hessians and energies at),
    which lets an engine given :class:`FrozenValues` evaluate the terms a fit does
    not move once, outside the traced program.

    ``relax(values, start) -> (relaxed, converged, next_start)``: the MM-relaxed
    coordinates, differentiable with respect to ``values`` (implicit
    differentiation of the minimization), a convergence flag, and a start for a
    later relaxation at nearby values (no derivative). ``relax_start(coordinates)``
    makes a start from coordinates; an engine may keep more in a start than the
    minima (the JAX engine keeps its Newton matrices, so a fit's next relaxation
    needs no Hessian until it is almost done)."""

    energy: Callable[..., Any]
    gradient: Callable[..., Any]
    hessian: Callable[..., Any]
    relax: Callable[[Any, Any], tuple[Any, Any, Any]]
    relax_start: Callable[[Any], Any] = _identity


@attrs.frozen(eq=False)
class FrozenValues:
    """What a fit holds fixed: the full parameter vector's ``values`` at every slot
    where ``varying`` (a boolean mask of the same length) is False. Functions made
    with it may read frozen slots from here rather than from their argument, so
    their derivatives with respect to frozen slots may be zero."""

    values: np.ndarray
    varying: np.ndarray


@runtime_checkable
class EngineSession(Protocol):
    """One prepared structure. ``values`` is the force field's full parameter vector
    (``ForceField.vector()`` layout, canonical units); ``coordinates`` default to the
    structure's own. Energies in kcal/mol, gradients in kcal/(mol·Å), Hessians in
    Hartree/Bohr² (the unit QM Hessians come in). A method whose capability the
    engine did not declare raises :class:`~q2mm.errors.CapabilityError`."""

    system: MMSystem

    def energy(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> float: ...

    def gradient(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray: ...

    def hessian(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray: ...

    def minimize(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> Minimized: ...

    def traceable(self, frozen: FrozenValues | None = None) -> TraceableFunctions:
        """Only engines that declare ``Capability.TRACEABLE``. ``frozen`` promises
        that ``values`` will only ever differ from ``frozen.values`` where
        ``frozen.varying``; an engine may ignore it."""
        ...


@runtime_checkable
class StructureBatch(Protocol):
    """Several prepared structures whose traceable functions run as one program (a
    traceable engine's :meth:`BatchingEngine.prepare_batch`). Coordinates go in as
    the pytree :meth:`stack` makes; each function's output is indexed by structure
    first (``out[b]``) and may be padded: structure b's part is ``[:n_atoms[b]]``
    atoms, ``[:3 n, :3 n]`` of a Hessian."""

    n_atoms: Sequence[int]

    def stack(self, coordinates: Sequence[np.ndarray] | None = None) -> Any:
        """Default: each structure's own coordinates."""
        ...

    def traceable(self, frozen: FrozenValues | None = None) -> TraceableFunctions:
        """As :meth:`EngineSession.traceable`, for the batch."""
        ...


@runtime_checkable
class Engine(Protocol):
    """Computes MM energies and their derivatives for prepared structures."""

    name: str
    capabilities: frozenset[Capability]
    forms: frozenset[FunctionalForm]
    #: Term kinds it evaluates (``q2mm.model.forcefield.TERM_KINDS`` names).
    term_kinds: frozenset[str]

    def prepare(self, system: MMSystem) -> EngineSession:
        """Raises UnsupportedTermError naming any term kind it cannot evaluate."""
        ...

    def describe(self) -> dict[str, Any]:
        """Platform, precision, versions: recorded in every result."""
        ...


@runtime_checkable
class BatchingEngine(Engine, Protocol):
    """A traceable engine that evaluates several structures in one traced program,
    so the analytical objective compiles the per-structure code once, not once per
    structure."""

    def prepare_batch(self, systems: Sequence[MMSystem]) -> StructureBatch: ...


@runtime_checkable
class Residual(Protocol):
    """One kind of QM-vs-MM observable. ``needs`` names the MM quantities it consumes
    (``"hessian"``, ``"energy"``, ``"relaxed"``, ``"values"``); ``evaluate`` is written
    against the array API so it runs on NumPy and inside ``jax.jit`` alike. ``weights``
    is a 1-D array of per-element weights as long as the vector ``evaluate`` returns:
    the objective needs the length before it evaluates anything."""

    name: str
    needs: frozenset[str]
    weights: np.ndarray

    def evaluate(self, quantities: dict[str, Any], xp: Any) -> Any:
        """Unweighted residual vector for one structure."""
        ...


@attrs.define
class Counters:
    """What evaluating an objective has cost so far. The run driver creates it and
    hands it to the objective, which adds to it; optimizers only read it. Work an
    optimizer does inside a compiled program of its own, where the objective cannot
    see it, comes back in its :class:`OptimizeResult` instead."""

    #: Residual-vector (score) evaluations, every finite-difference point included.
    evaluations: int = 0
    #: Gradient or Jacobian requests.
    gradients: int = 0
    #: Seconds spent compiling the objective's programs (analytical path only).
    compile_seconds: float = 0.0


@runtime_checkable
class Objective(Protocol):
    """The score a fit minimizes over the fitted vector ``x`` (:class:`~q2mm.parameters.ParameterSpace`
    layout): the sum of squares of a weighted residual vector.

    ``value(x)`` is a function of ``x`` alone to within the MM relaxations'
    convergence tolerance. An implementation may keep state between calls to make
    the next evaluation cheaper — the last point's results, relaxations warm-started
    from the best point so far — but that state only changes where a relaxation
    starts, never which minimum it reaches; it must say so where it keeps it.

    Evaluations raise :class:`~q2mm.errors.FitFailure` (or its subclass
    :class:`~q2mm.errors.RelaxationFailure`) for a point that has no score, never
    return a penalty."""

    #: What evaluating has cost so far (owned by the run driver; only read here).
    counters: Counters
    #: Whether :meth:`traced_score` is available (a JAX-traceable engine).
    traceable: bool
    #: The engine's name, for messages.
    engine_name: str

    def value(self, x: np.ndarray) -> float: ...

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]: ...

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """The weighted residual vector (the score is its squared norm)."""
        ...

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """d(residuals)/dx, shape (len(residuals), len(x))."""
        ...

    def scales(self, x: np.ndarray) -> np.ndarray:
        """Each fitted value's natural size at ``x`` (force constants their own
        magnitude, equilibrium values 1 Å / 1 rad), for optimizers that work in
        scaled coordinates."""
        ...

    def traced_score(self) -> Callable[[Any], Any]:
        """A pure JAX function ``x → score`` (+inf where a relaxation fails) for
        optimizers that run inside ``jit``; relaxations start from the QM geometries.
        Raises :class:`~q2mm.errors.ConfigError` when the objective is not traceable."""
        ...


@attrs.frozen(eq=False)
class OptimizeResult:
    x: np.ndarray
    score: float
    iterations: int
    evaluations: int
    status: str  # "converged" | "stopped" | "failed"
    message: str = ""
    #: Seconds the optimizer spent compiling programs of its own (in-JIT optimizers).
    compile_seconds: float = 0.0
    #: Score evaluations the objective's :class:`Counters` cannot see: inside the
    #: optimizer's own compiled program, or on a copy of the objective in a worker.
    program_evaluations: int = 0


@runtime_checkable
class Optimizer(Protocol):
    """Minimizes an objective over a bounded parameter vector.

    ``requires`` names what it needs from the objective: ``"gradient"`` (any engine,
    finite differences where needed) or ``"traceable"`` (a JAX-traceable objective,
    i.e. a traceable engine); ``"jacobian"`` says that it asks for Jacobians of the
    residuals, which the run tells the objective before the first evaluation."""

    name: str
    requires: frozenset[str]

    def minimize(
        self,
        objective: Objective,
        x0: np.ndarray,
        bounds: Sequence[tuple[float, float]],
        callback: Callable[[np.ndarray, float], None] | None = None,
    ) -> OptimizeResult: ...


@runtime_checkable
class ForceFieldFormat(Protocol):
    """Reads and writes force fields of one file format, chosen by name or suffix."""

    name: str
    suffixes: tuple[str, ...]

    def read(self, path: Path) -> ForceField: ...

    def write(self, forcefield: ForceField, path: Path, *, allow_loss: bool = False) -> None:
        """Whole file or nothing; raises ConversionLossError rather than drop terms."""
        ...


@runtime_checkable
class StructureFormat(Protocol):
    """Reads structures (with any QM data) from one kind of file."""

    name: str
    suffixes: tuple[str, ...]

    def read(self, path: Path) -> list[Molecule]: ...


@runtime_checkable
class Executor(Protocol):
    """The part of :class:`concurrent.futures.Executor` q2mm uses, so a distributed
    executor (dask, ray, mpi4py.futures) drops in.

    ``map`` returns results in the order of its arguments. Its ``fn`` must give
    results that depend on its arguments alone (q2mm passes a finite-difference
    path's block evaluator and a multi-start's start runner, which keep no state
    between calls), so a distributed executor may ship ``fn`` to each worker once and
    reuse it for later calls with an equal ``fn`` instead of pickling it per task."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future: ...

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any]) -> Iterator[Any]: ...

    def shutdown(self, wait: bool = True) -> None: ...


@runtime_checkable
class ScalingExecutor(Executor, Protocol):
    """An executor whose size is not this machine's CPU count (a cluster), so the
    finite-difference path splits its points into as many tasks as it asks for."""

    def parallelism(self) -> int:
        """How many tasks one ``map`` should be given to keep every worker busy."""
        ...


@runtime_checkable
class FansOut(Protocol):
    """An optimizer whose independent runs (a multi-start's starts) can go out
    through the run's executor. The run driver hands it the executor before
    ``minimize`` unless the executor is the in-process serial one."""

    def use_executor(self, executor: Executor) -> None: ...


@attrs.frozen(eq=False)
class QMRequest:
    """One QM reference calculation: the input structure file (plain XYZ, Å), the level
    of theory, the declared stationary-point kind and whether to optimize first."""

    input: Path = attrs.field(converter=Path)
    method: str
    basis: str
    charge: int = 0
    multiplicity: int = 1
    kind: str = attrs.field(
        default="ground_state", validator=attrs.validators.in_(("ground_state", "transition_state"))
    )
    optimize: bool = False


@attrs.frozen(eq=False)
class QMResult:
    """What a QM program wrote: the bundle's Hessian path (read it back with
    :class:`q2mm.io.numpy_bundle.NumpyBundle`), the provenance it recorded (the
    contents of ``meta.json``) and whether it came from the output folder's cache."""

    hessian_path: Path
    meta: dict[str, Any]
    cached: bool = False


@runtime_checkable
class QMProgram(Protocol):
    """Makes QM reference data: optional optimization (minimum or transition-state
    search), then the Hessian at the final geometry, written as q2mm's NumPy bundle
    plus ``meta.json`` into ``output``, whole or not at all. Raises a
    :class:`q2mm.errors.QMError` naming the input file when the SCF or optimization
    does not converge or the Hessian disagrees with the declared kind."""

    name: str

    def run(self, request: QMRequest, output: Path) -> QMResult: ...
