"""Residual terms bound to structures, and the weighting that turns their outputs into
one weighted residual vector.

A fit's objective is a list of terms ``(kind, weight, options)``. Binding resolves each
kind through the plugin registry and builds one residual per structure (``structure``
scope), per relative-energy group (``group``) or once (``global``), each with its
slice of the weighted vector. :class:`WeightedResiduals` is then a pure function of
the MM quantities — written against the array API, so the same code runs on NumPy
(finite-difference path) and inside ``jax.jit`` (analytical path).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ..errors import ConfigError, FitFailure
from ..estimate.curvature import DEFAULT_TS_METHOD
from ..model import MMSystem, Molecule
from ..parameters import ParameterSpace
from ..plugins import Registry
from ..residuals.catalog import SCOPES
from ..residuals.weights import DEFAULT_TERMS


@attrs.frozen
class Term:
    """One residual of the objective, by its plugin name: ``weight`` multiplies the
    residual's default per-element weights; ``options`` go to its factory, except
    ``structures`` (per-structure residuals only), a list of structure names or
    indices the term is restricted to."""

    residual: str
    weight: float = 1.0
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)

    @classmethod
    def of(cls, spec: Term | Sequence[Any]) -> Term:
        """A :class:`Term`, or a ``(residual, weight, options)`` / ``(residual, weight)`` tuple."""
        if isinstance(spec, Term):
            return spec
        return cls(*spec)


@attrs.frozen(eq=False)
class BoundResidual:
    """A residual attached to its structures, with its slice of the weighted vector."""

    name: str
    residual: Any
    scope: str
    structures: tuple[int, ...]
    weights: np.ndarray
    where: slice
    label: str


def structure_names(molecules: Sequence[Molecule]) -> list[str]:
    """What messages call each structure: its name, or ``#index``."""
    return [m.name or f"#{i}" for i, m in enumerate(molecules)]


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


def _group_members(
    kind: str, molecules: Sequence[Molecule], groups: Sequence[str | None] | None
) -> list[list[int]]:
    """Structure indices of each relative-energy group; without labels, every
    structure with a QM energy forms one group."""
    if groups is None:
        return [[i for i, m in enumerate(molecules) if m.energy is not None]]
    labels = sorted({g for g in groups if g is not None})
    if not labels:
        raise ConfigError(f"term {kind!r}: no structure belongs to a group")
    return [[i for i, g in enumerate(groups) if g == label] for label in labels]


def _chosen_structures(kind: str, chosen: Sequence[Any] | None, names: Sequence[str]) -> Sequence[int]:
    if chosen is None:
        return range(len(names))
    lookup = {name: i for i, name in enumerate(names)}
    try:
        return [c if isinstance(c, int) else lookup[c] for c in chosen]
    except KeyError as exc:
        raise ConfigError(f"term {kind!r}: no structure named {exc.args[0]!r}") from None


def _placements(scope, term, options, molecules, systems, space, groups, names):
    """(structure indices, positional builder arguments) for each residual of a term."""
    if scope == "global":
        return [((), (space,))]
    if scope == "group":
        sets = _group_members(term.residual, molecules, groups)
        return [(tuple(s), ([molecules[i] for i in s], [systems[i] for i in s])) for s in sets]
    indices = _chosen_structures(term.residual, options.pop("structures", None), names)
    return [((i,), (molecules[i], systems[i])) for i in indices]


def _length(residual: Any, weights: np.ndarray) -> int:
    if weights.ndim == 1:
        return int(weights.shape[0])
    raise ConfigError(
        f"residual {residual.name!r} declares no per-element weights; "
        "its length cannot be known before evaluation"
    )


