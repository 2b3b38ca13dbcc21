"""Live tests need Tinker; they skip, saying why, where it is not installed (CI)."""

from __future__ import annotations

import pytest
from q2mm_engine_tinker.locate import missing_reason


@pytest.fixture(scope="session")
def tinker_engine():
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    from q2mm_engine_tinker.engine import TinkerEngine

    return TinkerEngine(backend="driver")
