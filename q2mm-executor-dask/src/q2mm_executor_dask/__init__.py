"""q2mm executor on Dask: finite-difference columns, multi-start starts and
per-structure work fanned out over a LocalCluster, an existing scheduler, or batch
jobs (SLURM, PBS, LSF, …) started by dask-jobqueue."""
