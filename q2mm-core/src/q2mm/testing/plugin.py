"""A plugin module exposing :class:`~q2mm.testing.harmonic_engine.HarmonicEngine` as
engine ``harmonic-numpy``. Not an entry point: tests add it to a registry explicitly
(``Registry.discover(extra=[("testing", module)])``) so users never see a test engine."""

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
        )
    ]
