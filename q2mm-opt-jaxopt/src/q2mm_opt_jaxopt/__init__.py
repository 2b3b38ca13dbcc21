"""q2mm optimizers that run inside ``jax.jit``: jaxopt and optax methods, and a
multi-start that compiles once and runs every start in the same program.

Importing this package stays light (the plugin records name factories only); JAX,
jaxopt and optax load when an optimizer is created.
"""

__version__ = "0.1.0"
