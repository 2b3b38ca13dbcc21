"""``report-data.npz`` on disk: the per-structure arrays of a result folder (what they
are: :mod:`q2mm.run.report_data`, which computes them)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..io.atomic import write_bytes_atomic

REPORT_DATA = "report-data.npz"


def save(folder: Path, data: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **data)
    write_bytes_atomic(folder / REPORT_DATA, buffer.getvalue())


def load(folder: Path) -> dict[str, np.ndarray]:
    """The arrays of ``folder`` (empty when the run stored none: a failed fit)."""
    path = Path(folder) / REPORT_DATA
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
