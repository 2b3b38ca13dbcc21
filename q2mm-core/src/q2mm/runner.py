"""The run driver behind ``q2mm run``, in three stages that hand typed records on:

- :func:`prepare`: configuration → molecules → starting force field → MM systems →
  parameter space → objective (a :class:`Prepared` run). Plugins are resolved by
  name first, so a misspelt engine fails in milliseconds;
- :func:`fit`: the optimizer on the objective, with ``checkpoint.json`` rewritten
  after every iteration so that ``--resume`` continues a killed run → a
  :class:`FitResult`;
- :func:`report`: the result folder — the fitted force field and ``result.json``
  (:meth:`FitResult.to_json`; the fields marked stable, :data:`RESULT_KEYS`, are what
  scripts may rely on).

The plugin registry is passed in (default: the process-wide one).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from . import __version__
from .config import RunConfig
from .errors import ConfigError, ConversionLossError
from .io import read_forcefield, read_structures, write_forcefield
from .io.atomic import write_text_atomic
from .io.conversion import lossy_terms
from .model import ForceField, FunctionalForm, Molecule, StationaryKind
from .objective import Objective
from .parameters import ParameterSpace
from .plugins import Registry, registry
from .protocols import Capability, Counters, Executor, Optimizer
from .residuals.metrics import KEYS as METRIC_KEYS
from .residuals.weights import DEFAULT_TERMS
from .topology import build_system
from .topology.perception import BondRules, perceive

CHECKPOINT = "checkpoint.json"
RESULT = "result.json"
#: Marks a result field whose key scripts may rely on.
STABLE = {"stable": True}


class Progress:
    """One self-overwriting status line on stderr: iteration, score, best metrics."""

    def __init__(self, enabled: bool = True, stream=None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.best = float("inf")

    def update(self, iteration: int, score: float, metrics: dict[str, float] | None = None) -> None:
        self.best = min(self.best, score)
        if not self.enabled:
            return
        extra = ""
        if metrics:
            extra = "  " + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items() if v is not None)
        self.stream.write(f"\riter {iteration:5d}  score {score:.6g}  best {self.best:.6g}{extra}   ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _load_structures(cfg: RunConfig) -> list[tuple[Molecule, Any]]:
    from .io.macromodel import read_mmo

    out = []
    mmo_cache: dict[Path, list] = {}
    for i, spec in enumerate(cfg.structures):
        molecules = read_structures(spec.file, spec.format)
        if not 0 <= spec.index < len(molecules):
            raise ConfigError(
                f"{cfg.path}: structures[{i}].index: {spec.file} holds {len(molecules)} structures, "
                f"not index {spec.index}"
            )
        mol = molecules[spec.index]
        if spec.hessian is not None:
            donor = read_structures(spec.hessian)[0]
            if donor.hessian is None:
                raise ConfigError(f"{cfg.path}: structures[{i}].hessian: {spec.hessian} holds no Hessian")
            mol = mol.with_(hessian=donor.hessian, frequencies=donor.frequencies)
        mol = mol.with_(kind=StationaryKind(spec.kind), name=spec.name or mol.name or spec.file.stem)
        if spec.extra_bonds or spec.excluded_bonds or mol.bonds is None:
            # Fix the connectivity once, so estimation and assignment see the same bonds.
            rules = BondRules(
                tolerance=cfg.topology.tolerance,
                partial_tolerance=cfg.topology.partial_tolerance,
                extra_bonds=spec.extra_bonds,
                excluded_bonds=spec.excluded_bonds,
            )
            mol = mol.with_(bonds=perceive(mol, rules).bonds)
        mmo = None
        if spec.mmo is not None:
            listing = mmo_cache.setdefault(spec.mmo, read_mmo(spec.mmo))
            index = spec.index if spec.mmo_index is None else spec.mmo_index
            if not 0 <= index < len(listing):
                raise ConfigError(
                    f"{cfg.path}: structures[{i}].mmo_index: {spec.mmo} has {len(listing)} structures"
                )
            mmo = listing[index]
        out.append((mol, mmo))
    return out


def _starting_forcefield(cfg: RunConfig, loaded: list[tuple[Molecule, Any]]) -> ForceField:
    spec = cfg.forcefield
    if spec.file is not None:
        return read_forcefield(spec.file, spec.format)
    from .estimate import estimate_forcefield

    template = read_forcefield(spec.template) if spec.template else None
    links = [mmo for _, mmo in loaded]
    return estimate_forcefield(
        [m for m, _ in loaded],
        template=template,
        mmo=links if template is not None and all(link is not None for link in links) else None,
        sections=cfg.parameters.sections,
        method=spec.estimate,
        ts_method=cfg.ts_method,
        form=FunctionalForm(spec.form),
        gamma=spec.gamma,
        inverted_eigenvalue=spec.inverted_eigenvalue,
    )


def _output_paths(cfg: RunConfig, output: Path) -> list[Path]:
    """The fitted force field in the input's format, then any extra formats requested."""
    spec = cfg.forcefield
    if spec.file is not None:
        main = output / f"fitted{''.join(spec.file.suffixes[-1:])}"
    elif spec.template is not None:
        main = output / f"fitted{spec.template.suffix}"
    else:
        # Estimated types are element or input names, not Tinker's numeric classes;
        # OpenMM XML holds every term of both functional forms.
        main = output / "fitted.xml"
    return [main, *(output / p.name for p in spec.write)]


