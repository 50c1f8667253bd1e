"""The bad-input table of docs/robustness.md: each case fails clearly or works correctly.

Every case also checks that nothing the user passed was modified, and that a fit
that fails leaves the estimator as it was.
"""

import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import all_digits, two_stage_ladder
from numpy.testing import assert_array_equal
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skadaptive import EarlyExitClassifier, NetworkSelectionClassifier

X_ALL, Y_ALL = all_digits()
X, Y = X_ALL[:600], Y_ALL[:600]
ladder = two_stage_ladder  # naive Bayes then logistic regression, costs 1 and 10


def linear_ladder(**kwargs):
    """Stages that take sparse input."""
    return NetworkSelectionClassifier(
        [("lr", LogisticRegression(max_iter=100, C=0.01)), ("lr2", LogisticRegression(C=10))],
        costs=[1, 10],
        cv=3,
        random_state=0,
        **kwargs,
    )


def hgb_exits(**kwargs):
    hgb = HistGradientBoostingClassifier(max_iter=10, early_stopping=False, random_state=0)
    return EarlyExitClassifier(hgb, exits=[5, 10], costs=[1, 1], cv=3, random_state=0, **kwargs)


def with_value(value, row=0, col=3):
    X_bad = X.astype(float)
    X_bad[row, col] = value
    return X_bad


def snapshot(data):
    """A hash of the values (not the memory layout) of what the user passed."""
    if sp.issparse(data):
        data = (data.toarray(), data.format)
    elif isinstance(data, np.ndarray):
        data = (np.ascontiguousarray(data), data.dtype.str, data.shape)
    return joblib.hash(data)


class RaisingNB(GaussianNB):
    """Fits, then fails on small predict calls (the routed ones)."""

    def predict_proba(self, X):
        if len(X) < 100:
            raise RuntimeError("the stage broke")
        return super().predict_proba(X)


def frozen_disagreeing():
    nb = GaussianNB().fit(X[Y < 5], Y[Y < 5])
    lr = LogisticRegression(max_iter=300).fit(X, Y)
    return NetworkSelectionClassifier(
        [("nb", FrozenEstimator(nb)), ("lr", FrozenEstimator(lr))], costs=[1, 10]
    )


# (case, estimator factory, X, y, error type, message pattern); a fit must raise.
FIT_ERRORS = [
    ("NaN in X", ladder, with_value(np.nan), Y, ValueError, "Input X contains NaN"),
    ("inf in X", ladder, with_value(np.inf), Y, ValueError, "Input X contains infinity"),
    ("empty X", ladder, X[:0], Y[:0], ValueError, "0 sample"),
    ("one row", ladder, X[:1], Y[:1], ValueError, "at least 2 classes"),
    ("one class", ladder, X[Y == 1], Y[Y == 1], ValueError, "at least 2 classes"),
    ("y of another length", ladder, X, Y[:-1], ValueError, "inconsistent numbers of samples"),
    ("continuous y", ladder, X, Y + 0.5, ValueError, "Unknown label type"),
    ("1-D X", ladder, X[:, 0], Y, ValueError, "Expected 2D array"),
    ("3-D X", ladder, X[:, :, None], Y, ValueError, "dim 3"),
    ("strings in X", ladder, X.astype(str), Y, ValueError, "numeric"),
    ("sparse X, a dense-only stage", ladder, sp.csr_matrix(X), Y, TypeError, "dense data"),
    ("stages disagree on classes", frozen_disagreeing, X, Y, ValueError, "disagree on classes"),
    (
        "costs of the wrong length",
        lambda: ladder(costs=[1, 2, 3]),
        X,
        Y,
        ValueError,
        "one entry per stage: expected 2",
    ),
    ("negative costs", lambda: ladder(costs=[-1, 2]), X, Y, ValueError, "non-negative"),
    ("NaN cost", lambda: ladder(costs=[np.nan, 2]), X, Y, ValueError, "finite"),
    ("infinite cost", lambda: ladder(costs=[1, np.inf]), X, Y, ValueError, "finite"),
    ("all costs zero", lambda: ladder(costs=[0, 0]), X, Y, ValueError, "not all be zero"),
    (
        "negative cost_weight",
        lambda: ladder(cost_weight=-1.0),
        X,
        Y,
        InvalidParameterError,
        "cost_weight",
    ),
    ("NaN cost_weight", lambda: ladder(cost_weight=np.nan), X, Y, InvalidParameterError, "nan"),
    (
        "policy estimator without sample_weight",
        lambda: ladder(policy_estimator=KNeighborsClassifier()),
        X,
        Y,
        ValueError,
        "does not accept sample_weight",
    ),
    (
        "policy estimator without predict",
        lambda: ladder(policy_estimator=StandardScaler()),
        X,
        Y,
        InvalidParameterError,
        "implementing 'fit' and 'predict'",
    ),
    (
        "one stage",
        lambda: NetworkSelectionClassifier([("nb", GaussianNB())], costs=[1]),
        X,
        Y,
        ValueError,
        "at least 2",
    ),
]


