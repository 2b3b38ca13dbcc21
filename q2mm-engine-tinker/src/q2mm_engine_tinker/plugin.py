"""Entry point ``q2mm: tinker``. Stays light: listing plugins neither imports the
engine nor looks for Tinker; :mod:`q2mm_engine_tinker.engine` loads on use."""

import q2mm
from q2mm.plugins import PLUGIN_API_VERSION, PluginRecord

Q2MM_PLUGIN_API = PLUGIN_API_VERSION


@q2mm.hookimpl
def q2mm_engines():
    return [
        PluginRecord(
            "tinker",
            "engine",
            "q2mm_engine_tinker.engine:TinkerEngine",
            capabilities={"energy", "gradient", "hessian", "minimize"},
            description="the real Tinker programs (MM3 and harmonic): a persistent driver built "
            "against the user's libtinker.a, or one program start per call; analytical Hessians",
        )
    ]
