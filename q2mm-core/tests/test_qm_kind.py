"""Plugin kind ``qm`` in the core, without any QM program installed: the hook, the
records, the listing, and the ``q2mm qm`` command's user errors (one line, exit 2).
A QM program here is a small in-process plugin module, as third parties would ship."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

import pytest
import q2mm
from click.testing import CliRunner
from q2mm.cli import main
from q2mm.errors import StationaryPointError
from q2mm.plugins import CATEGORIES, PLUGIN_API_VERSION, PluginRecord, Registry
from q2mm.protocols import QMProgram, QMRequest, QMResult


class EchoProgram:
    """A QM "program" that refuses every structure as a ground state with one imaginary
    mode: enough to drive the command's error path without QM."""

    name = "echo"

    def __init__(self, progress: bool = True) -> None:
        self.progress = progress

    def run(self, request: QMRequest, output: Path) -> QMResult:
        raise StationaryPointError(f"{request.input}: declared {request.kind}, found 1 imaginary mode")


def qm_module() -> types.ModuleType:
    module = types.ModuleType("echo_qm")
    module.Q2MM_PLUGIN_API = PLUGIN_API_VERSION
    module.q2mm_qm = q2mm.hookimpl(
        lambda: [PluginRecord("echo", "qm", f"{__name__}:EchoProgram", capabilities={"hessian"})]
    )
    return module


@pytest.fixture
def echo_registry():
    reg = Registry()
    reg.add("echo", qm_module(), "echo-dist", "0.1")
    return reg


def test_qm_is_a_plugin_kind_with_its_own_hook():
    assert "qm" in CATEGORIES
    reg = Registry()
    reg.add("echo", qm_module(), "echo-dist", "0.1")
    record = reg.get("qm", "echo")
    assert (record.category, record.distribution) == ("qm", "echo-dist")
    assert isinstance(record.create(progress=False), QMProgram)


def test_a_qm_hook_returning_another_kind_marks_the_plugin_broken():
    module = types.ModuleType("wrong")
    module.Q2MM_PLUGIN_API = PLUGIN_API_VERSION
    module.q2mm_qm = q2mm.hookimpl(lambda: [PluginRecord("x", "engine", "m:f")])
    reg = Registry()
    reg.add("wrong", module, "wrong-dist")
    assert reg.statuses[-1].status == "broken" and "category 'engine'" in reg.statuses[-1].reason


def test_listing_shows_qm_records(echo_registry):
    result = CliRunner().invoke(main, ["plugins"], obj=echo_registry)
    assert result.exit_code == 0
    assert "qms:" in result.output and "echo" in result.output
    payload = json.loads(CliRunner().invoke(main, ["plugins", "--json"], obj=echo_registry).output)
    assert {"name": "echo", "category": "qm"}.items() <= next(
        r for r in payload["records"] if r["category"] == "qm"
    ).items()


def test_qm_request_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        QMRequest("x.xyz", "HF", "STO-3G", kind="minimum")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{dir}/missing.xyz", "--program", "echo"], r"missing\.xyz: file not found"),
        (["{xyz}", "--program", "nope"], r"no qm named 'nope' is installed; installed: echo"),
        (["{xyz}", "--program", "echo"], r"water\.xyz: declared ground_state, found 1 imaginary mode"),
    ],
)
def test_qm_command_user_errors_are_one_line_exit_2(echo_registry, tmp_path, args, message):
    xyz = tmp_path / "water.xyz"
    xyz.write_text("3\nwater\nO 0 0 0\nH 0 0.76 -0.5\nH 0 -0.76 -0.5\n")
    argv = ["qm", *(a.format(dir=tmp_path, xyz=xyz) for a in args), "-o", str(tmp_path / "o")]
    result = CliRunner().invoke(main, argv, obj=echo_registry)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("q2mm: error:")
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "o").exists()


def test_qm_command_refuses_an_unknown_kind(echo_registry, tmp_path):
    result = CliRunner().invoke(
        main, ["qm", "x.xyz", "--kind", "minimum", "-o", str(tmp_path)], obj=echo_registry
    )
    assert result.exit_code == 2 and "Invalid value for '--kind'" in result.output
