"""Cost-aware metrics and scorers for the adaptive classifiers.

Accuracy alone cannot choose ``cost_weight``: it usually favours running the most
expensive model on every row.  These scorers put the cost in (each accepts the estimator
itself or a Pipeline that ends with it):

- :func:`average_cost` and :func:`speedup` report what ``predict`` costs, and
  :func:`predicted_wall_clock` what it takes in seconds (measured costs);
- :func:`make_objective_scorer` scores ``-(error + lambda * normalised cost)``
  at a lambda *you* fix, so that a grid search over ``cost_weight`` compares
  every candidate on the same objective;
- :data:`neg_average_cost_scorer` and :data:`speedup_scorer` plug into
  ``GridSearchCV(scoring={...})`` next to ``"accuracy"``;
- :func:`budget_scoring` with :func:`cheapest_within` or :func:`most_accurate_under`
  as ``refit`` picks, from a grid, the cheapest candidate within an accuracy loss of
  the most expensive model, or the most accurate one under a cost budget.
"""

from ._refit import budget_scoring, cheapest_within, most_accurate_under
from ._scorers import (
    average_cost,
    make_objective_scorer,
    neg_average_cost_scorer,
    neg_relative_cost_scorer,
    reference_accuracy_scorer,
    reference_cost,
    speedup,
    speedup_scorer,
)
from ._timing import predicted_wall_clock

__all__ = [
    "average_cost",
    "budget_scoring",
    "cheapest_within",
    "most_accurate_under",
    "neg_relative_cost_scorer",
    "reference_accuracy_scorer",
    "make_objective_scorer",
    "neg_average_cost_scorer",
    "predicted_wall_clock",
    "reference_cost",
    "speedup",
    "speedup_scorer",
]
