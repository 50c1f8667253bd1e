"""scikit-learn's estimator checks on every estimator, with fixed costs."""

import inspect

import pytest
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from skadaptive import (
    EarlyExitClassifier,
    EarlyExitClassifierCV,
    NetworkSelectionClassifier,
    NetworkSelectionClassifierCV,
)

# Checks that cannot hold for a cross-fitted meta-estimator, with the reason.
WEIGHT_CHECKS_FAIL = dict.fromkeys(
    [
        "check_sample_weight_equivalence_on_dense_data",
        "check_sample_weight_equivalence_on_sparse_data",
    ],
    "cross-fitting splits rows into folds, so repeating a row is not the same as "
    "weighting it by 2 (StackingClassifier has the same limitation)",
)

# Each estimator with the checks it is expected to fail, as strict xfails: one that starts
# to pass a check listed for it fails the suite, until the list here says so. Every case has a
# random_state, so that its folds do not depend on the global RNG (on scikit-learn 1.6 some
# fold draws give a forest fitted on zero-weight rows, which answers NaN).
CASES = [
    (
        NetworkSelectionClassifier(
            [
                ("tree", DecisionTreeClassifier(max_depth=2, random_state=0)),
                ("lr", LogisticRegression()),
                ("rf", RandomForestClassifier(n_estimators=10, random_state=0)),
            ],
            costs=[1, 2, 10],
            cv=3,
            random_state=0,
        ),
        WEIGHT_CHECKS_FAIL,
    ),
    (
        EarlyExitClassifier(
            RandomForestClassifier(n_estimators=16, random_state=0),
            exits=[4, 8, 16],
            cv=3,
            random_state=0,
        ),
        WEIGHT_CHECKS_FAIL,
    ),
    (
        # Passes the weight checks on their data (no guarantee in general).
        EarlyExitClassifier(
            GradientBoostingClassifier(n_estimators=8, max_depth=2, random_state=0),
            exits=[2, 4, 8],
            cv=3,
            random_state=0,
        ),
        {},
    ),
    (
        # Passes the weight checks on their data: budget mode picks the same threshold
        # router for the weighted and the repeated rows (no guarantee in general).
        NetworkSelectionClassifierCV(
            [
                ("tree", DecisionTreeClassifier(max_depth=2, random_state=0)),
                ("lr", LogisticRegression()),
            ],
            costs=[1, 5],
            max_accuracy_loss=0.02,
            cost_weights=[0.0, 0.1],
            cv=3,
            selection_cv=3,
            random_state=0,
        ),
        {},
    ),
    (
        EarlyExitClassifierCV(
            RandomForestClassifier(n_estimators=8, random_state=0),
            exits=[2, 8],
            max_relative_cost=0.5,
            cost_weights=[0.0, 0.1],
            cv=3,
            selection_cv=3,
            random_state=0,
        ),
        WEIGHT_CHECKS_FAIL,
    ),
]
try:  # the boosting libraries' exits, where the test environment has them
    from lightgbm import LGBMClassifier
except ImportError:
    pass
else:
    CASES.append(
        (
            EarlyExitClassifier(
                # Small leaves and bins, so that the checks' tiny folds still grow 8 trees
                # (LightGBM stops boosting when no split is left), and fixed folds.
                LGBMClassifier(
                    n_estimators=8,
                    num_leaves=4,
                    min_child_samples=1,
                    min_data_in_bin=1,
                    n_jobs=1,
                    verbose=-1,
                ),
                exits=[2, 4, 8],
                cv=3,
                random_state=0,
            ),
            # Passes the weight checks on their data (no guarantee in general).
            {
                "check_classifiers_one_label_sample_weights": "LightGBM stops boosting after "
                "one iteration when the weighted rows hold one class, so the exits after 2, 4 "
                "and 8 iterations are refused, with an error that names the iterations, not "
                "the class",
            },
        )
    )
ESTIMATORS = [estimator for estimator, _ in CASES]


def _expected_failed_checks(estimator):
    return next(failed for candidate, failed in CASES if candidate is estimator)


# An expected failure that passes fails the run. scikit-learn 1.8+ takes xfail_strict; 1.6 and
# 1.7 mark with pytest.mark.xfail, which pyproject.toml's xfail_strict makes strict too.
_STRICT = (
    {"xfail_strict": True}
    if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters
    else {}
)


# LightGBM says so when scikit-learn's checks give it sparse input; the check still holds.
@pytest.mark.filterwarnings("ignore:Converting data to scipy sparse matrix:UserWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks, **_STRICT)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
