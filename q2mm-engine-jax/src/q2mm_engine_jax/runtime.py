"""Process-wide JAX settings the engine needs before it builds any array.

Force-field fitting differentiates small energy differences; float32 loses them, so
the engine runs in float64. Enabled when an engine is created, never at plugin
import (listing plugins must not import JAX).

XLA's CPU compiler is told to use its classic loop emitters instead of the newer
fusion emitters (``--xla_cpu_use_fusion_emitters=false``): the engine's programs
compile faster that way and run as fast (the package README's Performance section
has the measurement). Like every XLA flag it takes effect only if set
before JAX starts its backends, and a user's own ``XLA_FLAGS`` setting of it wins."""

from __future__ import annotations

import os
from pathlib import Path

from .cache import enable_persistent_cache

_cache: list[Path | None] = []
CPU_COMPILER_FLAG = "--xla_cpu_use_fusion_emitters=false"


def configure() -> Path | None:
    """Enable float64 and the persistent compilation cache (idempotent); returns the
    cache folder in use."""
    import jax
    from jax._src import xla_bridge

    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_use_fusion_emitters" not in flags and not xla_bridge.backends_are_initialized():
        os.environ["XLA_FLAGS"] = f"{flags} {CPU_COMPILER_FLAG}".strip()
    jax.config.update("jax_enable_x64", True)
    if not _cache:
        _cache.append(enable_persistent_cache())
    return _cache[0]
