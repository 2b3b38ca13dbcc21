"""q2mm's Tinker engine. Importing this package is light: nothing runs Tinker until
:mod:`q2mm_engine_tinker.engine`, which the plugin record names as its factory, is
used."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("q2mm-engine-tinker")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
