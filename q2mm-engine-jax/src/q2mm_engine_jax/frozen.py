"""Terms a fit does not move.

A fit varies a few slots of the parameter vector — the Rh-enamide example fits 110 of
7237, and of the nine structures' 16,400 term entries only 333 read one of them. Every
other term has fixed parameters. :func:`freeze` bakes their values into the plan
(``present`` False, the value as ``fallback``), so the traced energy of a fully
frozen family never reads ``values`` and reverse mode computes no parameter
derivative for it. :func:`split` separates the entries that still read ``values``
from the rest: at a fixed geometry (the QM structures that eigenmatrix, frequency,
Hessian and energy residuals compare at) the frozen entries' energy and Hessian are
constants, computed once before the fit instead of at every evaluation.
"""

from __future__ import annotations

import attrs
import numpy as np

from .plan import Block, PairBlock, Plan


def freeze(plan: Plan, values, varying) -> Plan:
    """``plan`` (one structure's) with every parameter slot outside ``varying`` read
    from ``values`` now, once."""
    ext = np.append(np.asarray(values, dtype=float), 0.0)
    var = np.append(np.asarray(varying, dtype=bool), False)
    if ext.shape != (plan.n_parameters + 1,) or var.shape != ext.shape:
        raise ValueError(
            f"frozen values of shape {np.shape(values)} for terms that use {plan.n_parameters} parameters"
        )
    reduction = plan.reduction
    if reduction is not None:
        reduction = attrs.evolve(reduction, factor=reduction.factor.frozen(ext, var))
    return attrs.evolve(plan, blocks=tuple(b.frozen(ext, var) for b in plan.blocks), reduction=reduction)


def _reading(block: Block | PairBlock, centres_vary: bool) -> np.ndarray:
    """Per entry: whether it depends on ``values`` (a vdW pair does through moving
    centres when a reduction factor varies)."""
    if block.family.centres and centres_vary:
        return np.ones(len(block), dtype=bool)
    return block.reading()


def split(plan: Plan) -> tuple[Plan, Plan]:
    """A frozen plan as (its entries that read ``values``, all its entries with
    those silenced: at scale 0): the two sum to the plan, and the second is a
    constant of the parameters. The second keeps the plan's shapes, so it runs
    through the same compiled programs as the plan itself."""
    centres_vary = plan.reduction is not None and plan.reduction.factor.reads_values
    active, fixed = [], []
    for block in plan.blocks:
        reads = _reading(block, centres_vary)
        if reads.any():
            active.append(block.with_entry_arrays([np.asarray(a)[reads] for a in block.entry_arrays()]))
        fixed.append(block.silenced(reads))
    return attrs.evolve(plan, blocks=tuple(active)), attrs.evolve(plan, blocks=tuple(fixed))
