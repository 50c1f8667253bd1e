"""Budget mode's guarantee: certify candidates on calibration rows (Learn then Test).

With ``confidence`` (``1 - delta``), budget mode splits the rows it learns from in two.
On the *selection* rows it evaluates every candidate on held-out folds, as without
the guarantee, and fits the routers; the *calibration* rows are used for nothing but
testing them.  The candidates are tested in an order fixed by the selection rows alone
(those whose held-out estimate clears the target by the most standard errors first),
each with a betting p-value (:func:`skadaptive._guarantee.betting_pvalue`) for the
null hypothesis that it misses the target, and the testing stops at the first that is
not rejected (fixed-sequence testing).  By Learn then Test (Angelopoulos, Bates, Candès,
Jordan and Lei, 2021), with probability at least ``1 - delta`` over the calibration
rows every candidate rejected meets the target on new rows drawn from the same
distribution, so the one chosen among them does too, whatever the rule that chooses
it (the cheapest for a loss target, the most accurate for a cost target).

The router served is the one tested, fitted on the selection rows: refitting it on
every row would void the guarantee.  When no candidate passes, a loss target gets
the reference (which meets it by definition) and a cost target gets stage 0 alone
(a fixed cost), each with a warning that says so.
"""

import hashlib

import numpy as np
from scipy.stats import norm
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

from ._candidates import fit_candidate, reference_index
from ._guarantee import betting_pvalue, fixed_sequence
from ._plain_routers import ThresholdPolicy
from ._routing import route_outputs
from ._rows import optional_rows
from ._thresholds import max_proba_scores, threshold_route

__all__ = ["calibration_split", "certify", "normal_interval", "order_to_test"]


def calibration_split(y, size, random_state):
    """``(selection rows, calibration rows)``, stratified by class where it can be."""
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=size, random_state=random_state)
    try:
        select, calibrate = next(splitter.split(np.zeros(len(y)), y))
    except ValueError:  # a class with a single row
        splitter = ShuffleSplit(n_splits=1, test_size=size, random_state=random_state)
        select, calibrate = next(splitter.split(np.zeros(len(y))))
    return np.sort(select), np.sort(calibrate)


def normal_interval(mean, se, level):
    """The two-sided normal interval ``mean -/+ z se`` at ``level`` (floats, or arrays)."""
    z = norm.ppf(0.5 + level / 2)
    lower, upper = np.asarray(mean - z * se, float), np.asarray(mean + z * se, float)
    if lower.ndim == 0:
        return float(lower), float(upper)
    return lower, upper


def order_to_test(path, kind, target, reference_cost):
    """The candidates to test, in order, from their selection-row estimates alone.

    Most likely to pass first: by the selection rows' margin to the target in standard
    errors, ``(target - increase) / se`` for a loss target (``se`` of the pooled
    increase) and ``(budget - cost) / se`` for a cost target (``se`` from the spread
    over the folds), largest first, ties to the cheaper.  A failure stops the testing,
    so an order in which the candidates get harder to certify keeps the most of them.
    The reference, and for a loss target any candidate that costs as much as it, is
    left out.
    """
    family, cost = path["family"], path["mean_cost"]
    if kind == "loss":
        margin, se = target - path["increase"], path["increase_se"]
        keep = (family != "reference") & (cost < reference_cost * (1 - 1e-9))
    else:
        margin, se = target - cost, path["std_cost"] / np.sqrt(path.get("n_splits", 1))
        keep = family != "reference"
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, margin / np.where(se > 0, se, 1.0), np.sign(margin) * np.inf)
    z = np.where(np.isnan(z), -np.inf, z)
    order = np.lexsort((cost, -z))
    return order[keep[order]]


