"""Test-session settings for the whole repository.

- Doctests of optional parts need their optional dependency: without torch (or
  matplotlib, the `plot` extra, or skops, the `skops` extra) they are not collected.
- Every test runs with one BLAS/OpenMP/torch thread. The tests use small data; on a
  busy machine (two test runs on two cores) threads that spin while waiting for a
  core made the suite five times slower.
- Hypothesis runs derandomized (the same examples on every run), so that CI is
  reproducible; `HYPOTHESIS_PROFILE=explore` draws new examples on each run.
"""

import importlib.util
import os

import pytest
import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime, so that the limit reaches it)
from threadpoolctl import threadpool_limits

if importlib.util.find_spec("hypothesis") is not None:
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, database=None)
    settings.register_profile("explore", derandomize=False)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

HAS_TORCH = importlib.util.find_spec("torch") is not None
# The Sphinx configuration and what a docs build generates (the gallery's copies of the
# examples would run as modules) are not tests.
collect_ignore = ["docs/conf.py"] + ([] if HAS_TORCH else ["skadaptive/torch"])
collect_ignore_glob = ["docs/_build/*", "docs/generated/*", "docs/auto_examples/*"]
if importlib.util.find_spec("skops") is None:  # the `skops` extra
    collect_ignore += ["skadaptive/persistence.py", "docs/robustness.md"]
if importlib.util.find_spec("matplotlib") is None:
    collect_ignore += [
        "skadaptive/_display.py",
        "skadaptive/_exit_share_display.py",
        "docs/plotting.md",
    ]


@pytest.fixture(autouse=True, scope="session")
def _one_thread_per_pool():
    threads = None
    if HAS_TORCH:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    if threads is not None:
        torch.set_num_threads(threads)
