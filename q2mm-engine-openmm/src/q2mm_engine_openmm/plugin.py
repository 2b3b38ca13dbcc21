"""Entry point ``q2mm: openmm``. Stays light: listing plugins must not import OpenMM,
so this module only names the factory; :mod:`q2mm_engine_openmm.engine` loads on use."""

import q2mm
from q2mm.plugins import PLUGIN_API_VERSION, PluginRecord

Q2MM_PLUGIN_API = PLUGIN_API_VERSION


@q2mm.hookimpl
def q2mm_engines():
    return [
        PluginRecord(
            "openmm",
            "engine",
            "q2mm_engine_openmm.engine:OpenMMEngine",
            capabilities={"energy", "gradient", "hessian", "minimize"},
            description="OpenMM engine (MM3 and harmonic; Reference/CPU/CUDA/OpenCL platforms): "
            "finite-difference Hessians of analytical forces, L-BFGS + Newton relaxation",
        )
    ]