def _versions(plugins: Registry) -> dict[str, str]:
    versions = {"q2mm-core": __version__}
    for status in plugins.statuses:
        if status.distribution:
            versions[status.distribution] = status.version
    return versions


def _json_float(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


@attrs.frozen
class Score:
    initial: float | None = attrs.field(metadata=STABLE)
    final: float | None = attrs.field(metadata=STABLE)
    by_kind: dict[str, float | None] = attrs.field(factory=dict)


@attrs.frozen
class Timing:
    total_s: float = attrs.field(metadata=STABLE)
    compile_s: float = attrs.field(metadata=STABLE)


@attrs.frozen(eq=False)
class FitResult:
    """Everything a run reports; :meth:`to_json` is ``result.json``."""

    status: str = attrs.field(metadata=STABLE)  # converged | stopped | failed
    message: str
    output: str
    files: list[str]
    score: Score = attrs.field(metadata=STABLE)
    metrics: dict[str, float | None] = attrs.field(metadata={"stable": True, "keys": METRIC_KEYS})
    iterations: int
    evaluations: int
    gradients: int
    gradient: str
    timing: Timing = attrs.field(metadata=STABLE)
    engine: dict[str, Any] = attrs.field(metadata={"stable": True, "keys": ("name",)})
    optimizer: dict[str, Any] = attrs.field(metadata={"stable": True, "keys": ("name",)})
    executor: str
    structures: list[dict[str, Any]]
    starts: list[dict[str, Any]]
    parameters: list[dict[str, Any]]
    space: dict[str, Any]
    versions: dict[str, str]
    config: str

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self, value_serializer=_json_value)


def _stable_keys(cls: type, prefix: str = "") -> list[str]:
    attrs.resolve_types(cls)
    keys = []
    for field in attrs.fields(cls):
        if not field.metadata.get("stable"):
            continue
        name = prefix + field.name
        if attrs.has(field.type):
            keys += _stable_keys(field.type, name + ".")
        else:
            keys += [f"{name}.{k}" for k in field.metadata["keys"]] if "keys" in field.metadata else [name]
    return keys


#: The dotted ``result.json`` keys scripts may rely on.
RESULT_KEYS = tuple(_stable_keys(FitResult))


@attrs.frozen(eq=False)
class Prepared:
    """A run ready to fit: what :func:`prepare` built from the configuration."""

    config: RunConfig
    plugins: Registry
    molecules: tuple[Molecule, ...]
    forcefield: ForceField
    space: ParameterSpace
    objective: Objective
    optimizer: Optimizer
    executor: Executor
    engine_description: dict[str, Any]
    outputs: tuple[Path, ...]
    counters: Counters


