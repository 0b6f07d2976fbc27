"""Shared test setup. The backend is chosen by KERAS_BACKEND before pytest starts (CI runs the suite once per backend)."""

import os
from pathlib import Path

import keras
import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
OFFICIAL_FIXTURES = FIXTURES / "official_trm"


def pytest_report_header(config):
    return f"keras backend: {keras.backend.backend()} (KERAS_BACKEND={os.environ.get('KERAS_BACKEND', '<unset>')})"


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    np.random.seed(1234)
    yield


@pytest.fixture
def official_fixture_dir():
    """Folder of the official parity fixtures (a copy of shared/fixtures/official_trm kept in the repository)."""
    return OFFICIAL_FIXTURES
