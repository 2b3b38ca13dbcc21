"""A plugin registry with the testing kit's engines added, and the pytest fixture
that passes it (registered through the ``pytest11`` entry point, so every test suite
with q2mm-core installed has it). Tests hand it to what they run —
``run_fit(..., plugins=reg)``, ``Objective.build(..., plugins=reg)``,
``q2mm.cli.main(obj=reg)`` — instead of replacing the process-wide registry."""

from __future__ import annotations

import pytest

from ..plugins import Registry


def testing_registry() -> Registry:
    """Every installed plugin, plus the testing kit's engines (``harmonic-numpy``)."""
    from . import plugin

    return Registry.discover(extra=[("testing", plugin)])


@pytest.fixture
def q2mm_registry() -> Registry:
    """:func:`testing_registry`, fresh for each test."""
    return testing_registry()
