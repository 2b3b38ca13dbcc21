"""Physical constants and unit conversions, each named once.

Canonical units inside q2mm: kcal/mol, Å, radians, amu. Energy convention
E = k·Δx² (no ½). QM Hessians stay in Hartree/Bohr² (the unit every QM program
writes) and are converted where MM and QM meet.
"""

from __future__ import annotations

import math

#: CODATA 2018 Bohr radius in Å.
BOHR_TO_ANGSTROM = 0.529177210903
ANGSTROM_TO_BOHR = 1.0 / BOHR_TO_ANGSTROM
#: Hartree in kcal/mol (CODATA 2018 via 4.3597447222071e-18 J, N_A, 4184 J/kcal).
HARTREE_TO_KCALMOL = 627.5094740631
KCALMOL_TO_HARTREE = 1.0 / HARTREE_TO_KCALMOL
KJ_TO_KCAL = 1.0 / 4.184
KCAL_TO_KJ = 4.184
NM_TO_ANGSTROM = 10.0
DEG_TO_RAD = math.pi / 180.0
RAD_TO_DEG = 180.0 / math.pi

#: Hartree/Bohr² → kcal/(mol·Å²).
HESSIAN_AU_TO_KCALMOL_A2 = HARTREE_TO_KCALMOL / BOHR_TO_ANGSTROM**2

#: MM3 / MacroModel / Tinker "bondunit": 1 mdyn/Å stored with E = ½ k Δr² becomes
#: 71.94 kcal/(mol·Å²) in E = k Δr² (the exact physical value is 143.9325/2 = 71.966;
#: MM3 itself uses 71.94 and the force fields were fitted with it, so we keep it).
MDYN_A_TO_KCALMOL_A2 = 71.94
#: Angle constants in mdyn·Å/rad² (MM3 .fld) → kcal/(mol·rad²) with E = k Δθ².
MDYN_A_RAD2_TO_KCALMOL_RAD2 = MDYN_A_TO_KCALMOL_A2
#: Stretch-bend constants in mdyn/rad (MM3 .fld) → kcal/(mol·Å·rad); Tinker's
#: strbndunit 2.51118 is this value per degree: 143.88 · π/180.
MDYN_RAD_TO_KCALMOL_A_RAD = 2.0 * MDYN_A_TO_KCALMOL_A2

#: ν̃ [cm⁻¹] = FREQUENCY_AU_TO_CM1 · √λ for λ in Hartree/(Bohr²·amu).
FREQUENCY_AU_TO_CM1 = 5140.487

#: Coulomb constant in kcal·Å/(mol·e²) (Tinker's "electric" for MM3).
COULOMB_KCAL_A = 332.0538
#: 1 debye in e·Å.
DEBYE_TO_E_A = 0.20819434
