"""The objective: one weighted residual vector over every structure, and its score.

Built from structures (each a :class:`~q2mm.model.Molecule` carrying the QM data and
the :class:`~q2mm.model.MMSystem` an engine evaluates), an engine, a
:class:`~q2mm.parameters.ParameterSpace` and a list of terms ``(kind, weight,
options)``. For a fitted vector ``x`` it expands the full parameter vector, asks the
engine for what the residuals need (Hessians and energies at the QM geometries,
MM-relaxed geometries), evaluates every residual and multiplies it by its weights
(the term's weight times the kind's per-element weights, :mod:`q2mm.residuals.weights`).
The score is the sum of squares of that vector.

Two gradient paths, chosen by the engine's capabilities:

- *analytical* (the engine is ``traceable``): residuals, relaxations and their exact
  parameter derivatives inside one ``jax.jit`` (:mod:`q2mm.objective_analytical`,
  imported only then, so a NumPy-only run never imports JAX);
- *finite-difference* otherwise: central differences with per-parameter, bound-aware
  steps (:mod:`q2mm.finite_difference`), every displaced point evaluated through the
  executor. Process pools work (the objective pickles without its engine sessions and
  re-prepares them in the worker); thread pools get one set of sessions per thread,
  because engine sessions (an OpenMM context) are not thread-safe. Measured on CH₃F
  with the NumPy test engine (eigenmatrix + geometry, 8 parameters: 17 evaluations of
  ~3.5 ms, each with an MM relaxation; 2 shared cores): a gradient takes 59–65 ms
  serial, 58–64 ms on 2 threads (the engine holds the GIL) and 63–72 ms on 2
  processes (pickling and transfer eat the gain). Serial is the right default for
  small molecules; a process pool pays off once one point costs tens of milliseconds
  (large molecules, OpenMM, Tinker), a thread pool only for engines that release the
  GIL.

Failures: a non-finite residual raises :class:`~q2mm.errors.FitFailure`, an MM
relaxation that did not converge its subclass
:class:`~q2mm.errors.RelaxationFailure`, naming the structure and the cause — never a
penalty value that an optimizer could mistake for a real score. Optimizers turn them
into status ``"failed"``, except that L-BFGS-B steps back from a trial point whose
relaxation failed (:meth:`q2mm.optimizers.tracking.Tracker.value_and_grad_or_penalty`).
In-JIT optimizers, which cannot catch exceptions, get :attr:`Objective.jax_value_fn`,
which returns +inf instead.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from . import finite_difference as fd
from .errors import ConfigError, FitFailure, RelaxationFailure
from .model import MMSystem, Molecule
from .parameters import ParameterSpace
from .plugins import Registry, registry
from .protocols import Capability, Engine, Executor
from .residuals.catalog import SCOPES
from .residuals.weights import DEFAULT_TERMS

GRADIENT_CHOICES = ("auto", "finite-difference")


_NEED_CAPABILITY = {
    "hessian": Capability.HESSIAN,
    "energy": Capability.ENERGY,
    "relaxed": Capability.MINIMIZE,
}


@attrs.frozen
class Term:
    """One kind of residual in the objective: ``weight`` multiplies the kind's default
    per-element weights; ``options`` go to the kind's factory, except ``structures``
    (per-structure kinds only), a list of structure names or indices the term is
    restricted to."""

    kind: str
    weight: float = 1.0
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)

    @classmethod
    def of(cls, spec: Term | Sequence[Any]) -> Term:
        """A :class:`Term`, or a ``(kind, weight, options)`` / ``(kind, weight)`` tuple."""
        if isinstance(spec, Term):
            return spec
        return cls(*spec)


@attrs.frozen(eq=False)
class BoundResidual:
    """A residual attached to its structures, with its slice of the weighted vector."""

    kind: str
    residual: Any
    scope: str
    structures: tuple[int, ...]
    weights: np.ndarray
    where: slice
    label: str


def _signature_options(builder: Any, positional: int) -> tuple[set[str], bool]:
    parameters = list(inspect.signature(builder).parameters.values())[positional:]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    return {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD}, takes_any


def _call_builder(
    kind: str, builder: Any, positional: tuple[Any, ...], options: dict[str, Any], ts_method: str
) -> Any:
    names, takes_any = _signature_options(builder, len(positional))
    unknown = sorted(set(options) - names)
    if unknown and not takes_any:
        raise ConfigError(
            f"residual {kind!r}: unknown option(s) {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(names)) or 'none'}"
        )
    if "ts_method" in names and "ts_method" not in options:
        options = {**options, "ts_method": ts_method}
    return builder(*positional, **options)


class Objective:
    """Weighted residuals and score of a fit; see the module docstring. Build with
    :meth:`build`."""

    def __init__(
        self,
        molecules: Sequence[Molecule],
        systems: Sequence[MMSystem],
        engine: Engine,
        space: ParameterSpace,
        bound: Sequence[BoundResidual],
        executor: Executor | None = None,
        gradient: str = "auto",
        fd_step: float = fd.STEP_FRACTION,
        fd_chunks: int | None = None,
    ) -> None:
        if gradient not in GRADIENT_CHOICES:
            raise ConfigError(f"gradient must be one of {', '.join(GRADIENT_CHOICES)}, got {gradient!r}")
        self.molecules = tuple(molecules)
        self.systems = tuple(systems)
        self.engine = engine
        self.space = space
        self.bound = tuple(bound)
        self.executor = executor
        self.fd_step = fd_step
        self.fd_chunks = fd_chunks
        self.traceable = Capability.TRACEABLE in engine.capabilities
        self.gradient_path = "analytical" if self.traceable and gradient == "auto" else "finite-difference"
        #: Residual-vector evaluations so far (each finite-difference point counts).
        self.evaluations = 0
        #: Seconds spent compiling the analytical path (0 on the finite-difference path).
        self.compile_seconds = 0.0
        self.size = self.bound[-1].where.stop if self.bound else 0
        needs: list[set[str]] = [set() for _ in self.molecules]
        for b in self.bound:
            for s in b.structures:
                needs[s] |= set(b.residual.needs)
        self.needs = tuple(frozenset(n) for n in needs)
        self._check_capabilities()
        self._local = threading.local()
        self._sessions()  # prepare now: an engine refuses unsupported terms here, not mid-fit
        self._last: tuple[bytes, np.ndarray] | None = None
        self._analytical = None

    # ------------------------------------------------------------------ building

    @classmethod
    def build(
        cls,
        molecules: Sequence[Molecule],
        systems: Sequence[MMSystem],
        engine: Engine,
        space: ParameterSpace,
        terms: Sequence[Term | Sequence[Any]] | None = None,
        executor: Executor | None = None,
        ts_method: str = "C",
        groups: Sequence[str | None] | None = None,
        gradient: str = "auto",
        fd_step: float = fd.STEP_FRACTION,
        fd_chunks: int | None = None,
        plugins: Registry | None = None,
    ) -> Objective:
        """Resolve each term's kind through the plugin registry and build its residuals.

        ``terms`` default to :data:`q2mm.residuals.weights.DEFAULT_TERMS` (eigenmatrix +
        geometry). ``groups`` labels each structure's relative-energy group (None: not
        in any); without labels every structure with a QM energy forms one group.
        ``gradient="finite-difference"`` forces finite differences on a traceable
        engine (to compare the two paths)."""
        if len(molecules) != len(systems) or not molecules:
            raise ConfigError(
                f"{len(molecules)} molecules and {len(systems)} systems: need one system per structure"
            )
        if groups is not None and len(groups) != len(molecules):
            raise ConfigError(f"{len(groups)} group labels for {len(molecules)} structures")
        plugins = plugins or registry()
        names = [m.name or f"#{i}" for i, m in enumerate(molecules)]
        bound: list[BoundResidual] = []
        start = 0
        for spec in DEFAULT_TERMS if terms is None else terms:
            term = Term.of(spec)
            if not (np.isfinite(term.weight) and term.weight >= 0):
                raise ConfigError(f"term {term.kind!r}: weight must be finite and ≥ 0, got {term.weight}")
            record = plugins.get("residual", term.kind)
            scope = next((s for s in SCOPES if s in record.capabilities), "structure")
            builder = record.load()
            options = dict(term.options)
            for members, positional in cls._placements(
                scope, term, options, molecules, systems, space, groups, names
            ):
                residual = _call_builder(term.kind, builder, positional, options, ts_method)
                vector_weights = np.asarray(getattr(residual, "weights", 1.0), dtype=float)
                n = cls._probe_length(residual, vector_weights)
                weights = term.weight * np.broadcast_to(vector_weights, (n,)).copy()
                weights.setflags(write=False)
                label = (
                    term.kind if scope == "global" else f"{term.kind}[{','.join(names[s] for s in members)}]"
                )
                bound.append(
                    BoundResidual(
                        term.kind, residual, scope, members, weights, slice(start, start + n), label
                    )
                )
                start += n
        return cls(molecules, systems, engine, space, bound, executor, gradient, fd_step, fd_chunks)

    @staticmethod
    def _placements(scope, term, options, molecules, systems, space, groups, names):
        """(structure indices, positional builder arguments) for each residual of a term."""
        if scope == "global":
            return [((), (space,))]
        if scope == "group":
            if groups is None:
                members = [i for i, m in enumerate(molecules) if m.energy is not None]
                sets = [members]
            else:
                labels = sorted({g for g in groups if g is not None})
                sets = [[i for i, g in enumerate(groups) if g == label] for label in labels]
                if not sets:
                    raise ConfigError(f"term {term.kind!r}: no structure belongs to a group")
            return [(tuple(s), ([molecules[i] for i in s], [systems[i] for i in s])) for s in sets]
        chosen = options.pop("structures", None)
        if chosen is None:
            indices = range(len(molecules))
        else:
            lookup = {name: i for i, name in enumerate(names)}
            try:
                indices = [c if isinstance(c, int) else lookup[c] for c in chosen]
            except KeyError as exc:
                raise ConfigError(f"term {term.kind!r}: no structure named {exc.args[0]!r}") from None
        return [((i,), (molecules[i], systems[i])) for i in indices]

    @staticmethod
    def _probe_length(residual: Any, weights: np.ndarray) -> int:
        if weights.ndim == 1:
            return int(weights.shape[0])
        raise ConfigError(
            f"residual {residual.kind!r} declares no per-element weights; "
            "its length cannot be known before evaluation"
        )

    def _check_capabilities(self) -> None:
        if self.gradient_path == "analytical":
            return
        have = set(self.engine.capabilities)
        for b in self.bound:
            for need in b.residual.needs:
                capability = _NEED_CAPABILITY.get(need)
                if capability is not None and capability not in have:
                    raise ConfigError(
                        f"residual {b.kind!r} needs the engine's {capability.value!r} capability, "
                        f"which engine {self.engine.name!r} does not declare"
                    )

    # ------------------------------------------------------------------ pickling

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for transient in ("_local", "_analytical", "_last", "executor"):
            state[transient] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    # ------------------------------------------------------------------ evaluation

    def _sessions(self) -> list[Any]:
        sessions = getattr(self._local, "sessions", None)
        if sessions is None:
            sessions = [self.engine.prepare(system) for system in self.systems]
            self._local.sessions = sessions
        return sessions

    def quantities(self, x: np.ndarray, needs: Sequence[frozenset[str]]) -> tuple[np.ndarray, list[dict]]:
        """Full values and, per structure, the MM quantities named in ``needs`` (NumPy
        arrays, from whichever path the objective uses)."""
        if self.gradient_path == "analytical":
            return self.analytical.quantities(np.asarray(x, dtype=float), needs)
        return self._quantities_numpy(x, needs)

    def _quantities_numpy(
        self, x: np.ndarray, needs: Sequence[frozenset[str]]
    ) -> tuple[np.ndarray, list[dict]]:
        values = np.asarray(self.space.expand(np.asarray(x, dtype=float), np), dtype=float)
        out = []
        for s, (session, wanted) in enumerate(zip(self._sessions(), needs, strict=True)):
            mm: dict[str, Any] = {}
            if "hessian" in wanted:
                mm["hessian"] = np.asarray(session.hessian(values), dtype=float)
            if "energy" in wanted:
                mm["energy"] = float(session.energy(values))
            if "relaxed" in wanted:
                relaxed = session.minimize(values)
                if not relaxed.converged:
                    raise RelaxationFailure(
                        f"MM relaxation of {self._name(s)} did not converge (largest gradient "
                        f"{relaxed.gradient_norm:.3g} kcal/mol/Å after {relaxed.iterations} iterations)"
                    )
                mm["relaxed"] = np.asarray(relaxed.coordinates, dtype=float)
            if "values" in wanted:
                mm["values"] = values
            out.append(mm)
        return values, out

    def _name(self, s: int) -> str:
        return self.molecules[s].name or f"structure #{s}"

    def weighted(self, values: Any, mm: Sequence[dict[str, Any]], xp: Any) -> Any:
        """The weighted residual vector from the MM quantities (array API: runs on NumPy
        and inside the analytical path's ``jit``)."""
        vectors: list[Any] = [None] * len(self.bound)
        # Residual kinds that evaluate many structures at once (``evaluate_many``) do.
        together: dict[type, list[int]] = {}
        for i, b in enumerate(self.bound):
            if b.scope == "structure" and hasattr(type(b.residual), "evaluate_many"):
                together.setdefault(type(b.residual), []).append(i)
        for kind, members in together.items():
            bound = [self.bound[i] for i in members]
            many = kind.evaluate_many([b.residual for b in bound], [mm[b.structures[0]] for b in bound], xp)
            for i, vector in zip(members, many, strict=True):
                vectors[i] = vector
        pieces = []
        for b, vector in zip(self.bound, vectors, strict=True):
            if vector is None:
                if b.scope == "structure":
                    inputs = mm[b.structures[0]]
                elif b.scope == "group":
                    inputs = {need: [mm[s][need] for s in b.structures] for need in b.residual.needs}
                else:
                    inputs = {"values": values}
                vector = b.residual.evaluate(inputs, xp)
            pieces.append(xp.asarray(b.weights) * xp.reshape(vector, (-1,)))
        return xp.concatenate(pieces)

    def _check_finite(self, r: np.ndarray) -> np.ndarray:
        if r.shape != (self.size,):
            raise FitFailure(f"residual vector of shape {r.shape}, expected ({self.size},)")
        if not np.isfinite(r).all():
            bad = sorted({b.label for b in self.bound if not np.isfinite(r[b.where]).all()})
            raise FitFailure(f"non-finite residuals in {', '.join(bad)}")
        return r

    def _residuals_numpy(self, x: np.ndarray) -> np.ndarray:
        values, mm = self._quantities_numpy(x, self.needs)
        with np.errstate(all="ignore"):
            r = np.asarray(self.weighted(values, mm, np), dtype=float)
        return self._check_finite(r)

    def _evaluate_block(self, points: np.ndarray) -> list[np.ndarray]:
        return [self._residuals_numpy(p) for p in points]

    @property
    def analytical(self):
        """The compiled JAX functions (traceable engines only), built on first use."""
        if not self.traceable:
            raise ConfigError(f"engine {self.engine.name!r} is not traceable: there is no analytical path")
        if self._analytical is None:
            from .objective_analytical import AnalyticalPath

            self._analytical = AnalyticalPath(self)
        return self._analytical

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """The weighted residual vector at ``x``."""
        x = np.asarray(x, dtype=float)
        key = x.tobytes()
        if self._last is not None and self._last[0] == key:
            return self._last[1].copy()
        if self.gradient_path == "analytical":
            r = self._check_finite(self.analytical.residuals(x))
        else:
            r = self._residuals_numpy(x)
        self.evaluations += 1
        self._last = (key, r)
        return r.copy()

    def value(self, x: np.ndarray) -> float:
        r = self.residuals(x)
        return float(r @ r)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """d(weighted residuals)/dx, shape (len(residuals), len(x))."""
        x = np.asarray(x, dtype=float)
        if self.gradient_path == "analytical":
            self.residuals(x)  # the failure checks
            self.evaluations += 1
            jac = self.analytical.jacobian(x)
            if not np.isfinite(jac).all():
                raise FitFailure("non-finite residual derivatives")
            return jac
        base = self.residuals(x)
        steps = fd.step_sizes(self.space.ids, x, self.fd_step)
        st = fd.stencil(x, steps, self.space.bounds)
        displaced = fd.evaluate_points(self._evaluate_block, st.points, self.executor, self.fd_chunks)
        self.evaluations += len(st.points)
        return fd.jacobian(st, base, displaced)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        x = np.asarray(x, dtype=float)
        if self.gradient_path == "analytical":
            score, grad = self.analytical.value_and_grad(x)
            self.evaluations += 1
            if not (np.isfinite(score) and np.isfinite(grad).all()):
                self.residuals(x)  # raises, naming the failed relaxation or residual
                raise FitFailure("non-finite score gradient")
            return score, grad
        r = self.residuals(x)
        return float(r @ r), 2.0 * self.jacobian(x).T @ r

    @property
    def jax_value_fn(self):
        """Pure JAX ``x → score`` (+inf where a relaxation failed or the score is not
        finite), for optimizers that run inside ``jit``."""
        return self.analytical.value_fn

    @property
    def jax_value_and_grad(self):
        """``jax.jit(jax.value_and_grad(jax_value_fn))``."""
        return self.analytical.value_and_grad_fn

    # ------------------------------------------------------------------ reports

    def score_by_kind(self, x: np.ndarray) -> dict[str, float]:
        r = self.residuals(x)
        out: dict[str, float] = {}
        for b in self.bound:
            out[b.kind] = out.get(b.kind, 0.0) + float(r[b.where] @ r[b.where])
        return out

    def metrics(self, x: np.ndarray) -> dict[str, float | None]:
        """Always the same keys, whatever the terms (None where no structure has the
        data): frequencies and the eigenmatrix diagonal over every structure with a QM
        Hessian and a declared kind (a TS's reaction mode left out), bond and angle
        RMSDs of the MM-relaxed structures."""
        from .residuals.metrics import compute_metrics

        return compute_metrics(self, np.asarray(x, dtype=float))