def _space(cfg: RunConfig, forcefield: ForceField) -> ParameterSpace:
    p = cfg.parameters
    space = ParameterSpace.from_forcefield(
        forcefield,
        kinds=p.kinds,
        fields=p.fields,
        sections=p.sections,
        rows=p.rows,
        tie=p.tie,
        allow_negative=p.allow_negative,
        fractional_bounds=p.fractional_bounds,
    )
    if space.size == 0:
        raise ConfigError(f"{cfg.path}: [parameters] selects no active parameter")
    return space


def _refuse_lossy_outputs(plugins: Registry, forcefield: ForceField, outputs: list[Path]) -> None:
    """Refuse a lossy output before the fit, not after it."""
    for path in outputs:
        lost = lossy_terms(forcefield, plugins.by_suffix("format", str(path)).name)
        if lost:
            raise ConversionLossError(
                f"{path.name}: writing the force field in this format would lose: " + "; ".join(lost)
            )


def prepare(cfg: RunConfig, plugins: Registry | None = None) -> Prepared:
    """Configuration → objective, every plugin resolved and every file read."""
    plugins = plugins or registry()
    engine_record = plugins.get("engine", cfg.engine)
    optimizer_record = plugins.get("optimizer", cfg.optimizer)
    executor_record = plugins.get("executor", cfg.executor)
    terms = [(o.kind, o.weight, o.options) for o in cfg.objective] or list(DEFAULT_TERMS)
    for kind, _, _ in terms:
        plugins.get("residual", kind)

    loaded = _load_structures(cfg)
    molecules = [m for m, _ in loaded]
    start_ff = _starting_forcefield(cfg, loaded)
    systems = [build_system(m, start_ff, mmo=mmo) for m, mmo in loaded]
    outputs = _output_paths(cfg, cfg.output)
    _refuse_lossy_outputs(plugins, start_ff, outputs)
    space = _space(cfg, start_ff)

    engine = engine_record.create(**cfg.engine_options)
    optimizer = optimizer_record.create(**cfg.optimizer_options)
    if "traceable" in optimizer.requires and Capability.TRACEABLE not in engine.capabilities:
        raise ConfigError(
            f"optimizer {cfg.optimizer!r} needs a JAX-traceable objective but engine {cfg.engine!r} is not "
            f"traceable; use a scipy optimizer (e.g. scipy:lbfgsb) or a traceable engine (jax)"
        )
    executor = executor_record.create(**cfg.executor_options)
    counters = Counters()
    try:
        objective = Objective.build(
            molecules=molecules,
            systems=systems,
            engine=engine,
            space=space,
            terms=terms,
            executor=executor,
            ts_method=cfg.ts_method,
            groups=[spec.group for spec in cfg.structures],
            plugins=plugins,
            counters=counters,
        )
    except BaseException:
        executor.shutdown()
        raise
    return Prepared(
        cfg,
        plugins,
        tuple(molecules),
        start_ff,
        space,
        objective,
        optimizer,
        executor,
        engine.describe(),
        tuple(outputs),
        counters,
    )


def _checkpointer(prepared: Prepared, iteration0: int, progress: Progress):
    """The optimizer callback: checkpoint and progress after every iteration."""
    space = prepared.space
    path = prepared.config.output / CHECKPOINT
    state = {"iteration": iteration0}

    def on_iteration(x: np.ndarray, score: float) -> None:
        state["iteration"] += 1
        checkpoint = {
            "iteration": state["iteration"],
            "score": float(score),
            "x": list(map(float, x)),
            "parameter_ids": space.ids,
            "space": space.to_dict(),
        }
        write_text_atomic(path, json.dumps(checkpoint))
        progress.update(state["iteration"], float(score))

    return on_iteration


