"""Choosing the cost weight: cached stage work, refit rules, budget mode."""

import numpy as np
import pytest
from _helpers import budget_ladder, split_digits, two_stage_ladder
from joblib import Memory
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import norm
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import GaussianNB

from skadaptive import EarlyExitClassifier, NetworkSelectionClassifier


class CountingNB(GaussianNB):
    """GaussianNB that counts, per class, how often it is fitted and asked to predict."""

    calls = {"fit": 0, "predict_proba": 0}

    def fit(self, X, y, sample_weight=None):
        CountingNB.calls["fit"] += 1
        return super().fit(X, y, sample_weight=sample_weight)

    def predict_proba(self, X):
        CountingNB.calls["predict_proba"] += 1
        return super().predict_proba(X)


@pytest.fixture(scope="module")
def digits():
    """The first 1200 digits to fit, the other 597 to test (the thresholds below assume it)."""
    return split_digits(1200)


def ladder(**kwargs):
    return two_stage_ladder(nb=CountingNB(), **kwargs)


def test_memory_runs_the_stages_once_per_training_set(digits, tmp_path):
    X, y, X_test, _ = digits
    grid = {"cost_weight": [0.01, 0.03, 0.1, 0.3, 1.0]}
    CountingNB.calls.update(fit=0, predict_proba=0)
    GridSearchCV(ladder(), grid, cv=2).fit(X, y)
    fits_without = CountingNB.calls["fit"]
    CountingNB.calls.update(fit=0, predict_proba=0)
    search = GridSearchCV(ladder(memory=str(tmp_path)), grid, cv=2).fit(X, y)
    fits_with = CountingNB.calls["fit"]
    # Each fit cross-fits 3 folds and refits once: 4 stage fits.  Without memory that
    # is paid for every candidate on both search folds, and again for the refit.
    assert fits_without == 4 * (5 * 2 + 1)
    assert fits_with == 4 * (2 + 1)  # once per distinct training set
    assert len(search.cv_results_["mean_test_score"]) == 5


def test_memory_gives_the_same_fit(digits, tmp_path):
    X, y, X_test, _ = digits
    plain = ladder(cost_weight=0.05).fit(X, y)
    for memory in [str(tmp_path), Memory(tmp_path / "m", verbose=0)]:
        cached = ladder(cost_weight=0.05, memory=memory).fit(X, y)
        again = ladder(cost_weight=0.05, memory=memory).fit(X, y)  # from the cache
        for clf in (cached, again):
            assert_allclose(clf.oof_outputs_, plain.oof_outputs_)
            assert_array_equal(clf.predict(X_test), plain.predict(X_test))


def test_memory_caches_measured_costs_and_frozen_outputs(digits, tmp_path):
    from sklearn.frozen import FrozenEstimator

    X, y, X_test, _ = digits
    hgb = HistGradientBoostingClassifier(max_iter=20, early_stopping=False, random_state=0)
    hgb.fit(X[:600], y[:600])
    kwargs = dict(costs="time", cv=3, random_state=0, memory=str(tmp_path))
    first = EarlyExitClassifier(FrozenEstimator(hgb), exits=[5, 20], **kwargs).fit(X[600:], y[600:])
    second = EarlyExitClassifier(FrozenEstimator(hgb), exits=[5, 20], cost_weight=0.5, **kwargs)
    second.fit(X[600:], y[600:])
    assert_array_equal(second.stage_times_, first.stage_times_)  # timed once, not re-measured
    assert_allclose(second.oof_outputs_, first.oof_outputs_)
    assert second.predict(X_test).shape == (len(X_test),)


def frozen_ladder(X, y, **kwargs):
    from sklearn.frozen import FrozenEstimator

    nb = CountingNB().fit(X[:400], y[:400])
    lr = LogisticRegression(max_iter=300).fit(X[:400], y[:400])
    return NetworkSelectionClassifier(
        [("nb", FrozenEstimator(nb)), ("lr", FrozenEstimator(lr))], costs=[1, 10], **kwargs
    )


