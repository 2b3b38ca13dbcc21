"""Numbers as the programs behind q2mm's text files write them: the one grammar every
reader uses, whether it reports errors by file column (:mod:`.fftext`) or by line token
(:mod:`.textlines`).

Python's ``float`` and ``int`` accept more than any force-field or QM program writes:
``inf``, ``nan``, ``1_000``, Unicode digits such as ``١``. In a parameter file such a
token is a corrupt or hand-edited field, and reading it as a number would hide that, so
only ASCII decimal numbers are accepted, with an ``e``/``E`` or Fortran ``d``/``D``
exponent (``1.5``, ``-.5``, ``1.``, ``1.0D-3``). Blanks around a token are ignored, as
they are in a fixed-width Fortran field.
"""

from __future__ import annotations

import math
import re

_REAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eEdD][+-]?[0-9]+)?")
_UNSIGNED = re.compile(r"[0-9]+")
_INTEGER = re.compile(r"[+-]?[0-9]+")
#: What Fortran and C print for values a float cannot hold: refused, but named as such.
_NON_FINITE = re.compile(r"[+-]?(?:inf(?:inity)?|nan)", re.IGNORECASE)


class NotFiniteError(ValueError):
    """A real too large for a float (``1D999``) or printed as infinite or NaN: readers
    may say so apart from a token that is not a number at all."""


def real(text: str) -> float:
    """The finite value of a Fortran real; ValueError for anything else."""
    token = text.strip()
    if _NON_FINITE.fullmatch(token):
        raise NotFiniteError(f"not a finite number: {token!r}")
    if not _REAL.fullmatch(token):
        raise ValueError(f"not a number: {token!r}")
    value = float(token.replace("d", "e").replace("D", "e"))
    if not math.isfinite(value):
        raise NotFiniteError(f"not a finite number: {token!r}")
    return value


def integer(text: str) -> int:
    """The value of a signed decimal integer; ValueError for anything else."""
    token = text.strip()
    if not _INTEGER.fullmatch(token):
        raise ValueError(f"not an integer: {token!r}")
    return int(token)


def is_unsigned(token: str) -> bool:
    """Whether ``token`` is an unsigned integer as written (an atom number or class):
    what ``str.isdigit`` would say, without '١' or '²', which ``int`` reads or refuses."""
    return _UNSIGNED.fullmatch(token) is not None
