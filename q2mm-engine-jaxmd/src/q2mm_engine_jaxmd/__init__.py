"""q2mm's jax-md engine. Importing this package is light: JAX loads with
:mod:`q2mm_engine_jaxmd.engine`, jax-md only when a neighbour list is first built."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("q2mm-engine-jaxmd")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
