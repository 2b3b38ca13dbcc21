"""The core's engine conformance kit, through the plugin registry (entry point
``openmm``), on both platforms this OpenMM build offers."""

from typing import Any, ClassVar

from q2mm.testing.conformance import EngineConformance


class TestOpenMMConformance(EngineConformance):
    engine_name = "openmm"


class TestOpenMMReferenceConformance(EngineConformance):
    engine_name = "openmm"
    engine_options: ClassVar[dict[str, Any]] = {"platform": "Reference"}
