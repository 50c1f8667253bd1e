"""Data, estimator builders and checks that several test modules share.

The fixtures built on them are in tests/conftest.py.  Test modules import these as
``from _helpers import ...``: pytest's default ("prepend") import mode puts tests/ on
``sys.path`` before it imports tests/conftest.py or a test module, so this works however
the tests are selected.  (``from conftest import ...`` would not: the repository root has
a conftest.py too, and only one module can be called ``conftest``.)

Builders used by one module only stay in that module.
"""

import functools
import importlib.util

import numpy as np
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from skadaptive import NetworkSelectionClassifier

# -- the public API -----------------------------------------------------------------------

# What the API reference, the type hints and the docstring checks cover.
PUBLIC_MODULES = [
    "skadaptive",
    "skadaptive.routers",
    "skadaptive.baselines",
    "skadaptive.stages",
    "skadaptive.metrics",
    "skadaptive.plotting",
    "skadaptive.persistence",
    "skadaptive.exceptions",
    "skadaptive.torch",
]
# The optional dependency a public module imports (plotting imports matplotlib only to draw).
PUBLIC_MODULE_NEEDS = {"skadaptive.torch": "torch"}


def missing_dependency(module_name):
    """The optional package that ``module_name`` needs and this environment lacks, or None."""
    needed = PUBLIC_MODULE_NEEDS.get(module_name)
    return needed if needed and importlib.util.find_spec(needed) is None else None


# -- data ---------------------------------------------------------------------------------


@functools.cache
def all_digits():
    """The 1797 digits (X, y), loaded once per process.

    Read-only, since every test shares them: a test that changes them works on a copy.
    """
    X, y = load_digits(return_X_y=True)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def split_digits(n_fit, n_test=None):
    """``X, y, X_test, y_test``: the first ``n_fit`` digits, then the next ``n_test`` (all)."""
    X, y = all_digits()
    stop = None if n_test is None else n_fit + n_test
    return X[:n_fit], y[:n_fit], X[n_fit:stop], y[n_fit:stop]


def pixels_float32(X):
    """Pixels scaled to [0, 1] as float32 (a new, writable array): what the torch modules take."""
    return (X / 16).astype(np.float32)


