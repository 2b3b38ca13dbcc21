"""Sessions: one per package (that package plus the local packages it declares —
q2mm-core at least — and nothing else, which catches missing dependency
declarations), ``all`` (every package together: the full test suite) and ``lint``.
Package folders are discovered, so a new ``q2mm-*/`` needs no edit here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PACKAGES = sorted(p.parent.name for p in ROOT.glob("q2mm-*/pyproject.toml"))
CORE = "q2mm-core"

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["all", "lint"]
nox.options.reuse_existing_virtualenvs = True


def _local_dependencies(package: str) -> list[str]:
    """The repository's packages that ``package`` declares, transitively, itself last."""
    project = tomllib.loads((ROOT / package / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\s<>=!~\[;]", d, maxsplit=1)[0] for d in project.get("dependencies", [])}
    out: list[str] = []
    for dep in sorted(names & set(PACKAGES)):
        out += [p for p in _local_dependencies(dep) if p not in out]
    return [*out, package]


def _test(session: nox.Session, packages: list[str]) -> None:
    session.install("pytest-xdist", *[f"./{p}[test]" for p in packages])
    # Two pytest workers on two cores: more BLAS threads only fight each other.
    session.env["OPENBLAS_NUM_THREADS"] = "1"
    session.run("pytest", "-n", "auto", *[f"{p}/tests" for p in packages], *session.posargs)


@nox.session(name="all", python="3.11")
def all_packages(session: nox.Session) -> None:
    """Every package installed together; the whole test suite."""
    _test(session, PACKAGES)


def _package_session(package: str) -> None:
    @nox.session(name=package, python="3.11")
    def session_(session: nox.Session) -> None:
        _test(session, _local_dependencies(package))

    session_.__doc__ = f"{package} with only the packages it declares."


for _package in PACKAGES:
    _package_session(_package)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
