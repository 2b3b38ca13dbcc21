"""pluggy hook specifications (marker ``q2mm``).

Each hook returns :class:`~q2mm.plugins.PluginRecord` objects — names, capabilities
and a ``"module:attr"`` factory — never the heavy objects themselves, so listing
plugins imports no engine code. A plugin module implements any subset of these with
``@q2mm.hookimpl`` and must define ``Q2MM_PLUGIN_API`` (see
:data:`q2mm.plugins.PLUGIN_API_VERSION`).
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("q2mm")
hookimpl = pluggy.HookimplMarker("q2mm")


@hookspec
def q2mm_engines():
    """Records of MM engines (factory returns an ``Engine``; options as keyword args)."""


@hookspec
def q2mm_optimizers():
    """Records of optimizers (factory returns an ``Optimizer``)."""


@hookspec
def q2mm_residuals():
    """Records of residuals (factory returns a ``Residual`` builder)."""


@hookspec
def q2mm_formats():
    """Records of file formats: force-field formats (category ``format``) and
    structure / QM readers (category ``reader``)."""


@hookspec
def q2mm_executors():
    """Records of executors (factory returns a ``concurrent.futures``-like executor)."""


@hookspec
def q2mm_qm():
    """Records of QM programs that make reference data (factory returns a ``QMProgram``)."""
