"""Entry point ``q2mm: jaxopt``. Stays light: listing plugins must not import JAX,
jaxopt or optax, so this module only names the factories; they load on use.

Every record's capabilities say what the optimizer requires of the objective:
``traceable`` (an engine that hands out pure JAX functions), so ``q2mm run`` refuses
a non-traceable engine before it reads a file.
"""

import q2mm
from q2mm.plugins import PLUGIN_API_VERSION, PluginRecord

Q2MM_PLUGIN_API = PLUGIN_API_VERSION

_MODULE = "q2mm_opt_jaxopt.optimizers"

_RECORDS = (
    ("jaxopt:lbfgs", "JaxoptLBFGS", "jaxopt L-BFGS in JIT; bounds by a sigmoid/softplus transform"),
    ("jaxopt:lbfgsb", "JaxoptLBFGSB", "jaxopt L-BFGS-B in JIT; native box bounds"),
    (
        "jaxopt:gradient-descent",
        "JaxoptGradientDescent",
        "projected gradient descent (Barzilai-Borwein step, jaxopt Armijo line search) in JIT",
    ),
    ("optax:adam", "OptaxAdam", "optax Adam in JIT with a learning-rate schedule; bounds by projection"),
    ("optax:adamw", "OptaxAdamW", "optax AdamW in JIT with a learning-rate schedule; bounds by projection"),
    ("optax:sgd", "OptaxSGD", "optax SGD (momentum optional) in JIT with a schedule; bounds by projection"),
    ("optax:lbfgs", "OptaxLBFGS", "optax L-BFGS in JIT; bounds by a sigmoid/softplus transform"),
)


@q2mm.hookimpl
def q2mm_optimizers():
    records = [
        PluginRecord(name, "optimizer", f"{_MODULE}:{attr}", capabilities={"traceable"}, description=text)
        for name, attr, text in _RECORDS
    ]
    records.append(
        PluginRecord(
            "jax:multistart",
            "optimizer",
            "q2mm_opt_jaxopt.multistart:JaxMultiStart",
            capabilities={"traceable"},
            description="any in-JIT optimizer (option inner) from Sobol/LHS starts: one compiled program, "
            "starts vmapped or looped, whichever is faster here",
        )
    )
    return records
