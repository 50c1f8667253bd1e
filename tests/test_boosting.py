"""Early exits of XGBoost, LightGBM and CatBoost models (skadaptive/_boosting.py).

Each test runs for every library that is installed and skips for one that is not.  The
exits must be the library's own predictions truncated at each exit, reached by adding
each range of iterations once to the margins so far.
"""

import inspect
import pickle
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from skadaptive import (
    EarlyExitClassifier,
    EarlyExitClassifierCV,
    NetworkSelectionClassifier,
    _boosting,
)
from skadaptive._stages import stage_outputs
from skadaptive.stages import TreeEnsembleExits

LIBRARIES = ["xgboost", "lightgbm", "catboost"]
# What skops must be told to trust for each library's model (docs: skadaptive.persistence).
SKOPS_TYPES = {
    "xgboost": ["xgboost.core.Booster", "xgboost.sklearn.XGBClassifier"],
    "lightgbm": [
        "collections.OrderedDict",
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
    ],
    "catboost": ["catboost.core.CatBoostClassifier"],
}
ATOL = 1e-6  # the bound; XGBoost sums in float32


def make_model(library, n_trees=40, **params):
    """A small, single-threaded, seeded classifier of ``library`` (skips if absent)."""
    lib = pytest.importorskip(library)
    if library == "xgboost":
        settings = dict(n_estimators=n_trees, max_depth=3, n_jobs=1, random_state=0)
        return lib.XGBClassifier(**{**settings, **params})
    if library == "lightgbm":
        settings = dict(n_estimators=n_trees, num_leaves=8, n_jobs=1, random_state=0, verbose=-1)
        return lib.LGBMClassifier(**{**settings, **params})
    settings = dict(iterations=n_trees, depth=3, thread_count=1, random_seed=0, verbose=0)
    return lib.CatBoostClassifier(**{**settings, "allow_writing_files": False, **params})


def truncated_proba(library, model, X, n_iterations):
    """The library's own probabilities with the first ``n_iterations`` iterations."""
    if library == "xgboost":
        return model.predict_proba(X, iteration_range=(0, n_iterations))
    if library == "lightgbm":
        return model.predict_proba(X, num_iteration=n_iterations)
    return model.predict_proba(X, ntree_end=n_iterations)


def data(n_classes, n_samples=900, nan=False):
    """``X, y, X_test, y_test``: 600 rows to fit, 300 to test."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=10,
        n_informative=6,
        n_classes=n_classes,
        random_state=n_classes,
    )
    if nan:  # every library takes missing values
        X[np.random.default_rng(0).random(X.shape) < 0.05] = np.nan
    return X[:600], y[:600], X[600:], y[600:]


def early_stopped(library, X, y, X_val, y_val):
    """A model that stopped early on a validation set, well before its 300 iterations."""
    if library == "xgboost":
        model = make_model(library, 300, learning_rate=0.5, early_stopping_rounds=5)
        return model.fit(X, y, eval_set=[(X_val, y_val)], verbose=False)
    if library == "lightgbm":
        import lightgbm

        model = make_model(library, 300, learning_rate=0.5)
        stop = lightgbm.early_stopping(5, verbose=False)
        if "eval_X" in inspect.signature(model.fit).parameters:  # LightGBM 4.7 and later
            return model.fit(X, y, eval_X=(X_val,), eval_y=(y_val,), callbacks=[stop])
        return model.fit(X, y, eval_set=[(X_val, y_val)], callbacks=[stop])
    model = make_model(library, 300, learning_rate=0.5, early_stopping_rounds=5)
    return model.fit(X, y, eval_set=(X_val, y_val))


def best_iterations(library, model):
    """The iterations the library's own ``predict_proba`` uses after early stopping."""
    if library == "xgboost":
        return model.best_iteration + 1
    if library == "lightgbm":
        return model.best_iteration_
    return model.tree_count_


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("library", LIBRARIES)
def test_each_exit_is_the_library_truncated_there(library, n_classes):
    X, y, X_test, _ = data(n_classes, nan=True)
    model = make_model(library).fit(X, y)
    exits = TreeEnsembleExits(model, exits=[0.05, 0.25, 0.5, 1.0])
    assert exits.counts == [2, 10, 20, 40]
    outputs = stage_outputs(exits, X_test, model.classes_)
    for k, count in enumerate(exits.counts):
        assert_allclose(outputs[:, k], truncated_proba(library, model, X_test, count), atol=ATOL)
    assert_allclose(outputs[:, -1], model.predict_proba(X_test), atol=ATOL)
    # The exits really differ: the first two trees are not the model.
    assert np.abs(outputs[:, 0] - outputs[:, -1]).max() > 0.1


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("library", LIBRARIES)
def test_exits_stop_at_the_best_iteration(library, n_classes):
    X, y, X_test, y_test = data(n_classes)
    model = early_stopped(library, X[:400], y[:400], X[400:], y[400:])
    best = best_iterations(library, model)
    assert 5 < best < 300  # it stopped early
    exits = TreeEnsembleExits(model, exits=[0.25, 1.0])
    assert exits.counts == [round(best / 4), best]
    outputs = stage_outputs(exits, X_test, model.classes_)
    assert_allclose(outputs[:, -1], model.predict_proba(X_test), atol=ATOL)
    assert_allclose(
        outputs[:, 0], truncated_proba(library, model, X_test, round(best / 4)), atol=ATOL
    )
    # The whole early-exit estimator agrees, frozen on other rows.
    clf = EarlyExitClassifier(FrozenEstimator(model), exits=[0.25, 1.0], cost_weight=0.0)
    clf.fit(X_test[:150], y_test[:150])
    assert clf.exits_ == [round(best / 4), best]
    staged = list(clf.staged_predict_proba(X_test[150:]))
    assert_allclose(staged[-1], model.predict_proba(X_test[150:]), atol=ATOL)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("library", LIBRARIES)
