"""Typed errors: every failure a user can cause maps to one of these.

The CLI turns any :class:`Q2MMError` into a one-line message and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class Q2MMError(Exception):
    """Base of every error caused by input, configuration or environment."""


class ParseError(Q2MMError):
    """A file could not be read: names the file, the line and what was expected."""

    def __init__(self, path: str | Path, line: int | None, expected: str, found: str | None = None):
        self.path = str(path)
        self.line = line
        self.expected = expected
        self.found = found
        where = self.path if line is None else f"{self.path}:{line}"
        message = f"{where}: expected {expected}"
        if found is not None:
            message += f", found {found!r}"
        super().__init__(message)


class ConfigError(Q2MMError):
    """A run configuration is invalid (unknown key, wrong type, missing file)."""


class PluginError(Q2MMError):
    """Base for plugin registry failures."""


class UnknownPluginError(PluginError):
    """A name was asked for that no installed plugin provides."""


class PluginConflictError(PluginError):
    """Two distributions register the same name for the same kind."""


class CapabilityError(Q2MMError):
    """An engine was asked for something it did not declare it can do."""


class UnsupportedTermError(Q2MMError):
    """A force field holds a term an engine cannot evaluate; never silently dropped."""


class AssignmentError(Q2MMError):
    """Terms of a structure matched no force-field row."""


class ConversionLossError(Q2MMError):
    """Writing a force field in the requested format would drop terms."""


class FitFailure(Q2MMError):
    """The objective produced a non-finite value or an engine step failed."""


class RelaxationFailure(FitFailure):
    """An MM relaxation did not converge at these parameters (a trial point a line
    search can step back from, unlike a non-finite value)."""


class QMError(Q2MMError):
    """A QM reference calculation failed: names the input file and what was found."""


class QMConvergenceError(QMError):
    """The SCF or the geometry optimization did not converge."""


class StationaryPointError(QMError):
    """The Hessian disagrees with the declared kind: a ground state with an imaginary
    mode, or a transition state without exactly one."""
