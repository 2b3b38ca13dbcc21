"""A third-party engine, exactly as the README's "Write your own engine" guide writes
it: real files with a real pyproject.toml, built into a wheel by its build backend,
installed into a temporary site folder, then listed and selected by name."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def guide_files() -> dict[str, str]:
    """Code blocks of the README whose first line is ``# q2mm-engine-toy/<path>``."""
    files = {}
    for block in re.findall(r"```(?:toml|python)\n(.*?)```", README.read_text(), flags=re.S):
        first, _, body = block.partition("\n")
        match = re.fullmatch(r"# (q2mm-engine-toy/\S+)", first.strip())
        if match:
            files[match.group(1)] = body
    return files


def build_and_install(source: Path, site: Path) -> None:
    """PEP 517 build through the project's own backend, then unpack the wheel (what
    an installer does for a pure-Python wheel)."""
    dist = source / "dist"
    subprocess.run(
        [sys.executable, "-c", "import hatchling.build as b; b.build_wheel('dist')"],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)


def write_plugin(root: Path, files: dict[str, str], rename: dict[str, str] | None = None) -> Path:
    for relative, text in files.items():
        for old, new in (rename or {}).items():
            text = text.replace(old, new)
            relative = relative.replace(old, new)
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / (rename or {}).get("q2mm-engine-toy", "q2mm-engine-toy")


def q2mm_with(site: Path, *args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "q2mm", *args], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory) -> Path:
    files = guide_files()
    assert set(files) == {
        "q2mm-engine-toy/pyproject.toml",
        "q2mm-engine-toy/src/q2mm_engine_toy/__init__.py",
        "q2mm-engine-toy/src/q2mm_engine_toy/plugin.py",
        "q2mm-engine-toy/src/q2mm_engine_toy/engine.py",
    }
    root = tmp_path_factory.mktemp("src")
    site = tmp_path_factory.mktemp("site")
    build_and_install(write_plugin(root, files), site)
    return site


def test_plugins_lists_the_third_party_engine(toy_site):
    result = q2mm_with(toy_site, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)["records"]
    toy = [r for r in records if r["category"] == "engine" and r["name"] == "toy"]
    assert toy and toy[0]["distribution"] == "q2mm-engine-toy" and toy[0]["version"] == "0.1.0"
    assert set(toy[0]["capabilities"]) == {"energy", "gradient", "hessian", "minimize"}


def test_run_selects_the_third_party_engine_by_name(toy_site, tmp_path, data_dir):
    for name in ("ch3f-optimized.xyz", "ch3f-hessian.npy", "ch3f-frequencies.txt"):
        (tmp_path / name).write_bytes((data_dir / "ch3f" / name).read_bytes())
    (tmp_path / "q2mm.toml").write_text(
        'engine = "jax"\noptimizer = "scipy:lbfgsb"\n'
        '[forcefield]\nestimate = "qfuerza"\nform = "harmonic"\n'
        '[[structures]]\nfile = "ch3f-hessian.npy"\nkind = "ground_state"\n'
    )
    result = q2mm_with(
        toy_site,
        "run",
        str(tmp_path / "q2mm.toml"),
        "--engine",
        "toy",
        "--quiet",
        "--output",
        str(tmp_path / "out"),
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "result.json").read_text())
    assert summary["engine"]["name"] == "toy"
    assert summary["versions"]["q2mm-engine-toy"] == "0.1.0"
    assert summary["status"] == "converged"
    assert summary["score"]["final"] < summary["score"]["initial"]


def test_two_distributions_claiming_one_name_is_an_error(toy_site, tmp_path):
    files = guide_files()
    clone = write_plugin(
        tmp_path / "src",
        files,
        {"q2mm-engine-toy": "q2mm-engine-toy2", "q2mm_engine_toy": "q2mm_engine_toy2"},
    )
    site = tmp_path / "site2"
    build_and_install(clone, site)
    env_path = f"{site}{os.pathsep}{toy_site}"
    result = q2mm_with(Path(env_path), "plugins")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert "engine name 'toy' is claimed by two plugins" in message
    assert "q2mm-engine-toy (plugin 'toy')" in message
    assert "q2mm-engine-toy2 (plugin 'toy')" in message
    # blocking one of them resolves the conflict
    ok = q2mm_with(Path(env_path), "plugins", extra_env={"Q2MM_DISABLE_PLUGINS": "q2mm-engine-toy2"})
    assert ok.returncode == 0, ok.stderr
    assert "[disabled]" in ok.stdout


def test_broken_plugin_is_reported_and_the_rest_keep_working(toy_site, tmp_path):
    files = guide_files()
    files["q2mm-engine-toy/src/q2mm_engine_toy/plugin.py"] = "import q2mm_dependency_that_is_not_installed\n"
    clone = write_plugin(
        tmp_path / "src",
        files,
        {
            "q2mm-engine-toy": "q2mm-engine-broken",
            "q2mm_engine_toy": "q2mm_engine_broken",
            "toy = ": "broken = ",
        },
    )
    site = tmp_path / "site3"
    build_and_install(clone, site)
    result = q2mm_with(Path(f"{site}{os.pathsep}{toy_site}"), "plugins", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    status = {p["name"]: p for p in payload["plugins"]}
    assert status["broken"]["status"] == "broken"
    assert "q2mm_dependency_that_is_not_installed" in status["broken"]["reason"]
    assert status["toy"]["status"] == "ok" and status["core"]["status"] == "ok"
