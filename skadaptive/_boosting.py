"""Early exits for XGBoost, LightGBM and CatBoost, through their public range predictions.

Each library predicts the raw margins (scores before the link function) of a range of
boosting iterations:

- XGBoost: ``Booster.inplace_predict(X, iteration_range=(start, stop),
  predict_type="margin", base_margin=...)``;
- LightGBM: ``Booster.predict(X, start_iteration=start, num_iteration=stop - start,
  raw_score=True)``;
- CatBoost: ``CatBoostClassifier.predict(X, prediction_type="RawFormulaVal",
  ntree_start=start, ntree_end=stop)``.

An exit continues from the previous exit's margins, for the rows still active, with the
iterations it adds only.  The model's starting margin (XGBoost's ``base_score``,
CatBoost's bias) is counted once:

- XGBoost adds ``base_score`` to a range unless it is given a ``base_margin``; the first
  exit gets none, and each later exit gets the margins so far as its ``base_margin``, so
  the library adds the new trees to them;
- LightGBM folds its initial score into the first tree: ranges simply add up;
- CatBoost adds its bias to a range that starts at tree 0 only: ranges add up.

The margins become probabilities through the model's link, as its ``predict_proba``
does (``tests/test_boosting.py`` checks both, for each library, binary and multiclass).
Nothing here imports a library: a model of one can only exist once it is imported.
"""

import functools
import json
import sys

import numpy as np
from joblib import cpu_count
from scipy.special import expit, softmax

# library (module and pip extra) -> its classifier
LIBRARIES = {
    "xgboost": "XGBClassifier",
    "lightgbm": "LGBMClassifier",
    "catboost": "CatBoostClassifier",
}


def library_of(model):
    """``"xgboost"``, ``"lightgbm"`` or ``"catboost"`` for a classifier of that library, else None.

    Looks only at libraries already imported (a model of a library cannot exist before
    it is), so that checking a model never imports one.
    """
    for name, class_name in LIBRARIES.items():
        module = sys.modules.get(name)
        cls = getattr(module, class_name, None) if module is not None else None
        if cls is not None and isinstance(model, cls):
            return name
    return None


def missing_library(exc):
    """For a ModuleNotFoundError of a boosting library: an ImportError naming its extra.

    None for any other module.
    """
    name = (exc.name or "").split(".")[0]
    if name not in LIBRARIES:
        return None
    return ImportError(
        f"This needs {name} (for its {LIBRARIES[name]}), which is not installed: "
        f"pip install 'skadaptive[{name}]'."
    )


def describe(name, model):
    """What the exits need to know of a fitted library model, as plain values.

    Returns a dict: ``n_iterations`` (the boosting iterations the model's own
    ``predict_proba`` uses, so the best iteration after early stopping),
    ``trees_per_iteration``, ``link`` (``"logistic"`` or ``"softmax"``),
    ``link_scale`` (the logistic link's slope) and ``predict`` (fixed keyword
    arguments of the range prediction, as the model's ``predict_proba`` passes them).
    Thread settings are read from the model at each prediction instead, so that
    ``set_params(n_jobs=...)`` on a fitted model applies to its exits too.
    """
    return {"xgboost": _describe_xgboost, "lightgbm": _describe_lightgbm}.get(
        name, _describe_catboost
    )(model)


def add_iterations(name, model, info, X, start, stop, margins):
    """Margins after iterations ``start:stop``, from ``margins`` (those after ``start``).

    ``margins`` is None when ``start`` is 0: the model's starting margin is added
    then, and only then.  Returns a new float array of shape (n_rows, n_outputs).
    """
    n_rows = X.shape[0]
    if name == "xgboost":
        raw = model.get_booster().inplace_predict(
            X,
            iteration_range=(start, stop),
            predict_type="margin",
            base_margin=None if margins is None else _xgb_base_margin(margins),
            **info["predict"],
        )
        return np.asarray(raw).reshape(n_rows, -1)
    if name == "lightgbm":
        raw = model.booster_.predict(
            X,
            start_iteration=start,
            num_iteration=stop - start,
            raw_score=True,
            num_threads=_lightgbm_threads(model.n_jobs),
        )
    else:
        # The model's thread_count when set; else -1 (every core), predict's default.
        threads = model.get_param("thread_count")
        raw = model.predict(
            X,
            prediction_type="RawFormulaVal",
            ntree_start=start,
            ntree_end=stop,
            thread_count=-1 if threads is None else threads,
        )
    raw = np.asarray(raw, dtype=np.float64).reshape(n_rows, -1)
    return raw if margins is None else margins + raw


def whole_proba(name, model, info, X):
    """The whole model's class probabilities (every iteration its ``predict_proba`` uses), in
    one range prediction."""
    margins = add_iterations(name, model, info, X, 0, info["n_iterations"], None)
    return margins_to_proba(info, margins)


