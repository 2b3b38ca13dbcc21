"""q2mm: fit molecular-mechanics force fields to quantum-chemistry reference data."""

from importlib.metadata import PackageNotFoundError, version

from .hookspecs import hookimpl
from .plugins import PLUGIN_API_VERSION, PluginRecord

try:
    __version__ = version("q2mm-core")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["PLUGIN_API_VERSION", "PluginRecord", "__version__", "hookimpl"]
