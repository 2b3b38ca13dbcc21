"""QM reference data for q2mm with PySCF and geomeTRIC (entry point ``q2mm: pyscf``).

Importing this package imports neither PySCF nor geomeTRIC; :mod:`.program` does."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("q2mm-qm-pyscf")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
