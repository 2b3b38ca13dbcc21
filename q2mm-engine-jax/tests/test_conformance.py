"""q2mm's engine conformance kit run against the engine as the registry creates it."""

from q2mm.testing.conformance import EngineConformance


class TestJaxEngineConformance(EngineConformance):
    engine_name = "jax"
    energy_tolerance = 1e-10
