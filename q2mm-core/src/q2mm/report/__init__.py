"""``report.html``: one self-contained page that shows a fit — QM against MM
frequencies mode by mode, the eigenmatrix, where the MM minimum moved, which
parameters changed, how the score converged, the verdict and the provenance.

Built from the result folder alone (``result.json``, ``history.jsonl``,
``report-data.npz``), so ``q2mm report RESULT_DIR`` needs no engine. No network, no
script: plots are inline SVG (:mod:`.plots`).
"""

from .page import REPORT, render, write_report

__all__ = ["REPORT", "render", "write_report"]
