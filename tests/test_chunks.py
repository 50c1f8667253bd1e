"""Large data: stage outputs and routing in row chunks, the same answers for any chunks."""

import functools
from contextlib import contextmanager

import numpy as np
import pytest
import sklearn
from _helpers import (
    assert_same_fit,
    assert_same_routes,
    frozen_tree_ladder,
    ladder,
    spy,
    tree_ladder,
)
from joblib import parallel_config
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier

from skadaptive import EarlyExitClassifier, _chunks
from skadaptive._stages import ModelLadder, TreeEnsembleExits


@contextmanager
def chunks_of(rows):
    """Cut every input into chunks of ``rows`` rows: the floor, under a tiny working memory."""
    floor = _chunks.MIN_CHUNK_ROWS
    _chunks.MIN_CHUNK_ROWS = rows
    try:
        with sklearn.config_context(working_memory=1e-9):
            yield
    finally:
        _chunks.MIN_CHUNK_ROWS = floor


# Stages whose outputs for a row do not depend on the other rows of the batch, bit for bit:
# tree_ladder and frozen_tree_ladder (from _helpers), and these.
def forest_exits(**kwargs):
    return EarlyExitClassifier(
        ExtraTreesClassifier(n_estimators=20, random_state=0),
        exits=[5, 10, 20],
        cost_weight=0.02,
        cv=3,
        random_state=0,
        **kwargs,
    )


def hgb_exits(**kwargs):
    return EarlyExitClassifier(
        HistGradientBoostingClassifier(
            max_iter=12, max_leaf_nodes=8, early_stopping=False, random_state=0
        ),
        exits=[3, 6, 12],
        cost_weight=0.02,
        cv=3,
        random_state=0,
        **kwargs,
    )


# -- the chunk-size rule -----------------------------------------------------------
def test_chunk_rule_follows_working_memory_with_a_floor():
    n_bytes = _chunks.row_bytes(n_stages=3, n_classes=10, n_features=64)
    assert n_bytes == 8 * 3 * (2 * 10 + 64)
    with sklearn.config_context(working_memory=100):
        assert _chunks.chunk_rows(n_bytes) == 100 * 2**20 // n_bytes
        # Enough chunks for every worker, down to the floor, never above working_memory.
        assert _chunks.chunk_rows(n_bytes, n_rows=10_000, n_jobs=2) == 5000
        assert _chunks.chunk_rows(n_bytes, n_rows=10_000, n_jobs=1) == 100 * 2**20 // n_bytes
        assert _chunks.chunk_rows(n_bytes, n_rows=1500, n_jobs=2) == 1024
        assert _chunks.chunk_rows(n_bytes, n_rows=10**9, n_jobs=2) == 100 * 2**20 // n_bytes
        with parallel_config(n_jobs=4):  # n_jobs=None follows the active joblib settings
            assert _chunks.chunk_rows(n_bytes, n_rows=10_000) == 2500
    with sklearn.config_context(working_memory=1):
        assert _chunks.chunk_rows(n_bytes) == 1024  # 520 rows fit in 1 MiB: the floor wins


def test_row_slices_cover_every_row_once_and_join_a_short_tail():
    assert _chunks.row_slices(100, 1024) == [slice(0, 100)]
    assert _chunks.row_slices(2050, 1024) == [slice(0, 1024), slice(1024, 2050)]
    assert _chunks.row_slices(3072, 1024) == [slice(0, 1024), slice(1024, 2048), slice(2048, 3072)]
    with chunks_of(7):
        slices = _chunks.row_slices(100, _chunks.chunk_rows(10**6))
    assert [s.stop - s.start for s in slices] == [7] * 13 + [9]


# -- predict streams ----------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted(digits):
    X, y, _, _ = digits
    return {
        "tree_ladder": tree_ladder().fit(X, y),
        "forest_exits": forest_exits().fit(X, y),
        "hgb_exits": hgb_exits().fit(X, y),
        "proba+X": tree_ladder(features="proba+X").fit(X, y),
    }


@pytest.mark.parametrize("name", ["tree_ladder", "forest_exits", "hgb_exits", "proba+X"])
@pytest.mark.parametrize("rows", [1, 7, 128, 500])
def test_predict_in_chunks_equals_one_shot(fitted, digits, name, rows):
    clf = fitted[name]
    X_test = digits[2][:60] if rows == 1 else digits[2]
    expected = clf.route(X_test)
    staged = list(clf.staged_predict_proba(X_test))
    with chunks_of(rows):
        assert_same_routes(clf.route(X_test), expected)
        assert_array_equal(clf.predict(X_test), clf.classes_[expected.proba.argmax(1)])
        assert_array_equal(clf.predict_proba(X_test), expected.proba)
        assert_array_equal(clf.apply(X_test), expected.stage)
        assert_array_equal(clf.decision_path(X_test), expected.path)
        assert_array_equal(clf.predict_cost(X_test), expected.cost)
        chunked_staged = list(clf.staged_predict_proba(X_test))
    assert len(chunked_staged) == len(staged) == clf.n_stages_
    for a, b in zip(chunked_staged, staged):
        assert_array_equal(a, b)


