"""The one place where array-API code must know whether it runs under JAX.

Residuals are written once against the array API (``xp`` is ``numpy`` or
``jax.numpy``). A loop that JAX should keep rolled up has no array-API spelling (an
unrolled Python loop of n steps makes XLA compile n copies of its body). The choice
depends only on which namespace was passed — never on a traced value — so it is
safe inside ``jit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def is_jax(xp: Any) -> bool:
    return getattr(xp, "__name__", "").startswith("jax")


def fori_loop(xp: Any, n: int, body: Callable[[int, Any], Any], init: Any) -> Any:
    """``for i in range(n): state = body(i, state)``; ``lax.fori_loop`` under JAX."""
    if is_jax(xp):
        from jax import lax

        return lax.fori_loop(0, n, body, init)
    state = init
    for i in range(n):
        state = body(i, state)
    return state
