"""Records of the built-in optimizers (light: names and factories only).

A record's capabilities are what the optimizer requires of the objective
(``"gradient"``: any engine, finite differences where needed). Multi-start requires
whatever its inner optimizer does.
"""

from ..plugins import PluginRecord

OPTIMIZERS = [
    PluginRecord(
        "auto",
        "optimizer",
        "q2mm.optimizers.scipy_methods:Auto",
        capabilities={"gradient", "jacobian"},
        description="default: scipy:least-squares-trf where the Jacobian is small, else scipy:lbfgsb",
    ),
    PluginRecord(
        "scipy:lbfgsb",
        "optimizer",
        "q2mm.optimizers.scipy_methods:LBFGSB",
        capabilities={"gradient"},
        description="L-BFGS-B, bounded quasi-Newton",
    ),
    PluginRecord(
        "scipy:nelder-mead",
        "optimizer",
        "q2mm.optimizers.scipy_methods:NelderMead",
        description="Nelder-Mead simplex, derivative-free, bounded",
    ),
    PluginRecord(
        "scipy:powell",
        "optimizer",
        "q2mm.optimizers.scipy_methods:Powell",
        description="Powell conjugate directions, derivative-free, bounded",
    ),
    PluginRecord(
        "scipy:trust-constr",
        "optimizer",
        "q2mm.optimizers.scipy_methods:TrustConstr",
        capabilities={"gradient"},
        description="trust-region interior point, BFGS Hessian",
    ),
    PluginRecord(
        "scipy:least-squares-trf",
        "optimizer",
        "q2mm.optimizers.scipy_methods:LeastSquaresTRF",
        capabilities={"gradient", "jacobian"},
        description="trust-region reflective least squares, bounded",
    ),
    PluginRecord(
        "scipy:least-squares-lm",
        "optimizer",
        "q2mm.optimizers.scipy_methods:LeastSquaresLM",
        capabilities={"gradient", "jacobian"},
        description="MINPACK Levenberg-Marquardt, unbounded problems only",
    ),
    PluginRecord(
        "grad-simp",
        "optimizer",
        "q2mm.optimizers.grad_simp:GradSimp",
        capabilities={"gradient"},
        description="Q2MM cycles: gradient pass, sensitivity ranking, simplex on the most sensitive",
    ),
    PluginRecord(
        "multistart",
        "optimizer",
        "q2mm.optimizers.multistart:MultiStart",
        capabilities={"gradient"},  # what its default inner optimizer (scipy:lbfgsb) requires
        description="any optimizer (option inner) from Sobol/LHS-seeded starts inside the bounds",
    ),
]
