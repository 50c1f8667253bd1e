"""Write saved_v0_1.skops and saved_v0_1.json: estimators saved by skadaptive 0.1.

Run once, at commit dee1a79 (the last commit before the persisted names became stable
public names), from the repository root:  python tests/data/make_saved_v0_1.py
tests/test_persistence.py loads the file with the current code and checks the answers.
"""

import json
import zipfile

from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from skadaptive import (
    EarlyExitClassifierCV,
    NetworkSelectionClassifier,
    NetworkSelectionClassifierCV,
)
from skadaptive.persistence import dump


def main():
    X, y = load_digits(n_class=4, return_X_y=True)
    X, y = X[::4, ::2], y[::4]
    ns = NetworkSelectionClassifier(
        [
            ("nb", GaussianNB()),
            ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
            ("lr", LogisticRegression(max_iter=300)),
        ],
        costs=[1, 2, 10],
        cost_weight=0.05,
        cv=3,
        random_state=0,
    ).fit(X, y)
    nscv = NetworkSelectionClassifierCV(
        [("nb", GaussianNB()), ("lr", LogisticRegression(max_iter=300))],
        costs=[1, 10],
        max_accuracy_loss=0.03,
        families=["hybrid"],
        cost_weights=[0.01, 0.1],
        cv=3,
        selection_cv=3,
        random_state=0,
    ).fit(X, y)
    ee = EarlyExitClassifierCV(
        RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0),
        exits=[1, 2, 4],
        max_relative_cost=0.7,
        families=["thresholds"],
        cv=3,
        selection_cv=3,
        random_state=0,
    ).fit(X, y)
    models = {
        "network_selection": ns,
        "network_selection_cv_hybrid": nscv,
        "early_exit_cv_thresholds": ee,
    }
    data = dump(models)
    with zipfile.ZipFile("tests/data/saved_v0_1.skops", "w", zipfile.ZIP_DEFLATED) as out:
        with zipfile.ZipFile(__import__("io").BytesIO(data)) as src:
            for name in src.namelist():
                out.writestr(name, src.read(name))
    expected = {
        name: {
            "predict": m.predict(X).tolist(),
            "apply": m.apply(X).tolist(),
            "predict_proba": m.predict_proba(X).round(12).tolist(),
        }
        for name, m in models.items()
    }
    expected["X"] = X.tolist()
    with open("tests/data/saved_v0_1.json", "w") as f:
        json.dump(expected, f)
    for name, m in models.items():
        print(
            name,
            type(m.policy_).__name__,
            [int((m.apply(X) == k).sum()) for k in range(m.n_stages_)],
        )


if __name__ == "__main__":  # not at import: pytest imports modules for doctests
    main()
