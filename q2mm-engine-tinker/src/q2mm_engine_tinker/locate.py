"""Finding the user's Tinker: its programs, its library and its version.

``TINKER_DIR`` (its ``bin/``, the folder itself, and ``source/`` where ``make`` leaves
``*.x``) is searched first, then ``PATH``. A program is found under its installed name
(``analyze``) or its build name (``analyze.x``). The library ``libtinker.a`` and the
compiled module files (``atoms.mod``…) that the persistent driver is built against
are looked for in ``TINKER_DIR/source``, ``TINKER_DIR/lib``, ``TINKER_DIR`` and the
``source/`` beside the programs' folder. The version is what Tinker's own banner
says, read once from a start of ``analyze``.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import attrs

from .errors import TinkerNotFoundError

#: Programs the engine runs; the first three are required.
REQUIRED = ("analyze", "testhess", "minimize")
OPTIONAL = ("testgrad", "vibrate", "optimize", "newton")
_VERSION = re.compile(r"Version\s+(\d[\w.]*)")
VERSION_TIMEOUT = 60.0


@attrs.frozen
class TinkerInstall:
    programs: Mapping[str, Path]
    #: ``libtinker.a`` and the folder holding its ``.mod`` files, or None.
    library: Path | None
    modules: Path | None
    searched: tuple[str, ...]

    def program(self, name: str) -> Path:
        try:
            return self.programs[name]
        except KeyError:
            raise TinkerNotFoundError(
                f"the Tinker program {name!r} was not found (searched {', '.join(self.searched)})"
            ) from None


def _folders(env: Mapping[str, str]) -> list[Path]:
    root = env.get("TINKER_DIR")
    folders = [Path(root) / sub for sub in ("bin", ".", "source")] if root else []
    return folders + [Path(p) for p in env.get("PATH", "").split(os.pathsep) if p]


def _find_program(name: str, folders: list[Path]) -> Path | None:
    for folder in folders:
        for candidate in (folder / name, folder / f"{name}.x"):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate.resolve()
    return None


def _find_library(env: Mapping[str, str], programs: Mapping[str, Path]) -> tuple[Path | None, Path | None]:
    root = env.get("TINKER_DIR")
    places = [Path(root) / sub for sub in ("source", "lib", ".")] if root else []
    places += [p.parent.parent / "source" for p in programs.values()] + [p.parent for p in programs.values()]
    for place in places:
        library = place / "libtinker.a"
        if library.is_file():
            modules = place if (place / "atoms.mod").is_file() else None
            return library.resolve(), modules.resolve() if modules else None
    return None, None


def find_tinker(env: Mapping[str, str] | None = None) -> TinkerInstall:
    """Raises :class:`TinkerNotFoundError` naming what was looked for and where."""
    env = os.environ if env is None else env
    folders = _folders(env)
    found = {name: _find_program(name, folders) for name in REQUIRED + OPTIONAL}
    programs = {name: path for name, path in found.items() if path is not None}
    searched = tuple(str(f) for f in folders)
    missing = [name for name in REQUIRED if name not in programs]
    if missing:
        raise TinkerNotFoundError(
            f"Tinker programs {', '.join(missing)} (or {', '.join(m + '.x' for m in missing)}) not found in "
            f"TINKER_DIR={env.get('TINKER_DIR', '(unset)')} or on PATH; install Tinker "
            "(see the q2mm-engine-tinker README) and set TINKER_DIR"
        )
    library, modules = _find_library(env, programs)
    return TinkerInstall(programs, library, modules, searched)


@functools.cache
def tinker_version(analyze: Path) -> str:
    """The version in Tinker's banner (``analyze`` prints it, then stops at end of input)."""
    from .errors import TinkerError

    try:
        done = subprocess.run(
            [str(analyze)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=VERSION_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TinkerError("analyze", str(exc), "(no input: reading the version)") from exc
    return banner_version(done.stdout)


def banner_version(text: str) -> str:
    """The version Tinker's start-up banner states (``Version 26.2  April 2026``)."""
    match = _VERSION.search(text)
    return match.group(1) if match else "unknown"


def gfortran(env: Mapping[str, str] | None = None) -> str | None:
    """The Fortran compiler for the driver: ``FC`` if set, else ``gfortran`` on PATH."""
    env = os.environ if env is None else env
    return env.get("FC") or shutil.which("gfortran", path=env.get("PATH"))


def missing_reason() -> str | None:
    """Why Tinker cannot run here (for tests that skip), or None when it can."""
    try:
        find_tinker()
    except TinkerNotFoundError as exc:
        return f"Tinker is not installed ({exc})"
    return None