def test_routing_adds_each_range_once_for_the_rows_still_active(library, n_classes, monkeypatch):
    X, y, X_test, _ = data(n_classes)
    clf = EarlyExitClassifier(
        make_model(library), exits=[2, 5, 10, 40], cost_weight=0.05, cv=3, random_state=0
    ).fit(X, y)
    calls = []
    original = _boosting.add_iterations

    def record(name, model, info, X, start, stop, margins):
        calls.append((start, stop, X.shape[0], margins is None))
        return original(name, model, info, X, start, stop, margins)

    monkeypatch.setattr(_boosting, "add_iterations", record)
    res = clf.route(X_test)
    reached = res.path.sum(axis=0)
    assert reached[0] == len(X_test) and 0 < reached[-1] < len(X_test)  # some rows exit early
    starts = [0, 2, 5, 10][: len(calls)]
    assert calls == [
        (start, stop, int(n), k == 0)
        for k, (start, stop, n) in enumerate(zip(starts, [2, 5, 10, 40], reached))
    ]
    # Each row's answer is the library's own, truncated at the exit it took.
    calls.clear()
    staged = np.stack(list(clf.staged_predict_proba(X_test)), axis=1)
    assert_allclose(res.proba, staged[np.arange(len(X_test)), res.stage], atol=1e-12)
    assert_allclose(staged[:, -1], clf.estimator_.predict_proba(X_test), atol=ATOL)
    for k, count in enumerate(clf.exits_):
        rows = res.stage == k
        if not rows.any():
            continue
        expected = truncated_proba(library, clf.estimator_, X_test[rows], count)
        assert_allclose(res.proba[rows], expected, atol=ATOL)


@pytest.mark.parametrize("library", LIBRARIES)
def test_default_costs_count_the_trees(library):
    X, y, _, _ = data(3)
    per_iteration = 1 if library == "catboost" else 3  # CatBoost: a value per class per leaf
    multiclass = TreeEnsembleExits(make_model(library).fit(X, y), exits=[4, 10, 40])
    assert_array_equal(multiclass.exit_costs_, np.array([4, 6, 30]) * per_iteration)
    binary = TreeEnsembleExits(make_model(library).fit(X, y > 0), exits=[4, 10, 40])
    assert_array_equal(binary.exit_costs_, [4, 6, 30])
    if library == "xgboost":  # a forest of 2 trees per class per round
        forest = make_model(library, num_parallel_tree=2).fit(X, y)
        assert_array_equal(TreeEnsembleExits(forest, [4, 40]).exit_costs_, [24, 216])