def bind(
    molecules: Sequence[Molecule],
    systems: Sequence[MMSystem],
    space: ParameterSpace,
    terms: Sequence[Term | Sequence[Any]] | None,
    plugins: Registry,
    ts_method: str = DEFAULT_TS_METHOD.value,
    groups: Sequence[str | None] | None = None,
) -> WeightedResiduals:
    """Resolve each term's kind through ``plugins`` and build its residuals.

    ``terms`` default to :data:`q2mm.residuals.weights.DEFAULT_TERMS` (eigenmatrix,
    geometry, stability, tether). ``groups`` labels each structure's relative-energy
    group (None: not in any); without labels every structure with a QM energy forms
    one group."""
    names = structure_names(molecules)
    bound: list[BoundResidual] = []
    start = 0
    for spec in DEFAULT_TERMS if terms is None else terms:
        term = Term.of(spec)
        if not (np.isfinite(term.weight) and term.weight >= 0):
            raise ConfigError(f"term {term.residual!r}: weight must be finite and ≥ 0, got {term.weight}")
        record = plugins.get("residual", term.residual)
        scope = next((s for s in SCOPES if s in record.capabilities), "structure")
        builder = record.load()
        options = dict(term.options)
        for members, positional in _placements(
            scope, term, options, molecules, systems, space, groups, names
        ):
            residual = _call_builder(term.residual, builder, positional, options, ts_method)
            vector_weights = np.asarray(getattr(residual, "weights", 1.0), dtype=float)
            n = _length(residual, vector_weights)
            weights = term.weight * np.broadcast_to(vector_weights, (n,)).copy()
            weights.setflags(write=False)
            label = (
                term.residual
                if scope == "global"
                else f"{term.residual}[{','.join(names[s] for s in members)}]"
            )
            bound.append(
                BoundResidual(
                    term.residual, residual, scope, members, weights, slice(start, start + n), label
                )
            )
            start += n
    return WeightedResiduals(tuple(bound), len(molecules))


@attrs.frozen(eq=False)
class WeightedResiduals:
    """The bound residuals of an objective as one function: MM quantities → the
    weighted residual vector (array API: NumPy or ``jax.numpy``)."""

    bound: tuple[BoundResidual, ...]
    n_structures: int

    @property
    def size(self) -> int:
        return self.bound[-1].where.stop if self.bound else 0

    @property
    def needs(self) -> tuple[frozenset[str], ...]:
        """Per structure: the MM quantities its residuals consume."""
        needs: list[set[str]] = [set() for _ in range(self.n_structures)]
        for b in self.bound:
            for s in b.structures:
                needs[s] |= set(b.residual.needs)
        return tuple(frozenset(n) for n in needs)

    def __call__(self, values: Any, quantities: Sequence[dict[str, Any]], xp: Any) -> Any:
        vectors = self._evaluated_together(quantities, xp)
        pieces = []
        for b, vector in zip(self.bound, vectors, strict=True):
            if vector is None:
                vector = b.residual.evaluate(self._inputs(b, values, quantities), xp)
            pieces.append(xp.asarray(b.weights) * xp.reshape(vector, (-1,)))
        return xp.concatenate(pieces)

    def _evaluated_together(self, quantities: Sequence[dict[str, Any]], xp: Any) -> list[Any]:
        """Residual kinds that evaluate many structures at once (``evaluate_many``) do;
        None for every other residual."""
        vectors: list[Any] = [None] * len(self.bound)
        together: dict[type, list[int]] = {}
        for i, b in enumerate(self.bound):
            if b.scope == "structure" and hasattr(type(b.residual), "evaluate_many"):
                together.setdefault(type(b.residual), []).append(i)
        for residual_type, members in together.items():
            bound = [self.bound[i] for i in members]
            many = residual_type.evaluate_many(
                [b.residual for b in bound], [quantities[b.structures[0]] for b in bound], xp
            )
            for i, vector in zip(members, many, strict=True):
                vectors[i] = vector
        return vectors

    @staticmethod
    def _inputs(b: BoundResidual, values: Any, quantities: Sequence[dict[str, Any]]) -> dict[str, Any]:
        if b.scope == "structure":
            return quantities[b.structures[0]]
        if b.scope == "group":
            return {need: [quantities[s][need] for s in b.structures] for need in b.residual.needs}
        return {"values": values}

    def checked(self, r: np.ndarray) -> np.ndarray:
        """``r`` itself, or :class:`~q2mm.errors.FitFailure` naming the residuals that
        are not finite."""
        if r.shape != (self.size,):
            raise FitFailure(f"residual vector of shape {r.shape}, expected ({self.size},)")
        if not np.isfinite(r).all():
            bad = sorted({b.label for b in self.bound if not np.isfinite(r[b.where]).all()})
            raise FitFailure(f"non-finite residuals in {', '.join(bad)}")
        return r

    def score_by_residual(self, r: np.ndarray) -> dict[str, float]:
        out: dict[str, float] = {}
        for b in self.bound:
            out[b.name] = out.get(b.name, 0.0) + float(r[b.where] @ r[b.where])
        return out
