"""fit on a Dask cluster through joblib (the same stage outputs and policies as a local fit), and
predict on one, block by block."""

import functools

import pytest
import sklearn
from _helpers import assert_same_fit, frozen_tree_ladder, ladder, tree_ladder
from joblib import parallel_config

from skadaptive import _chunks

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


def fit_on_cluster(client, make, X, y):
    """Fit with n_jobs=2 under the dask backend; check that the cluster ran tasks."""
    with distributed.get_task_stream(client) as tasks, parallel_config(backend="dask"):
        clf = make(n_jobs=2).fit(X, y)
    assert len(tasks.data) > 0
    return clf


def test_cross_fitting_on_a_dask_cluster(client, digits):
    X, y, X_test, _ = digits
    local = ladder(n_jobs=1).fit(X, y)  # naive Bayes, logistic regression, a forest
    # The logistic regression, fitted in a worker process, may differ in the last bits (as
    # the user guide says of stages built on BLAS: scikit-learn 1.6 does, 1.9 does not).
    assert_same_fit(fit_on_cluster(client, ladder, X, y), local, X_test, rtol=1e-12)


def test_held_out_outputs_in_chunks_on_a_dask_cluster(client, digits, monkeypatch):
    X, y, X_test, _ = digits
    local = tree_ladder(n_jobs=1).fit(X, y)
    # Folds of ~333 held-out rows in chunks of 150: fitted folds, then chunks, on the cluster.
    monkeypatch.setattr(_chunks, "MIN_CHUNK_ROWS", 150)
    with sklearn.config_context(working_memory=1e-9):
        remote = fit_on_cluster(client, tree_ladder, X, y)
    assert_same_fit(remote, local, X_test)


def test_frozen_stages_outputs_in_chunks_on_a_dask_cluster(client, digits, monkeypatch):
    X, y, X_test, _ = digits
    frozen = functools.partial(frozen_tree_ladder, X, y)  # stages fitted on the first 500 rows
    local = frozen(n_jobs=1).fit(X[500:], y[500:])
    # A lower floor: the 500 rows go out in one chunk per worker.
    monkeypatch.setattr(_chunks, "MIN_CHUNK_ROWS", 100)
    with parallel_config(backend="dask"):
        rows = _chunks.chunk_rows(10**3, n_rows=500, n_jobs=2)
    assert rows == 250
    remote = fit_on_cluster(client, frozen, X[500:], y[500:])
    assert_same_fit(remote, local, X_test)


def test_predict_lazily_block_by_block_on_a_dask_cluster(client, digits):
    # A fitted estimator is an ordinary picklable scikit-learn estimator: map_blocks sends it
    # to the workers and each block of rows is routed there, lazily, as dask-ml's
    # ParallelPostFit does.
    import numpy as np
    from numpy.testing import assert_array_equal

    da = pytest.importorskip("dask.array")
    X, y, X_test, _ = digits
    clf = tree_ladder().fit(X, y)
    blocks = da.from_array(np.asarray(X_test), chunks=(200, X_test.shape[1]))
    labels = blocks.map_blocks(clf.predict, drop_axis=1, dtype=clf.classes_.dtype)
    costs = blocks.map_blocks(clf.predict_cost, drop_axis=1, dtype=float)
    with distributed.get_task_stream(client) as tasks:
        got_labels, got_costs = client.compute([labels, costs], sync=True)
    assert len(tasks.data) >= 2 * blocks.numblocks[0]  # every block routed on the cluster
    assert_array_equal(got_labels, clf.predict(X_test))
    assert_array_equal(got_costs, clf.predict_cost(X_test))


def test_predict_a_dask_data_frame_partition_by_partition_on_a_dask_cluster(client, digits):
    # A data frame keeps its column names through map_partitions: a model fitted on named
    # columns routes each partition, lazily, on the workers.
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    pytest.importorskip("pyarrow")
    from numpy.testing import assert_array_equal

    X, y, X_test, _ = digits
    columns = [f"px{i}" for i in range(X.shape[1])]
    clf = tree_ladder().fit(pd.DataFrame(X, columns=columns), y)
    frame = pd.DataFrame(X_test, columns=columns)
    parts = dd.from_pandas(frame, npartitions=4)
    labels = parts.map_partitions(
        lambda part: pd.Series(clf.predict(part), index=part.index), meta=(None, "int64")
    )
    costs = parts.map_partitions(
        lambda part: pd.Series(clf.predict_cost(part), index=part.index), meta=(None, "float64")
    )
    with distributed.get_task_stream(client) as tasks:
        got_labels, got_costs = client.compute([labels, costs], sync=True)
    assert len(tasks.data) >= 2 * parts.npartitions  # every partition routed on the cluster
    assert_array_equal(got_labels.to_numpy(), clf.predict(frame))
    assert_array_equal(got_costs.to_numpy(), clf.predict_cost(frame))
