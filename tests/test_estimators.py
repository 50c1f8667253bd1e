"""NetworkSelectionClassifier and EarlyExitClassifier as scikit-learn citizens."""

import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from _helpers import ladder as shared_ladder
from _helpers import stages
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from skadaptive import EarlyExitClassifier, NetworkSelectionClassifier
from skadaptive._stages import TreeEnsembleExits
from skadaptive.baselines import oracle_route
from skadaptive.metrics import (
    average_cost,
    make_objective_scorer,
    neg_average_cost_scorer,
    speedup,
)


@pytest.fixture(scope="module")
def digits(digits):
    """The shared split with 500 rows to test: the score thresholds below were set on them."""
    X, y, X_test, y_test = digits
    return X, y, X_test[:500], y_test[:500]


def ladder(estimators=None, **kwargs):
    """The shared ladder (naive Bayes, logistic regression, a forest), with 30 trees."""
    params = {"cost_weight": 0.05, **kwargs}
    return shared_ladder(stages(n_trees=30) if estimators is None else estimators, **params)


def forest_exits(**kwargs):
    params = dict(exits=[5, 10, 30], cost_weight=0.05, cv=3, random_state=0)
    params.update(kwargs)
    return EarlyExitClassifier(RandomForestClassifier(n_estimators=30, random_state=0), **params)


@pytest.fixture(scope="module")
def fitted(digits):
    """``ladder()`` and ``forest_exits()`` fitted on the digits, by builder."""
    X, y, _, _ = digits
    return {make: make().fit(X, y) for make in (ladder, forest_exits)}


class Recording(ClassifierMixin, BaseEstimator):
    """A prefit model that records every row it is asked to predict."""

    def __init__(self, model):
        self.model = model
        self.classes_ = model.classes_
        self.seen = []

    def fit(self, X, y):  # never called: the model comes frozen
        raise AssertionError("a frozen stage was refitted")

    def predict_proba(self, X):
        self.seen.append(np.asarray(X).copy())
        return self.model.predict_proba(X)

    def __sklearn_is_fitted__(self):
        return True


def test_network_selection_never_computes_rows_that_exited(digits):
    X, y, X_test, _ = digits
    models = [
        GaussianNB().fit(X[:500], y[:500]),
        LogisticRegression(max_iter=500).fit(X[:500], y[:500]),
        RandomForestClassifier(n_estimators=30, random_state=0).fit(X[:500], y[:500]),
    ]
    recs = [Recording(m) for m in models]
    clf = NetworkSelectionClassifier(
        [(f"m{i}", FrozenEstimator(r)) for i, r in enumerate(recs)],
        costs=[1, 2, 10],
        cost_weight=0.05,
    ).fit(X[500:], y[500:])
    for r in recs:
        r.seen.clear()
    res = clf.route(X_test)
    # Each stage saw exactly the rows on whose path it lies, in input order.
    for k, r in enumerate(recs):
        seen = np.vstack(r.seen) if r.seen else np.empty((0, X.shape[1]))
        assert_array_equal(seen, X_test[res.path[:, k]])
    exited_before_last = res.stage < 2
    assert exited_before_last.any() and (~exited_before_last).any()
    assert not res.path[res.stage == 0][:, 1:].any()
    # The jump edge: some rows go from the first model straight to the last.
    jumped = res.path[:, 0] & ~res.path[:, 1] & res.path[:, 2]
    assert_allclose(res.cost[jumped], 11)


def test_early_exit_never_computes_rows_that_exited(fitted, digits, monkeypatch):
    _, _, X_test, _ = digits
    clf = fitted[forest_exits]
    calls = []
    original = TreeEnsembleExits.predict_exit_proba

    def spy(self, state, k, rows):
        calls.append((k, np.asarray(rows).copy()))
        return original(self, state, k, rows)

    monkeypatch.setattr(TreeEnsembleExits, "predict_exit_proba", spy)
    res = clf.route(X_test)
    for k, rows in calls:
        assert_array_equal(rows, np.flatnonzero(res.path[:, k]))
        assert (res.stage[rows] >= k).all()
    assert {k for k, _ in calls} == set(np.unique(res.stage)) | {0}
    assert_allclose(res.cost, res.path @ np.array([5.0, 5.0, 20.0]))


