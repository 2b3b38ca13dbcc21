"""The objective a fit minimizes: residual terms bound to structures
(:mod:`.binding`), evaluated along one of two paths — finite differences over an
engine's NumPy sessions (:mod:`.finite_difference`) or everything inside one
``jax.jit`` for traceable engines (:mod:`.analytical`) — behind one
:class:`Objective` (:mod:`.objective`)."""

from .binding import BoundResidual, Term, WeightedResiduals
from .objective import GRADIENT_CHOICES, Objective

__all__ = ["GRADIENT_CHOICES", "BoundResidual", "Objective", "Term", "WeightedResiduals"]
