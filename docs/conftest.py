"""Doctest settings for the Markdown pages in docs/.

The examples run with one BLAS/OpenMP thread: they are small, and on a busy machine
threads that spin while waiting for a core make them several times slower.
"""

import pytest
import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime, so that the limit reaches it)
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_thread_per_pool():
    with threadpool_limits(limits=1):
        yield