@pytest.mark.parametrize("make", [ladder, forest_exits])
def test_predictions_are_routed_answers(make, fitted, digits):
    _, _, X_test, y_test = digits
    clf = fitted[make]
    res = clf.route(X_test)
    assert_array_equal(clf.predict(X_test), clf.classes_[res.proba.argmax(1)])
    assert_allclose(clf.predict_proba(X_test), res.proba)
    assert_array_equal(clf.apply(X_test), res.stage)
    assert_array_equal(clf.decision_path(X_test), res.path)
    assert_allclose(clf.predict_cost(X_test), res.cost)
    assert clf.score(X_test, y_test) == pytest.approx(np.mean(clf.predict(X_test) == y_test))
    assert clf.score(X_test, y_test) > 0.85
    assert average_cost(clf, X_test) < clf.costs_.sum()
    assert speedup(clf, X_test) > 1


@pytest.mark.parametrize("make", [ladder, forest_exits])
def test_huge_cost_weight_exits_at_the_first_stage(make, digits):
    X, y, X_test, _ = digits
    clf = make(cost_weight=1e6).fit(X, y)
    assert_array_equal(clf.apply(X_test), 0)
    assert_allclose(clf.predict_cost(X_test), clf.costs_[0])


@pytest.mark.parametrize("make", [ladder, forest_exits])
def test_zero_cost_weight_with_an_exact_policy_reaches_the_oracle(make, digits):
    X, y, _, _ = digits
    # With the raw input among the features, rows are distinct: a deep tree fits
    # every label exactly.
    clf = make(
        cost_weight=0.0, policy_estimator=DecisionTreeClassifier(random_state=0), features="proba+X"
    ).fit(X, y)
    assert len(np.unique(X, axis=0)) == len(X)
    outputs = clf.oof_outputs_
    all_wrong = (clf.classes_[outputs.argmax(axis=2)] != y[:, None]).all(axis=1)
    train_error = 1 - clf.policy_.score(outputs, y, X=X)
    oracle = oracle_route(outputs, y, clf.costs_, topology=clf.policy_.topology)
    assert train_error == pytest.approx(all_wrong.mean())
    assert train_error == pytest.approx(np.mean(clf.classes_[oracle.proba.argmax(1)] != y))


def test_frozen_stages_are_used_as_they_are(digits):
    X, y, X_test, y_test = digits
    rf = RandomForestClassifier(n_estimators=30, random_state=0).fit(X[:500], y[:500])
    nb = GaussianNB().fit(X[:500], y[:500])
    clf = NetworkSelectionClassifier(
        [("nb", FrozenEstimator(nb)), ("rf", FrozenEstimator(rf))], costs=[1, 10]
    ).fit(X[500:], y[500:])
    assert clf.estimators_[1].estimator is rf
    assert clf.named_estimators_.rf.estimator is rf
    # The policy learned from the frozen models' outputs on the rows given to fit.
    assert_allclose(clf.oof_outputs_[:, 1], rf.predict_proba(X[500:]))
    hgb = HistGradientBoostingClassifier(max_iter=20, early_stopping=False).fit(X[:500], y[:500])
    ee = EarlyExitClassifier(FrozenEstimator(hgb), exits=[5, 10, 20]).fit(X[500:], y[500:])
    assert ee.stage_model_.model is hgb
    assert_allclose(ee.oof_outputs_[:, -1], hgb.predict_proba(X[500:]))


def test_cross_fitting_gives_out_of_fold_outputs(fitted, digits):
    X, y, _, _ = digits
    clf = fitted[ladder]
    # Out-of-fold outputs are less accurate than in-sample ones of the refitted forest.
    oof_acc = np.mean(clf.oof_outputs_[:, 2].argmax(1) == y)
    in_sample_acc = clf.estimators_[2].score(X, y)
    assert in_sample_acc == 1.0 and oof_acc < 0.99