def margins_to_proba(info, margins):
    """Class probabilities from margins, through the model's link."""
    if info["link"] == "softmax":
        return softmax(np.asarray(margins, dtype=np.float64), axis=1)
    prob = expit(info["link_scale"] * np.asarray(margins, dtype=np.float64))
    if prob.shape[1] == 1:  # binary: the margin of the positive class
        out = np.empty((len(prob), 2))
        out[:, 1] = prob[:, 0]
        out[:, 0] = 1 - out[:, 1]
        return out
    return prob  # one-vs-all: each class's own probability, as the library answers


def _xgb_base_margin(margins):
    return margins.ravel() if margins.shape[1] == 1 else margins


def _refuse(model, what):
    raise TypeError(f"EarlyExitClassifier cannot take exits in {type(model).__name__}: {what}")


# --- XGBoost -----------------------------------------------------------------------
def _describe_xgboost(model):
    booster = model.get_booster()
    config = json.loads(booster.save_config())["learner"]
    kind = config["gradient_booster"]["name"]
    if kind != "gbtree":
        _refuse(
            model,
            f'its booster is "{kind}"; exits need "gbtree" (a DART model weighs its trees '
            "at prediction, and a linear booster has no trees).",
        )
    objective = config["objective"]["name"]
    links = {"binary:logistic": "logistic", "multi:softprob": "softmax", "multi:softmax": "softmax"}
    if objective not in links:
        _refuse(
            model,
            f'its objective "{objective}" has no class probabilities that exits can '
            f"reproduce; use one of {sorted(links)}.",
        )
    rounds = booster.num_boosted_rounds()
    trees = int(config["gradient_booster"]["gbtree_model_param"]["num_trees"])
    # predict_proba stops at the best iteration when early stopping found one.
    best = getattr(model, "best_iteration", None) if _has_best_iteration(model) else None
    return {
        "n_iterations": rounds if best is None else int(best) + 1,
        "trees_per_iteration": max(1, trees // max(rounds, 1)),
        "link": links[objective],
        "link_scale": 1.0,
        "predict": {"missing": model.missing, "validate_features": False},
    }


def _has_best_iteration(model):
    try:
        model.best_iteration  # noqa: B018 - a property that raises when there is none
    except AttributeError:
        return False
    return True


# --- LightGBM ----------------------------------------------------------------------
def _describe_lightgbm(model):
    booster = model.booster_
    header = booster.model_to_string(num_iteration=1).splitlines()
    objective = next(
        (line[len("objective=") :] for line in header if line.startswith("objective=")), ""
    )
    name, *options = objective.split() or ["custom"]
    options = dict(option.split(":", 1) for option in options if ":" in option)
    if name in ("binary", "multiclassova", "cross_entropy"):
        link = "logistic"
    elif name == "multiclass":
        link = "softmax"
    else:
        _refuse(
            model,
            f'its objective "{objective or "custom"}" has no class probabilities that exits '
            'can reproduce; use "binary", "multiclass" or "multiclassova".',
        )
    best = booster.best_iteration
    return {
        "n_iterations": best if best > 0 else booster.current_iteration(),
        "trees_per_iteration": booster.num_model_per_iteration(),
        "link": link,
        "link_scale": float(options.get("sigmoid", 1.0)),
        "predict": {},
    }


def _lightgbm_threads(n_jobs):
    """As ``LGBMClassifier.predict``: None is every physical core, -k all cores but k - 1."""
    if n_jobs is None:
        return _cpu_count(True)
    if n_jobs < 0:
        return max(_cpu_count(False) + 1 + n_jobs, 1)
    return int(n_jobs)


@functools.cache
def _cpu_count(only_physical_cores):
    return cpu_count(only_physical_cores=only_physical_cores)


# --- CatBoost ----------------------------------------------------------------------
def _describe_catboost(model):
    classes = np.asarray(model.classes_)
    if not np.array_equal(classes, np.unique(classes)):
        _refuse(
            model,
            f"its classes are in the order {classes.tolist()} (its class_names), not sorted; "
            "fit it without class_names.",
        )
    loss = str(model.get_all_params()["loss_function"]).split(":")[0]
    links = {
        "Logloss": "logistic",
        "CrossEntropy": "logistic",
        "MultiClass": "softmax",
        "MultiClassOneVsAll": "logistic",
    }
    if loss not in links:
        _refuse(
            model,
            f'its loss "{loss}" has no class probabilities that exits can reproduce; use '
            f"one of {sorted(links)}.",
        )
    # tree_count_ is the best iteration's when use_best_model shrank the model.
    return {
        "n_iterations": int(model.tree_count_),
        "trees_per_iteration": 1,  # one (oblivious) tree per iteration, a value per class
        "link": links[loss],
        "link_scale": 1.0,
        "predict": {},
    }
