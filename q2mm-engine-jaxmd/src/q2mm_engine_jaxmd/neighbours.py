"""jax-md neighbour lists of one structure: the candidate non-bonded pairs.

The list holds every pair closer than its radius, cutoff + skin (+ the vdW-centre
margin, below), in jax-md's ``OrderedSparse`` format (each pair once, padded with
index n to a fixed capacity). It is built and updated outside ``jit`` on concrete
coordinates; the engine evaluates energies on the pairs it holds, which include
every interacting pair at any coordinates that moved less than skin/2 from the
list's reference ones.

Overflow is never truncation: when an update finds more pairs than the capacity
(jax-md's ``did_buffer_overflow``), the list is allocated again with twice the
capacity multiplier until it holds them all.

Free space: candidates by brute force (jax-md's cell list needs a box); the search
is O(N²) but runs only when the list is rebuilt, and evaluations touch the list's
pairs only. Periodic (orthorhombic) space: jax-md's cell list, O(N), where every
edge of the box is at least three list radii long; in a narrower box jax-md searches
by brute force too.
"""

from __future__ import annotations

import numpy as np
from q2mm.errors import ConfigError

#: Å a vdW centre may sit from its atom (MM3 hydrogens: (1 − f) r_CH ≈ 0.09 Å); the
#: list radius includes twice this so pairs of centres within the cutoff are listed.
CENTRE_MARGIN = 0.25


class NeighbourList:
    """Candidate pairs within ``radius`` Å, kept up to date by :meth:`pairs`."""

    def __init__(self, box: np.ndarray | None, radius: float, skin: float, capacity_multiplier: float):
        self.box, self.radius, self.skin = box, radius, skin
        self.capacity_multiplier = capacity_multiplier
        #: Times the list was allocated again because an update overflowed.
        self.rebuilds = 0
        self._fns = self._functions()
        self._list = None

    def _functions(self):
        import jax
        from jax_md import partition, space

        if self.box is None:
            displacement, _ = space.free()
            box, cells = 1.0, True
        else:
            displacement, _ = space.periodic(self.box)
            box, cells = self.box, False
        fns = partition.neighbor_list(
            displacement,
            box,
            self.radius - self.skin,
            dr_threshold=self.skin,
            capacity_multiplier=self.capacity_multiplier,
            disable_cell_list=cells,
            format=partition.OrderedSparse,
        )
        return fns.allocate, jax.jit(fns.update)

    def _positions(self, x: np.ndarray) -> np.ndarray:
        """Coordinates as jax-md's cell list wants them: inside the box."""
        return x if self.box is None else np.mod(x, self.box)

    def pairs(self, x: np.ndarray) -> np.ndarray:
        """(capacity, 2) pairs at ``x``, padding rows (n, n); the capacity stays fixed
        unless an update overflows it."""
        allocate, update = self._fns
        position = self._positions(np.asarray(x, dtype=float))
        nbrs = allocate(position) if self._list is None else update(position, self._list)
        while bool(nbrs.did_buffer_overflow):
            self.rebuilds += 1
            self.capacity_multiplier = max(1.25, 2.0 * self.capacity_multiplier)
            self._fns = self._functions()
            nbrs = self._fns[0](position)
        self._list = nbrs
        return np.asarray(nbrs.idx).T

    @property
    def capacity(self) -> int:
        if self._list is None:
            raise ConfigError("the neighbour list has not been built yet")
        return int(self._list.idx.shape[-1])