def test_string_labels_and_dataframes(digits):
    X, y, X_test, y_test = digits
    names = np.array(list("abcdefghij"))
    cols = [f"px{i}" for i in range(X.shape[1])]
    df, df_test = pd.DataFrame(X, columns=cols), pd.DataFrame(X_test, columns=cols)
    # A stage that selects columns by name: data frames must reach it as they are.
    select = ColumnTransformer([("keep", "passthrough", cols[:32])])
    clf = NetworkSelectionClassifier(
        [("half", make_pipeline(select, GaussianNB())), ("rf", RandomForestClassifier(30))],
        costs=[1, 5],
        cv=3,
        random_state=0,
    ).fit(df, names[y])
    assert_array_equal(clf.classes_, names)
    assert_array_equal(clf.feature_names_in_, cols)
    assert clf.n_features_in_ == 64
    assert set(clf.predict(df_test)) <= set(names)
    assert clf.score(df_test, names[y_test]) > 0.8
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(df_test.rename(columns={"px0": "other"}))


def test_pipeline_gridsearch_and_nested_params(digits):
    X, y, _, _ = digits
    clf = ladder()
    params = clf.get_params()
    assert params["rf__n_estimators"] == 30
    clf.set_params(rf__n_estimators=20, lr__C=0.5)
    assert dict(clf.estimators)["rf"].n_estimators == 20
    ee = forest_exits().set_params(estimator__n_estimators=40, exits=[10, 40])
    assert ee.estimator.n_estimators == 40

    pipe = make_pipeline(StandardScaler(), ladder())
    search = GridSearchCV(
        pipe,
        {"networkselectionclassifier__cost_weight": [0.0, 0.05, 5.0]},
        scoring={
            "objective": make_objective_scorer(0.05),
            "cost": neg_average_cost_scorer,
            "accuracy": "accuracy",
        },
        refit="objective",
        cv=2,
    ).fit(X, y)
    neg_costs = search.cv_results_["mean_test_cost"]
    assert np.all(np.isfinite(neg_costs))
    assert neg_costs[0] < neg_costs[2]  # more cost_weight, less cost
    assert search.best_params_["networkselectionclassifier__cost_weight"] in (0.0, 0.05, 5.0)


@pytest.mark.parametrize("make", [ladder, forest_exits])
def test_pickle_and_joblib_round_trips(make, fitted, digits, tmp_path):
    X, y, X_test, _ = digits
    clf = fitted[make]
    expected = clf.predict_proba(X_test)
    again = pickle.loads(pickle.dumps(clf))
    assert_array_equal(again.predict_proba(X_test), expected)
    joblib.dump(clf, tmp_path / "clf.joblib")
    assert_array_equal(joblib.load(tmp_path / "clf.joblib").predict_proba(X_test), expected)
    assert_array_equal(clone(clf).fit(X, y).predict_proba(X_test), expected)


def test_n_jobs_and_random_state_give_the_same_fit(digits):
    X, y, X_test, _ = digits
    a = ladder(n_jobs=1).fit(X, y).predict_proba(X_test)
    b = ladder(n_jobs=2).fit(X, y).predict_proba(X_test)
    assert_array_equal(a, b)


def test_sample_weight_reaches_the_policies(digits):
    X, y, X_test, _ = digits
    frozen = [
        (name, FrozenEstimator(clone(est).fit(X[:500], y[:500])))
        for name, est in ladder().estimators
    ]
    base = ladder(estimators=frozen).fit(X[500:], y[500:])
    same = ladder(estimators=frozen).fit(X[500:], y[500:], sample_weight=np.ones(500))
    assert_allclose(same.predict_proba(X_test), base.predict_proba(X_test))
    sw = np.where(y[500:] == 3, 50.0, 1.0)
    weighted = ladder(estimators=frozen).fit(X[500:], y[500:], sample_weight=sw)
    assert not np.array_equal(weighted.apply(X_test), base.apply(X_test))
    # Stages that take sample_weight get it too.
    seen = {}

    class SpyNB(GaussianNB):
        def fit(self, X, y, sample_weight=None):
            seen.setdefault("sw", []).append(sample_weight)
            return super().fit(X, y, sample_weight=sample_weight)

    ladder([("nb", SpyNB()), ("lr", LogisticRegression(max_iter=500))], costs=[1, 2]).fit(
        X, y, sample_weight=np.full(len(y), 2.0)
    )
    assert len(seen["sw"]) == 4 and all((w == 2).all() for w in seen["sw"])


