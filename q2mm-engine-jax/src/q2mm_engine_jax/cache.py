"""JAX's persistent compilation cache, on by default.

Compiling the Hessian and relaxation of one structure costs seconds while running
them costs milliseconds, so a second process (the next fit, the next test run)
should not compile again: the compiled executables are kept on disk in the user
cache directory. ``Q2MM_JAX_CACHE_DIR`` overrides the folder; setting it to ``off``
(or ``0``, ``false``, ``none``, empty) disables the cache. A folder already chosen
through JAX's own ``jax_compilation_cache_dir`` setting is respected.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

CACHE_ENV = "Q2MM_JAX_CACHE_DIR"
_OFF = {"", "0", "off", "false", "no", "none"}
#: Cache every executable that took longer than this to compile; JAX's default of
#: 1 s would skip most of ours, which compile in a fraction of a second each.
MIN_COMPILE_SECONDS = 0.05


def cache_dir() -> Path | None:
    """The folder the cache lives in, or None when the user switched it off."""
    setting = os.environ.get(CACHE_ENV)
    if setting is None:
        return Path(platformdirs.user_cache_dir("q2mm")) / "jax"
    if setting.strip().lower() in _OFF:
        return None
    return Path(setting).expanduser()


def enable_persistent_cache() -> Path | None:
    """Point JAX at the cache folder; returns the folder in use (None when off).

    A folder that cannot be created leaves the cache off: compiling again is slower,
    never wrong."""
    import jax

    configured = jax.config.jax_compilation_cache_dir
    if configured:
        return Path(configured)
    directory = cache_dir()
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return directory
