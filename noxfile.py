"""Sessions: one per package (the core plus that package only — catches missing
dependency declarations), ``all`` (every package together: the full test suite) and
``lint``. Package folders are discovered, so a new ``q2mm-*/`` needs no edit here."""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).parent
PACKAGES = sorted(p.parent.name for p in ROOT.glob("q2mm-*/pyproject.toml"))
CORE = "q2mm-core"

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["all", "lint"]
nox.options.reuse_existing_virtualenvs = True


def _test(session: nox.Session, packages: list[str]) -> None:
    session.install(*[f"./{p}[test]" for p in packages])
    session.run("pytest", *[f"{p}/tests" for p in packages], *session.posargs)


@nox.session(name="all", python="3.11")
def all_packages(session: nox.Session) -> None:
    """Every package installed together; the whole test suite."""
    _test(session, PACKAGES)


def _package_session(package: str) -> None:
    @nox.session(name=package, python="3.11")
    def session_(session: nox.Session) -> None:
        _test(session, [CORE] if package == CORE else [CORE, package])

    session_.__doc__ = f"{package} with q2mm-core only."


for _package in PACKAGES:
    _package_session(_package)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
