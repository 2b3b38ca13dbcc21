"""Process-wide JAX settings, in one place for every package that runs JAX.

q2mm-core never imports JAX on its own: this module imports it only when
:func:`configure` is called, which the JAX engine does when it is created, the
analytical objective path when it is built and the in-JIT optimizers before their
first program — never at plugin import (listing plugins must not import JAX).

- **float64.** Force-field fitting differentiates small energy differences; float32
  loses them.
- **XLA's classic CPU emitters** (``--xla_cpu_use_fusion_emitters=false``): the
  fitting programs compile markedly faster with them and run as fast.
- **No YNNPACK fusions** (``--xla_cpu_experimental_ynn_fusion_type=``, an empty
  list): XLA's CPU compiler hands some elementwise chains and reductions to YNNPACK,
  which ran them several times slower than XLA's own loops here — a periodic
  minimum image (``round``) fused with a squared distance took ~80 ns per pair and
  the jax-md engine's energy in a periodic box 8× its time without them; the
  Rh-enamide objective + gradient and Hessians ran 10–20 % faster without them.
  The q2mm-engine-jax README's Performance section has the measurements of both
  flags. Like every XLA flag they take effect only if set before JAX starts its
  backends, and a user's own ``XLA_FLAGS`` setting of either wins.
- **The persistent compilation cache**, on by default: compiling a Hessian or a
  relaxation costs seconds while running it costs milliseconds, so a second process
  (the next fit, the next test run) loads the compiled executables from the user
  cache folder instead of compiling again. ``Q2MM_JAX_CACHE_DIR`` overrides the
  folder; ``off`` (or ``0``, ``false``, ``no``, ``none``, empty) disables it. A folder
  already chosen through JAX's own ``jax_compilation_cache_dir`` is respected.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

CACHE_ENV = "Q2MM_JAX_CACHE_DIR"
#: XLA CPU compiler flags, as ``--name=value``: each applies unless ``XLA_FLAGS`` names it.
CPU_COMPILER_FLAGS = ("--xla_cpu_use_fusion_emitters=false", "--xla_cpu_experimental_ynn_fusion_type=")
_OFF = {"", "0", "off", "false", "no", "none"}
#: Cache every executable that took longer than this to compile; JAX's default of
#: 1 s would skip most of ours, which compile in a fraction of a second each.
MIN_COMPILE_SECONDS = 0.05

_configured: list[Path | None] = []


def cache_dir() -> Path | None:
    """The folder the cache lives in, or None when the user switched it off."""
    setting = os.environ.get(CACHE_ENV)
    if setting is None:
        return Path(platformdirs.user_cache_dir("q2mm")) / "jax"
    if setting.strip().lower() in _OFF:
        return None
    return Path(setting).expanduser()


def _enable_persistent_cache() -> Path | None:
    """Point JAX at the cache folder; the folder in use (None when off). A folder that
    cannot be created leaves the cache off: compiling again is slower, never wrong."""
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


def configure() -> Path | None:
    """Apply the settings above (idempotent); returns the compilation-cache folder in
    use (None when off)."""
    import jax
    from jax._src import xla_bridge

    flags = os.environ.get("XLA_FLAGS", "")
    if not xla_bridge.backends_are_initialized():
        missing = [f for f in CPU_COMPILER_FLAGS if f.split("=")[0].lstrip("-") not in flags]
        os.environ["XLA_FLAGS"] = " ".join([flags, *missing]).strip()
    jax.config.update("jax_enable_x64", True)
    if not _configured:
        _configured.append(_enable_persistent_cache())
    return _configured[0]
