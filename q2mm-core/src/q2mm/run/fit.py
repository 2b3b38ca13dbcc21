"""Stage two: the optimizer on the objective, checkpointed after every iteration."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io.atomic import write_text_atomic
from ..report.history import History
from ..residuals.metrics import per_structure, pooled
from ..residuals.quality import reasons, verdict
from .prepare import Prepared
from .progress import Progress
from .report import versions
from .result import FitResult, Score, Timing, json_float, start_summary

CHECKPOINT = "checkpoint.json"


def _checkpointer(prepared: Prepared, iteration0: int, progress: Progress, history: History):
    """The optimizer callback: checkpoint, history line and progress after every
    iteration."""
    space, objective = prepared.space, prepared.objective
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
        history.append(
            state["iteration"], float(score), _json_scores(objective.score_by_residual_if_evaluated(x))
        )
        write_text_atomic(path, json.dumps(checkpoint))
        progress.update(state["iteration"], float(score), prepared.counters.evaluations)

    return on_iteration


def _json_scores(scores: dict[str, float] | None) -> dict[str, float | None] | None:
    return None if scores is None else {k: json_float(v) for k, v in scores.items()}


def fit(prepared: Prepared, resume: bool = False, progress: Progress | None = None) -> FitResult:
    """Run the optimizer from the start (or the checkpoint); the result, not yet written."""
    started = time.perf_counter()
    cfg, space, objective = prepared.config, prepared.space, prepared.objective
    progress = progress or Progress(enabled=False)
    cfg.output.mkdir(parents=True, exist_ok=True)
    x_start, iteration0 = space.x0, 0
    if resume:
        x_start, iteration0 = _read_checkpoint(cfg.output / CHECKPOINT, space)
    history = History(cfg.output, resume_from=iteration0 if resume else None)
    try:
        score_initial = objective.value(space.x0)
        if not resume:
            history.append(0, score_initial, _json_scores(objective.score_by_residual_if_evaluated(space.x0)))
        callback = _checkpointer(prepared, iteration0, progress, history)
        progress.start()
        result = prepared.optimizer.minimize(objective, x_start, space.bounds, callback=callback)
    finally:
        progress.close()
        prepared.executor.shutdown()

    status = result.status
    x_final = np.asarray(result.x, dtype=float)
    score_final = float(result.score)
    if not np.isfinite(score_final):
        status = "failed"
    counters = prepared.counters
    return assemble(
        prepared,
        status=status,
        message=result.message,
        x=x_final,
        score_initial=score_initial,
        score_final=score_final,
        iterations=iteration0 + result.iterations,
        evaluations=counters.evaluations + result.program_evaluations,
        compile_s=counters.compile_seconds + result.compile_seconds,
        started=started,
        starts=[start_summary(s) for s in getattr(result, "starts", ())],
    )


def assemble(
    prepared: Prepared,
    *,
    status: str,
    message: str,
    x: np.ndarray,
    score_initial: float,
    score_final: float,
    iterations: int,
    evaluations: int,
    compile_s: float,
    started: float,
    starts: list[dict[str, Any]],
) -> FitResult:
    """The result of a fit (or an evaluation) ending at ``x``: metrics, verdict and
    provenance judged the same way whichever stage produced it."""
    cfg, space, objective = prepared.config, prepared.space, prepared.objective
    usable = status != "failed"
    errors = objective.metric_errors(x) if usable else []
    structures = _structures(prepared, errors)
    quality, reasons = verdict({s["name"]: s["reasons"] for s in structures}, status)
    return FitResult(
        status=status,
        message=message,
        output=str(cfg.output),
        files=[],
        score=Score(
            initial=json_float(score_initial),
            final=json_float(score_final),
            by_residual={k: json_float(v) for k, v in objective.score_by_residual(x).items()}
            if usable
            else {},
        ),
        metrics={k: json_float(v) for k, v in (pooled(errors) if usable else {}).items()},
        quality=quality,
        quality_reasons=reasons,
        iterations=iterations,
        evaluations=evaluations,
        gradients=prepared.counters.gradients,
        gradient=objective.gradient_path,
        timing=Timing(total_s=time.perf_counter() - started, compile_s=compile_s),
        engine={"name": cfg.engine, **prepared.engine_description},
        optimizer={"name": cfg.optimizer, "options": cfg.optimizer_options},
        executor=cfg.executor,
        structures=structures,
        starts=starts,
        parameters=[
            {
                "id": pid,
                "start": float(a),
                "final": float(b),
                "lower": json_float(lo),
                "upper": json_float(hi),
            }
            for pid, a, b, (lo, hi) in zip(space.ids, space.x0, x, space.bounds, strict=True)
        ],
        space=space.to_dict(),
        versions=versions(prepared.plugins),
        config=str(cfg.path),
        inputs=input_hashes(prepared),
        ts_method=cfg.ts_method,
    )


def input_hashes(prepared: Prepared) -> dict[str, str]:
    """SHA-256 of every file the run read (configuration, force field, QM data), by
    path: what the report's provenance names."""
    cfg = prepared.config
    paths = [cfg.path, cfg.forcefield.file, cfg.forcefield.template]
    for spec in cfg.structures:
        paths += [spec.file, spec.hessian, spec.mmo]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in dict.fromkeys(paths) if p is not None}


def _structures(prepared: Prepared, errors: list) -> list[dict]:
    """Each structure with its own metrics and its verdict's reasons (none judged
    when the fit failed)."""
    out = []
    for i, m in enumerate(prepared.molecules):
        metrics = per_structure(errors[i]) if errors else {}
        out.append(
            {
                "name": m.name,
                "kind": str(m.stationary_point),
                "atoms": m.n_atoms,
                "metrics": {k: json_float(v) for k, v in metrics.items()},
                "reasons": reasons(metrics, m.stationary_point, prepared.config.quality),
            }
        )
    return out


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
