"""Line-numbered text for file readers, so that every failure names file and line.

Readers of text formats load a file with :func:`read_lines` and go through the
returned :class:`Lines` instead of indexing lists and calling ``float`` directly:
looking past the end, a missing field or a token that is not a number all become
one :class:`~q2mm.errors.ParseError` carrying the path, the 1-based line number,
what was expected and what was found. Nothing else escapes a reader built this way.

API (indices are 0-based; messages report 1-based line numbers):

- ``read_lines(path) -> Lines`` — undecodable bytes become U+FFFD rather than an
  error, so a stray byte in a comment does not make a whole file unreadable.
- ``Lines.line(i)`` — the text of line ``i`` (ParseError past the end).
- ``Lines.fields(i, count=None, at_least=None, what=...)`` — whitespace tokens, with
  an exact or minimum count checked.
- ``Lines.number(i, token, what)`` / ``Lines.integer(i, token, what)`` — a finite
  float / an int, in the grammar of :mod:`.fortran` that force-field readers share
  (Fortran ``D`` exponents accepted; ``inf``, ``nan``, ``1_0`` refused).
- ``Lines.element(i, token)`` — an element symbol (any case) or atomic number, as
  the canonical symbol.
- ``Lines.find(text, start, stop)`` / ``Lines.find_last(text, start, stop)`` — index
  of the first / last line containing ``text`` (None if none).
- ``Lines.error(i, expected, found=None)`` — the ParseError to raise for line ``i``
  (``found`` defaults to the line's text, or "end of file").
"""

from __future__ import annotations

from pathlib import Path

import attrs

from ..errors import ParseError
from ..model import elements
from . import fortran

_SHOWN = 80


def read_lines(path: str | Path) -> Lines:
    """All lines of a text file (without line endings)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ParseError(
            path, None, "a readable file", f"{type(exc).__name__}: {exc.strerror or exc}"
        ) from None
    return Lines(str(path), tuple(data.decode("utf-8", errors="replace").splitlines()))


@attrs.frozen
class Lines:
    path: str
    lines: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.lines)

    def error(self, index: int | None, expected: str, found: str | None = None) -> ParseError:
        if found is None and index is not None:
            found = self.lines[index].strip()[:_SHOWN] if 0 <= index < len(self.lines) else "end of file"
        return ParseError(self.path, None if index is None else index + 1, expected, found)

    def line(self, index: int, what: str = "another line") -> str:
        if not 0 <= index < len(self.lines):
            raise self.error(index, what, "end of file")
        return self.lines[index]

    def fields(
        self, index: int, count: int | None = None, at_least: int | None = None, what: str = "more fields"
    ) -> list[str]:
        tokens = self.line(index, what).split()
        if count is not None and len(tokens) != count:
            raise self.error(index, f"{what} ({count} fields)")
        if at_least is not None and len(tokens) < at_least:
            raise self.error(index, f"{what} (at least {at_least} fields)")
        return tokens

    def number(self, index: int, token: str, what: str = "a number") -> float:
        """A finite real in the grammar every reader shares (:func:`.fortran.real`)."""
        try:
            return fortran.real(token)
        except fortran.NotFiniteError:
            raise self.error(index, f"{what} (finite)", token) from None
        except ValueError:
            raise self.error(index, what, token) from None

    def integer(self, index: int, token: str, what: str = "an integer") -> int:
        """An integer in the grammar every reader shares (:func:`.fortran.integer`)."""
        try:
            return fortran.integer(token)
        except ValueError:
            raise self.error(index, what, token) from None

    def element(self, index: int, token: str) -> str:
        try:
            symbol = elements.symbol_from_number(int(token)) if fortran.is_unsigned(token) else token
            return elements.normalize_symbol(symbol)
        except elements.UnknownElementError:
            raise self.error(index, "an element symbol or atomic number", token) from None

    def find(self, text: str, start: int = 0, stop: int | None = None) -> int | None:
        for i in range(max(start, 0), len(self.lines) if stop is None else min(stop, len(self.lines))):
            if text in self.lines[i]:
                return i
        return None

    def find_last(self, text: str, start: int = 0, stop: int | None = None) -> int | None:
        for i in range(
            (len(self.lines) if stop is None else min(stop, len(self.lines))) - 1, max(start, 0) - 1, -1
        ):
            if text in self.lines[i]:
                return i
        return None