def test_predict_never_holds_more_than_a_chunk(fitted, digits, monkeypatch):
    _, _, X_test, _ = digits
    clf = fitted["forest_exits"]
    expected = clf.route(X_test)
    calls = spy(monkeypatch, TreeEnsembleExits, "init_exits")
    with chunks_of(100):
        assert_same_routes(clf.route(X_test), expected)
    # 797 rows: 6 chunks of 100, the last 197 (a tail under the floor joins it).
    assert [len(args[0]) for args in calls] == [100] * 6 + [197]


def test_the_default_rule_streams_large_inputs(fitted, digits, monkeypatch):
    _, _, X_test, _ = digits
    clf = fitted["tree_ladder"]
    X_big = np.vstack([X_test] * 4)  # 3188 rows
    expected = clf.route(X_big)
    calls = spy(monkeypatch, ModelLadder, "init_exits")
    n_bytes = _chunks.row_bytes(clf.n_stages_, len(clf.classes_), clf.n_features_in_)
    with sklearn.config_context(working_memory=1500.5 * n_bytes / 2**20):
        assert_same_routes(clf.route(X_big), expected)
    assert [len(args[0]) for args in calls] == [1500, 1688]


def test_small_inputs_are_routed_in_one_piece(fitted, digits, monkeypatch):
    clf = fitted["tree_ladder"]

    def fail(*args, **kwargs):
        raise AssertionError("a small input was chunked")

    monkeypatch.setattr(_chunks, "route_in_chunks", fail)
    monkeypatch.setattr(_chunks, "staged_in_chunks", fail)
    calls = spy(monkeypatch, ModelLadder, "init_exits")
    X_test = digits[2]
    clf.predict(X_test)
    list(clf.staged_predict_proba(X_test))
    assert len(calls) == 2 and all(args[0] is X_test for args in calls)  # no copy, no slice


# -- fit: the same outputs for any chunks and any n_jobs ---------------------------
@pytest.mark.parametrize("make", [tree_ladder, hgb_exits, frozen_tree_ladder])
def test_fit_does_not_depend_on_chunks_or_n_jobs(make, digits):
    X, y, X_test, _ = digits
    if make is frozen_tree_ladder:
        make = functools.partial(frozen_tree_ladder, X, y)  # stages fitted on the first 500
        X, y = X[500:], y[500:]
    reference = make(n_jobs=1).fit(X, y)
    assert_same_fit(make(n_jobs=2).fit(X, y), reference, X_test)
    for rows, n_jobs in [(7, 1), (100, 2)]:
        with chunks_of(rows):
            assert_same_fit(make(n_jobs=n_jobs).fit(X, y), reference, X_test)


def test_held_out_outputs_in_chunks_after_the_folds_are_fitted(fitted, digits, monkeypatch):
    X, y, X_test, _ = digits
    reference = fitted["tree_ladder"]
    calls = spy(monkeypatch, ModelLadder, "init_exits")
    with chunks_of(150):
        chunked = tree_ladder().fit(X, y)
    # 3 folds of 333 or 334 held-out rows, 2 chunks each (a tail under the floor joins).
    assert sorted(len(args[0]) for args in calls) == [150] * 3 + [183] * 2 + [184]
    assert_same_fit(chunked, reference, X_test)


def test_frozen_outputs_in_chunks_use_every_worker(digits, monkeypatch, caplog):
    X, y, _, _ = digits
    calls = spy(monkeypatch, ModelLadder, "init_exits")
    monkeypatch.setattr(_chunks, "MIN_CHUNK_ROWS", 100)
    # Plenty of working memory: one chunk per worker (threads: the spy sees them).
    with parallel_config(backend="threading"), caplog.at_level("INFO", logger="skadaptive"):
        frozen_tree_ladder(X, y, n_jobs=2, verbose=1).fit(X[500:], y[500:])
    assert sorted(len(args[0]) for args in calls[:2]) == [250, 250]
    assert "computing their outputs on 500 rows in 2 chunks" in caplog.text
    calls.clear()
    frozen_tree_ladder(X, y, n_jobs=1).fit(X[500:], y[500:])
    assert len(calls[0][0]) == 500


def test_linear_stages_agree_up_to_blas_rounding(digits):
    # BLAS picks its kernels by matrix size, so a linear model's probabilities for a
    # row may differ in the last bits between batch sizes (as in scikit-learn itself).
    X, y, X_test, _ = digits
    linear = ladder()  # naive Bayes, logistic regression, a forest
    reference = linear.fit(X, y)
    expected = reference.route(X_test)
    with chunks_of(7):
        chunked = clone(linear).fit(X, y)
        result = chunked.route(X_test)
    assert_allclose(chunked.oof_outputs_, reference.oof_outputs_, rtol=0, atol=1e-12)
    assert_array_equal(result.stage, expected.stage)
    assert_array_equal(chunked.predict(X_test), reference.predict(X_test))
    assert_allclose(result.proba, expected.proba, rtol=0, atol=1e-12)
