"""A structure with whatever QM reference data came with it."""

from __future__ import annotations

import enum

import attrs
import numpy as np

from . import elements as _elements


class StationaryPoint(enum.StrEnum):
    """Declared by the user for each structure; q2mm never guesses it from the Hessian."""

    GROUND_STATE = "ground_state"
    TRANSITION_STATE = "transition_state"


def _coords(value) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"coordinates must have shape (n_atoms, 3), got {array.shape}")
    array.setflags(write=False)
    return array


def _optional_array(value) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value, dtype=float)
    array.setflags(write=False)
    return array


@attrs.frozen(eq=False)
class Molecule:
    """One structure. Units: Å, kcal/mol; the QM Hessian in Hartree/Bohr² (Cartesian,
    not mass-weighted) because that is what every QM program writes; frequencies in
    cm⁻¹ with imaginary modes negative; atom indices 0-based."""

    elements: tuple[str, ...] = attrs.field(converter=tuple)
    coordinates: np.ndarray = attrs.field(converter=_coords)
    name: str = ""
    atom_types: tuple[str, ...] | None = attrs.field(
        default=None, converter=lambda v: None if v is None else tuple(v)
    )
    bonds: tuple[tuple[int, int], ...] | None = attrs.field(
        default=None,
        converter=lambda v: None if v is None else tuple(tuple(sorted(map(int, b))) for b in v),
    )
    charge: int = 0
    multiplicity: int = 1
    energy: float | None = None
    hessian: np.ndarray | None = attrs.field(default=None, converter=_optional_array)
    frequencies: np.ndarray | None = attrs.field(default=None, converter=_optional_array)
    normal_modes: np.ndarray | None = attrs.field(default=None, converter=_optional_array)
    stationary_point: StationaryPoint | None = None
    source: str | None = None
    #: Periodic cell a, b, c (Å), α, β, γ (degrees) where the structure file gives one
    #: (a Tinker XYZ box line); None for a molecule in free space.
    cell: tuple[float, ...] | None = attrs.field(
        default=None, converter=lambda v: None if v is None else tuple(float(x) for x in v)
    )

    def __attrs_post_init__(self) -> None:
        n = len(self.elements)
        if self.coordinates.shape[0] != n:
            raise ValueError(f"{n} elements but {self.coordinates.shape[0]} coordinate rows")
        if self.atom_types is not None and len(self.atom_types) != n:
            raise ValueError(f"{n} atoms but {len(self.atom_types)} atom types")
        if self.hessian is not None and self.hessian.shape != (3 * n, 3 * n):
            raise ValueError(f"Hessian of shape {self.hessian.shape} for {n} atoms")

    @property
    def n_atoms(self) -> int:
        return len(self.elements)

    @property
    def masses(self) -> np.ndarray:
        return np.array([_elements.mass(e) for e in self.elements])

    def with_(self, **changes) -> Molecule:
        return attrs.evolve(self, **changes)
