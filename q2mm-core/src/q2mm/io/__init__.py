"""Readers and writers. Formats are plugins (category ``reader`` for structures/QM data,
``format`` for force fields) found by name or by file suffix through the registry."""

from __future__ import annotations

from pathlib import Path

from ..model import ForceField, Molecule
from ..plugins import registry


def _format(category: str, path: str | Path, name: str | None):
    reg = registry()
    record = reg.get(category, name) if name else reg.by_suffix(category, str(path))
    return record.create()


def read_structures(path: str | Path, format: str | None = None) -> list[Molecule]:
    """Every structure in a QM or structure file, in file order."""
    return _format("reader", path, format).read(Path(path))


def read_forcefield(path: str | Path, format: str | None = None) -> ForceField:
    return _format("format", path, format).read(Path(path))


def write_forcefield(
    forcefield: ForceField, path: str | Path, format: str | None = None, *, allow_loss: bool = False
) -> None:
    _format("format", path, format).write(forcefield, Path(path), allow_loss=allow_loss)
