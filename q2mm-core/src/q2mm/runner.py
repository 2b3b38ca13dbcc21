"""The run driver behind ``q2mm run``: configuration → fitted force field + result folder.

Plugins are resolved by name before any file is read, so a misspelt engine fails in
milliseconds. The result folder holds the fitted force field, ``result.json`` (keys
listed in :data:`RESULT_KEYS` are stable: scripts rely on them) and ``checkpoint.json``,
rewritten after every optimizer iteration so that ``--resume`` continues a killed run.
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
from .plugins import registry
from .protocols import Capability
from .residuals.weights import DEFAULT_TERMS
from .topology.perception import BondRules, perceive

RESULT_KEYS = (
    "score.initial",
    "score.final",
    "metrics.frequency_rmsd_cm1",
    "metrics.frequency_mae_cm1",
    "metrics.eigenmatrix_diagonal_r2",
    "metrics.bond_rmsd_angstrom",
    "metrics.angle_rmsd_degree",
    "timing.total_s",
    "timing.compile_s",
    "engine.name",
    "optimizer.name",
    "status",
)
CHECKPOINT = "checkpoint.json"
RESULT = "result.json"


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


def _versions() -> dict[str, str]:
    versions = {"q2mm-core": __version__}
    for status in registry().statuses:
        if status.distribution:
            versions[status.distribution] = status.version
    return versions


def _json_float(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def run_fit(
    cfg: RunConfig,
    overrides: dict[str, Any] | None = None,
    resume: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run one fit; returns the result dictionary also written to ``result.json``."""
    from .objective import Objective
    from .parameters import ParameterSpace
    from .topology import build_system

    started = time.perf_counter()
    cfg = attrs.evolve(cfg, **(overrides or {}))
    progress = progress or Progress(enabled=False)
    reg = registry()
    engine_record = reg.get("engine", cfg.engine)
    optimizer_record = reg.get("optimizer", cfg.optimizer)
    executor_record = reg.get("executor", cfg.executor)
    terms = [(o.kind, o.weight, o.options) for o in cfg.objective] or list(DEFAULT_TERMS)
    for kind, _, _ in terms:
        reg.get("residual", kind)

    loaded = _load_structures(cfg)
    molecules = [m for m, _ in loaded]
    start_ff = _starting_forcefield(cfg, loaded)
    systems = [build_system(m, start_ff, mmo=mmo) for m, mmo in loaded]
    outputs = _output_paths(cfg, cfg.output)
    for path in outputs:  # refuse a lossy output before the fit, not after it
        lost = lossy_terms(start_ff, reg.by_suffix("format", str(path)).name)
        if lost:
            raise ConversionLossError(
                f"{path.name}: writing the force field in this format would lose: " + "; ".join(lost)
            )
    p = cfg.parameters
    space = ParameterSpace.from_forcefield(
        start_ff,
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

    engine = engine_record.create(**cfg.engine_options)
    optimizer = optimizer_record.create(**cfg.optimizer_options)
    if "traceable" in optimizer.requires and Capability.TRACEABLE not in engine.capabilities:
        raise ConfigError(
            f"optimizer {cfg.optimizer!r} needs a JAX-traceable objective but engine {cfg.engine!r} is not "
            f"traceable; use a scipy optimizer (e.g. scipy:lbfgsb) or a traceable engine (jax)"
        )
    executor = executor_record.create(**cfg.executor_options)
    output: Path = cfg.output
    output.mkdir(parents=True, exist_ok=True)
    checkpoint_path = output / CHECKPOINT

    x_start = space.x0
    iteration0 = 0
    if resume:
        x_start, iteration0 = _read_checkpoint(checkpoint_path, space)

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
        )
        score_initial = objective.value(space.x0)
        state = {"iteration": iteration0}

        def on_iteration(x: np.ndarray, score: float) -> None:
            state["iteration"] += 1
            write_text_atomic(
                checkpoint_path,
                json.dumps(
                    {
                        "iteration": state["iteration"],
                        "score": float(score),
                        "x": list(map(float, x)),
                        "parameter_ids": space.ids,
                        "space": space.to_dict(),
                    }
                ),
            )
            progress.update(state["iteration"], float(score))

        result = optimizer.minimize(objective, x_start, space.bounds, callback=on_iteration)
    finally:
        progress.close()
        executor.shutdown()

    status = result.status
    x_final = np.asarray(result.x, dtype=float)
    score_final = float(result.score)
    if not np.isfinite(score_final):
        status = "failed"
    metrics = objective.metrics(x_final) if status != "failed" else {}
    fitted = space.forcefield_at(x_final)
    files = []
    if status != "failed":
        for path in outputs:
            write_forcefield(fitted, path)
            files.append(path.name)

    summary: dict[str, Any] = {
        "status": status,
        "message": result.message,
        "output": str(output),
        "files": files,
        "score": {
            "initial": _json_float(score_initial),
            "final": _json_float(score_final),
            "by_kind": {k: _json_float(v) for k, v in objective.score_by_kind(x_final).items()}
            if status != "failed"
            else {},
        },
        "metrics": {k: _json_float(v) for k, v in metrics.items()},
        "iterations": iteration0 + result.iterations,
        "evaluations": objective.evaluations,
        "gradient": objective.gradient_path,
        "timing": {"total_s": time.perf_counter() - started, "compile_s": objective.compile_seconds},
        "engine": {"name": cfg.engine, **engine.describe()},
        "optimizer": {"name": cfg.optimizer, "options": cfg.optimizer_options},
        "executor": cfg.executor,
        "structures": [{"name": m.name, "kind": str(m.kind), "atoms": m.n_atoms} for m in molecules],
        "starts": [_start_summary(s) for s in getattr(result, "starts", ())],
        "parameters": [
            {"id": pid, "start": float(a), "final": float(b)}
            for pid, a, b in zip(space.ids, space.x0, x_final, strict=True)
        ],
        "space": space.to_dict(),
        "versions": _versions(),
        "config": str(cfg.path),
    }
    write_text_atomic(output / RESULT, json.dumps(summary, indent=2))
    return summary


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