def test_measured_costs(digits):
    X, y, _, _ = digits
    clf = ladder(costs=None).fit(X, y)
    assert clf.costs_.shape == (3,) and (clf.costs_ > 0).all()
    assert_allclose(clf.normalized_costs_.sum(), 1)
    ee = forest_exits(costs="time").fit(X, y)
    assert ee.costs_.shape == (3,) and (ee.costs_ > 0).all()


def test_fit_modifies_nothing_it_was_given(digits):
    X, y, _, _ = digits
    X, y = X.copy(), y.copy()
    X0, y0 = X.copy(), y.copy()
    costs = [1, 2, 10]
    clf = ladder(costs=costs)
    estimators = list(clf.estimators)
    sw = np.ones(len(y))
    clf.fit(X, y, sample_weight=sw)
    assert_array_equal(X, X0)
    assert_array_equal(y, y0)
    assert_array_equal(sw, 1)
    assert costs == [1, 2, 10]
    assert clf.estimators == estimators
    assert not hasattr(clf.estimators[2][1], "estimators_")  # the template stays unfitted


def test_errors(digits):
    X, y, _, _ = digits
    lr_a = LogisticRegression(max_iter=500).fit(X[y < 5], y[y < 5])
    lr_b = LogisticRegression(max_iter=500).fit(X, y)
    with pytest.raises(ValueError, match="disagree on classes"):
        NetworkSelectionClassifier(
            [("a", FrozenEstimator(lr_a)), ("b", FrozenEstimator(lr_b))], costs=[1, 2]
        ).fit(X, y)
    with pytest.raises(ValueError, match="frozen stages do not predict"):
        NetworkSelectionClassifier(
            [("a", FrozenEstimator(lr_a)), ("b", FrozenEstimator(lr_a))], costs=[1, 2]
        ).fit(X, y)
    with pytest.raises(NotFittedError):
        NetworkSelectionClassifier(
            [("a", FrozenEstimator(LogisticRegression())), ("b", FrozenEstimator(lr_b))]
        ).fit(X, y)
    with pytest.raises(ValueError, match="non-negative"):
        ladder(costs=[1, -1, 2]).fit(X, y)
    with pytest.raises(ValueError, match="finite"):
        ladder(costs=[1, np.inf, 2]).fit(X, y)
    with pytest.raises(ValueError, match="one entry per stage"):
        ladder(costs=[1, 2]).fit(X, y)
    with pytest.raises(ValueError, match="one entry per stage"):
        forest_exits(costs=[1, 2]).fit(X, y)
    with pytest.raises(ValueError, match="cost_weight"):
        ladder(cost_weight=-1).fit(X, y)
    with pytest.raises(ValueError, match="cost_weight"):
        ladder(cost_weight=np.inf).fit(X, y)
    with pytest.raises(ValueError, match="does not accept sample_weight"):
        ladder(policy_estimator=KNeighborsClassifier()).fit(X, y)
    with pytest.raises(ValueError, match="1 class"):
        ladder().fit(X, np.zeros(len(y)))
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ladder().fit(X_nan, y)
    with pytest.raises(ValueError, match="at least 2"):
        NetworkSelectionClassifier([("lr", LogisticRegression())]).fit(X, y)
    with pytest.raises(TypeError, match="has no predict_proba.*CalibratedClassifierCV"):
        NetworkSelectionClassifier(
            [("lr", LogisticRegression()), ("svm", make_pipeline(StandardScaler()))]
        ).fit(X, y)
    with pytest.raises(TypeError, match=r"has no predict_proba.*pass SVC\(probability=True\)"):
        NetworkSelectionClassifier([("lr", LogisticRegression()), ("svm", SVC())]).fit(X, y)
    with pytest.raises(NotFittedError):
        ladder().predict(X)


