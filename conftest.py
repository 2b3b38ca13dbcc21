"""Repository-wide pytest fixtures: the bundled reference data (``data/``)."""

from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Root of the real QM / MM reference data copied from ``../shared/data``."""
    return DATA_DIR
