"""What a run reports: :class:`FitResult`, whose :meth:`~FitResult.to_json` is
``result.json``. Fields marked stable are the keys scripts may rely on
(:data:`RESULT_KEYS`, derived from the marks: the list exists once)."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ..residuals.metrics import KEYS as METRIC_KEYS

#: Marks a result field whose key scripts may rely on.
STABLE = {"stable": True}


def json_float(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _json_value(_cls: Any, _attribute: Any, value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float | np.floating):
        return json_float(float(value))
    return value


def start_summary(start: Any) -> dict[str, Any]:
    """One multi-start record, JSON-ready (nested arrays and non-finite scores included)."""
    return attrs.asdict(start, value_serializer=_json_value)


@attrs.frozen
class Score:
    initial: float | None = attrs.field(metadata=STABLE)
    final: float | None = attrs.field(metadata=STABLE)
    by_residual: dict[str, float | None] = attrs.field(factory=dict)


@attrs.frozen
class Timing:
    total_s: float = attrs.field(metadata=STABLE)
    compile_s: float = attrs.field(metadata=STABLE)


@attrs.frozen(eq=False)
class FitResult:
    """Everything a run reports; :meth:`to_json` is ``result.json``."""

    status: str = attrs.field(metadata=STABLE)  # converged | stopped | failed | evaluated
    message: str
    output: str
    files: list[str]
    score: Score = attrs.field(metadata=STABLE)
    metrics: dict[str, float | None] = attrs.field(metadata={"stable": True, "keys": METRIC_KEYS})
    #: ``good`` | ``poor`` (:mod:`q2mm.residuals.quality`), whatever ``status`` says.
    quality: str = attrs.field(metadata=STABLE)
    quality_reasons: list[str]
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
    #: SHA-256 of every input file, by path.
    inputs: dict[str, str]
    ts_method: str
    #: ``report.html`` once written (``[report] html``), else None.
    report: str | None = None

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
