"""Stage two: the optimizer on the objective, checkpointed after every iteration."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io.atomic import write_text_atomic
from ..residuals.metrics import per_structure, pooled
from ..residuals.quality import reasons, verdict
from .prepare import Prepared
from .report import versions
from .result import FitResult, Score, Timing, json_float, start_summary

CHECKPOINT = "checkpoint.json"


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
    errors = objective.metric_errors(x_final) if usable else []
    structures = _structures(prepared, errors)
    quality, reasons = verdict({s["name"]: s["reasons"] for s in structures}, status)
    return FitResult(
        status=status,
        message=result.message,
        output=str(cfg.output),
        files=[],
        score=Score(
            initial=json_float(score_initial),
            final=json_float(score_final),
            by_residual={k: json_float(v) for k, v in objective.score_by_residual(x_final).items()}
            if usable
            else {},
        ),
        metrics={k: json_float(v) for k, v in (pooled(errors) if usable else {}).items()},
        quality=quality,
        quality_reasons=reasons,
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
        structures=structures,
        starts=[start_summary(s) for s in getattr(result, "starts", ())],
        parameters=[
            {"id": pid, "start": float(a), "final": float(b)}
            for pid, a, b in zip(space.ids, space.x0, x_final, strict=True)
        ],
        space=space.to_dict(),
        versions=versions(prepared.plugins),
        config=str(cfg.path),
    )


def _structures(prepared: Prepared, errors: list) -> list[dict]:
    """Each structure with its own metrics and its verdict's reasons (none judged
    when the fit failed)."""
    out = []
    for i, m in enumerate(prepared.molecules):
        metrics = per_structure(errors[i]) if errors else {}
        out.append(
            {
                "name": m.name,
                "kind": str(m.kind),
                "atoms": m.n_atoms,
                "metrics": {k: json_float(v) for k, v in metrics.items()},
                "reasons": reasons(metrics, m.kind, prepared.config.quality),
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
