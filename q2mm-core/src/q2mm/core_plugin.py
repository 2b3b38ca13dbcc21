"""The core's own plugin: built-in formats, residual kinds, optimizers and executors.

Registered through the ``q2mm`` entry point like any outside plugin, so every run
exercises the plugin mechanism. The catalogs it returns are plain record lists from
light modules; nothing heavy is imported here.
"""

from .hookspecs import hookimpl
from .plugins import PLUGIN_API_VERSION

Q2MM_PLUGIN_API = PLUGIN_API_VERSION


@hookimpl
def q2mm_formats():
    from .io.catalog import FORCEFIELD_FORMATS, STRUCTURE_FORMATS

    return [*STRUCTURE_FORMATS, *FORCEFIELD_FORMATS]


@hookimpl
def q2mm_residuals():
    from .residuals.catalog import RESIDUALS

    return RESIDUALS


@hookimpl
def q2mm_optimizers():
    from .optimizers.catalog import OPTIMIZERS

    return OPTIMIZERS


@hookimpl
def q2mm_executors():
    from .executors import EXECUTORS

    return EXECUTORS
