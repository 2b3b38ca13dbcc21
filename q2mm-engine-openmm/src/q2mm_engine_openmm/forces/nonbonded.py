"""van der Waals and point-charge interactions over the explicit pair list.

``MMSystem.nonbonded.pairs`` already holds every interacting pair with its vdW and
electrostatic scale (the 1-2/1-3/1-4 rules folded in), so each interaction is one
term of a bonded-style force over exactly those pairs: no cutoff, no exclusion
bookkeeping, and exactly the sum the JAX engine evaluates. The combining rules run in
NumPy when parameters are applied — r* = R_i + R_j and ε = √(ε_i ε_j), or the
``vdw_pair`` override — and each pair gets its own r*, ε·scale.

van der Waals forms (``Conventions.vdw_form``):

- ``lennard-jones``: ε [(r*/r)¹² − 2 (r*/r)⁶].
- ``buckingham`` (MM3): ε [a exp(−b r/r*) − c (r*/r)⁶] for r*/r ≤ 2, and below
  r = r*/2 the wall ε E_w (r*/r)¹² with E_w = [a exp(−b/2) − c 2⁶] / 2¹², continuous
  at r = r*/2 — the JAX engine's (and Tinker's) guard against the exp-6 collapse.

MM3 hydrogens interact through a vdW centre moved toward the atom they are bonded
to, centre = partner + f (H − partner). Each such centre is an OpenMM virtual site
(``TwoParticleAverageSite`` with weights 1 − f and f, a massless extra particle) and
the vdW pairs run between the particles carrying the centres; OpenMM hands the forces
on a site back to its two atoms (the exact chain rule), so positions, forces and
Hessians the engine reports stay the molecule's 3N coordinates. Pairs between
virtual sites in a ``CustomBondForce`` are much cheaper than the same pairs written
as 4-particle ``CustomCompoundBondForce`` terms (which evaluate 12 derivative
expressions each) or as ``CustomCentroidBondForce`` groups (the package README has
the measurement). Changing f
changes the sites, which OpenMM only takes up by reinitializing the context — f is a
vdW row field that fits rarely move. Charges stay on the atoms.
"""

from __future__ import annotations

import attrs
import numpy as np
import openmm
from q2mm.errors import UnsupportedTermError
from q2mm.model import Conventions, Nonbonded

from .. import units
from .base import ForceTerms, columns, custom_bond_terms, gather, literal

#: r*/r beyond which the MM3 Buckingham potential becomes the r⁻¹² wall.
BUCKINGHAM_WALL = 2.0


def _vdw_energy(conventions: Conventions, ratio: str) -> str:
    """Energy per unit ε·scale as a Lepton expression of ``ratio`` = r*/r."""
    if conventions.vdw_form == "lennard-jones":
        return f"(({ratio})^12 - 2*({ratio})^6)"
    if conventions.vdw_form == "buckingham":
        a, b, c, w = conventions.vdw_a, conventions.vdw_b, conventions.vdw_c, BUCKINGHAM_WALL
        wall = (a * np.exp(-b / w) - c * w**6) / w**12
        exp6 = f"{literal(a)}*exp(-{literal(b)}/({ratio})) - {literal(c)}*({ratio})^6"
        return f"select(step(({ratio}) - {literal(w)}), {literal(wall)}*({ratio})^12, {exp6})"
    raise UnsupportedTermError(
        f"the openmm engine cannot evaluate the {conventions.vdw_form!r} van der Waals form"
    )


def _pair_parameters(nb: Nonbonded, values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """r* (Å) and ε (kcal/mol) of the pairs selected by ``mask``."""
    i, j = nb.pairs[mask, 0], nb.pairs[mask, 1]
    radius = gather(values, nb.vdw_slots[:, 0])
    epsilon = gather(values, nb.vdw_slots[:, 1])
    override = nb.pair_override.reshape(-1, 2)[mask]
    has_override = override[:, 0] >= 0
    rstar = np.where(has_override, gather(values, override[:, 0]), radius[i] + radius[j])
    product = epsilon[i] * epsilon[j]
    eps = np.where(has_override, gather(values, override[:, 1]), np.sqrt(np.where(product > 0, product, 0.0)))
    has_radius = rstar > 0
    return np.where(has_radius, rstar, 1.0), np.where(has_radius, eps, 0.0)


@attrs.frozen(eq=False)
class ReducedCentres:
    """The vdW centres of MM3 hydrogens as OpenMM virtual sites: site ``m`` is particle
    ``n_atoms + m``, at (1 − f) partner + f atom, f the value in ``slots[m]``."""

    atoms: np.ndarray
    partners: np.ndarray
    slots: np.ndarray
    n_atoms: int

    def __len__(self) -> int:
        return len(self.atoms)

    def factors(self, values: np.ndarray) -> np.ndarray:
        return values[self.slots]

    def site(self, m: int, factor: float) -> openmm.TwoParticleAverageSite:
        return openmm.TwoParticleAverageSite(int(self.partners[m]), int(self.atoms[m]), 1.0 - factor, factor)


def vdw(nb: Nonbonded, conventions: Conventions, n_atoms: int) -> tuple[list[ForceTerms], ReducedCentres]:
    """One ``CustomBondForce`` over every pair with a non-zero vdW scale, between the
    particles that carry the atoms' vdW centres (the atom itself, or its virtual site)."""
    reduced = (nb.reduction_partner >= 0) & (nb.vdw_slots[:, 2] >= 0)
    atoms = np.flatnonzero(reduced)
    centres = ReducedCentres(atoms, nb.reduction_partner[atoms], nb.vdw_slots[atoms, 2], n_atoms)
    particle = np.arange(len(reduced))
    particle[atoms] = n_atoms + np.arange(len(atoms))
    active = nb.vdw_scale != 0
    if not active.any():
        return [], centres
    scale = nb.vdw_scale[active]

    def parameters(values: np.ndarray) -> np.ndarray:
        rstar, eps = _pair_parameters(nb, values, active)
        return columns(units.length_to_openmm(rstar), units.energy_to_openmm(eps * scale))

    expression = f"eps*{_vdw_energy(conventions, 'rstar/r')}"
    return [
        custom_bond_terms("vdw", expression, ("rstar", "eps"), particle[nb.pairs[active]], parameters)
    ], centres


def charge(nb: Nonbonded, conventions: Conventions) -> list[ForceTerms]:
    """electric·q_i·q_j·scale / (D r) over the pairs whose atoms both carry a charge slot."""
    i, j = nb.pairs[:, 0], nb.pairs[:, 1]
    mask = (nb.elec_scale != 0) & (nb.charge_slots[i] >= 0) & (nb.charge_slots[j] >= 0)
    if not mask.any():
        return []
    prefactor = (
        units.coulomb_constant_to_openmm(conventions.electric / conventions.dielectric) * nb.elec_scale[mask]
    )
    si, sj = nb.charge_slots[i[mask]], nb.charge_slots[j[mask]]

    def parameters(values: np.ndarray) -> np.ndarray:
        return columns(prefactor * values[si] * values[sj])

    return [custom_bond_terms("charge", "qq/r", ("qq",), nb.pairs[mask], parameters)]
