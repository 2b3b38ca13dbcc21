"""The verdict's curvature check reads the MM Hessian at the MM minimum, not at the
QM geometry. With the published Rh-enamide start force field the first TS's MM
minimum lies 0.09 Å (bond RMSD) from its QM geometry, pulled there by rows the fit
does not move; at the QM geometry those forces bend the methyl torsions to
imaginary frequencies although the force field has no saddle anywhere near, and
at the minimum every frequency is real. Both objective paths give the same
frequencies at the minimum."""

from __future__ import annotations

import numpy as np
from q2mm.objective import Objective
from q2mm.residuals.metrics import per_structure


def test_the_lowest_mm_frequency_is_judged_at_the_mm_minimum(rh_problem):
    from q2mm_engine_jax.engine import JaxEngine

    molecules, systems, space = rh_problem
    terms = [("geometry", 1.0, {})]
    analytical = Objective.build(molecules, systems, JaxEngine(), space, terms=terms)
    errors = analytical.metric_errors(space.x0)[0]
    _, (at_qm,) = analytical.quantities(space.x0, [frozenset({"hessian"})])
    frequency = analytical.metrics_plan.entries[0]["frequency"]
    assert np.asarray(frequency.mm_frequencies(at_qm["hessian"], np)).min() < -200.0
    assert errors.bond.size and np.sqrt(np.mean(errors.bond**2)) > 0.05
    assert errors.minimum_frequencies.size == 3 * molecules[0].n_atoms - 6
    assert errors.minimum_frequencies.min() > 0.0
    assert per_structure(errors)["lowest_mm_frequency_cm1"] == errors.minimum_frequencies.min()

    numeric = Objective.build(
        molecules, systems, JaxEngine(), space, terms=terms, gradient="finite-difference"
    )
    at_numeric_minimum = numeric.metric_errors(space.x0)[0].minimum_frequencies
    np.testing.assert_allclose(at_numeric_minimum, errors.minimum_frequencies, atol=0.5)
