"""Stage three: the result folder — the fitted force field and ``result.json``."""

from __future__ import annotations

import json

import attrs

from .. import __version__
from ..io import write_forcefield
from ..io.atomic import write_text_atomic
from ..plugins import Registry
from .prepare import Prepared
from .result import FitResult

RESULT = "result.json"


def versions(plugins: Registry) -> dict[str, str]:
    versions = {"q2mm-core": __version__}
    for status in plugins.statuses:
        if status.distribution:
            versions[status.distribution] = status.version
    return versions


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
