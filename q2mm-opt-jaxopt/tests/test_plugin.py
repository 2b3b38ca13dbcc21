"""The plugin: registered through the entry point, listed without importing JAX,
every optimizer requiring a traceable objective, bad options refused by name."""

from __future__ import annotations

import subprocess
import sys

import pytest
from q2mm.errors import ConfigError
from q2mm.plugins import registry

NAMES = {
    "jaxopt:lbfgs",
    "jaxopt:lbfgsb",
    "jaxopt:gradient-descent",
    "optax:adam",
    "optax:adamw",
    "optax:sgd",
    "optax:lbfgs",
    "jax:multistart",
}


def test_listing_plugins_imports_no_jax_jaxopt_or_optax():
    code = (
        "import sys\n"
        "from q2mm.plugins import Registry\n"
        "records = Registry.discover().records('optimizer')\n"
        "assert any(r.distribution == 'q2mm-opt-jaxopt' for r in records)\n"
        "heavy = sorted(m for m in ('jax', 'jaxopt', 'optax') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == ""


def test_every_optimizer_is_registered_and_requires_a_traceable_objective():
    records = {r.name: r for r in registry().records("optimizer") if r.distribution == "q2mm-opt-jaxopt"}
    assert set(records) == NAMES
    for name, record in records.items():
        assert record.capabilities == frozenset({"traceable"})
        optimizer = record.create()
        assert optimizer.name == name
        assert optimizer.requires == frozenset({"traceable"})


@pytest.mark.parametrize(
    ("name", "options", "fragment"),
    [
        ("optax:adam", {"schedule": "linear"}, "unknown schedule 'linear'"),
        ("optax:sgd", {"momentum": 1.5}, "momentum"),
        ("jaxopt:lbfgs", {"max_iterations": 0}, "max_iterations"),
        ("jaxopt:gradient-descent", {"decrease_factor": 1.0}, "decrease_factor"),
        ("jax:multistart", {"mode": "parallel"}, "unknown mode 'parallel'"),
        ("jax:multistart", {"inner": "scipy:lbfgsb"}, "runs in-JIT optimizers"),
        ("jax:multistart", {"starts": 0}, "starts must be at least 1"),
    ],
)
def test_bad_options_are_refused_by_name(name, options, fragment):
    with pytest.raises(ConfigError, match=fragment):
        registry().create("optimizer", name, **options)


def test_schedules_build_the_learning_rates_they_name():
    """cosine decays to final_fraction × rate over decay_steps; exponential multiplies
    by decay_rate every decay_steps (continuous)."""
    constant = registry().create("optimizer", "optax:adam", learning_rate=0.1).method.rate()
    cosine = (
        registry()
        .create(
            "optimizer",
            "optax:adam",
            learning_rate=0.1,
            schedule="cosine",
            decay_steps=100,
            final_fraction=0.1,
        )
        .method.rate()
    )
    exponential = (
        registry()
        .create(
            "optimizer",
            "optax:sgd",
            learning_rate=0.1,
            schedule="exponential",
            decay_steps=10,
            decay_rate=0.5,
        )
        .method.rate()
    )
    assert constant == 0.1
    assert float(cosine(0)) == pytest.approx(0.1)
    assert float(cosine(50)) == pytest.approx(0.1 * (0.1 + 0.9 * 0.5))
    assert float(cosine(100)) == pytest.approx(0.01)
    assert float(exponential(20)) == pytest.approx(0.1 * 0.25)
