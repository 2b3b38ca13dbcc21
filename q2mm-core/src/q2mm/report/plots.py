"""The report's plots: matplotlib figures written as inline SVG.

Why matplotlib: it is the plotting library every scientific Python user already has,
kept up for two decades, and its SVG backend needs no JavaScript — the page renders
anywhere, offline, in a browser or an e-mail attachment, and prints. (plotly would
inline ~3.5 MB of JavaScript per page.) Heat maps are rasterized inside the SVG
(an embedded PNG), which keeps a 180-mode eigenmatrix small and fast.

Each function returns one ``<svg>`` element as text; nothing here touches pyplot's
global state, so reports can be written from any thread.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import rcParams
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

rcParams["svg.fonttype"] = "none"  # text stays text: smaller, faster, selectable
rcParams["svg.hashsalt"] = "q2mm"  # stable ids: the same report twice is the same file

#: Colour of the reaction mode of a transition state, everywhere in the report.
REACTION = "#d62728"


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    # Fixed margins, not bbox_inches="tight": that draws every figure twice, and the
    # nine-structure Rh report must stay within seconds.
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def parity(qm: np.ndarray, mm: np.ndarray, overlap: np.ndarray, reaction_mode: int) -> str:
    """MM against QM frequency per mode, coloured by the pair's overlap; the reaction
    mode of a TS marked (its MM value is by design not the QM one under method C)."""
    fig = Figure(figsize=(4.6, 3.8))
    fig.subplots_adjust(left=0.18, right=0.98, bottom=0.13, top=0.97)
    ax = fig.add_subplot()
    low, high = float(min(qm.min(), mm.min(), 0.0)), float(max(qm.max(), mm.max()))
    ax.plot([low, high], [low, high], color="0.6", lw=0.8, zorder=0)
    keep = np.arange(qm.size) != reaction_mode
    points = ax.scatter(qm[keep], mm[keep], c=overlap[keep], cmap="viridis", vmin=0, vmax=1, s=14)
    if reaction_mode >= 0:
        ax.scatter(
            qm[reaction_mode], mm[reaction_mode], marker="X", s=60, color=REACTION, label="reaction mode"
        )
        ax.legend(loc="upper left", fontsize=8)
    fig.colorbar(points, ax=ax, label="mode overlap |cos|")
    ax.set_xlabel("QM frequency / cm⁻¹")
    ax.set_ylabel("MM frequency / cm⁻¹")
    return _svg(fig)


def eigenmatrix(matrix: np.ndarray, targets: np.ndarray) -> str:
    """The QM target (diagonal), the MM eigenmatrix and their difference, on one
    symmetric colour scale per panel (Hartree/(Bohr²·amu))."""
    qm = np.diag(targets)
    panels = (("QM", qm), ("MM", matrix), ("MM − QM", matrix - qm))
    fig = Figure(figsize=(11, 3.5))
    for k, (title, values) in enumerate(panels):
        ax = fig.add_subplot(1, 3, k + 1)
        limit = float(np.percentile(np.abs(values), 99.5)) or 1.0
        image = ax.imshow(
            values, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -limit, limit), interpolation="nearest"
        )
        image.set_rasterized(True)
        ax.set_title(title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("QM mode")
        if k == 0:
            ax.set_ylabel("QM mode")
        fig.colorbar(image, ax=ax, shrink=0.8)
    return _svg(fig)


_GEOMETRY_AXES = {"bond": "Δ bond / Å", "angle": "Δ angle / °", "torsion": "Δ dihedral / °"}


def geometry(deltas: Mapping[str, np.ndarray]) -> str:
    """MM minimum − QM, coordinate by coordinate, one panel per kind."""
    fig = Figure(figsize=(11, 3.0))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.17, top=0.95, wspace=0.45)
    for k, (part, delta) in enumerate(deltas.items()):
        ax = fig.add_subplot(1, len(deltas), k + 1)
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.vlines(np.arange(delta.size), 0.0, delta, color="#1f77b4", lw=1.0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(f"{part} (term order)")
        ax.set_ylabel(_GEOMETRY_AXES[part])
    return _svg(fig)


def convergence(
    iterations: Sequence[int], scores: Sequence[float], by_residual: Mapping[str, Sequence]
) -> str:
    """The score per iteration, total and by residual kind (log scale)."""
    fig = Figure(figsize=(7, 3.6))
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.14, top=0.97)
    ax = fig.add_subplot()
    ax.plot(iterations, scores, color="black", lw=1.6, label="total")
    for name, values in by_residual.items():
        ax.plot(iterations, np.asarray(values, dtype=float), lw=1.0, label=name)
    if np.all(np.asarray(scores) > 0):
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("score")
    ax.legend(fontsize=8)
    return _svg(fig)
