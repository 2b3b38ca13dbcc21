"""Repository-wide pytest set-up: the bundled reference data (``data/``) and the
hypothesis profile (CI runs derandomized, so a submission's result does not depend on
the draw)."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

DATA_DIR = Path(__file__).resolve().parent / "data"

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Root of the real QM / MM reference data copied from ``../shared/data``."""
    return DATA_DIR
