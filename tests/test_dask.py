"""fit on a Dask cluster through joblib: the same stage outputs and policies as a local fit."""

import pytest
import sklearn
from joblib import parallel_config
from numpy.testing import assert_array_equal
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from skadaptive import NetworkSelectionClassifier, _chunks

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:1000], y[:1000], X[1000:]


def fit_on_cluster(client, make, X, y):
    """Fit with n_jobs=2 under the dask backend; check that the cluster ran tasks."""
    with distributed.get_task_stream(client) as tasks, parallel_config(backend="dask"):
        clf = make(n_jobs=2).fit(X, y)
    assert len(tasks.data) > 0
    return clf


def assert_same_fit(a, b, X_test):
    assert_array_equal(a.oof_outputs_, b.oof_outputs_)
    assert_array_equal(a.predict(X_test), b.predict(X_test))
    assert_array_equal(a.apply(X_test), b.apply(X_test))
    assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def cross_fitted(estimators=None, **kwargs):
    return NetworkSelectionClassifier(
        estimators
        or [
            ("nb", GaussianNB()),
            ("lr", LogisticRegression(max_iter=500)),
            ("rf", RandomForestClassifier(n_estimators=20, random_state=0)),
        ],
        costs=[1, 2, 10],
        cost_weight=0.02,
        cv=3,
        random_state=0,
        **kwargs,
    )


def test_cross_fitting_on_a_dask_cluster(client, digits):
    X, y, X_test = digits
    local = cross_fitted(n_jobs=1).fit(X, y)
    assert_same_fit(fit_on_cluster(client, cross_fitted, X, y), local, X_test)


def test_held_out_outputs_in_chunks_on_a_dask_cluster(client, digits, monkeypatch):
    X, y, X_test = digits

    def trees(**kwargs):
        return cross_fitted(
            estimators=[
                ("nb", GaussianNB()),
                ("tree", DecisionTreeClassifier(max_depth=8, random_state=0)),
                ("rf", RandomForestClassifier(n_estimators=20, random_state=0)),
            ],
            **kwargs,
        )

    local = trees(n_jobs=1).fit(X, y)
    # Folds of ~333 held-out rows in chunks of 150: fitted folds, then chunks, on the cluster.
    monkeypatch.setattr(_chunks, "MIN_CHUNK_ROWS", 150)
    with sklearn.config_context(working_memory=1e-9):
        remote = fit_on_cluster(client, trees, X, y)
    assert_same_fit(remote, local, X_test)


def test_frozen_stages_outputs_in_chunks_on_a_dask_cluster(client, digits, monkeypatch):
    X, y, X_test = digits
    models = [
        GaussianNB().fit(X[:500], y[:500]),
        DecisionTreeClassifier(max_depth=8, random_state=0).fit(X[:500], y[:500]),
        RandomForestClassifier(n_estimators=20, random_state=0).fit(X[:500], y[:500]),
    ]

    def frozen(**kwargs):
        return NetworkSelectionClassifier(
            [(f"m{i}", FrozenEstimator(m)) for i, m in enumerate(models)],
            costs=[1, 2, 10],
            cost_weight=0.02,
            **kwargs,
        )

    local = frozen(n_jobs=1).fit(X[500:], y[500:])
    # A lower floor: the 500 rows go out in one chunk per worker.
    monkeypatch.setattr(_chunks, "MIN_CHUNK_ROWS", 100)
    with parallel_config(backend="dask"):
        rows = _chunks.chunk_rows(10**3, n_rows=500, n_jobs=2)
    assert rows == 250
    remote = fit_on_cluster(client, frozen, X[500:], y[500:])
    assert_same_fit(remote, local, X_test)
