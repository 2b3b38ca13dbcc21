"""The core's NumPy test engine (harmonic bonds and angles, closed-form derivatives):
how long its MM relaxation takes with the minimizer it uses, scipy's ``trust-krylov``,
against ``trust-exact``, and the finite-difference gradient of the CH₃F objective
(eigenmatrix + geometry) serial, on two threads and on two processes — all measured
in one run, as ratios to the first.

    .venv/bin/python benchmarks/bench_harmonic_engine.py [--repeats 20]

It backs two statements in the code: the engine relaxes with ``trust-krylov``
(:mod:`q2mm.testing.harmonic_engine`), and the finite-difference path's executor
defaults to serial for small molecules (:mod:`q2mm.objective.finite_difference`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from q2mm.estimate import estimate_forcefield
from q2mm.executors import SerialExecutor
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import FunctionalForm, StationaryPoint
from q2mm.model.units import HESSIAN_AU_TO_KCALMOL_A2
from q2mm.objective import Objective
from q2mm.parameters import ParameterSpace
from q2mm.testing.harmonic_engine import HarmonicEngine
from q2mm.topology import build_system
from scipy.optimize import minimize

DATA = Path(__file__).resolve().parent.parent / "data" / "ch3f"


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def relaxation(session, values, method: str):
    x0 = session.system.molecule.coordinates
    shape = x0.shape

    def run():
        return minimize(
            lambda f: session.energy(values, f.reshape(shape)),
            x0.reshape(-1),
            jac=lambda f: session.gradient(values, f.reshape(shape)).reshape(-1),
            hess=lambda f: session.hessian(values, f.reshape(shape)) * HESSIAN_AU_TO_KCALMOL_A2,
            method=method,
            options={"gtol": 1e-7, "maxiter": 500},
        )

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    molecule = read_bundle(DATA / "ch3f-optimized.xyz", hessian=DATA / "ch3f-hessian.npy").with_(
        stationary_point=StationaryPoint.GROUND_STATE, name="ch3f"
    )
    forcefield = estimate_forcefield([molecule], form=FunctionalForm.HARMONIC)
    system = build_system(molecule, forcefield)
    space = ParameterSpace.from_forcefield(forcefield)
    x = np.array(space.x0) * 1.03
    session = HarmonicEngine().prepare(system)
    values = space.expand(x)

    print("MM relaxation of CH3F (harmonic, 3 % off the estimate), median of", args.repeats)
    krylov = median_seconds(relaxation(session, values, "trust-krylov"), args.repeats)
    for method in ("trust-krylov", "trust-exact"):
        seconds = median_seconds(relaxation(session, values, method), args.repeats)
        print(f"  {method:<14} {1e3 * seconds:8.2f} ms  ×{seconds / krylov:.2f}")

    print("finite-difference gradient of the CH3F objective (eigenmatrix + geometry)")
    baseline = None
    with ThreadPoolExecutor(2) as threads, ProcessPoolExecutor(2) as processes:
        for label, executor in (
            ("serial", SerialExecutor()),
            ("2 threads", threads),
            ("2 processes", processes),
        ):
            objective = Objective.build([molecule], [system], HarmonicEngine(), space, executor=executor)
            objective.value_and_grad(x)  # warm: pools started, sessions prepared

            def gradient(objective=objective):
                objective.value_and_grad(x * (1.0 + 1e-9 * np.random.default_rng().random()))

            seconds = median_seconds(gradient, args.repeats)
            baseline = baseline or seconds
            print(f"  {label:<14} {1e3 * seconds:8.2f} ms  ×{seconds / baseline:.2f}")


if __name__ == "__main__":
    main()
