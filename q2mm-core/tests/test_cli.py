"""The command line: version, plugin listing, and every user-error path (one line on
stderr, exit code 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import q2mm
from click.testing import CliRunner
from q2mm.cli import main


def q2mm_cli(*args: str, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "q2mm", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert q2mm.__version__ in result.output


def test_plugins_json_lists_builtins():
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    core = [p for p in payload["plugins"] if p["name"] == "core"]
    assert core[0]["status"] == "ok" and core[0]["distribution"] == "q2mm-core"
    names = {(r["category"], r["name"]) for r in payload["records"]}
    assert {("executor", "serial"), ("format", "mm3-fld"), ("reader", "gaussian-log")} <= names
    assert all(r["distribution"] and r["version"] for r in payload["records"])


def test_listing_plugins_imports_no_heavy_dependency():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from q2mm.cli import main\n"
        "r = CliRunner().invoke(main, ['plugins', '--json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = sorted(m for m in ('jax', 'jaxlib', 'openmm', 'jax_md', 'jaxopt', 'optax', 'scipy.optimize',"
        " 'pyscf', 'geometric')"
        " if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def write(tmp_path: Path, text: str, name: str = "q2mm.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def ch3f_files(tmp_path: Path, data_dir: Path) -> None:
    for name in ("ch3f-optimized.xyz", "ch3f-hessian.npy"):
        (tmp_path / name).write_bytes((data_dir / "ch3f" / name).read_bytes())


VALID = """
engine = "{engine}"
optimizer = "scipy:lbfgsb"
[forcefield]
estimate = "qfuerza"
[[structures]]
file = "ch3f-hessian.npy"
kind = "ground_state"
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("engine = 3\n", r"engine: expected a string, got int 3"),
        ("colour = 'red'\n", r"colour: unknown key \(known: "),
        ("[forcefield]\nestimate = 'qfuerza'\nshape = 1\n", r"forcefield\.shape: unknown key"),
        ("[forcefield]\nfile = 'missing.fld'\n", r"forcefield\.file: file not found: .*missing\.fld"),
        ("[forcefield]\nestimate = 'magic'\n", r"forcefield\.estimate: 'magic' is not one of qfuerza"),
        ("[forcefield]\nestimate = 'qfuerza'\n", r"structures: at least one \[\[structures\]\] entry"),
        (
            "[forcefield]\nestimate = 'qfuerza'\n[[structures]]\nfile = 'ch3f-hessian.npy'\n",
            r"structures\[0\]\.kind: missing \(required\)",
        ),
        (
            "[forcefield]\nestimate = 'qfuerza'\n[[structures]]\nfile = 'nope.log'\nkind = 'ground_state'\n",
            r"structures\[0\]\.file: file not found",
        ),
        (
            "[forcefield]\nestimate = 'qfuerza'\n"
            "[[structures]]\nfile = 'ch3f-hessian.npy'\nkind = 'minimum'\n",
            r"structures\[0\]\.kind: 'minimum' is not one of ground_state, transition_state",
        ),
        ("this is = not toml = at all\n", r"not valid TOML"),
    ],
)
def test_config_errors_are_one_line_exit_2(tmp_path, data_dir, text, message):
    ch3f_files(tmp_path, data_dir)
    config = write(tmp_path, text)
    result = CliRunner().invoke(main, ["run", str(config)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("q2mm: error: ")
    import re

    assert re.search(message, lines[0]), lines[0]


def test_unknown_engine_names_installed_ones(tmp_path, data_dir):
    ch3f_files(tmp_path, data_dir)
    config = write(tmp_path, VALID.format(engine="quantum-magic"))
    result = q2mm_cli("run", str(config))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert "\n" not in line
    assert "no engine named 'quantum-magic' is installed; installed:" in line


def test_unknown_optimizer_via_flag(tmp_path, data_dir):
    from q2mm.plugins import registry

    engines = registry().names("engine")
    if not engines:
        pytest.skip("no engine is installed (the core's own session): the engine is checked first")
    ch3f_files(tmp_path, data_dir)
    config = write(tmp_path, VALID.format(engine=engines[0]))
    result = CliRunner().invoke(main, ["run", str(config), "--optimizer", "simulated-annealing-9000"])
    assert result.exit_code == 2
    assert "no optimizer named 'simulated-annealing-9000' is installed; installed:" in result.stderr


def test_missing_config_file(tmp_path):
    result = CliRunner().invoke(main, ["run", str(tmp_path / "absent.toml")])
    assert result.exit_code == 2
    assert "configuration file not found" in result.stderr


@pytest.mark.parametrize(
    ("top", "table", "message"),
    [
        (
            "",
            "[optimizer_options]\nmaxiter = 0\n",
            "unknown option(s) for optimizer 'scipy:lbfgsb': maxiter; "
            "known: ftol, gtol, max_evaluations, max_iterations, maxcor, stall_iterations, stall_rtol",
        ),
        (
            "executor = 'threads'\n",
            "[executor_options]\nworkers = 2\n",
            "unknown option(s) for executor 'threads': workers; known: max_workers",
        ),
    ],
)
def test_unknown_optimizer_and_executor_options_are_one_line_exit_2(tmp_path, data_dir, top, table, message):
    """Checked against the factory's signature before anything runs (a misspelt
    option was a TypeError traceback)."""
    from q2mm.testing.registry import testing_registry as with_test_engines

    ch3f_files(tmp_path, data_dir)
    config = write(tmp_path, top + VALID.format(engine="harmonic-numpy") + table)
    result = CliRunner().invoke(main, ["run", str(config)], obj=with_test_engines())
    assert result.exit_code == 2
    assert result.stderr == f"q2mm: error: {message}\n"


def test_estimate_picks_the_form_the_output_format_holds(tmp_path, data_dir):
    """MM3 is the default form, and frcmod holds harmonic terms only: without
    --form the estimate is harmonic, and the command says so."""
    from q2mm.io import read_forcefield
    from q2mm.model import FunctionalForm

    target = tmp_path / "out.frcmod"
    result = CliRunner().invoke(
        main, ["estimate", str(data_dir / "ch3f" / "ch3f-hessian.npy"), "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("; form harmonic: amber-frcmod cannot hold mm3 terms")
    assert read_forcefield(target).form is FunctionalForm.HARMONIC
    asked = CliRunner().invoke(
        main, ["estimate", str(data_dir / "ch3f" / "ch3f-hessian.npy"), "-o", str(target), "--form", "mm3"]
    )
    assert asked.exit_code == 2 and "would lose" in asked.stderr
