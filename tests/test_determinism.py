"""Determinism (random_state, processes) and concurrent predict calls.

Independence from n_jobs and from the chunks that fit and predict use is tested in
tests/test_chunks.py (``test_fit_does_not_depend_on_chunks_or_n_jobs``,
``test_predict_in_chunks_equals_one_shot``) and tests/test_estimators.py.
"""

import functools
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _helpers import pixels_float32, split_digits, train_multi_exit
from numpy.testing import assert_array_equal
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from skadaptive import (
    EarlyExitClassifier,
    EarlyExitClassifierCV,
    NetworkSelectionClassifier,
    NetworkSelectionClassifierCV,
)

X, Y, X_TEST, _ = split_digits(900)  # module-level: the subprocess below imports them


def ladder():
    # A random stage (the tree's feature sampling) and shuffled folds: both seeded.
    return [
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_features=0.5)),
        ("lr", LogisticRegression(max_iter=500)),
    ]


def hgb():
    return HistGradientBoostingClassifier(max_iter=12, early_stopping=False)


MAKERS = {
    "selection": lambda seed: NetworkSelectionClassifier(
        ladder(), costs=[1, 3, 10], cost_weight=0.02, cv=3, random_state=seed
    ),
    "selection-tree-policy": lambda seed: NetworkSelectionClassifier(
        ladder(),
        costs=[1, 3, 10],
        policy_estimator=DecisionTreeClassifier(max_depth=4, max_features=2),
        cv=3,
        random_state=seed,
    ),
    "early-exit": lambda seed: EarlyExitClassifier(
        hgb(), exits=[3, 6, 12], costs=[1, 1, 2], cost_weight=0.05, cv=3, random_state=seed
    ),
    "selection-cv": lambda seed: NetworkSelectionClassifierCV(
        ladder(), costs=[1, 3, 10], max_accuracy_loss=0.01, cv=3, random_state=seed
    ),
    "early-exit-cv": lambda seed: EarlyExitClassifierCV(
        hgb(), exits=[3, 12], costs=[1, 3], max_relative_cost=0.6, cv=3, random_state=seed
    ),
}


@functools.cache
def fitted_with_seed_0(name):
    """``MAKERS[name](0)`` fitted on X, Y once per process, for the tests that only read it."""
    return MAKERS[name](0).fit(X, Y)


def answers(clf, X_rows):
    return clf.predict_proba(X_rows), clf.apply(X_rows), clf.predict_cost(X_rows)


@pytest.mark.parametrize("name", list(MAKERS))
def test_same_random_state_same_policies_and_predictions(name):
    make = MAKERS[name]
    a, b = fitted_with_seed_0(name), make(0).fit(X, Y)  # two fits with the same seed
    assert_array_equal(a.oof_outputs_, b.oof_outputs_)
    for got, expected in zip(answers(a, X_TEST), answers(b, X_TEST)):
        assert_array_equal(got, expected)
    policies_a = getattr(a.policy_, "policies_", {})
    policies_b = getattr(b.policy_, "policies_", {})
    assert policies_a.keys() == policies_b.keys()
    for key, policy in policies_a.items():
        for attr in ["coef_", "intercept_", "value"]:
            if hasattr(policy, attr):
                assert_array_equal(getattr(policy, attr), getattr(policies_b[key], attr))
        if hasattr(policy, "tree_"):
            assert_array_equal(policy.tree_.threshold, policies_b[key].tree_.threshold)
    # Another seed changes the folds (and the tree stage): the outputs change.
    assert not np.array_equal(make(1).fit(X, Y).oof_outputs_, a.oof_outputs_)


FIT_IN_A_PROCESS = textwrap.dedent(
    """
    import hashlib, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_determinism import MAKERS, X, Y, X_TEST, answers
    clf = MAKERS["selection-tree-policy"](0).fit(X, Y)
    data = b"".join(np.ascontiguousarray(a).tobytes() for a in answers(clf, X_TEST))
    print(hashlib.sha256(data).hexdigest())
    """
)


def test_same_answers_in_separate_processes():
    """No dependence on hash seeds, object ids or anything else a process picks."""
    import os

    code = FIT_IN_A_PROCESS.format(tests=os.path.dirname(__file__))
    digests = set()
    for hash_seed in ["1", "2"]:
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        digests.add(out.stdout.strip())
    clf = fitted_with_seed_0("selection-tree-policy")
    import hashlib

    here = b"".join(np.ascontiguousarray(a).tobytes() for a in answers(clf, X_TEST))
    digests.add(hashlib.sha256(here).hexdigest())
    assert len(digests) == 1


def assert_threads_match_serial_calls(clf, X_rows):
    """8 threads routing row blocks through ``clf`` at once give the serial answers."""
    # Row blocks of different sizes, so that threads route different rows at once.
    blocks = [X_rows[i : i + size] for i, size in zip(range(0, 800, 80), [1, 7, 80, 33] * 5)]
    serial = [answers(clf, block) for block in blocks] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda block: answers(clf, block), blocks * 4))
    for got, expected in zip(threaded, serial):
        for a, b in zip(got, expected):
            assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["selection", "early-exit", "selection-cv"])
def test_concurrent_predict_calls_match_serial_calls(name):
    assert_threads_match_serial_calls(fitted_with_seed_0(name), X_TEST)


def test_concurrent_predict_on_a_gpu_matches_serial_calls():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from skadaptive.torch import MultiExitNetwork

    torch.manual_seed(0)
    X_f, X_test = pixels_float32(X), pixels_float32(X_TEST)
    blocks = [torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU())] + [
        torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.ReLU()) for _ in range(2)
    ]
    heads = [torch.nn.Linear(32, 10) for _ in range(3)]
    train_multi_exit(blocks, heads, X_f, Y, epochs=60)
    net = MultiExitNetwork(blocks, heads, exit_costs=[1, 1, 1], device="cuda")
    clf = EarlyExitClassifier(net, cost_weight=0.2, cv=3, random_state=0).fit(X_f, Y)
    assert clf.policy_.linear_exit_rule() is not None  # routes on the device
    assert_threads_match_serial_calls(clf, X_test)
