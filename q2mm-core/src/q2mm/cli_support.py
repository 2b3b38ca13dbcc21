"""What every ``q2mm`` subcommand shares: user mistakes as one line and exit code 2,
and the plugin registry the command runs with.

User mistakes (bad files, bad configuration, unknown plugin names) are one line on
stderr and exit code 2 — no traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys

import click

from .errors import Q2MMError
from .plugins import Registry, registry

EXIT_USER_ERROR = 2


def user_errors(fn):
    """Turn a :class:`~q2mm.errors.Q2MMError` into one line on stderr and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Q2MMError as exc:
            click.echo(f"q2mm: error: {exc}", err=True)
            sys.exit(EXIT_USER_ERROR)

    return wrapper


def plugins_in_use() -> Registry:
    """The registry the caller passed (``main(obj=registry)``: tests, embedding
    applications), or the process-wide one."""
    passed = click.get_current_context().obj
    return passed if isinstance(passed, Registry) else registry()
