"""The write side every text force-field format shares: plan the file's lines, refuse
a plan that would drop terms, write the file whole. A format supplies its reader's
``_parse`` and its writer's ``_plan`` (with ``.lines`` and ``.losses``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..model import ForceField, SourceText
from . import fftext
from .conversion import refuse_loss


class TextForceFieldFormat:
    #: What ``unmodelled`` counts in: file lines, or XML elements.
    unmodelled_unit: ClassVar[str] = "line"
    name: str

    @staticmethod
    def _parse(source: SourceText) -> Any:
        raise NotImplementedError

    @staticmethod
    def _plan(forcefield: ForceField) -> Any:
        raise NotImplementedError

    def write(self, forcefield: ForceField, path: Path, *, allow_loss: bool = False) -> None:
        plan = self._plan(forcefield)
        refuse_loss(forcefield, self.name, plan.losses, allow_loss)
        fftext.write_lines(path, plan.lines)

    def losses(self, forcefield: ForceField) -> list[str]:
        """What of ``forcefield`` a file written by :meth:`write` could not hold."""
        return self._plan(forcefield).losses

    def unmodelled(self, source: SourceText) -> list[str]:
        """Terms of the file that no canonical row carries (kept only in its text)."""
        return fftext.describe(self._parse(source).unmodelled, self.unmodelled_unit)
