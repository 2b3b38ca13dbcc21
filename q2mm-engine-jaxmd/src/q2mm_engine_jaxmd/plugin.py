"""Entry point ``q2mm: jax-md``. Stays light: listing plugins must not import JAX or
jax-md, so this module only names the factory."""

import q2mm
from q2mm.plugins import PLUGIN_API_VERSION, PluginRecord

Q2MM_PLUGIN_API = PLUGIN_API_VERSION


@q2mm.hookimpl
def q2mm_engines():
    return [
        PluginRecord(
            "jax-md",
            "engine",
            "q2mm_engine_jaxmd.engine:JaxMdEngine",
            capabilities={"energy", "gradient", "hessian", "minimize", "traceable"},
            description="the JAX engine's MM3 and harmonic physics with non-bonded pairs from jax-md "
            "neighbour lists: cutoffs with a smooth switch, free or periodic (orthorhombic) space",
        )
    ]