def certify(setup, path, outputs, losses, X, select, calibrate, delta):
    """Test the candidates on the calibration rows; the chosen router and the record.

    Parameters
    ----------
    setup : dict
        Budget mode's setup (``template``, ``target``, ``reference_cost``,
        ``reference_router``, ...).
    path : dict
        :func:`skadaptive._candidates.evaluate_path` on the selection rows.
    outputs, losses, X
        Every row's out-of-fold outputs, losses and (or None) raw rows.
    select, calibrate : ndarray of int
        The selection and calibration rows.
    delta : float
        ``1 - confidence``.

    Returns
    -------
    index : int or None
        The chosen candidate in ``path`` (None for the cost fallback, stage 0 alone).
    router : BaseRouter
        Its router, fitted on the selection rows.
    record : dict
        ``p_value`` (NaN where not tested) and ``certified`` per candidate; the chosen
        router's calibration rows' ``increase`` (per row), ``cost`` (per row); ``met``
        (whether a candidate passed); and ``warning``, what to tell the user when none
        did (``fit`` warns at its end), else None.
    """
    target, costs = setup["target"], setup["template"].costs
    fit_rows = outputs[select], losses[select], optional_rows(X, select)
    out_cal, X_cal = outputs[calibrate], optional_rows(X, calibrate)
    reference_rows = losses[calibrate, -1]
    n_candidates = len(path["family"])
    order = order_to_test(path, target.kind, target.value, setup["reference_cost"])
    p_values = np.full(n_candidates, np.nan)
    tested = {}  # index -> (router, per-row increase, per-row cost)
    cache = {}  # each lambda's policy and each score's frontier, fitted once
    seen = {}  # the p-value of each distinct set of calibration routes
    scores = {}  # the calibration rows' threshold scores, per family and lambda
    route_cost = np.cumsum(costs)

    def calibration_routes(router, family, weight):
        """Each calibration row's stage and cost; threshold routers from cached scores."""
        if family in ("thresholds", "hybrid"):
            key = (family, None if family == "thresholds" else weight)
            if key not in scores:
                scores[key] = (
                    max_proba_scores(out_cal)
                    if family == "thresholds"
                    else router.policy.exit_probabilities(out_cal, X_cal)
                )
            stage = threshold_route(scores[key], router.thresholds_)
            return stage, route_cost[stage]
        res = route_outputs(out_cal, router, X_cal, costs)
        return res.stage, np.asarray(res.cost, dtype=float)

    for i in order:
        family, weight = path["family"][i], path["cost_weight"][i]
        router = fit_candidate(
            setup, *fit_rows, family, weight, path["cost_fraction"][i], cache=cache
        )
        stage, cost = calibration_routes(router, family, weight)
        increase = losses[calibrate, stage] - reference_rows
        # Candidates that route the calibration rows alike are one hypothesis: one p-value.
        routes = hashlib.sha1(stage.tobytes() + cost.tobytes()).digest()
        if routes not in seen:
            if target.kind == "loss":
                seen[routes] = betting_pvalue(increase, target.value, -1.0, 1.0, delta)
            else:
                upper = float(np.sum(costs))
                seen[routes] = betting_pvalue(cost, target.value, 0.0, upper, delta)
        p_values[i] = seen[routes]
        tested[i] = (router, increase, cost)
        if p_values[i] > delta:
            break
    passed = order[: fixed_sequence(p_values[order], delta)]
    certified = np.zeros(n_candidates, dtype=bool)
    certified[passed] = True
    record = {
        "p_value": p_values,
        "certified": certified,
        "met": bool(len(passed)),
        "warning": None,
    }
    if len(passed):
        # Any rule may choose among the certified candidates: all of them meet the target.
        mean_cost = np.array([tested[i][2].mean() for i in passed])
        mean_increase = np.array([tested[i][1].mean() for i in passed])
        if target.kind == "loss":
            pick = np.lexsort((mean_increase, mean_cost))[0]
        else:
            pick = np.lexsort((mean_cost, mean_increase))[0]
        index = int(passed[pick])
        router, increase, cost = tested[index]
        return index, router, {**record, "increase": increase, "cost": cost}
    level = 1 - delta
    if target.kind == "loss":
        record["warning"] = (
            f"No candidate could be certified to lose at most {target.value:g} against the "
            f"reference with confidence {level:g} on the {len(calibrate)} calibration rows: "
            "the reference itself is served. More calibration rows, a larger "
            "max_accuracy_loss or a lower confidence can certify a cheaper router."
        )
        index = reference_index(path)
        router = setup["reference_router"]
    else:
        record["warning"] = (
            f"No candidate could be certified to cost at most {target.value:.4g} a row with "
            f"confidence {level:g} on the {len(calibrate)} calibration rows: every row is "
            f"answered by stage 0 alone, at {costs[0]:.4g} a row"
            + (" (more than the budget: nothing meets it)." if costs[0] > target.value else ".")
        )
        index = None
        n_exits = outputs.shape[1] - 1
        template = setup["template"]
        router = ThresholdPolicy([0.0] * n_exits, costs=costs, classes=template.classes)
        router.fit(fit_rows[0])
    res = route_outputs(out_cal, router, X_cal, costs)
    increase = losses[calibrate, res.stage] - reference_rows
    return index, router, {**record, "increase": increase, "cost": res.cost}
