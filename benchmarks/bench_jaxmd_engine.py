"""Benchmark of the jax-md engine against the JAX engine's all-pairs evaluation.

    .venv/bin/python benchmarks/bench_jaxmd_engine.py [--sizes 48 200 504 1000 2000 5000]
        [--cutoff 8.0] [--all-pairs-limit 2500] [--repeats 3]

The system is ethane molecules on an orthorhombic a × b × c lattice 4.2 Å apart (a
liquid-like density), harmonic form — Lennard-Jones, point charges, 1-4 scaling and
every bonded family of the JAX engine tests' ethane (q2mm-engine-jax/tests/conftest.py)
— replicated by this script. Each requested size becomes the near-cubic lattice
(c ≤ a + 1) with the nearest atom count: 64, 216, 512, 1000, 2016 and 5184 atoms for
the default sizes (a periodic cell must be a whole lattice). MM3's bond dipoles are
left out: the engine evaluates dipole interactions over all pairs (its README says why).

Three columns, one compiled program each:

- ``all pairs``: the JAX engine's plan of the lattice as a free-space cluster, every
  pair, up to ``--all-pairs-limit`` atoms (its N² pairs outgrow memory and time on a
  shared 2-core machine).
- ``jax-md box``, the main column: the lattice as the cell of a periodic system (box =
  the lattice's edges, minimum images), pairs from the neighbour list at ``--cutoff``
  with a 1 Å switch. Periodic because its density is the same everywhere and it has
  no surface: every atom has the same neighbours at every size, so the pairs within
  the cutoff grow as N, which is the scaling a neighbour list can deliver. Minimum
  images need every edge longer than twice the cutoff, so at 8 Å this column starts
  at 512 atoms (16.8 Å edges).
- ``jax-md free``: the free-space cluster with the same cutoff. An atom near the
  surface of a cluster has fewer neighbours and the share of such atoms falls with
  size, so its pairs within the cutoff grow faster than N (N^1.3 up to 1000 atoms):
  this column mixes the list's scaling with the cluster's shape. It gives the
  crossover at sizes too small for the box.

For each size: energy, energy + gradient and a Hessian-vector product (forward over
the reverse-mode gradient) on a fixed plan, best of ``repeats`` runs after a warm-up
(compile + first run in parentheses). Set-up stays outside those timings and is
printed per size: the system (the ``Nonbonded`` contract lists every pair, N² rows:
13 million at 5184 atoms), each engine's session and its first neighbour list.
``plan`` is what the engine's session methods add per call at coordinates their list
still covers, outside ``jit``: the list's update (the plan itself is reused); a new
list's pair blocks are in the set-up. Per size, the jax-md columns' time per listed
pair (the list's capacity); at the end the crossover size (the first size where a
jax-md column's energy + gradient beats all pairs) and the exponent b of t ∝ N^b
fitted to every column over the sizes ≥ 200 atoms it has.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import time
from pathlib import Path

import jax
import numpy as np
from q2mm.model import FunctionalForm, MMSystem, Molecule, Nonbonded, TermSet
from q2mm_engine_jax import energy
from q2mm_engine_jax.engine import JaxEngine
from q2mm_engine_jaxmd.engine import JaxMdEngine

ROOT = Path(__file__).resolve().parents[1]
SPACING = 4.2
SWITCH = 1.0
COLUMNS = ("all pairs", "jax-md free", "jax-md box")
QUANTITIES = ("energy", "energy+gradient", "hvp", "plan")


def _ethane():
    spec = importlib.util.spec_from_file_location(
        "systems", ROOT / "q2mm-engine-jax" / "tests" / "conftest.py"
    )
    systems = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(systems)
    molecule, bonds = systems.read_mol2(ROOT / "data" / "ethane" / "GS.mol2")
    ff = systems.ethane_forcefield(FunctionalForm.HARMONIC)
    system = systems.ethane_system(molecule, bonds, ff)
    return {k: t for k, t in system.terms.items() if k != "dipole"}, system, ff.vector()


def lattice_shape(atoms: int, per_copy: int) -> tuple[int, int, int]:
    """The lattice (a, a, a), (a, a, a + 1) or (a, a + 1, a + 1) whose atom count is
    nearest ``atoms`` (the larger on a tie)."""
    shapes = [(a, a + (k > 1), a + (k > 0)) for a in range(1, 40) for k in range(3)]
    return min(shapes, key=lambda s: (abs(per_copy * int(np.prod(s)) - atoms), -int(np.prod(s))))


def replicated(shape: tuple[int, int, int]) -> tuple[MMSystem, np.ndarray]:
    """Ethanes on the ``shape`` lattice as one MMSystem, each centred in its lattice
    cell, and the lattice's edges (Å), the box of the periodic column. Non-bonded pairs
    as ``Nonbonded`` lists them: each copy's own pairs with their scales and every pair
    of atoms in different copies at scale 1."""
    terms, one, _ = _ethane()
    n, nb = one.molecule.n_atoms, one.nonbonded
    copies = int(np.prod(shape))
    sites = np.array(list(itertools.product(*(range(s) for s in shape))), dtype=float)
    x = (one.molecule.coordinates - one.molecule.coordinates.mean(0))[None] + (sites + 0.5)[:, None] * SPACING
    shift = (np.arange(copies) * n)[:, None]
    joined = {
        k: TermSet(
            k,
            (t.atoms[None] + shift[..., None]).reshape(-1, t.atoms.shape[1]),
            np.tile(t.slots, (copies, 1)),
            t.fields,
            {c: np.tile(v, copies) for c, v in t.constants.items()},
        )
        for k, t in terms.items()
    }
    i, j = np.triu_indices(n * copies, 1)
    between = (i // n) != (j // n)
    intra = (nb.pairs[None] + shift[..., None]).reshape(-1, 2)
    pairs = np.concatenate([intra, np.stack([i[between], j[between]], axis=1)])
    ones = np.ones(len(pairs) - len(intra))
    partner = np.tile(nb.reduction_partner, copies)
    nonbonded = Nonbonded(
        np.tile(nb.vdw_slots, (copies, 1)),
        np.where(partner >= 0, partner + np.repeat(shift[:, 0], n), -1),
        np.tile(nb.charge_slots, copies),
        pairs,
        np.concatenate([np.tile(nb.vdw_scale, copies), ones]),
        np.concatenate([np.tile(nb.elec_scale, copies), ones]),
        -np.ones((len(pairs), 2), dtype=np.int64),
    )
    bonds = [(a + s, b + s) for s in shift[:, 0] for a, b in one.molecule.bonds or ()]
    molecule = Molecule(
        list(one.molecule.elements) * copies, x.reshape(-1, 3), name="ethane lattice", bonds=bonds
    )
    system = MMSystem(molecule, one.form, one.conventions, joined, nonbonded, n_parameters=one.n_parameters)
    return system, np.array(shape, dtype=float) * SPACING


_E = jax.jit(energy.energy)
_EG = jax.jit(energy.energy_gradient)


@jax.jit
def _hvp(plan, values, x, t):
    return jax.jvp(lambda y: energy.gradient(plan, values, y), (x,), (t,))[1]


def _timed(fn):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def _time(fn, repeats):
    """(first run, best of ``repeats`` after it) in seconds."""
    first = _timed(fn)
    return first, min(_timed(fn) for _ in range(repeats))


def measure(plan, values, x, repeats):
    t = np.random.default_rng(0).normal(size=x.shape)
    return {
        "energy": _time(lambda: _E(plan, values, x), repeats),
        "energy+gradient": _time(lambda: _EG(plan, values, x), repeats),
        "hvp": _time(lambda: _hvp(plan, values, x, t), repeats),
    }


def measure_jaxmd(engine, system, values, x, repeats):
    """Timings of a jax-md session's plan at ``x``, its neighbour list's capacity and
    the set-up seconds (session and first list)."""
    start = time.perf_counter()
    session = engine.prepare(system)
    plan = session.plan_at(x[0])
    setup = time.perf_counter() - start
    out = measure(plan, values, x, repeats)
    out["plan"] = _time(lambda: session.plan_at(x[0]), repeats)
    return out, session.neighbours.capacity, setup


def exponent(sizes, times):
    keep = [(n, t) for n, t in zip(sizes, times, strict=True) if n >= 200 and t is not None]
    if len(keep) < 2:
        return float("nan")
    n, t = np.log(np.array(keep)).T
    return float(np.polyfit(n, t, 1)[0])


def _cell(result, quantity):
    if result is None or quantity not in result:
        return f"{'—':>19}"
    first, best = result[quantity]
    return f"{1e3 * best:9.2f} ({first:5.1f}s)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 200, 504, 1000, 2000, 5000])
    parser.add_argument("--cutoff", type=float, default=8.0)
    parser.add_argument("--all-pairs-limit", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    _, one, values = _ethane()
    print(f"cutoff {args.cutoff} Å, switch {SWITCH} Å, skin 1 Å; ms, best of {args.repeats}", end="")
    print(" (compile + first run, s)")
    print(
        f"{'atoms':>6} {'pairs':>9} {'listed free/box':>16} | {'quantity':<16}"
        + "".join(f"{c:>20}" for c in COLUMNS)
    )
    sizes, table = [], {c: {q: [] for q in QUANTITIES} for c in COLUMNS}
    for size in args.sizes:
        start = time.perf_counter()
        system, edges = replicated(lattice_shape(size, one.molecule.n_atoms))
        n = system.molecule.n_atoms
        x = np.asarray(system.molecule.coordinates)[None]
        setup = {"system": time.perf_counter() - start}
        results, listed = dict.fromkeys(COLUMNS), {"jax-md free": "—", "jax-md box": "—"}
        if n <= args.all_pairs_limit:
            start = time.perf_counter()
            plan = JaxEngine().prepare(system).plan
            setup["all pairs"] = time.perf_counter() - start
            results["all pairs"] = measure(plan, values, x, args.repeats)
            del plan
        engines = {"jax-md free": JaxMdEngine(cutoff=args.cutoff, switch=SWITCH)}
        if edges.min() > 2 * args.cutoff:
            engines["jax-md box"] = JaxMdEngine(cutoff=args.cutoff, switch=SWITCH, box=edges.tolist())
        for column, engine in engines.items():
            results[column], listed[column], setup[column] = measure_jaxmd(
                engine, system, values, x, args.repeats
            )
        sizes.append(n)
        for column in COLUMNS:
            for q in QUANTITIES:
                r = results[column]
                table[column][q].append(r[q][1] if r is not None and q in r else None)
        for k, q in enumerate(QUANTITIES):
            free, box = listed["jax-md free"], listed["jax-md box"]
            head = f"{n:>6} {len(system.nonbonded.pairs):>9} {free:>7}/{box:<8}"
            print(
                f"{head if k == 0 else ' ' * len(head)} | {q:<16}"
                + "".join(_cell(results[c], q) for c in COLUMNS)
            )
        print("        set-up s: " + ", ".join(f"{k} {v:.1f}" for k, v in setup.items()))
        per_pair = [
            f"{c} " + "/".join(f"{1e6 * results[c][q][1] / listed[c]:.3f}" for q in QUANTITIES[:3])
            for c in COLUMNS[1:]
            if results[c] is not None
        ]
        print("        µs per listed pair (energy/energy+gradient/hvp): " + ", ".join(per_pair), flush=True)
    eg = {c: table[c]["energy+gradient"] for c in COLUMNS}
    for column in COLUMNS[1:]:
        cross = next(
            (n for n, a, m in zip(sizes, eg["all pairs"], eg[column], strict=True) if a and m and m < a), None
        )
        print(f"crossover ({column} energy+gradient faster than all pairs): {cross or 'not reached'} atoms")
    print("scaling exponent b (t ∝ N^b, N ≥ 200):")
    for q in QUANTITIES:
        fits = {c: exponent(sizes, table[c][q]) for c in COLUMNS}
        print(f"  {q:<16}" + "".join(f"   {c} {b:.2f}" for c, b in fits.items() if not np.isnan(b)))


if __name__ == "__main__":
    main()