def test_nan_passes_to_stages_that_take_it(digits):
    X, y, X_test, _ = digits
    X = X.copy()
    X[::10, 5] = np.nan
    hgb = HistGradientBoostingClassifier(max_iter=20, early_stopping=False, random_state=0)
    folds = StratifiedKFold(3, shuffle=True, random_state=0)  # what cv=3 means, spelled out
    clf = EarlyExitClassifier(hgb, exits=[5, 10, 20], cv=folds, random_state=0).fit(X, y)
    assert clf.predict(X[:50]).shape == (50,)
    # The boosters got X as it is, NaN included (no imputing, no dropped rows): the
    # refitted one is the booster fitted on X, the out-of-fold outputs the held-out
    # answers of the boosters fitted on the folds.
    assert_array_equal(
        clf.estimator_.predict_proba(X_test), clone(hgb).fit(X, y).predict_proba(X_test)
    )
    held_out = cross_val_predict(clone(hgb), X, y, cv=folds, method="predict_proba")
    assert_allclose(clf.oof_outputs_[:, -1], held_out, rtol=1e-12, atol=1e-12)

    # Rows with NaN are routed, and each gets the booster's own answer at the exit that
    # answers it: after 5, 10 or 20 iterations, the last being the booster itself.
    X_nan = X_test.copy()
    X_nan[:, 5] = np.nan
    res = clf.route(X_nan)
    assert_array_equal(clf.apply(X_nan), res.stage)
    assert set(res.stage) == {0, 1, 2}
    staged = list(clf.estimator_.staged_predict_proba(X_nan))
    by_exit = np.stack([staged[n - 1] for n in clf.exits_], axis=1)
    rows = np.arange(len(X_nan))
    assert_allclose(res.proba, by_exit[rows, res.stage], rtol=1e-12, atol=1e-12)
    assert_allclose(clf.predict_proba(X_nan), res.proba)
    assert_array_equal(clf.predict(X_nan), clf.classes_[res.proba.argmax(axis=1)])
    last = res.stage == 2
    assert_allclose(res.proba[last], clf.estimator_.predict_proba(X_nan[last]), rtol=1e-12)
    # The NaN itself reached the booster: it answers otherwise for the pixel set to 0.
    assert not np.allclose(clf.predict_proba(np.nan_to_num(X_nan)), res.proba)

    # Stages that do not take NaN: fit says so, naming NaN, before fitting anything.
    no_nan = EarlyExitClassifier(GradientBoostingClassifier(n_estimators=4), exits=[2, 4], cv=3)
    with pytest.raises(ValueError, match="Input X contains NaN") as info:
        no_nan.fit(X, y)
    assert "EarlyExitClassifier does not accept missing values" in str(info.value)
    assert not hasattr(no_nan, "estimator_")


def test_predict_input_checks_have_a_fast_path_with_the_same_answers(fitted, digits):
    X, y, X_test, _ = digits
    clf = fitted[ladder]
    expected = clf.predict_proba(X_test.tolist())  # a list: the full validate_data path
    assert_array_equal(clf.predict_proba(X_test), expected)  # float ndarray: the fast path
    assert_array_equal(clf.predict_proba(X_test.astype(np.float32)), expected)
    bad = X_test.copy()
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        clf.predict(bad)
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(bad)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X_test[:, :10])
    nan_ok = EarlyExitClassifier(
        HistGradientBoostingClassifier(max_iter=10, early_stopping=False, random_state=0),
        exits=[5, 10],
        cv=3,
    ).fit(X, y)
    assert nan_ok.predict(bad).shape == (len(bad),)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        nan_ok.predict(bad)


@pytest.mark.parametrize("make", [ladder, forest_exits])
def test_staged_predict_proba_runs_every_stage(make, fitted, digits):
    _, _, X_test, _ = digits
    clf = fitted[make]
    staged = np.stack(list(clf.staged_predict_proba(X_test)), axis=1)
    assert staged.shape == (len(X_test), 3, 10)
    res = clf.route(X_test)
    assert_allclose(res.proba, staged[np.arange(len(X_test)), res.stage])
    assert_allclose(clf.policy_.predict_proba(staged), res.proba)


