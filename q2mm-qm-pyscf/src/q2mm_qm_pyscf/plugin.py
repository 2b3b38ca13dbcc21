"""Entry point ``q2mm: pyscf``. Stays light: listing plugins must not import PySCF,
so this module only names the factory; :mod:`q2mm_qm_pyscf.program` loads on use."""

import q2mm
from q2mm.plugins import PLUGIN_API_VERSION, PluginRecord

Q2MM_PLUGIN_API = PLUGIN_API_VERSION


@q2mm.hookimpl
def q2mm_qm():
    return [
        PluginRecord(
            "pyscf",
            "qm",
            "q2mm_qm_pyscf.program:PySCFProgram",
            capabilities={"energy", "gradient", "hessian", "optimize", "transition_state"},
            description="PySCF HF/DFT analytic Hessians; geomeTRIC minimum and transition-state "
            "optimization; writes q2mm's NumPy bundle with meta.json provenance",
        )
    ]
