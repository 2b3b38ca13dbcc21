"""The core's engine conformance kit through the plugin registry (entry point
``tinker``), on both back ends; skipped where Tinker is not installed."""

from typing import Any, ClassVar

import pytest
from q2mm.testing.conformance import EngineConformance

from .conftest import tinker_missing

pytestmark = pytest.mark.skipif(bool(tinker_missing()), reason=str(tinker_missing()))


class TestTinkerDriverConformance(EngineConformance):
    engine_name = "tinker"
    engine_options: ClassVar[dict[str, Any]] = {"backend": "driver"}


class TestTinkerProgramsConformance(EngineConformance):
    engine_name = "tinker"
    engine_options: ClassVar[dict[str, Any]] = {"backend": "programs"}
