"""Fixtures shared by the test modules.

The builders and checks they share are plain functions in tests/_helpers.py (imported as
``from _helpers import ...``); the repository's conftest.py sets the session up.
"""

import pytest
from _helpers import all_digits, pixels_float32, split_digits


@pytest.fixture(scope="session")
def digits():
    """``X, y, X_test, y_test``: the first 1000 digits to fit, the other 797 to test.

    Read-only arrays, shared by every test: a test that changes them works on a copy.
    A module whose thresholds were set on another split derives it from these.
    """
    return split_digits(1000)


@pytest.fixture(scope="session")
def digits_float32():
    """``X, y``: all 1797 digits, pixels scaled to [0, 1] as float32, for torch modules."""
    X, y = all_digits()
    return pixels_float32(X), y.copy()
