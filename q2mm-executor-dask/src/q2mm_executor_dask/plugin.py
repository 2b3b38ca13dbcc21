"""Entry point ``q2mm: dask``. Stays light: listing plugins must not import Dask, so
this module only names the factory; :mod:`q2mm_executor_dask.executor` loads on use."""

import q2mm
from q2mm.plugins import PLUGIN_API_VERSION, PluginRecord

Q2MM_PLUGIN_API = PLUGIN_API_VERSION


@q2mm.hookimpl
def q2mm_executors():
    return [
        PluginRecord(
            "dask",
            "executor",
            "q2mm_executor_dask.executor:DaskExecutor",
            description="Dask: a LocalCluster (default), a scheduler at 'address', or SLURM/PBS/LSF "
            "jobs through dask-jobqueue ('cluster')",
        )
    ]
