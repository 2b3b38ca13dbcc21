"""Typed errors of the Tinker engine, on q2mm's hierarchy so the CLI reports them in
one line."""

from __future__ import annotations

from q2mm.errors import ConfigError, Q2MMError


class TinkerNotFoundError(ConfigError):
    """No usable Tinker installation: says which programs and folders were searched."""


class TinkerError(Q2MMError):
    """A Tinker program failed: names the program, quotes its own words and says
    which input it was given."""

    def __init__(self, program: str, words: str, input_path: str, reason: str = "failed") -> None:
        self.program = program
        self.words = words.strip()
        self.input_path = input_path
        message = f"Tinker {program} {reason} on {input_path}"
        if self.words:
            message += ": " + " / ".join(line.strip() for line in self.words.splitlines() if line.strip())
        super().__init__(message)


class ClampedBendWarning(UserWarning):
    """Tinker's angle derivatives are inexact at a nearly linear bend: eangle1.f and
    eangle2.f floor |a×b|² at 1e-4 Å⁴, so gradients and Hessians there are Tinker's own
    numbers, not the derivatives of its energy."""