def make_outputs(n=600, n_stages=3, n_classes=4, seed=0):
    """Stages that are right more often as they go, with confidence that tells."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    outputs = np.empty((n, n_stages, n_classes))
    for k in range(n_stages):
        right = rng.random(n) < 0.5 + 0.45 * k / (n_stages - 1)
        pred = np.where(right, y, (y + rng.integers(1, n_classes, n)) % n_classes)
        conf = np.where(right, rng.uniform(0.5, 1.0, n), rng.uniform(0.3, 0.6, n))
        p = np.full((n, n_classes), 0.0) + ((1 - conf) / (n_classes - 1))[:, None]
        p[np.arange(n), pred] = conf
        outputs[:, k] = p
    return outputs, y


def random_outputs(rng, n_samples, n_stages, n_classes):
    """Continuous, distinct class probabilities of shape (n_samples, n_stages, n_classes)."""
    from scipy.special import softmax

    return softmax(rng.normal(scale=2.0, size=(n_samples, n_stages, n_classes)), axis=2)


# -- estimators ---------------------------------------------------------------------------


def stages(middle="lr", n_trees=20):
    """Naive Bayes, then logistic regression ("lr") or a depth-8 tree ("tree"), then a forest."""
    if middle == "lr":
        second = LogisticRegression(max_iter=500)
    else:
        second = DecisionTreeClassifier(max_depth=8, random_state=0)
    return [
        ("nb", GaussianNB()),
        (middle, second),
        ("rf", RandomForestClassifier(n_estimators=n_trees, random_state=0)),
    ]


def ladder(estimators=None, **kwargs):
    """NetworkSelectionClassifier over ``estimators`` (default: ``stages()``), costs 1, 2, 10."""
    params = {"costs": [1, 2, 10], "cost_weight": 0.02, "cv": 3, "random_state": 0, **kwargs}
    return NetworkSelectionClassifier(stages() if estimators is None else estimators, **params)


def tree_ladder(**kwargs):
    """``ladder`` with a tree in the middle: each stage's output for a row is bit for bit
    independent of the other rows of the batch (no BLAS)."""
    return ladder(stages("tree"), **kwargs)


def frozen_tree_ladder(X, y, **kwargs):
    """The stages of ``tree_ladder`` fitted on the first 500 rows of X, frozen."""
    models = [est.fit(X[:500], y[:500]) for _, est in stages("tree")]
    return NetworkSelectionClassifier(
        [(f"m{i}", FrozenEstimator(m)) for i, m in enumerate(models)],
        costs=[1, 2, 10],
        cost_weight=0.02,
        **kwargs,
    )


def two_stage_ladder(nb=None, **kwargs):
    """Naive Bayes (``nb``, default GaussianNB) then logistic regression, costs 1 and 10."""
    params = {"costs": [1, 10], "cv": 3, "random_state": 0, **kwargs}
    return NetworkSelectionClassifier(
        [("nb", GaussianNB() if nb is None else nb), ("lr", LogisticRegression(max_iter=300))],
        **params,
    )


def budget_ladder(**kwargs):
    """The same ladder in budget mode, with a short lambda path and 4 selection folds."""
    from skadaptive import NetworkSelectionClassifierCV

    kwargs.setdefault("cost_weights", [0.0, 0.003, 0.01, 0.03, 0.1, 0.3])
    return NetworkSelectionClassifierCV(
        [("nb", GaussianNB()), ("lr", LogisticRegression(max_iter=300))],
        costs=[1, 10],
        cv=3,
        selection_cv=4,
        random_state=0,
        **kwargs,
    )


# -- checks ---------------------------------------------------------------------------------

ROUTE_KEYS = ("proba", "stage", "path", "cost")


def assert_same_routes(a, b):
    """Two routes (``route`` answers) agree bit for bit."""
    for key in ROUTE_KEYS:
        assert_array_equal(a[key], b[key], err_msg=key)


def assert_same_fit(a, b, X_test, *, rtol=0.0):
    """Two fitted estimators learned from the same outputs and answer alike.

    Bit for bit by default. With ``rtol``, the probabilities may differ in their last bits
    (stages built on BLAS, fitted in another process), and the routes and answers must not.
    """
    if rtol == 0:
        assert_array_equal(a.oof_outputs_, b.oof_outputs_)
        assert_same_routes(a.route(X_test), b.route(X_test))
    else:
        assert_allclose(a.oof_outputs_, b.oof_outputs_, rtol=rtol, atol=1e-300)
        ra, rb = a.route(X_test), b.route(X_test)
        assert_allclose(ra["proba"], rb["proba"], rtol=rtol, atol=1e-300)
        for key in ("stage", "path", "cost"):
            assert_array_equal(ra[key], rb[key], err_msg=key)
    assert_array_equal(a.predict(X_test), b.predict(X_test))
    assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    assert_array_equal(a.apply(X_test), b.apply(X_test))


def spy(monkeypatch, cls, name):
    """Record the arguments (after self) of every call of ``cls.name``; returns the list."""
    calls = []
    original = getattr(cls, name)

    def wrapper(self, *args, **kwargs):
        calls.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, wrapper)
    return calls


# -- torch (imported only when called) --------------------------------------------------------


def train_module(module, X, y, epochs=30, seed=0):
    """Full-batch Adam (lr 0.01) on the cross-entropy of ``module(X)``; returns the module."""
    import torch

    torch.manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    X_t, y_t = torch.as_tensor(np.array(X)), torch.as_tensor(np.array(y))  # writable copies
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(X_t), y_t).backward()
        opt.step()
    return module


def train_multi_exit(blocks, heads, X, y, epochs):
    """Full-batch Adam (lr 0.01) on the sum of every exit's cross-entropy."""
    import torch

    params = [p for m in blocks + heads for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)
    X_t, y_t = torch.as_tensor(np.array(X)), torch.as_tensor(np.array(y))  # writable copies
    for _ in range(epochs):
        opt.zero_grad()
        h, loss = X_t, 0
        for block, head in zip(blocks, heads):
            h = block(h)
            loss = loss + torch.nn.functional.cross_entropy(head(h), y_t)
        loss.backward()
        opt.step()
