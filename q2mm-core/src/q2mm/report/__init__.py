"""``report.html``: one self-contained page that shows a fit — QM against MM
frequencies mode by mode, the eigenmatrix, where the MM minimum moved, which
parameters changed, how the score converged, the verdict and the provenance.

Built from the result folder alone (``result.json``, ``history.jsonl``,
``report-data.npz``), so ``q2mm report RESULT_DIR`` needs no engine. No network, no
script: plots are inline SVG (:mod:`.plots`).

Light on import (the run's stages import the names below); the page itself, with
matplotlib, is :mod:`.page`.
"""

RESULT = "result.json"
REPORT = "report.html"
