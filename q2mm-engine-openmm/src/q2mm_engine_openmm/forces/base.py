"""One OpenMM force per term family, and how its per-term parameters follow from the
force-field vector.

OpenMM keeps parameters per term inside each force; q2mm keeps them in one flat vector
``values`` that terms index by slot. A :class:`ForceTerms` bridges the two: it knows,
for its force, how to turn ``values`` into every term's parameters in OpenMM units and
how to write one term's parameters back. :meth:`ForceTerms.apply` writes only the
terms whose parameters changed and then pushes them into the context — during finite
differences over parameters one value moves at a time, so most calls touch a handful
of terms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import attrs
import numpy as np
import openmm
from q2mm.errors import UnsupportedTermError
from q2mm.model import TermSet


@attrs.define(eq=False)
class ForceTerms:
    """``parameters(values)`` gives an (n_terms, n_parameters) array in OpenMM units;
    ``set_term(n, row)`` writes term ``n``'s parameters into ``force``. ``family`` names
    the energy contribution (per-family energies use one force group per family)."""

    family: str
    force: openmm.Force
    parameters: Callable[[np.ndarray], np.ndarray]
    set_term: Callable[[int, np.ndarray], None]
    current: np.ndarray | None = None

    def apply(self, values: np.ndarray, context: openmm.Context | None) -> None:
        new = self.parameters(values)
        if self.current is None:
            changed = np.arange(len(new))
        else:
            changed = np.flatnonzero((new != self.current).any(axis=1))
        if not len(changed):
            return
        for n in changed:
            self.set_term(int(n), new[n])
        self.current = new
        if context is not None:
            self.force.updateParametersInContext(context)


def check_arity(terms: TermSet, arity: int) -> None:
    if terms.atoms.ndim != 2 or terms.atoms.shape[1] != arity:
        raise UnsupportedTermError(
            f"{terms.kind} terms need {arity} atoms each, got shape {terms.atoms.shape}"
        )


def slot_columns(terms: TermSet, names: Sequence[str], optional: Iterable[str] = ()) -> np.ndarray:
    """Slot columns of ``terms`` in the order of ``names``; −1 where an ``optional``
    field is absent. A missing required field is refused by name."""
    optional = set(optional)
    columns = []
    for name in names:
        if name in terms.fields:
            columns.append(terms.slots[:, terms.fields.index(name)])
        elif name in optional:
            columns.append(np.full(len(terms), -1, dtype=np.int64))
        else:
            carried = ", ".join(terms.fields) or "none"
            raise UnsupportedTermError(
                f"{terms.kind} terms must carry the field {name!r}; these carry {carried}"
            )
    return np.stack(columns, axis=1) if columns else np.zeros((len(terms), 0), dtype=np.int64)


def gather(values: np.ndarray, slots: np.ndarray, fallback: float | np.ndarray = 0.0) -> np.ndarray:
    """``values[slots]`` with ``fallback`` where a slot is −1 (an absent optional field)."""
    slots = np.asarray(slots)
    present = slots >= 0
    return np.where(present, values[np.where(present, slots, 0)], fallback)


def constant(name: str, terms: TermSet) -> np.ndarray:
    try:
        return np.asarray(terms.constants[name], dtype=float)
    except KeyError:
        raise UnsupportedTermError(f"{terms.kind} terms lack the constant {name!r}") from None


def energy_scale(terms: TermSet) -> np.ndarray:
    """Per-term energy multiplier: the optional ``scale`` constant (MacroModel divides a
    wildcard torsion among the torsions about its bond), else ones. Every energy here is
    linear in its force constant(s), so the scale multiplies those."""
    if "scale" not in terms.constants:
        return np.ones(len(terms))
    return constant("scale", terms)


def literal(value: float) -> str:
    """A float for a Lepton expression, exactly (repr round-trips) and parenthesized
    so a negative sign never meets an operator."""
    return f"({float(value)!r})"


def custom_bond_terms(
    family: str, expression: str, names: Sequence[str], atoms: np.ndarray, parameters: Callable
) -> ForceTerms:
    """A ``CustomBondForce`` (variable ``r``) over atom pairs."""
    force = openmm.CustomBondForce(expression)
    for name in names:
        force.addPerBondParameter(name)
    pairs = [(int(i), int(j)) for i, j in atoms]
    for i, j in pairs:
        force.addBond(i, j, [0.0] * len(names))
    return ForceTerms(family, force, parameters, lambda n, p: force.setBondParameters(n, *pairs[n], list(p)))


def custom_angle_terms(
    family: str, expression: str, names: Sequence[str], atoms: np.ndarray, parameters: Callable
) -> ForceTerms:
    """A ``CustomAngleForce`` (variable ``theta``) over atom triples."""
    force = openmm.CustomAngleForce(expression)
    for name in names:
        force.addPerAngleParameter(name)
    triples = [tuple(int(a) for a in row) for row in atoms]
    for t in triples:
        force.addAngle(*t, [0.0] * len(names))
    return ForceTerms(
        family, force, parameters, lambda n, p: force.setAngleParameters(n, *triples[n], list(p))
    )


def custom_torsion_terms(
    family: str, expression: str, names: Sequence[str], atoms: np.ndarray, parameters: Callable
) -> ForceTerms:
    """A ``CustomTorsionForce`` (variable ``theta``, the IUPAC dihedral) over quadruples."""
    force = openmm.CustomTorsionForce(expression)
    for name in names:
        force.addPerTorsionParameter(name)
    quads = [tuple(int(a) for a in row) for row in atoms]
    for q in quads:
        force.addTorsion(*q, [0.0] * len(names))
    return ForceTerms(
        family, force, parameters, lambda n, p: force.setTorsionParameters(n, *quads[n], list(p))
    )


def compound_terms(
    family: str, expression: str, names: Sequence[str], atoms: np.ndarray, parameters: Callable
) -> ForceTerms:
    """A ``CustomCompoundBondForce`` over groups of ``atoms.shape[1]`` particles (an
    atom may appear twice in a group: the reduced-vdW pairs use that)."""
    force = openmm.CustomCompoundBondForce(int(atoms.shape[1]), expression)
    for name in names:
        force.addPerBondParameter(name)
    groups = [[int(a) for a in row] for row in atoms]
    for g in groups:
        force.addBond(g, [0.0] * len(names))
    return ForceTerms(family, force, parameters, lambda n, p: force.setBondParameters(n, groups[n], list(p)))


def columns(*arrays: np.ndarray) -> np.ndarray:
    """Per-term parameter columns stacked into the (n_terms, n_parameters) array."""
    return np.stack([np.asarray(a, dtype=float) for a in arrays], axis=1)