def test_budget_scores_from_cached_frozen_outputs(digits, tmp_path):
    from skadaptive.metrics import budget_scoring

    X, y, _, _ = digits
    grid = {"cost_weight": [0.0, 0.001, 0.01, 0.1, 1.0]}
    results, calls = [], []
    for memory in [None, str(tmp_path)]:
        CountingNB.calls.update(fit=0, predict_proba=0)
        search = GridSearchCV(
            frozen_ladder(X, y, memory=memory), grid, cv=3, scoring=budget_scoring(), refit=False
        ).fit(X[400:], y[400:])
        results.append(search.cv_results_)
        calls.append(CountingNB.calls["predict_proba"])
    for name in ["accuracy", "reference_accuracy", "neg_relative_cost"]:
        key = f"split0_test_{name}"
        assert_allclose(results[1][key], results[0][key], err_msg=name)
    # Routing runs the first model for every candidate and fold (5 x 3, plus none for
    # the reference); the cache runs it once per training fold and once per test fold.
    assert calls[0] >= 5 * 3 * 2
    assert calls[1] == 3 + 3


def test_memory_never_serves_a_changed_frozen_model(digits, tmp_path):
    X, y, X_test, _ = digits
    clf = frozen_ladder(X, y, memory=str(tmp_path), cost_weight=0.01)
    before = clf.fit(X[400:], y[400:]).oof_outputs_.copy()
    # Refit the frozen model's inner estimator in place: the key is its content.
    clf.estimators[0][1].estimator.fit(X[800:], y[800:])
    after = clf.fit(X[400:], y[400:]).oof_outputs_
    assert not np.allclose(after[:, 0], before[:, 0])
    assert_allclose(after[:, 0], clf.estimators_[0].predict_proba(X[400:]))


def test_refit_rules_on_hand_made_results():
    from skadaptive.metrics import cheapest_within, most_accurate_under

    results = {
        "mean_test_accuracy": np.array([0.90, 0.95, 0.97, 0.975]),
        "mean_test_reference_accuracy": np.full(4, 0.975),
        "mean_test_neg_relative_cost": -np.array([0.1, 0.3, 0.6, 1.0]),
    }
    assert cheapest_within(0.01)(results) == 2
    assert cheapest_within(0.03)(results) == 1
    assert cheapest_within(0.0)(results) == 3
    assert most_accurate_under(0.5)(results) == 1
    assert most_accurate_under(0.05)(results) == 0  # none fits the budget: the cheapest
    worse = dict(results, mean_test_reference_accuracy=np.full(4, 0.99))
    assert cheapest_within(0.001)(worse) == 3  # none qualifies: the most accurate
    with pytest.raises(KeyError, match="budget_scoring"):
        cheapest_within(0.01)({"mean_test_accuracy": np.ones(2)})
    with pytest.raises(ValueError, match="max_accuracy_loss"):
        cheapest_within(-0.1)
    with pytest.raises(ValueError, match="max_cost"):
        most_accurate_under(0)


