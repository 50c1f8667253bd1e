"""CostAccuracyDisplay and ExitShareDisplay: the numbers, the plots, the optional import."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _helpers import make_outputs
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from skadaptive import EarlyExitClassifier, NetworkSelectionClassifier, RoutingPolicy
from skadaptive.baselines import ThresholdPolicy

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skadaptive.plotting import CostAccuracyDisplay, ExitShareDisplay  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def accuracy(proba, y):
    return np.mean(proba.argmax(axis=1) == y)


def assert_png(display, path):
    display.figure_.savefig(path)
    assert path.exists() and path.stat().st_size > 0


@pytest.fixture(scope="module")
def early_exit(digits):
    X, y, _, _ = digits
    hgb = HistGradientBoostingClassifier(max_iter=8, early_stopping=False, random_state=0)
    return EarlyExitClassifier(hgb, exits=[2, 4, 8], cost_weight=0.05, cv=3, random_state=0).fit(
        X, y
    )


@pytest.fixture(scope="module")
def selection_pipeline(digits):
    X, y, _, _ = digits
    ladder = NetworkSelectionClassifier(
        [
            ("nb", GaussianNB()),
            ("tree", DecisionTreeClassifier(max_depth=8, random_state=0)),
            ("lr", LogisticRegression(max_iter=200)),
        ],
        costs=[1, 3, 10],
        cv=3,
        random_state=0,
    )
    return make_pipeline(StandardScaler(), ladder).fit(X, y)


# -- CostAccuracyDisplay.from_predictions -----------------------------------------------
def test_from_predictions_numbers_and_png(tmp_path):
    outputs, y = make_outputs(300)
    costs = np.array([1.0, 2.0, 4.0])
    disp = CostAccuracyDisplay.from_predictions(
        outputs, y, costs=costs, cv=3, cost_weights=[0, 0.01, 0.1, 1e6], name="mine"
    )
    assert_png(disp, tmp_path / "cost_accuracy.png")
    assert set(disp.lines_) == {"learned", "threshold", "stages", "oracle"}
    assert disp.evaluation_.startswith("cross-fitted")
    # each stage alone: its accuracy, at its cumulative cost; the reference is every stage
    assert disp.stages_.name == ["stage 0", "stage 1", "stage 2"]
    assert_allclose(disp.stages_.accuracy, [accuracy(outputs[:, k], y) for k in range(3)])
    assert_allclose(disp.stages_.cost, [1, 3, 7])
    assert disp.reference_cost_ == 7
    assert_allclose(disp.lines_["stages"].get_xdata(), np.array([1, 3, 7]) / 7)
    # the oracle is at least as accurate as every other point
    others = np.r_[disp.learned_.accuracy, disp.threshold_.accuracy, disp.stages_.accuracy]
    assert np.all(disp.oracle_.accuracy >= others)
    assert disp.oracle_.accuracy == np.mean((outputs.argmax(axis=2) == y[:, None]).any(axis=1))
    # a huge cost weight answers at the first stage
    assert_array_equal(disp.learned_.cost_weight, [0, 0.01, 0.1, 1e6])
    assert disp.learned_.cost[-1] == costs[0]
    assert disp.learned_.accuracy[-1] == disp.stages_.accuracy[0]
    # the default thresholds run from "every row exits first" to "no row exits early"
    assert disp.threshold_.cost.min() == costs[0]
    assert disp.threshold_.cost.max() == costs.sum()


def test_from_predictions_cross_fitted_path_is_out_of_fold():
    outputs, y = make_outputs(300)
    cv = KFold(3, shuffle=True, random_state=0)
    disp = CostAccuracyDisplay.from_predictions(
        outputs, y, costs=[1, 2, 4], cv=cv, cost_weights=[0.05]
    )
    cost, right = np.zeros(len(y)), np.zeros(len(y), dtype=bool)
    for train, test in cv.split(outputs):
        policy = RoutingPolicy([1, 2, 4], cost_weight=0.05).fit(outputs[train], y[train])
        res = policy.route(outputs[test])
        cost[test], right[test] = res.cost, res.proba.argmax(axis=1) == y[test]
    assert_allclose(disp.learned_.cost, [cost.mean()])
    assert_allclose(disp.learned_.accuracy, [right.mean()])


def test_from_predictions_held_out_rows_and_given_thresholds():
    outputs, y = make_outputs(400)
    train, y_train, test, y_test = outputs[:200], y[:200], outputs[200:], y[200:]
    train_copy, test_copy = train.copy(), test.copy()
    disp = CostAccuracyDisplay.from_predictions(
        train,
        y_train,
        eval_outputs=test,
        y_eval=y_test,
        cost_weights=[0.02, 0.2],
        thresholds=[0.9, 0.5],
        topology="jump",
        stage_names=["a", "b", "c"],
    )
    assert_array_equal(train, train_copy)  # inputs are not modified
    assert_array_equal(test, test_copy)
    assert disp.evaluation_ == "held-out"
    policy = RoutingPolicy(cost_weight=0.2, topology="jump").fit(train, y_train)
    assert disp.learned_.accuracy[1] == policy.score(test, y_test)
    assert disp.learned_.cost[1] == policy.predict_cost(test).mean()
    threshold = ThresholdPolicy(0.9).fit(test, y_test)
    assert_array_equal(disp.threshold_.threshold, [0.5, 0.9])
    assert disp.threshold_.accuracy[1] == threshold.score(test, y_test)
    # topology="jump": separate models, so each stage costs its own and the last is the reference
    assert_allclose(disp.stages_.cost, [1, 1, 1])
    assert disp.reference_cost_ == 1
    assert disp.stages_.accuracy[2] == accuracy(test[:, 2], y_test)
    disp.plot(relative_cost=False, name="other", color="red")
    assert disp.lines_["learned"].get_label() == "other (cost_weight sweep)"
    assert "units of costs" in disp.ax_.get_xlabel()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"y": np.zeros(5)}, "y has 5 rows"),
        ({"eval_outputs": np.ones((4, 3, 4))}, "both eval_outputs and y_eval"),
        ({"eval_outputs": np.ones((4, 2, 4)), "y_eval": np.zeros(4)}, "must match"),
        ({"eval_outputs": np.ones((4, 3, 4)), "y_eval": np.zeros(4), "cv": 3}, "without eval"),
        ({"topology": "tree"}, "'topology' parameter"),
        ({"features": "proba+X"}, "'features' parameter"),
        ({"reference": "first"}, "'reference' parameter"),
        ({"cost_weights": [0.1, -1]}, "cost_weights must be >= 0"),
        ({"cost_weights": []}, "cost_weights must be a non-empty"),
        ({"thresholds": [[0.5]]}, "thresholds must be a non-empty 1-D"),
        ({"costs": [1, 2]}, "costs must have one entry per stage"),
        ({"classes": [0, 1]}, "pass classes="),
        ({"stage_names": ["a"]}, "stage_names needs 3 names"),
        ({"stage_outputs": np.ones((300, 4))}, r"shape \(n_samples, n_stages >= 2"),
    ],
)
def test_from_predictions_errors(kwargs, match):
    outputs, y = make_outputs(300)
    args = {"stage_outputs": outputs, "y": y, **kwargs}
    with pytest.raises(ValueError, match=match):
        CostAccuracyDisplay.from_predictions(args.pop("stage_outputs"), args.pop("y"), **args)


# -- CostAccuracyDisplay.from_estimator ---------------------------------------------------
def test_from_estimator_early_exit_with_training_labels(early_exit, digits, tmp_path):
    X, y, X_test, y_test = digits
    disp = CostAccuracyDisplay.from_estimator(early_exit, X_test, y_test, y_train=y)
    assert_png(disp, tmp_path / "early_exit.png")
    assert disp.evaluation_ == "held-out"
    staged = np.stack(list(early_exit.staged_predict_proba(X_test)), axis=1)
    assert_allclose(disp.stages_.accuracy, [accuracy(staged[:, k], y_test) for k in range(3)])
    assert_allclose(disp.stages_.cost, np.cumsum(early_exit.costs_))
    assert disp.stages_.name == ["exit 0", "exit 1", "exit 2"]
    assert disp.reference_cost_ == early_exit.costs_.sum()
    # the estimator's own point, which lies on the path learned from its oof outputs
    point = disp.operating_point_
    assert point.accuracy == early_exit.score(X_test, y_test)
    assert point.cost == early_exit.predict_cost(X_test).mean()
    i = np.flatnonzero(disp.learned_.cost_weight == early_exit.cost_weight)[0]
    assert (disp.learned_.cost[i], disp.learned_.accuracy[i]) == (point.cost, point.accuracy)
    assert disp.learned_.cost[-1] == early_exit.costs_[0]  # cost_weight=10: first exit only
    assert disp.oracle_.accuracy >= max(point.accuracy, disp.learned_.accuracy.max())
    assert "estimator" in disp.lines_


def test_from_estimator_cross_fitted_and_label_checks(early_exit, digits):
    X, y, X_test, y_test = digits
    disp = CostAccuracyDisplay.from_estimator(
        early_exit, X_test, y_test, cv=3, cost_weights=[0.0, 1e3]
    )
    assert disp.evaluation_ == "cross-fitted on (X, y)"
    assert disp.learned_.cost[1] == early_exit.costs_[0]
    with pytest.warns(UserWarning, match="does not reproduce"):
        CostAccuracyDisplay.from_estimator(
            early_exit, X_test, y_test, y_train=np.roll(y, 1), cost_weights=[0.1]
        )
    with pytest.raises(ValueError, match="y_train has 10 rows"):
        CostAccuracyDisplay.from_estimator(early_exit, X_test, y_test, y_train=y[:10])
    with pytest.raises(ValueError, match="pass it without y_train"):
        CostAccuracyDisplay.from_estimator(early_exit, X_test, y_test, y_train=y, cv=3)
    with pytest.raises(ValueError, match="y has 5 rows"):
        CostAccuracyDisplay.from_estimator(early_exit, X_test, y_test[:5])


def test_from_estimator_network_selection_in_pipeline(selection_pipeline, digits, tmp_path):
    X, y, X_test, y_test = digits
    ladder = selection_pipeline[-1]
    disp = CostAccuracyDisplay.from_estimator(selection_pipeline, X_test, y_test, y_train=y)
    assert_png(disp, tmp_path / "selection.png")
    assert disp.stages_.name == ["nb", "tree", "lr"]
    assert_allclose(disp.stages_.cost, ladder.costs_)  # separate models: each its own cost
    assert disp.reference_cost_ == ladder.costs_[-1]
    assert disp.operating_point_.accuracy == selection_pipeline.score(X_test, y_test)
    assert disp.name == "NetworkSelectionClassifier"
    others = np.r_[disp.learned_.accuracy, disp.threshold_.accuracy, disp.stages_.accuracy]
    assert np.all(disp.oracle_.accuracy >= others)

    shares = ExitShareDisplay.from_estimator(selection_pipeline, X_test)
    assert_png(shares, tmp_path / "shares.png")
    stage = ladder.apply(selection_pipeline[:-1].transform(X_test))
    assert_allclose(shares.shares_, np.bincount(stage, minlength=3) / len(stage))
    assert [t.get_text() for t in shares.ax_.get_xticklabels()] == ["nb", "tree", "lr"]


def test_from_estimator_policies_that_use_X(digits):
    X, y, X_test, y_test = digits
    clf = NetworkSelectionClassifier(
        [("nb", GaussianNB()), ("tree", DecisionTreeClassifier(max_depth=6, random_state=0))],
        costs=[1, 4],
        features="proba+X",
        cv=3,
        random_state=0,
        policy_estimator=make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)),
    ).fit(X, y)
    with pytest.raises(ValueError, match="leave y_train=None"):
        CostAccuracyDisplay.from_estimator(clf, X_test, y_test, y_train=y)
    disp = CostAccuracyDisplay.from_estimator(clf, X_test, y_test, cv=2, cost_weights=[0.1])
    assert 0 < disp.learned_.accuracy[0] <= disp.oracle_.accuracy


def test_from_estimator_rejects_other_estimators(digits):
    X, y, X_test, y_test = digits
    with pytest.raises(TypeError, match="got LogisticRegression"):
        CostAccuracyDisplay.from_estimator(LogisticRegression(), X_test, y_test)
    with pytest.raises(NotFittedError):
        ExitShareDisplay.from_estimator(EarlyExitClassifier(GaussianNB()), X_test)


# -- ExitShareDisplay ------------------------------------------------------------------------
def test_exit_share_from_estimator(early_exit, digits, tmp_path):
    _, _, X_test, _ = digits
    fig, ax = plt.subplots()
    disp = ExitShareDisplay.from_estimator(early_exit, X_test, ax=ax)
    assert disp.ax_ is ax and disp.figure_ is fig
    assert_png(disp, tmp_path / "exit_share.png")
    stage = early_exit.apply(X_test)
    assert_allclose(disp.shares_, np.bincount(stage, minlength=3) / len(stage))
    assert np.isclose(disp.shares_.sum(), 1)
    assert len(disp.bars_) == 3
    assert ax.get_title() == "EarlyExitClassifier"


def test_exit_share_from_predictions():
    stage = np.array([0, 2, 2, 1, 2])
    disp = ExitShareDisplay.from_predictions(stage, stage_names=["a", "b", "c", "d"], name="t")
    assert_allclose(disp.shares_, [0.2, 0.2, 0.6, 0.0])
    assert disp.stage_names_ == ["a", "b", "c", "d"]
    assert_array_equal(stage, [0, 2, 2, 1, 2])
    assert ExitShareDisplay.from_predictions(stage).shares_.shape == (3,)
    for bad in ([0, -1], [0.0, 1.5], []):
        with pytest.raises(ValueError, match="non-negative integers"):
            ExitShareDisplay.from_predictions(bad)
    with pytest.raises(ValueError, match="above every stage index"):
        ExitShareDisplay.from_predictions(stage, n_stages=2)
    with pytest.raises(ValueError, match="stage_names needs 3 names"):
        ExitShareDisplay.from_predictions(stage, n_stages=3, stage_names=["a"])


# -- matplotlib is optional ---------------------------------------------------------------
def test_without_matplotlib(monkeypatch):
    outputs, y = make_outputs(40)
    disp = ExitShareDisplay([0.5, 0.5])
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    calls = [
        lambda: CostAccuracyDisplay.from_predictions(outputs, y),
        lambda: CostAccuracyDisplay.from_estimator(None, None, None),
        lambda: ExitShareDisplay.from_predictions([0, 1]),
        lambda: ExitShareDisplay.from_estimator(None, None),
        disp.plot,
    ]
    for call in calls:
        with pytest.raises(ImportError, match="pip install matplotlib"):
            call()


def test_import_skadaptive_does_not_import_matplotlib():
    code = (
        "import sys, skadaptive, skadaptive.plotting, skadaptive.metrics, skadaptive.baselines; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
