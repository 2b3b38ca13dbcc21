"""Energy, gradient and Hessian of a :class:`~q2mm_engine_jax.plan.Plan` as pure JAX
functions of ``(plan, values, coordinates)``; kcal/mol, Å. Coordinates are
(structures, width, 3); energies come per structure (structures,), gradients as
(structures, width, 3), Hessians as (structures, 3 width, 3 width), atom-major.

Derivatives are assembled from local ones: each term is differentiated over its own
2–4 points in forward mode (a 6×6 to 12×12 Hessian block), vmapped over the terms
of a family and scatter-added. That equals ``jax.hessian`` of the total energy but
never runs 3N forward-over-reverse passes through the whole molecule, each of which
touches every term; ``benchmarks/bench_jax_engine.py`` times the two against each
other.

van der Waals terms act on vdW centres c = partner + f (x − partner) (MM3 hydrogens;
every other atom is its own centre). Their gradient and Hessian are assembled over
centres and carried to the atoms by that linear map R: g_x = Rᵀ g_c, H_x = Rᵀ H_c R.
Each centre depends on at most two atoms, so applying R is two scatter-adds, not a
matrix product.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .geometry import distance, minimum_image
from .plan import Block, PairBlock, Plan
from .terms import nonbonded


def _extended(values):
    """``values`` with one trailing zero: the slot of every absent optional field."""
    return jnp.concatenate([jnp.asarray(values, dtype=float), np.zeros(1)])


# Constants inside traced code are NumPy arrays on purpose: JAX 0.10 evaluates
# ``jnp.zeros``/``jnp.eye`` (and ``jax.jacfwd``'s basis) of static shapes eagerly while
# tracing, compiling one small program per shape and probing the persistent cache for
# each — about a hundred of them for the Rh-enamide objective (the package README's
# Derivatives section has the time this cost).


def _jacobian(f, y, has_aux: bool = False):
    """``jax.jacfwd(f)(y)`` (and ``f``'s auxiliary output) from pushforwards along a
    NumPy basis."""
    basis = np.eye(y.size).reshape((y.size, *y.shape))

    def along(tangent):
        return jax.jvp(f, (y,), (tangent,), has_aux=has_aux)

    if has_aux:
        _value, tangents, aux = jax.vmap(along, out_axes=(None, -1, None))(basis)
    else:
        _value, tangents = jax.vmap(along, out_axes=(None, -1))(basis)
    jacobian = tangents.reshape(tangents.shape[:-1] + y.shape)
    return (jacobian, aux) if has_aux else jacobian


def _hessian_of(f, y, *args):
    """Second derivatives of scalar ``f`` in ``y``: forward over forward mode."""
    return _jacobian(lambda v: _jacobian(lambda u: f(u, *args), v), y)


def _hessian_reverse(f, y, *args):
    """Forward over reverse mode (what ``jax.hessian`` does)."""
    return _jacobian(jax.grad(lambda v: f(v, *args)), y)


def _terms(plan: Plan):
    """Per block: the block and the energy of one entry as a function of its points
    (the scaled sum over the entry's rows), taking the entry's arguments
    (``block.arguments``)."""
    for block in plan.blocks:
        energy = _switched(block.family, plan.switch)

        def local(x, p, c, s, energy=energy):
            if s.shape[0] == 1:  # one row: no vmap, which costs tracing time
                return s[0] * energy(x, p[0], c[0], plan.conventions)
            rows = jax.vmap(lambda p, c: energy(x, p, c, plan.conventions))(p, c)
            return jnp.sum(s * rows)

        yield block, local


#: Entries evaluated per step of a block evaluated in chunks (:func:`_in_chunks`).
CHUNK = 4096


def _in_chunks(block: Block | PairBlock, step, carry):
    """``carry = step(part, carry)`` over a block's entries: at once, or — a block of
    at least 8 · :data:`CHUNK` entries, the pairs of a neighbour list — one chunk of
    entries after another in a ``lax.scan``, the remainder after it. Evaluated at
    once, a block's per-entry intermediates (points, parameters, derivatives) outgrew
    the caches and the time per pair of the jax-md engine grew with the number of
    pairs; by chunks it stays flat, and energy + gradient ran 3× faster at 200,000
    to 1 million pairs (the jax-md README's scaling section; chunks of 2,048 to
    16,384 entries measured, on CPU). Every fitted structure's blocks are far smaller
    and are evaluated at once."""
    whole = len(block) // CHUNK
    if whole < 8:
        return step(block, carry)
    entries, cut = block.entry_arrays(), whole * CHUNK
    chunks = [a[:cut].reshape(whole, CHUNK, *a.shape[1:]) for a in entries]
    carry, _ = jax.lax.scan(lambda c, part: (step(block.with_entry_arrays(part), c), None), carry, chunks)
    if cut < len(block):
        carry = step(block.with_entry_arrays([a[cut:] for a in entries]), carry)
    return carry


def _switched(family, switch):
    """The family's energy, times the cutoff switch of its two points' distance where
    the plan has a cutoff and the family is a pair interaction (``Family.cutoff``)."""
    if switch is None or not family.cutoff:
        return family.energy

    def energy(x, p, c, conventions):
        return family.energy(x, p, c, conventions) * nonbonded.switch(distance(x[0], x[1]), *switch)

    return energy


def _relative(local):
    """``local`` as a function of y = x[1:] − x[0]. Every term is translation
    invariant, so it needs only these 3(k − 1) coordinates: a bond's Hessian costs 9
    second derivatives instead of 36, a torsion's 81 instead of 144, and in a periodic
    cell y comes straight from minimum images (:func:`_relative_points`)."""

    def f(y, *args):
        return local(jnp.concatenate([np.zeros((1, 3)), y]), *args)

    return f


def _gradient_to_points(gy):
    """∂E/∂x from ∂E/∂y for one entry: (k − 1, 3) → (k, 3)."""
    return jnp.concatenate([-jnp.sum(gy, axis=0, keepdims=True), gy])


def _hessian_to_points(hy):
    """∂²E/∂x² from ∂²E/∂y²: (k − 1, 3, k − 1, 3) → (k, 3, k, 3)."""
    rows = jnp.concatenate([-jnp.sum(hy, axis=0, keepdims=True), hy], axis=0)
    return jnp.concatenate([-jnp.sum(rows, axis=2, keepdims=True), rows], axis=2)


def _centres(plan: Plan, values_ext, coordinates):
    """(vdW centres, f per atom, partner per atom) over the flattened atoms; the atoms
    themselves when the plan has no reduced centre or no vdW term."""
    if plan.reduction is None or not any(b.family.centres for b in plan.blocks):
        return coordinates, None, None
    red = plan.reduction
    f = red.factor.read(values_ext)
    anchor = coordinates[red.partner]
    bond = coordinates - anchor
    if plan.box is not None:
        bond = minimum_image(bond, plan.box)
    return anchor + f[:, None] * bond, f, red.partner


def _relative_points(plan: Plan, block: Block | PairBlock, coordinates, centres):
    """y = x[1:] − x[0] of a block's entries, (entries, arity − 1, 3). In a periodic
    cell each step between consecutive points is its minimum image (an entry's atoms
    are a chain: a bond, an angle, a torsion, a pair) and y sums the steps, so a term
    crossing the cell's faces — a framework bond, a pair across the boundary — sees
    its atoms together. Every path (energy, gradient, Hessian) evaluates entries on y,
    the energy too: a pair's distance in a cell is then the norm of its minimum-image
    step itself, not of the step added to its first point and subtracted again."""
    points = (centres if block.family.centres else coordinates)[block.atoms]
    if plan.box is None:
        return points[:, 1:] - points[:, :1]
    steps = minimum_image(points[:, 1:] - points[:, :-1], plan.box)
    return steps if steps.shape[1] == 1 else jnp.cumsum(steps, axis=1)


def _flat(coordinates):
    """(structures, width, 3) → (structures · width, 3), the layout term atoms index."""
    coordinates = jnp.asarray(coordinates)
    return coordinates.reshape(-1, 3)


def _per_structure(plan: Plan, block: Block | PairBlock, entries):
    """Sum of per-entry values by structure, (structures,)."""
    if plan.n_structures == 1:
        return jnp.sum(entries)[None]
    return jax.ops.segment_sum(entries, block.atoms[:, 0] // plan.width, plan.n_structures)


def _gradient_to_atoms(g_atoms, g_centres, f, partner):
    """g_x = Rᵀ g_c added to the atom-space gradient."""
    if f is None:
        return g_atoms + g_centres
    return (g_atoms + f[:, None] * g_centres).at[partner].add((1.0 - f)[:, None] * g_centres)


def _structure_hessian_to_atoms(h_atoms, h_centres, f, partner):
    """One structure's H_x = Rᵀ H_c R added to its atom-space Hessian,
    R = diag(f) + (1 − f) · [partner]; (n, 3, n, 3) layout, as assembled."""
    right = (
        (h_centres * f[None, None, :, None])
        .at[:, :, partner, :]
        .add(h_centres * (1.0 - f)[None, None, :, None])
    )
    return (h_atoms + right * f[:, None, None, None]).at[partner].add(right * (1.0 - f)[:, None, None, None])


def _hessian_to_atoms(plan: Plan, h_atoms, h_centres, f, partner):
    """Atom-space Hessians (structures, 3 width, 3 width) from the assembled
    (structures · width, 3, width, 3) atom and centre parts."""
    b, w = plan.n_structures, plan.width
    shape = (b, w, 3, w, 3)
    if f is None:
        h = h_atoms + h_centres
    else:
        h = jax.vmap(_structure_hessian_to_atoms)(
            h_atoms.reshape(shape), h_centres.reshape(shape), f.reshape(b, w), (partner % w).reshape(b, w)
        )
    return h.reshape(b, 3 * w, 3 * w)


def _scatter_hessian(plan: Plan, out, block: Block | PairBlock, blocks):
    """Add (m, k, 3, k, 3) local Hessians into the (structures · width, 3, width, 3)
    one — rows by flattened atom, columns by atom within its structure — one 3×3
    atom-pair window per update: nine times fewer scatter indices than element by
    element, and faster (the package README's Performance section)."""
    atoms = block.atoms
    columns = atoms % plan.width
    return out.at[atoms[:, :, None], :, columns[:, None, :], :].add(blocks.transpose(0, 1, 3, 2, 4))


def _zero_hessian(plan: Plan, coordinates):
    return jnp.zeros((plan.n_structures * plan.width, 3, plan.width, 3), dtype=coordinates.dtype)


def energy(plan: Plan, values, coordinates):
    """Total MM energy of each structure (kcal/mol)."""
    values_ext = _extended(values)
    x = _flat(coordinates)
    centres, _, _ = _centres(plan, values_ext, x)
    total = np.zeros(plan.n_structures)
    for block, local in _terms(plan):
        relative = _relative(local)

        def step(part, total, relative=relative):
            points = _relative_points(plan, part, x, centres)
            return total + _per_structure(plan, part, jax.vmap(relative)(points, *part.arguments(values_ext)))

        total = _in_chunks(block, step, total)
    return total


@jax.jit
def term_energies(plan: Plan, values, coordinates) -> dict[str, jax.Array]:
    """Energy of each entry (the terms on one atom tuple) by family, for comparison
    with other programs (Tinker's ``analyze``); jitted, as tests call it directly."""
    values_ext = _extended(values)
    x = _flat(coordinates)
    centres, _, _ = _centres(plan, values_ext, x)
    return {
        block.kind: jax.vmap(_relative(local))(
            _relative_points(plan, block, x, centres), *block.arguments(values_ext)
        )
        for block, local in _terms(plan)
    }


def energy_gradient(plan: Plan, values, coordinates):
    """Energies and ∂E/∂x (kcal/(mol·Å)) in one pass over the terms, from per-entry
    reverse-mode gradients: one backward pass over an entry's ≤ 9 relative
    coordinates, where forward mode needs one pass per coordinate (the package
    README's Performance section compares the two)."""
    values_ext = _extended(values)
    x = _flat(coordinates)
    centres, f, partner = _centres(plan, values_ext, x)
    e = np.zeros(plan.n_structures)
    out = {False: jnp.zeros_like(centres), True: jnp.zeros_like(centres)}
    for block, local in _terms(plan):
        relative = _relative(local)

        def value_and_gradient(y, *a, relative=relative):
            value, g = jax.value_and_grad(relative)(y, *a)
            return value, _gradient_to_points(g)

        def step(part, carry, value_and_gradient=value_and_gradient):
            e, out = carry
            points = _relative_points(plan, part, x, centres)
            value, g = jax.vmap(value_and_gradient)(points, *part.arguments(values_ext))
            return e + _per_structure(plan, part, value), out.at[part.atoms].add(g)

        space = block.family.centres
        e, out[space] = _in_chunks(block, step, (e, out[space]))
    return e, _gradient_to_atoms(out[False], out[True], f, partner).reshape(jnp.shape(coordinates))


def gradient(plan: Plan, values, coordinates):
    """∂E/∂x alone (see :func:`energy_gradient`)."""
    return energy_gradient(plan, values, coordinates)[1]


def _cotangent_to_relative(gx):
    """D Ḡ Dᵀ for y = D x: a cotangent of the (k, 3, k, 3) point Hessian as one of
    the (3(k − 1), 3(k − 1)) relative one (the transpose of :func:`_hessian_to_points`)."""
    rows = gx[1:] - gx[:1]
    g = rows[:, :, 1:] - rows[:, :, :1]
    m = 3 * g.shape[0]
    return g.reshape(m, m)


def _local_hessian(local, family):
    """One entry's Hessian in its points, with a reverse rule that never
    differentiates the 3(k − 1)² second derivatives one by one.

    The cotangent of a Hessian enters only through ⟨Ḡ, H⟩ = Σᵢ D²E[eᵢ, Ḡ eᵢ]
    (Ḡ in relative coordinates): 3(k − 1) mixed second directional derivatives.
    Its gradient with respect to parameters and coordinates is that scalar's
    ordinary gradient — a few times the cost of the Hessian itself, where reverse
    mode through the forward-over-forward Hessian costs several times more
    (eigenmatrix and frequency fits differentiate the Hessian at every step)."""
    relative = _relative(local)

    @jax.custom_vjp
    def h(y, p, c, s):
        second = _hessian_of if family.forward_hessian else _hessian_reverse
        return _hessian_to_points(second(relative, y, p, c, s))

    def forward(y, p, c, s):
        return h(y, p, c, s), (y, p, c, s)

    def backward(residuals, gx):
        y, p, c, s = residuals
        gy = _cotangent_to_relative(gx)

        def contracted(y, p):
            def flat(v):
                return relative(v.reshape(y.shape), p, c, s)

            def second(e, g):
                return jax.jvp(lambda v: jax.jvp(flat, (v,), (e,))[1], (y.ravel(),), (g,))[1]

            return jnp.sum(jax.vmap(second)(np.eye(gy.shape[0]), gy.T))

        y_bar, p_bar = jax.grad(contracted, argnums=(0, 1))(y, p)
        return y_bar, p_bar, jnp.zeros_like(c), jnp.zeros_like(s)

    h.defvjp(forward, backward)
    return h


def hessian(plan: Plan, values, coordinates):
    """∂²E/∂x² (kcal/(mol·Å²)) of each structure, assembled from per-entry local
    Hessians (forward over forward mode in relative coordinates)."""
    values_ext = _extended(values)
    x = _flat(coordinates)
    centres, f, partner = _centres(plan, values_ext, x)
    out = {space: _zero_hessian(plan, x) for space in (False, True)}
    for block, local in _terms(plan):
        local_hessian = _local_hessian(local, block.family)

        def step(part, out, local_hessian=local_hessian):
            points = _relative_points(plan, part, x, centres)
            h = jax.vmap(local_hessian)(points, *part.arguments(values_ext))
            return _scatter_hessian(plan, out, part, h)

        space = block.family.centres
        out[space] = _in_chunks(block, step, out[space])
    return _hessian_to_atoms(plan, out[False], out[True], f, partner)


def energy_gradient_hessian(plan: Plan, values, coordinates):
    """All three in one pass over the terms (what a Newton step needs); second
    derivatives forward over reverse, or forward over forward for the families that
    measured faster that way (``Family.forward_hessian``)."""
    values_ext = _extended(values)
    x = _flat(coordinates)
    centres, f, partner = _centres(plan, values_ext, x)
    e = np.zeros(plan.n_structures)
    g = {space: jnp.zeros_like(x) for space in (False, True)}
    h = {space: _zero_hessian(plan, x) for space in (False, True)}
    for block, local in _terms(plan):
        relative = _relative(local)

        def derivatives(y, *a, relative=relative, forward=block.family.forward_hessian):
            def first(y):
                if forward:
                    tangent = _jacobian(lambda u: relative(u, *a), y)
                    return tangent, (relative(y, *a), tangent)
                value, tangent = jax.value_and_grad(relative)(y, *a)
                return tangent, (value, tangent)

            hess, (value, grad) = _jacobian(first, y, has_aux=True)
            return value, _gradient_to_points(grad), _hessian_to_points(hess)

        def step(part, carry, derivatives=derivatives):
            e, g, h = carry
            points = _relative_points(plan, part, x, centres)
            value, grad, hess = jax.vmap(derivatives)(points, *part.arguments(values_ext))
            e = e + _per_structure(plan, part, value)
            return e, g.at[part.atoms].add(grad), _scatter_hessian(plan, h, part, hess)

        space = block.family.centres
        e, g[space], h[space] = _in_chunks(block, step, (e, g[space], h[space]))
    return (
        e,
        _gradient_to_atoms(g[False], g[True], f, partner).reshape(jnp.shape(coordinates)),
        _hessian_to_atoms(plan, h[False], h[True], f, partner),
    )


def whole_hessian(plan: Plan, values, coordinates):
    """``jax.hessian`` of the total energy, the reference the local assembly is tested
    and benchmarked against (engine option ``hessian="whole"``). Same layout and units
    as :func:`hessian`. Structures are independent, so one pushforward of the gradient
    along coordinate k of every structure at once gives column k of each structure's
    Hessian: 3 · width forward-over-reverse passes for the whole batch."""
    coordinates = jnp.asarray(coordinates)
    b, w = plan.n_structures, plan.width
    grad = jax.grad(lambda x: jnp.sum(energy(plan, values, x)))
    basis = np.broadcast_to(np.eye(3 * w).reshape(3 * w, 1, w, 3), (3 * w, b, w, 3))
    columns = jax.vmap(lambda t: jax.jvp(grad, (coordinates,), (t,))[1])(basis)  # (3w, b, w, 3)
    return jnp.moveaxis(columns.reshape(3 * w, b, 3 * w), 0, -1)


def whole_energy_gradient_hessian(plan: Plan, values, coordinates):
    """:func:`energy_gradient_hessian` with :func:`whole_hessian`."""
    e, g = energy_gradient(plan, values, coordinates)
    return e, g, whole_hessian(plan, values, coordinates)


#: Hessian assemblies by engine option: (Hessian, energy-gradient-Hessian).
ASSEMBLIES = {
    "local": (hessian, energy_gradient_hessian),
    "whole": (whole_hessian, whole_energy_gradient_hessian),
}
