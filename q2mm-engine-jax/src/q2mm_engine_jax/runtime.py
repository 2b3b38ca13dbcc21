"""Process-wide JAX settings the engine needs before it builds any array.

Force-field fitting differentiates small energy differences; float32 loses them, so
the engine runs in float64. Enabled when an engine is created, never at plugin
import (listing plugins must not import JAX)."""

from __future__ import annotations

from pathlib import Path

from .cache import enable_persistent_cache

_cache: list[Path | None] = []


def configure() -> Path | None:
    """Enable float64 and the persistent compilation cache (idempotent); returns the
    cache folder in use."""
    import jax

    jax.config.update("jax_enable_x64", True)
    if not _cache:
        _cache.append(enable_persistent_cache())
    return _cache[0]
