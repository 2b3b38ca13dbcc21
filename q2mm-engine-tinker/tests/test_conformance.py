"""The core's engine conformance kit through the plugin registry (entry point
``tinker``), on both back ends; skipped where Tinker is not installed."""

from typing import Any, ClassVar

import pytest
from q2mm.testing.conformance import EngineConformance
from q2mm_engine_tinker.locate import missing_reason

pytestmark = pytest.mark.skipif(bool(missing_reason()), reason=str(missing_reason()))


class TestTinkerDriverConformance(EngineConformance):
    engine_name = "tinker"
    engine_options: ClassVar[dict[str, Any]] = {"backend": "driver"}


class TestTinkerProgramsConformance(EngineConformance):
    engine_name = "tinker"
    engine_options: ClassVar[dict[str, Any]] = {"backend": "programs"}
