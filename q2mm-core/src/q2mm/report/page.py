"""The report page: sections assembled from the result folder's files."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io.atomic import write_text_atomic
from ..model.units import FREQUENCY_AU_TO_CM1
from ..residuals.quality import POOR
from . import REPORT, RESULT, plots
from .data import load
from .history import read_history

#: Geometry table: the largest deviations shown per kind.
WORST = 10

_COLUMNS = (
    ("R²", "eigenmatrix_diagonal_r2", "{:.4f}"),
    ("freq MAE / cm⁻¹", "frequency_mae_cm1", "{:.1f}"),
    ("bond RMSD / Å", "bond_rmsd_angstrom", "{:.4f}"),
    ("angle RMSD / °", "angle_rmsd_degree", "{:.2f}"),
    ("dihedral RMSD / °", "dihedral_rmsd_degree", "{:.2f}"),
    ("lowest MM ν / cm⁻¹", "lowest_mm_frequency_cm1", "{:.0f}"),
)

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.2em .6em;text-align:right}th{background:#f4f4f4}
td.l,th.l{text-align:left}.good{color:#2a7d2a;font-weight:bold}.poor{color:#c0392b;font-weight:bold}
.hit{color:#c0392b}.reaction{color:#d62728;font-weight:bold}figure.plot{margin:.5em 0}
figure.plot svg{max-width:100%;height:auto}figcaption{font-size:.85em;color:#555}
code{font-size:.85em}details{margin:.4em 0}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any, fmt: str = "{:.6g}") -> str:
    return (
        "–" if value is None or (isinstance(value, float) and not math.isfinite(value)) else fmt.format(value)
    )


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> str:
    """A table of already-escaped cells; the first ``left`` columns left-aligned."""
    head = "".join(f'<th class="{"l" if i < left else ""}">{h}</th>' for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(plot_id: str, svg: str, caption: str) -> str:
    return f'<figure class="plot" id="{plot_id}">{svg}<figcaption>{caption}</figcaption></figure>'


def _verdict(quality: str) -> str:
    return f'<span class="{_e(quality)}">{_e(quality)}</span>'


def _header(result: dict) -> str:
    score = result["score"]
    reasons = "".join(f"<li>{_e(r)}</li>" for r in result["quality_reasons"])
    return (
        f"<h1>q2mm report: {_e(Path(result['config']).parent.name)}/{_e(Path(result['config']).name)}</h1>"
        f"<p>status <b>{_e(result['status'])}</b>, quality {_verdict(result['quality'])}; "
        f"score {_num(score['initial'])} → {_num(score['final'])} in {result['iterations']} iterations, "
        f"{result['evaluations']} evaluations, {_num(result['timing']['total_s'], '{:.1f}')} s "
        f"({_e(result['gradient'])} gradient, engine {_e(result['engine']['name'])}, "
        f"optimizer {_e(result['optimizer']['name'])})</p>"
        + (f"<ul>{reasons}</ul>" if reasons else "")
        + (f"<p>{_e(result['message'])}</p>" if result.get("message") else "")
    )


def _summary(result: dict) -> str:
    rows = []
    for s in result["structures"]:
        cells = [_num(s["metrics"].get(key), fmt) for _, key, fmt in _COLUMNS]
        quality = POOR if s["reasons"] else "good"
        rows.append(
            [f'<a href="#{_anchor(s)}">{_e(s["name"])}</a>', _e(s["kind"]), *cells, _verdict(quality)]
        )
    overall = [_num(result["metrics"].get(key), fmt) for _, key, fmt in _COLUMNS]
    rows.append(["<b>overall</b>", "", *overall, _verdict(result["quality"])])
    return "<h2>Quality</h2>" + _table(
        ["structure", "kind", *(h for h, _, _ in _COLUMNS), "verdict"], rows, 2
    )


def _anchor(structure: dict) -> str:
    return "s-" + "".join(c if c.isalnum() else "-" for c in structure["name"])


def _convergence(history: list[dict]) -> str:
    if len(history) < 2:
        return "<h2>Convergence</h2><p>No iterations recorded (an evaluation, or a fit stopped at once).</p>"
    iterations = [e["iteration"] for e in history]
    scores = [e["score"] for e in history]
    kinds = sorted({k for e in history for k in e.get("by_residual", {})})
    by_residual = {k: [e.get("by_residual", {}).get(k, math.nan) for e in history] for k in kinds}
    svg = plots.convergence(iterations, scores, by_residual)
    return "<h2>Convergence</h2>" + _figure(
        "convergence", svg, "Score per iteration (checkpoint history), total and by residual kind."
    )


def _parameters(result: dict) -> str:
    rows = []
    for p in result["parameters"]:
        start, final = p["start"], p["final"]
        change = final - start
        percent = 100 * change / start if start else math.nan
        hit = [
            side
            for side, bound in (("lower", p.get("lower")), ("upper", p.get("upper")))
            if _at(final, bound)
        ]
        rows.append(
            [
                f"<code>{_e(p['id'])}</code>",
                _num(start),
                _num(final),
                _num(change, "{:+.4g}"),
                _num(percent, "{:+.1f}"),
                f'<span class="hit">{", ".join(hit)}</span>' if hit else "",
            ]
        )
    moved = sum(1 for p in result["parameters"] if p["final"] != p["start"])
    table = _table(["parameter", "start", "final", "change", "change %", "bound hit"], rows)
    return (
        f"<h2>Parameters</h2><p>{len(rows)} fitted, {moved} changed.</p>"
        f"<details open><summary>parameter table</summary>{table}</details>"
    )


def _at(value: float, bound: float | None) -> bool:
    return bound is not None and math.isfinite(bound) and abs(value - bound) <= 1e-9 * max(1.0, abs(bound))


def _transition_states(result: dict, data: dict) -> str:
    rows = []
    for i, s in enumerate(result["structures"]):
        mode = int(data.get(f"{i}/reaction_mode", -1))
        if s["kind"] != "transition_state" or mode < 0:
            continue
        qm = float(data[f"{i}/qm_eigenvalues"][mode])
        target = float(data[f"{i}/targets"][mode])
        replaced = "replaced by " + _num(target, "{:.4g}") if target != qm else "left out (weight 0)"
        rows.append(
            [
                _e(s["name"]),
                _e(result["ts_method"]),
                _num(qm, "{:.4g}"),
                _num(math.copysign(FREQUENCY_AU_TO_CM1 * math.sqrt(abs(qm)), qm), "{:.1f}"),
                replaced,
                _num(float(data[f"{i}/mm_frequencies"][mode]), "{:.1f}"),
            ]
        )
    if not rows:
        return ""
    header = ["TS", "method", "QM λ / Hartree Bohr⁻² amu⁻¹", "QM ν̃ / cm⁻¹", "in the fit", "MM ν̃ / cm⁻¹"]
    return "<h2>Transition states</h2>" + _table(header, rows, 2)


def _structure(i: int, s: dict, data: dict) -> str:
    parts = [
        f'<h2 id="{_anchor(s)}">{_e(s["name"])} <small>({_e(s["kind"])}, {s["atoms"]} atoms)</small></h2>'
    ]
    if s["reasons"]:
        parts.append("<ul>" + "".join(f'<li class="poor">{_e(r)}</li>' for r in s["reasons"]) + "</ul>")
    if f"{i}/qm_frequencies" in data:
        parts.append(_modes(i, data))
    geometry = {
        p: data[f"{i}/{p}_mm"] - data[f"{i}/{p}_qm"]
        for p in ("bond", "angle", "torsion")
        if f"{i}/{p}_qm" in data
    }
    if "torsion" in geometry:
        geometry["torsion"] = (geometry["torsion"] + 180.0) % 360.0 - 180.0
    if geometry:
        parts.append(
            _figure(
                f"s{i}-geometry",
                plots.geometry(geometry),
                "MM minimum − QM geometry, coordinate by coordinate.",
            )
        )
        parts.append(_worst(i, data, geometry))
    if len(parts) == 1:
        parts.append("<p>No per-structure data (the fit failed before it could be evaluated).</p>")
    return "\n".join(parts)


def _modes(i: int, data: dict) -> str:
    qm, mm, overlap = data[f"{i}/qm_frequencies"], data[f"{i}/mm_frequencies"], data[f"{i}/overlap"]
    mode = int(data[f"{i}/reaction_mode"])
    parity = _figure(
        f"s{i}-parity",
        plots.parity(qm, mm, overlap, mode),
        "MM against QM frequencies, modes paired by eigenvector overlap"
        + ("; ✕ reaction mode." if mode >= 0 else "."),
    )
    rows = [
        [
            f'<span class="reaction">{k + 1} reaction</span>' if k == mode else str(k + 1),
            _num(float(a), "{:.1f}"),
            _num(float(b), "{:.1f}"),
            _num(float(b - a), "{:+.1f}"),
            _num(float(o), "{:.3f}"),
        ]
        for k, (a, b, o) in enumerate(zip(qm, mm, overlap, strict=True))
    ]
    table = _table(["mode", "QM / cm⁻¹", "MM / cm⁻¹", "Δ", "overlap"], rows)
    heat = _figure(
        f"s{i}-eigenmatrix",
        plots.eigenmatrix(data[f"{i}/eigenmatrix"].astype(float), data[f"{i}/targets"]),
        "Eigenmatrix: the MM Hessian projected on the QM normal modes, against the QM eigenvalues "
        "(Hartree Bohr⁻² amu⁻¹).",
    )
    return parity + f"<details><summary>frequency table ({len(rows)} modes)</summary>{table}</details>" + heat


def _worst(i: int, data: dict, geometry: dict[str, np.ndarray]) -> str:
    elements = data[f"{i}/elements"]
    units = {
        "bond": ("Å", "{:.4f}", "{:+.4f}"),
        "angle": ("°", "{:.2f}", "{:+.2f}"),
        "torsion": ("°", "{:.1f}", "{:+.1f}"),
    }
    rows = []
    for part, delta in geometry.items():
        unit, fmt, signed = units[part]
        atoms, qm, mm = data[f"{i}/{part}_atoms"], data[f"{i}/{part}_qm"], data[f"{i}/{part}_mm"]
        for k in np.argsort(-np.abs(delta))[:WORST]:
            label = "–".join(f"{elements[a]}{a + 1}" for a in atoms[k])
            rows.append(
                [
                    part,
                    _e(label),
                    fmt.format(qm[k]) + " " + unit,
                    fmt.format(mm[k]) + " " + unit,
                    signed.format(delta[k]),
                ]
            )
    table = _table(["kind", "atoms", "QM", "MM minimum", "Δ"], rows, 2)
    return f"<details><summary>largest geometry deviations ({WORST} per kind)</summary>{table}</details>"


def _provenance(result: dict) -> str:
    versions = _table(["distribution", "version"], [[_e(k), _e(v)] for k, v in result["versions"].items()])
    engine = _table(["engine", ""], [[_e(k), _e(v)] for k, v in result["engine"].items()])
    optimizer = json.dumps(result["optimizer"].get("options", {}))
    inputs = _table(
        ["input file", "SHA-256"],
        [[_e(k), f"<code>{_e(v)}</code>"] for k, v in result.get("inputs", {}).items()],
    )
    timing = result["timing"]
    return (
        "<h2>Provenance</h2>"
        f"<p>configuration <code>{_e(result['config'])}</code>; optimizer {_e(result['optimizer']['name'])} "
        f"with options <code>{_e(optimizer)}</code>; executor {_e(result['executor'])}; TS method "
        f"{_e(result['ts_method'])}; {_num(timing['total_s'], '{:.1f}')} s in all, "
        f"{_num(timing['compile_s'], '{:.1f}')} s compiling.</p>" + versions + engine + inputs
    )


def render(folder: str | Path) -> str:
    """The report of the result folder ``folder`` as one HTML document."""
    folder = Path(folder)
    path = folder / RESULT
    if not path.is_file():
        raise ConfigError(f"{folder}: no {RESULT} here (is it a q2mm result folder?)")
    try:
        result = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path}: unreadable ({exc})") from None
    data = load(folder)
    sections = [
        _header(result),
        _summary(result),
        _convergence(read_history(folder)),
        _parameters(result),
        _transition_states(result, data),
        *(_structure(i, s, data) for i, s in enumerate(result["structures"])),
        _provenance(result),
    ]
    title = f"q2mm report: {_e(Path(result['config']).name)}"
    body = "\n".join(s for s in sections if s)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def write_report(folder: str | Path, output: str | Path | None = None) -> Path:
    """Render ``folder``'s report and write it (default ``folder/report.html``)."""
    target = Path(output) if output is not None else Path(folder) / REPORT
    write_text_atomic(target, render(folder))
    return target
