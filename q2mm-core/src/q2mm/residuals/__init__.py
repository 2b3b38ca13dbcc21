"""Residual kinds: QM-vs-MM observables written once against the array API.

Each kind lives in its own module with a ``build`` factory (see
:mod:`q2mm.residuals.catalog` for how the objective calls it); default weights are
in :mod:`q2mm.residuals.weights`. Nothing heavy is imported here.
"""
