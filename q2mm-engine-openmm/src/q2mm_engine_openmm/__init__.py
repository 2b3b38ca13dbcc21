"""q2mm's OpenMM engine. Importing this package is light: OpenMM loads with
:mod:`q2mm_engine_openmm.engine`, which the plugin record names as its factory."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("q2mm-engine-openmm")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
