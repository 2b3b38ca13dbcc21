"""The text of force-field files: kept byte for byte, numbers read strictly, values
written back into the columns they came from.

Writers rewrite only the parameter columns of changed rows, so readers keep every line
with its own line ending (a file without a final newline, or with CRLF endings, comes
back the same). Bytes that are not UTF-8 survive through surrogate escapes rather than
failing the read: a force field with a Latin-1 comment is still a force field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConversionLossError, ParseError
from ..model import SourceText
from . import fortran
from .atomic import write_bytes_atomic

_ENCODING = "utf-8"
_ERRORS = "surrogateescape"
_TOKEN = re.compile(r"\S+")


def read_source(path: str | Path, format: str) -> SourceText:
    """All lines of ``path`` with their endings; a missing or unreadable file is a ParseError."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ParseError(path, None, "a readable file", f"{type(exc).__name__}: {exc.strerror}") from None
    return SourceText(str(path), format, split_lines(data.decode(_ENCODING, _ERRORS)))


def split_lines(text: str) -> list[str]:
    """Lines split at ``\\n`` only (form feeds and the like are content, not line breaks,
    so line numbers agree with the programs that wrote the file)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def write_lines(path: str | Path, lines: Sequence[str]) -> None:
    """Whole file or nothing, encoded the way :func:`read_source` decoded it."""
    write_bytes_atomic(path, "".join(lines).encode(_ENCODING, _ERRORS))


def body(line: str) -> str:
    """A line without its ending."""
    return line.rstrip("\r\n")


def ending(line: str) -> str:
    return line[len(body(line)) :]


def number(text: str, path: str | Path, line: int | None, expected: str) -> float:
    """A finite real in the grammar every reader shares (:func:`.fortran.real`)."""
    try:
        return fortran.real(text)
    except ValueError:
        raise ParseError(path, line, expected, text.strip() or "blank") from None


def integer(text: str, path: str | Path, line: int | None, expected: str) -> int:
    """An integer in the grammar every reader shares (:func:`.fortran.integer`)."""
    try:
        return fortran.integer(text)
    except ValueError:
        raise ParseError(path, line, expected, text.strip() or "blank") from None


def tokens(text: str) -> list[tuple[int, int, str]]:
    """Whitespace-separated tokens with their [start, end) columns."""
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]


def decimals_of(token: str) -> int:
    """Digits after the decimal point of a number as written (0 for integers)."""
    mantissa = re.split(r"[eEdD]", token)[0]
    return len(mantissa.split(".", 1)[1]) if "." in mantissa else 0


def fixed(value: float, width: int, decimals: int, what: str) -> str:
    """``value`` as Fortran ``F{width}.{decimals}``; a value that does not fit is refused."""
    text = f"{_no_negative_zero(value, decimals):{width}.{decimals}f}"
    if len(text) > width or not math.isfinite(value):
        raise ConversionLossError(
            f"{what}: {value!r} does not fit a {width}-column field with {decimals} decimals"
        )
    return text


def decimal(value: float, decimals: int, what: str) -> str:
    """``value`` with ``decimals`` digits for a free-format file (no "-0.0000")."""
    if not math.isfinite(value):
        raise ConversionLossError(f"{what}: {value!r} is not a number a force-field file can hold")
    return f"{_no_negative_zero(value, decimals):.{decimals}f}"


def same_when_printed(a: float, b: float, decimals: int) -> bool:
    """Whether two values print the same with ``decimals`` digits (what a file can tell apart)."""
    return (
        f"{_no_negative_zero(a, decimals):.{decimals}f}" == f"{_no_negative_zero(b, decimals):.{decimals}f}"
    )


def _no_negative_zero(value: float, decimals: int) -> float:
    return 0.0 if round(value, decimals) == 0 else value


def splice(text: str, start: int, end: int, new: str) -> str:
    """``text`` with columns [start, end) replaced (short lines are padded)."""
    if len(text) < start:
        text = text.ljust(start)
    return text[:start] + new + text[end:]


def describe(found: Sequence[tuple[int, str]], unit: str = "line") -> list[str]:
    """'what (N lines: a, b, …)' for each description in ``found`` ((line, what) pairs),
    in order of first appearance: how a format names the terms it keeps only as text."""
    by_what: dict[str, list[int]] = {}
    for n, what in found:
        by_what.setdefault(what, []).append(n)
    out = []
    for what, numbers in by_what.items():
        shown = ", ".join(map(str, numbers[:5])) + (", …" if len(numbers) > 5 else "")
        plural = "s" if len(numbers) > 1 else ""
        out.append(f"{what} ({len(numbers)} {unit}{plural} at line{plural} {shown})")
    return out


def replace_token(text: str, start: int, end: int, new: str) -> str:
    """Replace the token at [start, end) keeping its right edge where it was when the
    blanks before it allow, so columns of free-format files stay aligned."""
    width = end - start
    if len(new) <= width:
        return splice(text, start, end, new.rjust(width))
    extra = len(new) - width
    blanks = len(text[:start]) - len(text[:start].rstrip())
    if start > 0 and blanks > extra:
        return splice(text, start - extra, end, new)
    return splice(text, start, end, new if start == 0 or text[start - 1].isspace() else " " + new)
