"""Plots for adaptive classifiers (needs matplotlib: ``pip install skadaptive[plot]``).

- :class:`CostAccuracyDisplay`: accuracy against average cost of the learned policies
  (one per ``cost_weight``), confidence thresholds, the oracle and each stage alone;
- :class:`ExitShareDisplay`: the share of rows answered at each stage.

Both follow scikit-learn's displays: ``from_estimator``, ``from_predictions`` and
``plot(ax=None, ...)``.  matplotlib is imported only when a plot is drawn, and this module
is not imported by ``import skadaptive``.
"""

from ._display import CostAccuracyDisplay
from ._exit_share_display import ExitShareDisplay

__all__ = ["CostAccuracyDisplay", "ExitShareDisplay"]