def test_budget_scoring_in_a_pipeline_grid_search(digits, tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skadaptive.metrics import (
        budget_scoring,
        most_accurate_under,
        reference_accuracy_scorer,
        reference_cost,
    )

    X, y, X_test, y_test = digits
    pipe = make_pipeline(StandardScaler(), ladder(memory=str(tmp_path)))
    search = GridSearchCV(
        pipe,
        {"networkselectionclassifier__cost_weight": [0.0, 0.01, 0.1, 1.0]},
        cv=3,
        scoring=budget_scoring(),
        refit=most_accurate_under(0.5),
    ).fit(X, y)
    res, best = search.cv_results_, search.best_index_
    assert -res["mean_test_neg_relative_cost"][best] <= 0.5
    fitted = search.best_estimator_
    assert reference_cost(fitted) == 10.0
    lr = fitted[-1].estimators_[1]
    expected = np.mean(lr.predict(fitted[0].transform(X_test)) == y_test)
    assert reference_accuracy_scorer(fitted, X_test, y_test) == pytest.approx(expected)


@pytest.mark.parametrize("max_loss", [0.0, 0.01, 0.03])
def test_budget_mode_meets_an_accuracy_target_on_held_out_folds(digits, max_loss):
    """The cheapest candidate whose held-out loss increase plus one standard error meets
    the target (the margin corrects for choosing among many noisy estimates)."""
    X, y, X_test, y_test = digits
    clf = budget_ladder(max_accuracy_loss=max_loss).fit(X, y)
    res, best = clf.cv_results_, clf.best_index_
    loss, cost = res["mean_test_loss"], res["mean_test_cost"]
    increase = res["test_loss_increase"]
    se = (res["test_loss_increase_upper"] - increase) / norm.ppf(0.95)
    ok = increase + se <= max_loss + 1e-12
    assert ok[best]
    # the pooled increase is the mean loss over the folds' rows, less the reference's
    assert_allclose(increase, loss - res["reference_loss"], atol=1e-12)
    assert clf.estimate_["rows"] == "held-out folds" and not clf.estimate_["certified"]
    assert clf.estimate_["loss_increase"] == pytest.approx(increase[best])
    if clf.best_family_ != "reference":
        assert cost[best] == cost[ok].min()  # the cheapest candidate that meets it
    else:  # or the reference, when that one came out dearer once refitted on every row
        assert clf.predict_cost(X_test).mean() == pytest.approx(10.0)
    assert set(res["family"]) == {"learned", "thresholds", "hybrid", "reference"}
    assert_allclose(res["mean_test_accuracy"], 1 - loss)
    assert_allclose(res["mean_test_relative_cost"], cost / 10)
    assert clf.score(X_test, y_test) > 0.85


def test_budget_mode_meets_a_cost_budget(digits):
    X, y, X_test, _ = digits
    for kwargs in [dict(max_cost=3.0), dict(max_relative_cost=0.3)]:
        clf = budget_ladder(**kwargs).fit(X, y)
        res, best = clf.cv_results_, clf.best_index_
        cost, loss = res["mean_test_cost"], res["mean_test_loss"]
        within = cost <= 3.0 + 1e-12
        assert within[best] and loss[best] == loss[within].min()
        assert clf.predict_cost(X_test).mean() < 4.0  # near the budget on new rows too


def test_budget_mode_families_give_their_routers(digits):
    from skadaptive import RoutingPolicy
    from skadaptive.baselines import ThresholdPolicy
    from skadaptive.routers import HybridPolicy

    X, y, X_test, _ = digits
    expected = {"learned": RoutingPolicy, "thresholds": ThresholdPolicy, "hybrid": HybridPolicy}
    for family, kind in expected.items():
        # A budget that the reference (the last model alone) does not meet.
        clf = budget_ladder(max_relative_cost=0.5, families=[family]).fit(X, y)
        assert clf.best_family_ == family and isinstance(clf.policy_, kind)
        assert (clf.cost_weight_ is None) == (family == "thresholds")
        assert (clf.cost_fraction_ is None) == (family == "learned")
        stage = clf.apply(X_test)
        outputs = np.stack(list(clf.staged_predict_proba(X_test)), axis=1)
        assert_array_equal(stage, clf.policy_.apply(outputs))


def test_budget_mode_errors(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="exactly one of max_accuracy_loss"):
        budget_ladder().fit(X, y)
    with pytest.raises(ValueError, match="exactly one of max_accuracy_loss"):
        budget_ladder(max_cost=2.0, max_accuracy_loss=0.01).fit(X, y)
    with pytest.raises(ValueError, match="families"):
        budget_ladder(max_cost=2.0, families=["magic"]).fit(X, y)
    with pytest.raises(ValueError, match="cost_weights"):
        budget_ladder(max_cost=2.0, cost_weights=[-1.0]).fit(X, y)


def test_budget_mode_shows_progress_when_verbose(digits, capsys):
    X, y, _, _ = digits
    budget_ladder(max_cost=2.0, verbose=1).fit(X, y)
    err = capsys.readouterr().err
    assert "budget mode: held-out folds" in err and "cross-fitting stages" in err
    budget_ladder(max_cost=2.0).fit(X, y)
    assert capsys.readouterr().err == ""


def test_the_reference_candidate_is_the_safe_fallback(digits):
    from sklearn.tree import DecisionTreeClassifier

    from skadaptive import NetworkSelectionClassifierCV
    from skadaptive.routers import ReferencePolicy

    X, y, X_test, _ = digits
    clf = NetworkSelectionClassifierCV(
        [
            ("nb", GaussianNB()),
            ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
            ("lr", LogisticRegression(max_iter=300)),
        ],
        costs=[1, 2, 10],
        max_accuracy_loss=0.0,
        families=["thresholds"],
        cv=3,
        random_state=0,
    ).fit(X, y)
    res = clf.cv_results_
    ref = np.flatnonzero(res["family"] == "reference")[0]
    assert res["mean_test_loss"][ref] == pytest.approx(res["reference_loss"])
    # The reference is the last model alone, on its own route: its cost, no more.
    assert res["mean_test_cost"][ref] == 10.0 == clf._reference_cost()
    router = ReferencePolicy([1, 2, 10], clf.classes_, entry=2).fit()
    outputs = np.stack(list(clf.staged_predict_proba(X_test)), axis=1)
    route = router.route(outputs)
    assert_array_equal(route.stage, 2)
    assert_array_equal(route.path, np.tile([False, False, True], (len(X_test), 1)))
    assert_array_equal(route.proba, clf.estimators_[2].predict_proba(X_test))


def test_budget_scoring_equals_the_separate_scorers(digits):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skadaptive.metrics import (
        budget_scoring,
        neg_relative_cost_scorer,
        reference_accuracy_scorer,
    )

    X, y, X_test, y_test = digits
    hgb = HistGradientBoostingClassifier(max_iter=20, early_stopping=False, random_state=0)
    for est in [
        make_pipeline(StandardScaler(), ladder(cost_weight=0.05)),
        EarlyExitClassifier(hgb, exits=[5, 10, 20], cost_weight=0.05, cv=3, random_state=0),
    ]:
        est.fit(X, y)
        scores = budget_scoring()(est, X_test, y_test)
        assert scores["accuracy"] == pytest.approx(est.score(X_test, y_test))
        assert scores["reference_accuracy"] == pytest.approx(
            reference_accuracy_scorer(est, X_test, y_test)
        )
        assert scores["neg_relative_cost"] == pytest.approx(neg_relative_cost_scorer(est, X_test))


def test_budget_mode_gives_the_same_path_with_parallel_folds(digits):
    X, y, X_test, _ = digits
    one = budget_ladder(max_accuracy_loss=0.01).fit(X, y)
    two = budget_ladder(max_accuracy_loss=0.01, n_jobs=2).fit(X, y)
    for key in ["mean_test_loss", "mean_test_cost", "cost_fraction", "test_loss_increase"]:
        assert_allclose(two.cv_results_[key], one.cv_results_[key])
    assert_array_equal(two.cv_results_["family"], one.cv_results_["family"])
    assert_array_equal(two.predict(X_test), one.predict(X_test))


def test_budget_mode_takes_the_reference_when_the_refitted_choice_costs_more(digits, monkeypatch):
    """A loss target is met by the reference by definition: a chosen router that comes out
    dearer than the reference once refitted on every row gives way to it."""
    import skadaptive._budget as budget
    from skadaptive.routers import ThresholdPolicy

    X, y, X_test, _ = digits

    def never_exits(setup, outputs, losses, X, family, *args, **kwargs):  # every stage: 1 + 10
        if family == "reference":
            return setup["reference_router"]
        n_exits = outputs.shape[1] - 1
        template = setup["template"]
        return ThresholdPolicy([2.0] * n_exits, costs=template.costs, classes=template.classes).fit(
            outputs
        )

    monkeypatch.setattr(budget, "fit_candidate", never_exits)
    clf = budget_ladder(max_accuracy_loss=0.01, families=["thresholds"]).fit(X, y)
    picked = clf.cv_results_["mean_test_cost"].argmin()
    assert clf.cv_results_["family"][picked] == "thresholds"  # cheaper on held-out folds
    assert clf.best_family_ == "reference"
    assert clf.cv_results_["family"][clf.best_index_] == "reference"
    assert clf.cost_weight_ is None and clf.cost_fraction_ is None
    assert_allclose(clf.predict_cost(X_test), 10.0)


def test_retarget_chooses_as_a_fresh_fit_without_refitting_the_candidates(digits, monkeypatch):
    """No candidate depends on the target, so a fitted estimator re-chosen for another
    target is the estimator fitted for it; only the chosen candidate is fitted again."""
    import skadaptive._candidates as candidates

    X, y, X_test, _ = digits
    tight = budget_ladder(max_accuracy_loss=0.0).fit(X, y)
    before = tight.predict_proba(X_test)
    calls = []
    real = candidates.learned_path

    def counting(*args, **kwargs):
        calls.append(1)
        yield from real(*args, **kwargs)

    monkeypatch.setattr(candidates, "learned_path", counting)
    for target in [dict(max_accuracy_loss=0.02), dict(max_relative_cost=0.4)]:
        calls.clear()
        again = tight.retarget(**target)
        assert len(calls) <= 1  # the chosen candidate's one policy fit, at most
        monkeypatch.setattr(candidates, "learned_path", real)
        fresh = budget_ladder(**target).fit(X, y)
        monkeypatch.setattr(candidates, "learned_path", counting)
        assert again.get_params()["max_accuracy_loss"] == target.get("max_accuracy_loss")
        assert again.best_index_ == fresh.best_index_
        assert_allclose(again.predict_proba(X_test), fresh.predict_proba(X_test))
        for key in ["test_loss_increase", "mean_test_cost"]:
            assert_allclose(again.cv_results_[key], fresh.cv_results_[key])
    # the estimator it came from is untouched
    assert tight.max_accuracy_loss == 0.0 and tight.max_relative_cost is None
    assert_array_equal(tight.predict_proba(X_test), before)


def test_retarget_with_confidence_and_errors(digits):
    X, y, X_test, _ = digits
    guaranteed = budget_ladder(max_accuracy_loss=0.05, confidence=0.9, calibration_size=0.5)
    guaranteed.fit(X, y)
    again = guaranteed.retarget(max_accuracy_loss=0.03)
    fresh = budget_ladder(max_accuracy_loss=0.03, confidence=0.9, calibration_size=0.5).fit(X, y)
    assert again.estimate_ == fresh.estimate_
    assert_allclose(again.predict_proba(X_test), fresh.predict_proba(X_test))
    plain = again.retarget(max_accuracy_loss=0.03, confidence=None)  # evaluated again
    assert plain.estimate_["rows"] == "held-out folds"
    with pytest.raises(ValueError, match="exactly one of max_accuracy_loss"):
        again.retarget(max_accuracy_loss=0.01, max_cost=2.0)
    with pytest.raises(ValueError, match="features='proba\\+X'"):
        budget_ladder(max_accuracy_loss=0.05, features="proba+X").fit(X, y).retarget(
            max_accuracy_loss=0.01
        )


def test_the_lambda_path_warm_starts_to_the_same_policies(digits):
    """Each lambda's logistic regressions start from the previous lambda's solution: fewer
    iterations, the same optimum (routes agree with cold fits), and no chain kept."""
    import pickle

    from skadaptive import RoutingPolicy
    from skadaptive._candidates import learned_path
    from skadaptive._losses import stage_losses

    X, y, _, _ = digits
    clf = budget_ladder(max_accuracy_loss=0.01).fit(X, y)
    outputs = clf.oof_outputs_
    losses = stage_losses(outputs, y, clf.classes_)
    template = RoutingPolicy(costs=[1, 10], classes=clf.classes_)
    weights = [0.0, 0.003, 0.01, 0.03, 0.1]
    warm_iters = cold_iters = 0
    for weight, warm in learned_path(template, weights, outputs, losses, warm_start=True):
        cold = clone(template).set_params(cost_weight=weight).fit_losses(outputs, losses)
        agree = np.mean(warm.apply(outputs) == cold.apply(outputs))
        assert agree >= 0.995, (weight, agree)
        assert not hasattr(warm, "_warm_start_from")
        assert len(pickle.dumps(warm)) == len(pickle.dumps(cold))
        for key, policy in warm.policies_.items():
            if hasattr(policy, "n_iter_"):
                assert policy.warm_start is False  # the template's setting, restored
                warm_iters += int(policy.n_iter_.max())
                cold_iters += int(cold.policies_[key].n_iter_.max())
    assert warm_iters < cold_iters
