"""The report of a fit, and `q2mm evaluate`, on real CH₃F data with the core's NumPy
test engine: the result folder's report and its data, the report rebuilt from the
folder alone, a force field scored without being changed, the progress lines — and
the page rendered in a real browser (headless Chromium)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from q2mm.cli import main
from q2mm.report.history import read_history
from q2mm.run import Progress
from q2mm.testing.registry import testing_registry as with_test_engines

CONFIG = """
engine = "harmonic-numpy"
optimizer = "scipy:lbfgsb"
output = "out"

[forcefield]
estimate = "fuerza"
form = "harmonic"

[[structures]]
file = "ch3f-hessian.npy"
kind = "ground_state"
"""
PLOTS = {"convergence", "s0-parity", "s0-eigenmatrix", "s0-geometry"}


def q2mm(*args: str):
    result = CliRunner().invoke(main, list(args), obj=with_test_engines())
    return result


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, data_dir) -> Path:
    """The CH₃F config's folder after one `q2mm run` (shared: the tests only read it)."""
    folder = tmp_path_factory.mktemp("ch3f")
    for name in ("ch3f-optimized.xyz", "ch3f-hessian.npy", "ch3f-frequencies.txt", "ch3f-energy.txt"):
        shutil.copy(data_dir / "ch3f" / name, folder / name)
    (folder / "q2mm.toml").write_text(CONFIG)
    run = q2mm("run", str(folder / "q2mm.toml"), "--quiet")
    assert run.exit_code == 0, run.output
    return folder


class _Plots(HTMLParser):
    """The ids of ``<figure class="plot">`` elements that hold an ``<svg>``."""

    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.with_svg: set[str] = set()
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure" and "plot" in (attrs.get("class") or ""):
            self.open.append(attrs["id"])
        elif tag == "svg" and self.open:
            self.with_svg.add(self.open[-1])
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag):
        if tag == "figure" and self.open:
            self.open.pop()


def plots_in(page: str) -> _Plots:
    parser = _Plots()
    parser.feed(page)
    return parser


def test_a_run_writes_a_self_contained_report(fitted):
    out = fitted / "out"
    result = json.loads((out / "result.json").read_text())
    assert result["report"] == "report.html"
    page = (out / "report.html").read_text()
    found = plots_in(page)
    assert found.with_svg == PLOTS and found.scripts == 0
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the page must not reach the network"
    for shown in ("converged", "good", "Parameters", "Provenance", "harmonic-numpy", "ch3f-hessian.npy"):
        assert shown in page
    history = read_history(out)
    assert [e["iteration"] for e in history] == list(range(result["iterations"] + 1))
    assert all(set(e["by_residual"]) == set(result["score"]["by_residual"]) for e in history)
    assert history[-1]["score"] == pytest.approx(result["score"]["final"])


def test_the_report_is_rebuilt_from_the_result_folder_alone(fitted, tmp_path):
    moved = tmp_path / "copy"
    shutil.copytree(fitted / "out", moved)
    target = tmp_path / "again.html"
    rebuilt = q2mm("report", str(moved), "-o", str(target))
    assert rebuilt.exit_code == 0, rebuilt.output
    assert target.read_text() == (fitted / "out" / "report.html").read_text()


def test_report_of_a_folder_without_a_result_is_a_user_error(tmp_path):
    result = q2mm("report", str(tmp_path))
    assert result.exit_code == 2
    assert (
        result.stderr.strip() == f"q2mm: error: {tmp_path}: no result.json here (is it a q2mm result folder?)"
    )


def test_evaluate_scores_a_force_field_without_changing_it(fitted, tmp_path):
    fit = json.loads((fitted / "out" / "result.json").read_text())
    forcefield = fitted / "out" / fit["files"][0]
    before = (forcefield.read_bytes(), forcefield.stat().st_mtime_ns)
    folder = tmp_path / "evaluated"
    run = q2mm(
        "evaluate", str(fitted / "q2mm.toml"), "--forcefield", str(forcefield), "--output", str(folder)
    )
    assert run.exit_code == 0, run.output
    assert "evaluated, quality good" in run.output
    result = json.loads((folder / "result.json").read_text())
    assert (forcefield.read_bytes(), forcefield.stat().st_mtime_ns) == before
    assert result["status"] == "evaluated" and result["iterations"] == 0 and result["files"] == []
    assert not list(folder.glob("fitted*"))
    # the tether measures a run's move from its own start: evaluating the fitted
    # force field moves nothing, so it scores the fit's final score less that share
    moved = fit["score"]["by_residual"]["tether"]
    assert moved > 0
    assert result["score"]["final"] == pytest.approx(fit["score"]["final"] - moved, rel=1e-6)
    for key, value in fit["metrics"].items():
        assert result["metrics"][key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    assert plots_in((folder / "report.html").read_text()).with_svg == PLOTS - {"convergence"}


def test_evaluate_without_a_force_field_scores_the_start(fitted):
    run = q2mm("evaluate", str(fitted / "q2mm.toml"), "--json")
    assert run.exit_code == 0, run.output
    result = json.loads(run.stdout)
    fit = json.loads((fitted / "out" / "result.json").read_text())
    assert result["output"] == str(fitted / "out-evaluate")
    assert result["score"]["final"] == pytest.approx(fit["score"]["initial"], rel=1e-9)


def test_progress_writes_plain_lines_when_stderr_is_not_a_terminal():
    stream = io.StringIO()
    progress = Progress(stream=stream, every=10)
    for iteration in range(1, 21):
        progress.update(iteration, 100.0 / iteration, evaluations=2 * iteration)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1", "10", "20"]
    assert "score 5  best 5" in lines[-1] and lines[-1].endswith("evaluations/s")
    quiet = io.StringIO()
    Progress(enabled=False, stream=quiet).update(1, 1.0)
    assert quiet.getvalue() == ""


# ---------------------------------------------------------------- the browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run installs it)"
)


def render(page: Path, profile: Path, *mode: str) -> tuple[str, list[str]]:
    """Headless Chromium on ``page``: stdout, and the console messages it logged."""
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *mode,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


@needs_chromium
def test_the_console_check_catches_a_console_error(tmp_path):
    """The check below is only as good as this: a page that logs is caught."""
    page = tmp_path / "noisy.html"
    page.write_text('<!DOCTYPE html><html><body><script>console.error("q2mm-noise")</script></body></html>')
    _, console = render(page, tmp_path / "profile", "--dump-dom")
    assert any("q2mm-noise" in line for line in console)


@needs_chromium
def test_the_report_renders_in_a_browser(fitted, tmp_path):
    page = fitted / "out" / "report.html"
    dom, console = render(page, tmp_path / "profile", "--dump-dom")
    assert console == []
    assert plots_in(dom).with_svg == PLOTS
    shot = tmp_path / "report.png"
    render(page, tmp_path / "profile", "--window-size=1280,2400", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
