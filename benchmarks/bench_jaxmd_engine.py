"""Benchmark of the jax-md engine against the JAX engine's all-pairs evaluation.

    .venv/bin/python benchmarks/bench_jaxmd_engine.py [--sizes 48 200 504 1000 2000 5000]
        [--cutoff 8.0] [--all-pairs-limit 2000] [--repeats 3]

The system is a lattice of ethane molecules 4.2 Å apart (a liquid-like density),
harmonic form — Lennard-Jones, point charges, 1-4 scaling and every bonded family of
the JAX engine tests' ethane (q2mm-engine-jax/tests/conftest.py) — replicated by this
script: each copy's terms and its own pairs with their scales, and every pair between
copies at scale 1 (the ``Nonbonded`` contract). MM3's bond dipoles are left out: the
engine evaluates dipole interactions over all pairs (its README says why).

For each size: energy, energy + gradient and a Hessian-vector product (forward over
the reverse-mode gradient) of one compiled program per engine, best of ``repeats``
runs after a warm-up (compile time separate): the JAX engine's plan (all pairs), and
the jax-md engine's plan at a ``cutoff`` with a 1 Å switch (its neighbour list built
once, outside the timing). The all-pairs column stops at ``--all-pairs-limit`` atoms
(its N² pairs outgrow memory and time on a shared 2-core machine). Prints the
crossover size and the exponent b of t ∝ N^b fitted to each column's energy + gradient
over sizes ≥ 200 atoms.
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


def replicated(copies: int) -> MMSystem:
    """``copies`` ethanes on a cubic lattice, one MMSystem."""
    terms, one, _ = _ethane()
    n, nb = one.molecule.n_atoms, one.nonbonded
    side = int(np.ceil(copies ** (1 / 3)))
    offsets = np.array(list(itertools.product(range(side), repeat=3))[:copies], dtype=float) * SPACING
    x = (one.molecule.coordinates - one.molecule.coordinates.mean(0))[None] + offsets[:, None]
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
    total = n * copies
    i, j = np.triu_indices(total, 1)
    between = (i // n) != (j // n)
    intra = (nb.pairs[None] + shift[..., None]).reshape(-1, 2)
    pairs = np.concatenate([intra, np.stack([i[between], j[between]], axis=1)])
    ones = np.ones(int(between.sum()))
    partner = np.where(nb.reduction_partner >= 0, nb.reduction_partner, -1)
    nonbonded = Nonbonded(
        np.tile(nb.vdw_slots, (copies, 1)),
        np.where(np.tile(partner, copies) >= 0, np.tile(partner, copies) + np.repeat(shift[:, 0], n), -1),
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
    return MMSystem(molecule, one.form, one.conventions, joined, nonbonded, n_parameters=one.n_parameters)


_E = jax.jit(energy.energy)
_EG = jax.jit(energy.energy_gradient)


@jax.jit
def _hvp(plan, values, x, t):
    return jax.jvp(lambda y: energy.gradient(plan, values, y), (x,), (t,))[1]


def _time(fn, repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - start
    best = min(_timed(fn) for _ in range(repeats))
    return first, best


def _timed(fn):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def measure(plan, values, x, repeats):
    t = np.random.default_rng(0).normal(size=x.shape)
    return {
        "energy": _time(lambda: _E(plan, values, x), repeats),
        "energy+gradient": _time(lambda: _EG(plan, values, x), repeats),
        "hvp": _time(lambda: _hvp(plan, values, x, t), repeats),
    }


def exponent(sizes, times):
    keep = [(n, t) for n, t in zip(sizes, times, strict=True) if n >= 200 and t is not None]
    if len(keep) < 2:
        return float("nan")
    n, t = np.log(np.array(keep)).T
    return float(np.polyfit(n, t, 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 200, 504, 1000, 2000, 5000])
    parser.add_argument("--cutoff", type=float, default=8.0)
    parser.add_argument("--all-pairs-limit", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    _, _, values = _ethane()
    jaxmd = JaxMdEngine(cutoff=args.cutoff, switch=1.0)
    print(f"cutoff {args.cutoff} Å, switch 1 Å, skin 1 Å; times in ms (compile+first run in parentheses)")
    print(f"{'atoms':>6} {'pairs':>9} {'listed':>8} | {'quantity':<16} {'all pairs':>20} {'jax-md':>20}")
    rows = {"all": [], "md": []}
    sizes = []
    for size in args.sizes:
        system = replicated(max(1, round(size / 8)))
        n = system.molecule.n_atoms
        x = np.asarray(system.molecule.coordinates)[None]
        session = jaxmd.prepare(system)
        md = measure(session.plan_at(x[0]), values, x, args.repeats)
        listed = session.neighbours.capacity
        full = None
        if n <= args.all_pairs_limit:
            full = measure(JaxEngine().prepare(system).plan, values, x, args.repeats)
        sizes.append(n)
        rows["md"].append(md["energy+gradient"][1])
        rows["all"].append(full["energy+gradient"][1] if full else None)
        for k, q in enumerate(md):
            a = f"{1e3 * full[q][1]:9.2f} ({full[q][0]:6.1f}s)" if full else f"{'—':>20}"
            head = f"{n:>6} {len(system.nonbonded.pairs):>9} {listed:>8}" if k == 0 else " " * 26
            print(f"{head} | {q:<16} {a:>20} {1e3 * md[q][1]:9.2f} ({md[q][0]:6.1f}s)", flush=True)
    cross = next((n for n, a, m in zip(sizes, rows["all"], rows["md"], strict=True) if a and m < a), None)
    print(f"crossover (jax-md energy+gradient faster): {cross if cross else 'not reached'} atoms")
    b_all, b_md = exponent(sizes, rows["all"]), exponent(sizes, rows["md"])
    print(f"scaling exponent b (t ∝ N^b, energy+gradient, N ≥ 200): all pairs {b_all:.2f}, jax-md {b_md:.2f}")


if __name__ == "__main__":
    main()
