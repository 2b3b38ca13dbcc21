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
    PARAMETER_GRADIENT = "parameter_gradient"
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

    kind: str
    needs: frozenset[str]
    weights: np.ndarray

    def evaluate(self, mm: dict[str, Any], xp: Any) -> Any:
        """Unweighted residual vector for one structure."""
        ...


@attrs.frozen(eq=False)
class OptimizeResult:
    x: np.ndarray
    score: float
    iterations: int
    evaluations: int
    status: str  # "converged" | "stopped" | "failed"
    message: str = ""


@runtime_checkable
class Optimizer(Protocol):
    """Minimizes an objective over a bounded parameter vector.

    ``requires`` names what it needs from the objective: ``"gradient"`` (any engine,
    finite differences where needed) or ``"traceable"`` (a JAX-traceable objective,
    i.e. a traceable engine)."""

    name: str
    requires: frozenset[str]

    def minimize(
        self,
        objective: Any,
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
    executor (dask, ray, mpi4py.futures) drops in."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future: ...

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any]) -> Iterator[Any]: ...

    def shutdown(self, wait: bool = True) -> None: ...


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