@pytest.mark.parametrize("library", LIBRARIES)
def test_measured_costs_and_budget_mode(library):
    X, y, X_test, y_test = data(3)
    timed = EarlyExitClassifier(
        make_model(library), exits=[4, 10, 40], costs="time", cv=3, random_state=0
    ).fit(X, y)
    assert timed.costs_.shape == (3,) and np.all(timed.costs_ > 0)
    budget = EarlyExitClassifierCV(
        make_model(library),
        exits=[4, 10, 40],
        max_accuracy_loss=0.02,
        cost_weights=[0.0, 0.05, 0.3],
        selection_cv=3,
        cv=3,
        random_state=0,
    ).fit(X, y)
    cost = budget.predict_cost(X_test)
    assert cost.mean() <= budget.costs_.sum()
    assert budget.score(X_test, y_test) > 0.6


@pytest.mark.parametrize("library", LIBRARIES)
def test_library_models_are_network_selection_stages(library, monkeypatch):
    X, y, X_test, _ = data(3)
    clf = NetworkSelectionClassifier(
        [("logreg", LogisticRegression()), ("boost", make_model(library))],
        costs=[1, 20],
        cost_weight=0.1,
        cv=3,
        random_state=0,
    ).fit(X, y)
    calls = []
    original = _boosting.add_iterations

    def record(name, model, info, X, start, stop, margins):
        calls.append((name, start, stop, X.shape[0]))
        return original(name, model, info, X, start, stop, margins)

    monkeypatch.setattr(_boosting, "add_iterations", record)
    res = clf.route(X_test)
    last = res.stage == 1
    assert 0 < last.sum() < len(X_test)
    boost = clf.stage_model_.models[1]
    assert type(boost).__module__.startswith(library)
    # The model answered through its booster, for the rows that reached it only, with the
    # probabilities of its own predict_proba.
    assert calls == [(library, 0, 40, last.sum())]
    assert_allclose(res.proba[last], boost.predict_proba(X_test[last]), atol=ATOL)
    # Unchecked rows (a direct call) go through the model's own predict_proba.
    calls.clear()
    state = clf.stage_model_.init_exits(X_test.tolist())
    clf.stage_model_.predict_exit_proba(state, 1, np.arange(3))
    assert calls == []


@pytest.mark.parametrize("library", LIBRARIES)
def test_frozen_model_is_used_as_it_is(library):
    X, y, X_test, y_test = data(2)
    model = make_model(library).fit(X, y)
    clf = EarlyExitClassifier(FrozenEstimator(model), exits=[5, 40], cost_weight=0.1)
    clf.fit(X_test[:150], y_test[:150])
    assert clf.estimator_.estimator is model
    assert_array_equal(clf.costs_, [5, 35])
    assert clf.predict_cost(X_test[150:]).mean() < 40


@pytest.mark.parametrize("library", LIBRARIES)
def test_pickle_and_skops_round_trips_predict_the_same(library):
    skops_io = pytest.importorskip("skops.io")
    from skadaptive.persistence import TRUSTED_TYPES, dump, load

    X, y, X_test, _ = data(3)
    clf = EarlyExitClassifier(
        make_model(library), exits=[4, 10, 40], cost_weight=0.1, cv=3, random_state=0
    ).fit(X, y)
    expected = clf.predict_proba(X_test)
    assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X_test), expected)
    saved = dump(clf)
    untrusted = skops_io.get_untrusted_types(data=saved)
    assert sorted(set(untrusted) - set(TRUSTED_TYPES)) == SKOPS_TYPES[library]
    loaded = load(saved, trusted=SKOPS_TYPES[library])
    assert_array_equal(loaded.predict_proba(X_test), expected)
    assert_array_equal(loaded.route(X_test).path, clf.route(X_test).path)


@pytest.mark.parametrize("library", LIBRARIES)
def test_loading_without_the_library_names_its_extra(library, monkeypatch):
    pytest.importorskip("skops.io")
    from skadaptive.persistence import dump, load

    X, y, _, _ = data(2)
    clf = EarlyExitClassifier(
        FrozenEstimator(make_model(library).fit(X, y)), exits=[5, 40], cost_weight=0.1
    ).fit(X, y)
    saved = dump(clf)
    for name in list(sys.modules):  # as if the library were not installed
        if name == library or name.startswith(library + "."):
            monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=rf"pip install 'skadaptive\[{library}\]'"):
        load(saved, trusted=SKOPS_TYPES[library])


