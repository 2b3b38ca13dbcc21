"""Stage three: the result folder — the fitted force field, ``result.json`` and,
unless ``[report] html = false``, ``report.html`` with the per-structure arrays it
plots (``report-data.npz``, :mod:`.report_data`)."""

from __future__ import annotations

import json

import attrs
import numpy as np

from .. import __version__
from ..io import write_forcefield
from ..io.atomic import write_text_atomic
from ..plugins import Registry
from ..report import REPORT, RESULT
from ..report.data import save
from . import report_data
from .prepare import Prepared
from .result import FitResult


def versions(plugins: Registry) -> dict[str, str]:
    versions = {"q2mm-core": __version__}
    for status in plugins.statuses:
        if status.distribution:
            versions[status.distribution] = status.version
    return versions


def report(prepared: Prepared, result: FitResult, forcefields: bool = True) -> FitResult:
    """Write the fitted force field (unless the fit failed, or ``forcefields`` is
    False: an evaluation writes none), ``result.json`` and the HTML report; the
    result with the files written."""
    folder = prepared.config.output
    files = []
    usable = result.status != "failed"
    x = np.array([p["final"] for p in result.parameters])
    if usable and forcefields:
        fitted = prepared.space.forcefield_at(x)
        for path in prepared.outputs:
            write_forcefield(fitted, path)
            files.append(path.name)
    html = prepared.config.report.html
    if html:
        save(folder, report_data.collect(prepared, x) if usable else {})
    result = attrs.evolve(result, files=files, report=REPORT if html else None)
    write_text_atomic(folder / RESULT, json.dumps(result.to_json(), indent=2))
    if html:
        from ..report.page import write_report

        write_report(folder)
    return result