@pytest.mark.parametrize(
    "make, X_in, y_in, error, match",
    [case[1:] for case in FIT_ERRORS],
    ids=[c[0] for c in FIT_ERRORS],
)
def test_fit_rejects_bad_input_clearly_and_modifies_nothing(make, X_in, y_in, error, match):
    clf = make()
    params = joblib.hash(clf.get_params(deep=True))
    before = snapshot(X_in), snapshot(y_in)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=match):
            clf.fit(X_in, y_in)
    assert joblib.hash(clf.get_params(deep=True)) == params
    assert (snapshot(X_in), snapshot(y_in)) == before
    assert not [k for k in vars(clf) if k.endswith("_") and not k.startswith("__")]
    with pytest.raises(NotFittedError):
        clf.predict(X[:2])


@pytest.fixture(scope="module")
def fitted():
    return ladder(cost_weight=0.01).fit(X, Y)


PREDICT_ERRORS = [
    ("NaN in X", with_value(np.nan)[:5], ValueError, "Input X contains NaN"),
    ("inf in X", with_value(-np.inf)[:5], ValueError, "Input X contains infinity"),
    ("wrong number of features", X[:5, :10], ValueError, "X has 10 features, but"),
    ("empty X", X[:0], ValueError, "0 sample"),
    ("sparse X, a dense-only stage", sp.csr_matrix(X[:5]), TypeError, "dense data"),
    ("1-D X", X[0], ValueError, "Expected 2D array"),
]


@pytest.mark.parametrize(
    "X_in, error, match", [c[1:] for c in PREDICT_ERRORS], ids=[c[0] for c in PREDICT_ERRORS]
)
def test_predict_rejects_bad_input_clearly(fitted, X_in, error, match):
    before = snapshot(X_in)
    for method in ["predict", "predict_proba", "apply", "decision_path", "predict_cost"]:
        with pytest.raises(error, match=match):
            getattr(fitted, method)(X_in)
    assert snapshot(X_in) == before


def test_nan_is_fine_where_every_stage_takes_it():
    X_nan = with_value(np.nan, row=slice(0, 50))
    clf = hgb_exits().fit(X_nan, Y)
    assert clf.predict(X_nan[:60]).shape == (60,)
    with pytest.raises(ValueError, match="infinity"):
        clf.predict(with_value(np.inf)[:5])


def test_one_row_at_predict_time(fitted):
    one = fitted.predict(X_ALL[700:701])
    assert_array_equal(one, fitted.predict(X_ALL[700:710])[:1])
    assert fitted.predict_proba(X_ALL[700:701]).shape == (1, 10)


def test_labels_never_seen_at_fit_time_score_as_wrong(fitted):
    y_test = Y_ALL[700:800].copy()
    expected = np.mean(fitted.predict(X_ALL[700:800])[:50] == y_test[:50]) / 2
    y_test[50:] = 99  # a label the estimator cannot predict
    assert fitted.score(X_ALL[700:800], y_test) == pytest.approx(expected)


def test_a_stage_that_raises_during_predict_is_named():
    clf = NetworkSelectionClassifier(
        [("nb", RaisingNB()), ("lr", LogisticRegression(max_iter=300))], costs=[1, 10], cv=3
    ).fit(X, Y)  # fits and cross-fits on calls of >= 100 rows
    with pytest.raises(RuntimeError, match="the stage broke") as info:
        clf.predict(X_ALL[700:710])
    if hasattr(info.value, "__notes__"):  # Python 3.11+
        assert "stage 0 ('nb')" in info.value.__notes__[-1]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sparse_input_works_where_every_stage_takes_it():
    X_sparse = sp.csr_matrix(X)
    clf = linear_ladder().fit(X_sparse, Y)
    dense = linear_ladder().fit(X, Y)
    assert_array_equal(clf.predict(sp.csr_matrix(X_ALL[700:])), dense.predict(X_ALL[700:]))
    assert sp.issparse(X_sparse) and X_sparse.nnz == np.count_nonzero(X)