def test_importing_skadaptive_imports_no_boosting_library():
    code = (
        "import sys, skadaptive, skadaptive.stages, skadaptive.persistence, skadaptive.routers\n"
        "print(sorted(set(sys.modules) & {'xgboost', 'lightgbm', 'catboost'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_models_without_reproducible_exits_are_refused():
    X, y, _, _ = data(3)
    refused = []
    if _importable("xgboost"):
        refused += [
            (make_model("xgboost", 10, booster="dart"), 'booster is "dart"'),
            (
                make_model("xgboost", 10, booster="gblinear", max_depth=None),
                'booster is "gblinear"',
            ),
        ]
    if _importable("lightgbm"):
        refused.append((make_model("lightgbm", 10, objective=_softmax_objective), "custom"))
    if _importable("catboost"):
        named = make_model("catboost", 10, class_names=[2, 1, 0])
        refused.append((named, r"classes are in the order \[2, 1, 0\]"))
    if not refused:
        pytest.skip("no boosting library installed")
    for model, message in refused:
        model.fit(X, y)
        with pytest.raises(TypeError, match=message):
            EarlyExitClassifier(FrozenEstimator(model), exits=[5, 10]).fit(X, y)
    if _importable("xgboost"):
        raw = make_model("xgboost", 10, objective="binary:logitraw").fit(X, y > 0)
        with pytest.raises(TypeError, match='objective "binary:logitraw"'):
            TreeEnsembleExits(raw, exits=[5, 10])


def test_exits_beyond_the_best_iteration_are_refused():
    pytest.importorskip("xgboost")
    X, y, _, _ = data(2)
    model = early_stopped("xgboost", X[:400], y[:400], X[400:], y[400:])
    best = best_iterations("xgboost", model)
    with pytest.raises(ValueError, match=rf"within\n?\s*1\.\.{best}"):
        TreeEnsembleExits(model, exits=[5, 300])


@pytest.mark.parametrize("library", LIBRARIES)
def test_data_frames_pass_through(library):
    pd = pytest.importorskip("pandas")
    X, y, X_test, _ = data(2)
    columns = [f"f{i}" for i in range(X.shape[1])]
    frame, frame_test = pd.DataFrame(X, columns=columns), pd.DataFrame(X_test, columns=columns)
    clf = EarlyExitClassifier(
        make_model(library), exits=[4, 40], cost_weight=0.1, cv=3, random_state=0
    ).fit(frame, y)
    staged = np.stack(list(clf.staged_predict_proba(frame_test)), axis=1)
    assert_allclose(staged[:, -1], clf.estimator_.predict_proba(frame_test), atol=ATOL)
    res = clf.route(frame_test)
    assert 0 < (res.stage == 0).sum() < len(frame_test)
    assert_allclose(res.proba, staged[np.arange(len(frame_test)), res.stage], atol=1e-12)


def _importable(name):
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def _softmax_objective(y_true, y_pred):
    """A LightGBM custom objective (multiclass cross-entropy): LightGBM then has no link."""
    n = len(y_true)
    prob = np.exp(y_pred - y_pred.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    grad = prob.copy()
    grad[np.arange(n), y_true.astype(int)] -= 1
    return grad, prob * (1 - prob)


@pytest.mark.parametrize("library", LIBRARIES)
def test_the_reference_route_is_one_call(library, monkeypatch):
    X, y, X_test, _ = data(3)
    clf = EarlyExitClassifier(
        FrozenEstimator(make_model(library).fit(X, y)), exits=[4, 10, 40], cost_weight=0.1
    ).fit(X, y)
    calls = []
    original = _boosting.add_iterations

    def record(name, model, info, X, start, stop, margins):
        calls.append((start, stop, X.shape[0]))
        return original(name, model, info, X, start, stop, margins)

    monkeypatch.setattr(_boosting, "add_iterations", record)
    res = clf._route_rows(X_test, clf._reference_router())
    assert calls == [(0, 40, len(X_test))]
    assert_allclose(res.proba, clf.estimator_.predict_proba(X_test), atol=ATOL)
    assert_array_equal(res.stage, 2)
    assert res.path.all()
    assert_allclose(res.cost, clf.costs_.sum())


def test_lightgbm_exits_follow_the_model_threads(monkeypatch):
    pytest.importorskip("lightgbm")
    X, y, X_test, _ = data(2)
    model = make_model("lightgbm").fit(X, y)
    exits = TreeEnsembleExits(model, exits=[4, 40])
    threads = []
    original = type(model.booster_).predict

    def record(self, *args, **kwargs):
        threads.append(kwargs["num_threads"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(model.booster_), "predict", record)
    for n_jobs in (1, 2):
        model.set_params(n_jobs=n_jobs)
        stage_outputs(exits, X_test, model.classes_)
    assert threads == [1, 1, 2, 2]