def fit(prepared: Prepared, resume: bool = False, progress: Progress | None = None) -> FitResult:
    """Run the optimizer from the start (or the checkpoint); the result, not yet written."""
    started = time.perf_counter()
    cfg, space, objective = prepared.config, prepared.space, prepared.objective
    progress = progress or Progress(enabled=False)
    cfg.output.mkdir(parents=True, exist_ok=True)
    x_start, iteration0 = space.x0, 0
    if resume:
        x_start, iteration0 = _read_checkpoint(cfg.output / CHECKPOINT, space)
    try:
        score_initial = objective.value(space.x0)
        callback = _checkpointer(prepared, iteration0, progress)
        result = prepared.optimizer.minimize(objective, x_start, space.bounds, callback=callback)
    finally:
        progress.close()
        prepared.executor.shutdown()

    status = result.status
    x_final = np.asarray(result.x, dtype=float)
    score_final = float(result.score)
    if not np.isfinite(score_final):
        status = "failed"
    usable = status != "failed"
    counters = prepared.counters
    return FitResult(
        status=status,
        message=result.message,
        output=str(cfg.output),
        files=[],
        score=Score(
            initial=_json_float(score_initial),
            final=_json_float(score_final),
            by_kind={k: _json_float(v) for k, v in objective.score_by_kind(x_final).items()}
            if usable
            else {},
        ),
        metrics={k: _json_float(v) for k, v in (objective.metrics(x_final) if usable else {}).items()},
        iterations=iteration0 + result.iterations,
        evaluations=counters.evaluations + result.program_evaluations,
        gradients=counters.gradients,
        gradient=objective.gradient_path,
        timing=Timing(
            total_s=time.perf_counter() - started, compile_s=counters.compile_seconds + result.compile_seconds
        ),
        engine={"name": cfg.engine, **prepared.engine_description},
        optimizer={"name": cfg.optimizer, "options": cfg.optimizer_options},
        executor=cfg.executor,
        structures=[{"name": m.name, "kind": str(m.kind), "atoms": m.n_atoms} for m in prepared.molecules],
        starts=[_start_summary(s) for s in getattr(result, "starts", ())],
        parameters=[
            {"id": pid, "start": float(a), "final": float(b)}
            for pid, a, b in zip(space.ids, space.x0, x_final, strict=True)
        ],
        space=space.to_dict(),
        versions=_versions(prepared.plugins),
        config=str(cfg.path),
    )


def report(prepared: Prepared, result: FitResult) -> FitResult:
    """Write the fitted force field (unless the fit failed) and ``result.json``; the
    result with the files written."""
    files = []
    if result.status != "failed":
        fitted = prepared.space.forcefield_at([p["final"] for p in result.parameters])
        for path in prepared.outputs:
            write_forcefield(fitted, path)
            files.append(path.name)
    result = attrs.evolve(result, files=files)
    write_text_atomic(prepared.config.output / RESULT, json.dumps(result.to_json(), indent=2))
    return result


def run_fit(
    cfg: RunConfig,
    overrides: dict[str, Any] | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    plugins: Registry | None = None,
) -> dict[str, Any]:
    """prepare → fit → report; returns what ``result.json`` holds."""
    prepared = prepare(attrs.evolve(cfg, **(overrides or {})), plugins)
    return report(prepared, fit(prepared, resume, progress)).to_json()


def _json_value(_cls: Any, _attribute: Any, value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float | np.floating):
        return _json_float(float(value))
    return value


def _start_summary(start: Any) -> dict[str, Any]:
    """One multi-start record, JSON-ready (nested arrays and non-finite scores included)."""
    return attrs.asdict(start, value_serializer=_json_value)


def _read_checkpoint(path: Path, space) -> tuple[np.ndarray, int]:
    if not path.is_file():
        raise ConfigError(f"{path}: no checkpoint to resume from")
    try:
        data = json.loads(path.read_text())
        x = np.asarray(data["x"], dtype=float)
        ids, iteration = data["parameter_ids"], int(data["iteration"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: unreadable checkpoint ({exc})") from None
    if ids != space.ids:
        raise ConfigError(f"{path}: checkpoint was written for different parameters; start afresh")
    return x, iteration
