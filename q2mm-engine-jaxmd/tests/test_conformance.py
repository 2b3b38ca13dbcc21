"""q2mm's engine conformance kit, run on the engine as the registry creates it."""

from q2mm.testing.conformance import EngineConformance


class TestJaxMdConformance(EngineConformance):
    engine_name = "jax-md"
    energy_tolerance = 1e-10
