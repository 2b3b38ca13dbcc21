"""The one table of default weights, and the default objective.

Residuals come in different units (cm⁻¹, Hartree/(Bohr²·amu), Å, radians, kcal/mol),
so a weight is the reciprocal of a tolerance: w = 1/σ, where σ is the error (in the
residual's own unit) that we are willing to pay one unit of score for. A score of
n therefore reads as "n residuals off by one tolerance each", whatever their kind,
and the relative weights of two kinds are statements about tolerances that a chemist
can check rather than magic numbers.

===========================  =====================  ===========  ===========================
key                          residual unit          σ            why this σ
===========================  =====================  ===========  ===========================
frequency                    cm⁻¹                   10 cm⁻¹      typical MM frequency accuracy
eigenmatrix.diagonal         Hartree/(Bohr²·amu)    1e-3         10 cm⁻¹ at ≈1300 cm⁻¹
                                                                 (dλ = 2ν dν / 5140.487²)
eigenmatrix.off_diagonal     Hartree/(Bohr²·amu)    2e-3         couplings matter half as
                                                                 much (Q2MM's 0.05 vs 0.1)
hessian                      Hartree/Bohr²          5e-3         ≈1.5 % of a C–H stretch
                                                                 element (0.32 in CH₃F)
energy                       kcal/mol               0.5          half of "chemical accuracy"
stability                    Hartree/(Bohr²·amu)    1e-5         a 16 cm⁻¹ mode's whole
                                                                 eigenvalue: a saddle at the
                                                                 QM geometry is never a fair
                                                                 trade (see stability)
geometry.bond                Å                      0.001 Å      a QM minimum is exact; the
                                                                 ideal values can put the MM
                                                                 minimum on it (CH₃F: σ =
                                                                 0.01 Å let it drift 0.013 Å
                                                                 for a 4 % better eigenmatrix)
geometry.angle               radian                 0.1°         likewise
geometry.torsion             radian                 0.5°
tether                       scaled (see tether)    10           weak: a 100 % change of a
                                                                 force constant (1 Å, 1 rad
                                                                 of an ideal value) costs 0.01
===========================  =====================  ===========  ===========================

A term's ``weight`` in the objective multiplies these (default 1.0), so ``weight = 2``
halves every tolerance of that term.
"""

from __future__ import annotations

import math
from types import MappingProxyType

DEFAULT_WEIGHTS = MappingProxyType(
    {
        "frequency": 1.0 / 10.0,
        "eigenmatrix.diagonal": 1.0 / 1e-3,
        "eigenmatrix.off_diagonal": 1.0 / 2e-3,
        "hessian": 1.0 / 5e-3,
        "stability": 1.0 / 1e-5,
        "energy": 1.0 / 0.5,
        "geometry.bond": 1.0 / 0.001,
        "geometry.angle": 1.0 / math.radians(0.1),
        "geometry.torsion": 1.0 / math.radians(0.5),
        "tether": 0.1,
    }
)

#: What a fit minimizes when the configuration names no terms: the Hessian projected
#: on the QM normal modes, the MM-relaxed geometry (a fit that reproduces the Hessian
#: at the QM geometry but relaxes somewhere else is not a fit), stability, a floor
#: under the MM curvatures at the QM geometry (nor is one that has a saddle there;
#: stability adds nothing wherever the force field has a minimum at the QM geometry),
#: and the tether, which holds the parameters the data cannot tell apart at their
#: QM-derived starts (see :mod:`q2mm.residuals.tether`).
DEFAULT_TERMS = (
    ("eigenmatrix", 1.0, {}),
    ("geometry", 1.0, {}),
    ("stability", 1.0, {}),
    ("tether", 1.0, {}),
)
