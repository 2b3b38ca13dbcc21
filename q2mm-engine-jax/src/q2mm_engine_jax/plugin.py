"""Entry point ``q2mm: jax``. Stays light: listing plugins must not import JAX, so
this module only names the factory; :mod:`q2mm_engine_jax.engine` loads on use."""

import q2mm
from q2mm.plugins import PLUGIN_API_VERSION, PluginRecord

Q2MM_PLUGIN_API = PLUGIN_API_VERSION


@q2mm.hookimpl
def q2mm_engines():
    return [
        PluginRecord(
            "jax",
            "engine",
            "q2mm_engine_jax.engine:JaxEngine",
            capabilities={"energy", "gradient", "hessian", "minimize", "traceable"},
            description="analytical JAX engine (MM3 and harmonic, float64): exact parameter gradients, "
            "local-Hessian assembly, implicitly differentiated MM relaxation",
        )
    ]
