"""q2mm's JAX engine. Importing this package is light: JAX loads with
:mod:`q2mm_engine_jax.engine`, which the plugin record names as its factory."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("q2mm-engine-jax")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
