"""Live tests need Tinker; they skip, saying why, where it is not installed (CI)."""

from __future__ import annotations

import pytest
from q2mm_engine_tinker.errors import TinkerNotFoundError
from q2mm_engine_tinker.locate import find_tinker


def tinker_missing() -> str | None:
    """Why live tests cannot run here, or None."""
    try:
        find_tinker()
    except TinkerNotFoundError as exc:
        return f"Tinker is not installed ({exc})"
    return None


@pytest.fixture(scope="session")
def tinker_engine():
    reason = tinker_missing()
    if reason:
        pytest.skip(reason)
    from q2mm_engine_tinker.engine import TinkerEngine

    return TinkerEngine(backend="driver")
