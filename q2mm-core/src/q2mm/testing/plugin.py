"""A plugin module exposing the core's test engines:
:class:`~q2mm.testing.harmonic_engine.HarmonicEngine` as engine ``harmonic-numpy``
and :class:`~q2mm.testing.traceable_engine.TraceableHarmonicEngine` (JAX, traceable)
as ``harmonic-jax``. Not an entry point: tests add it to a registry explicitly
(``Registry.discover(extra=[("testing", module)])``) so users never see a test
engine. The engines are named by string: importing this module imports no JAX."""

from ..hookspecs import hookimpl
from ..plugins import PLUGIN_API_VERSION, PluginRecord

Q2MM_PLUGIN_API = PLUGIN_API_VERSION


@hookimpl
def q2mm_engines():
    return [
        PluginRecord(
            "harmonic-numpy",
            "engine",
            "q2mm.testing.harmonic_engine:HarmonicEngine",
            capabilities={"energy", "gradient", "hessian", "minimize"},
            description="NumPy harmonic bonds and angles (testing)",
        ),
        PluginRecord(
            "harmonic-jax",
            "engine",
            "q2mm.testing.traceable_engine:TraceableHarmonicEngine",
            capabilities={"energy", "gradient", "hessian", "minimize", "traceable"},
            description="JAX harmonic bonds and angles, traceable (testing; needs JAX)",
        ),
    ]