def test_policy_features_with_X_from_a_dataframe(digits):
    X, y, X_test, _ = digits
    cols = [f"px{i}" for i in range(X.shape[1])]
    clf = ladder(features="proba+X").fit(pd.DataFrame(X, columns=cols), y)
    df_test = pd.DataFrame(X_test, columns=cols)
    from_array = ladder(features="proba+X").fit(X, y).predict(X_test)
    # Same model up to float summation order (a frame's values are column-major).
    assert np.mean(clf.predict(df_test) == from_array) > 0.99


def test_verbose_logs_progress(digits, caplog):
    X, y, _, _ = digits
    with caplog.at_level("INFO", logger="skadaptive"):
        ladder(costs=None, verbose=0).fit(X, y)
    assert not caplog.records
    with caplog.at_level("INFO", logger="skadaptive"):
        ladder(costs=None, verbose=1).fit(X, y)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "Cross-fitting 3 stage estimators on 3 folds" in messages
    assert "Measured stage times (seconds per call, per row)" in messages
    assert "Time-aware costs, round 1" in messages


def test_a_loss_target_that_reads_as_a_percentage_is_refused_or_warned(digits):
    from skadaptive import NetworkSelectionClassifierCV

    X, y, _, _ = digits
    stages = [("nb", GaussianNB()), ("lr", LogisticRegression(max_iter=300))]
    with pytest.raises(ValueError, match=r"allows 100 points.*pass max_accuracy_loss=0.01"):
        NetworkSelectionClassifierCV(stages, max_accuracy_loss=1, costs=[1, 5]).fit(X, y)
    with pytest.warns(UserWarning, match=r"allows 50 points.*pass 0.005") as caught:
        NetworkSelectionClassifierCV(stages, max_accuracy_loss=0.5, costs=[1, 5], cv=3).fit(X, y)
    ours = [w for w in caught if "allows 50 points" in str(w.message)]
    assert len(ours) == 1 and ours[0].filename == __file__  # once a fit, at the caller's line
    with pytest.warns(UserWarning, match="at least the reference's own cost"):
        NetworkSelectionClassifierCV(stages, max_relative_cost=1.5, costs=[1, 5], cv=3).fit(X, y)


def test_fit_warns_when_the_reference_is_not_the_best_model_or_routes_cost_more(digits):
    from sklearn.dummy import DummyClassifier

    X, y, _, _ = digits
    weak_last = NetworkSelectionClassifier(
        [("lr", LogisticRegression(max_iter=300)), ("dummy", DummyClassifier())],
        costs=[1, 5],
        cv=3,
    )
    with pytest.warns(UserWarning, match=r"stage 0 .* more accurate than the last stage .*\(") as w:
        weak_last.fit(X, y)
    # the warnings point at the caller's line (other libraries' warnings aside: scikit-learn
    # 1.6 passes SciPy options that newer SciPy deprecates)
    assert {r.filename for r in w if r.category is UserWarning} == {__file__}
    # a first stage that answers nothing well, in a chain with a large cost of its own: every
    # row runs it and then the reference
    chain = NetworkSelectionClassifier(
        [("dummy", DummyClassifier()), ("lr", LogisticRegression(max_iter=300))],
        costs=[5, 1],
        cost_weight=0.0,
        topology="chain",
        cv=3,
    )
    with pytest.warns(UserWarning, match=r"routes cost more than the reference .*\(6 against 1"):
        with pytest.warns(UserWarning, match="costs less than the model before it"):
            chain.fit(X, y)


def test_given_costs_that_read_as_a_mistake_warn(digits):
    X, y, _, _ = digits
    stages = [("nb", GaussianNB()), ("lr", LogisticRegression(max_iter=300))]
    with pytest.warns(UserWarning, match=r"stage 1 .*costs less than the model before it") as w:
        NetworkSelectionClassifier(stages, costs=[5, 1], cv=3).fit(X, y)
    assert {r.filename for r in w if r.category is UserWarning} == {__file__}
    with pytest.warns(UserWarning, match=r"stage 0 .*costs 0: the policies treat running it"):
        NetworkSelectionClassifier(stages, costs=[0, 1], cv=3).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message=".*more accurate than the last stage")
        warnings.filterwarnings("ignore", message="The fitted routes cost more")
        NetworkSelectionClassifier(stages, costs=[1, 5], cv=3).fit(X, y)  # rising: no warning
