"""Executors side by side on OpenMM's finite-difference work, all in one run: serial,
``processes`` and ``dask`` (a LocalCluster), on 1 and 2 workers.

1. one finite-difference gradient of the Rh-enamide objective (the example's 110
   parameters; ``--structures`` of the nine TSs, ``--terms`` of its objective):
   the steady-state time (sessions prepared, callable shipped) and the first,
   cold one; whether the gradient equals the serial one bit for bit;
2. a CH₃F multi-start (``--starts`` starts of scipy L-BFGS-B, ``--inner-iterations``
   each), whose starts fan out one task per start;
3. the bare per-task round trip of each executor (a trivial callable over 200 items).

Speed-up is serial time / time; per-task overhead is (time on 1 worker − serial
time) / tasks, as a share of the serial time too.

Run:  OPENBLAS_NUM_THREADS=1 nice .venv/bin/python benchmarks/bench_executors.py \\
          [--structures 9] [--terms eigenmatrix geometry] [--starts 100] [--inner-iterations 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import attrs
import numpy as np
from q2mm.config import load_config
from q2mm.protocols import ScalingExecutor
from q2mm.run import prepare

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: (label, executor, options, workers)
EXECUTORS = [
    ("serial", "serial", {}, 1),
    ("processes 1", "processes", {"max_workers": 1}, 1),
    ("processes 2", "processes", {"max_workers": 2}, 2),
    ("dask 1", "dask", {"workers": 1}, 1),
    ("dask 2", "dask", {"workers": 2}, 2),
]


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def rh_gradient(args, output: Path) -> None:
    cfg = load_config(EXAMPLES / "rh-enamide" / "q2mm.toml")
    terms = tuple(o for o in cfg.objective if o.kind in args.terms)
    cfg = attrs.evolve(cfg, engine="openmm", output=output, structures=cfg.structures[: args.structures])
    cfg = attrs.evolve(cfg, objective=terms)
    print(f"Rh-enamide FD gradient: {args.structures} structure(s), terms {', '.join(args.terms)}")
    serial = None
    for label, name, options, workers in EXECUTORS:
        prepared = prepare(attrs.evolve(cfg, executor=name, executor_options=options))
        x = prepared.space.x0
        cold, _ = timed(lambda prepared=prepared, x=x: prepared.objective.value_and_grad(x * (1 + 1e-7)))
        seconds, (_, grad) = timed(lambda prepared=prepared, x=x: prepared.objective.value_and_grad(x))
        points = prepared.counters.evaluations // 2 - 1  # two gradients, each base + stencil
        tasks = 1 if name == "serial" else _tasks(prepared, points)
        prepared.executor.shutdown()
        serial = serial or (seconds, grad, points)
        same = "bit-identical" if np.array_equal(grad, serial[1]) else "DIFFERS"
        line = f"  {label:<12} {seconds:8.2f} s  ×{serial[0] / seconds:5.2f}  (cold {cold:6.2f} s)  {same}"
        if workers == 1 and name != "serial":
            overhead, share = (seconds - serial[0]) / tasks, 100 * (seconds / serial[0] - 1)
            line += f"  {tasks} tasks, {1e3 * overhead:+.1f} ms/task ({share:+.1f} %)"
        print(line, flush=True)
    print(f"  ({serial[2]} displaced points per gradient)")


def _tasks(prepared, points: int) -> int:
    """Tasks one map of the finite-difference path made (the chunk count)."""
    executor = prepared.executor
    default = executor.parallelism() if isinstance(executor, ScalingExecutor) else os.cpu_count()
    return min(points, default)


def ch3f_multistart(args, output: Path) -> None:
    cfg = load_config(EXAMPLES / "ch3f" / "q2mm.toml")
    options = {"starts": args.starts, "inner_options": {"max_iterations": args.inner_iterations}}
    cfg = attrs.evolve(cfg, engine="openmm", output=output, optimizer="multistart", optimizer_options=options)
    print(f"CH3F multi-start: {args.starts} starts, L-BFGS-B ≤ {args.inner_iterations} iterations each")
    serial = None
    for label, name, opts, workers in EXECUTORS:
        prepared = prepare(attrs.evolve(cfg, executor=name, executor_options=opts))
        seconds, result = timed(
            lambda p=prepared: p.optimizer.minimize(p.objective, p.space.x0, p.space.bounds)
        )
        prepared.executor.shutdown()
        serial = serial or (seconds, result.score)
        same = "bit-identical" if result.score == serial[1] else "DIFFERS"
        line = f"  {label:<12} {seconds:8.2f} s  ×{serial[0] / seconds:5.2f}  best {result.score:.6g}  {same}"
        if workers == 1 and name != "serial":
            line += f"  {1e3 * (seconds - serial[0]) / args.starts:+.1f} ms/start"
        print(line, flush=True)


def round_trip(output: Path) -> None:
    from q2mm.plugins import registry

    print("bare round trip: map(abs) over 200 items (first map excluded)")
    for label, name, options, _ in EXECUTORS:
        executor = registry().create("executor", name, **options)
        list(executor.map(abs, range(200)))
        seconds, _ = timed(lambda executor=executor: list(executor.map(abs, range(200))))
        executor.shutdown()
        print(f"  {label:<12} {1e3 * seconds / 200:8.3f} ms/task")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--structures", type=int, default=9)
    parser.add_argument("--terms", nargs="+", default=["eigenmatrix", "geometry"])
    parser.add_argument("--starts", type=int, default=100)
    parser.add_argument("--inner-iterations", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        round_trip(Path(tmp))
        rh_gradient(args, Path(tmp) / "rh")
        ch3f_multistart(args, Path(tmp) / "ch3f")


if __name__ == "__main__":
    main()