def test_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    columns = [f"pixel{i}" for i in range(64)]
    frame = pd.DataFrame(X, columns=columns)
    frame_copy = frame.copy()
    clf = ladder().fit(frame, Y)
    assert list(clf.feature_names_in_) == columns
    test = pd.DataFrame(X_ALL[700:], columns=columns)
    assert_array_equal(clf.predict(test), ladder().fit(X, Y).predict(X_ALL[700:]))
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(test.rename(columns={"pixel0": "other"}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        clf.predict(X_ALL[700:])
    pd.testing.assert_frame_equal(frame, frame_copy)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8])
def test_float32_and_integer_input(dtype):
    reference = ladder().fit(X, Y)
    clf = ladder().fit(X.astype(dtype), Y)
    X_test = X_ALL[700:].astype(dtype)
    agree = np.mean(clf.predict(X_test) == reference.predict(X_ALL[700:]))
    assert agree > 0.98  # float32 rounding may flip a few borderline routes
    assert clf.predict_proba(X_test).dtype == np.float64


def test_a_failed_refit_keeps_the_previous_fit():
    class FailingPolicy(LogisticRegression):
        def fit(self, X, y, sample_weight=None):
            raise RuntimeError("policy fit failed")

    clf = ladder(cost_weight=0.01).fit(X, Y)
    before = clf.predict(X_ALL[700:])
    state = {k: v for k, v in vars(clf).items() if k.endswith("_")}
    clf.set_params(policy_estimator=FailingPolicy())
    with pytest.raises(RuntimeError, match="policy fit failed"):
        clf.fit(X_ALL[:300], Y_ALL[:300])  # fails after the stages were fitted
    assert {k: v for k, v in vars(clf).items() if k.endswith("_")}.keys() == state.keys()
    assert all(vars(clf)[k] is v for k, v in state.items())
    assert_array_equal(clf.predict(X_ALL[700:]), before)

    fresh = ladder(policy_estimator=FailingPolicy())
    with pytest.raises(RuntimeError, match="policy fit failed"):
        fresh.fit(X, Y)
    assert not [k for k in vars(fresh) if k.endswith("_")]


def test_fit_and_predict_modify_nothing_passed():
    X_in, y_in = X.copy(), Y.copy()
    weights = np.linspace(0.5, 1.5, len(Y))
    costs = [1, 10]
    clf = ladder(costs=costs)
    params = joblib.hash(clf.get_params(deep=True))
    snapshot = joblib.hash((X_in, y_in, weights, costs))
    clf.fit(X_in, y_in, sample_weight=weights)
    for method in ["predict", "predict_proba", "apply", "decision_path", "predict_cost"]:
        getattr(clf, method)(X_in)
    clf.score(X_in, y_in)
    assert joblib.hash((X_in, y_in, weights, costs)) == snapshot
    assert joblib.hash(clf.get_params(deep=True)) == params


def test_routing_policy_rejects_zero_weights_and_zero_rows():
    from scipy.special import softmax

    from skadaptive import RoutingPolicy

    rng = np.random.default_rng(0)
    outputs, y = softmax(rng.normal(size=(30, 3, 3)), axis=2), rng.integers(0, 3, 30)
    with pytest.raises(ValueError, match="at least one positive weight"):
        RoutingPolicy(costs=[1, 2, 3]).fit(outputs, y, sample_weight=np.zeros(30))
    policy = RoutingPolicy(costs=[1, 2, 3]).fit(outputs, y)
    with pytest.raises(ValueError, match="0 rows"):
        policy.predict(outputs[:0])


def test_a_nan_error_names_the_stages_that_cannot_take_nan():
    hgb = HistGradientBoostingClassifier(max_iter=10, early_stopping=False, random_state=0)
    mixed = NetworkSelectionClassifier(
        [("nb", GaussianNB()), ("hgb", hgb)], costs=[1, 10], cv=3, random_state=0
    )
    X_bad = with_value(np.nan)
    with pytest.raises(ValueError, match=r"Input X contains NaN") as caught:
        mixed.fit(X_bad, Y)
    message = str(caught.value)
    assert "stage 0 ('nb': GaussianNB), which cannot take NaN" in message
    assert "SimpleImputer" in message and "'hgb'" not in message
    fitted = mixed.fit(X, Y)  # and at predict time, the same hint
    with pytest.raises(ValueError, match=r"stage 0 \('nb': GaussianNB\)"):
        fitted.predict(X_bad)
