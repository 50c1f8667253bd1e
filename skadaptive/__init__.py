"""skadaptive: learn, per example, when to stop computing.

Scikit-learn estimators for Bolukbasi, Wang, Dekel and Saligrama, "Adaptive
Neural Networks for Efficient Inference" (ICML 2017):

- :class:`EarlyExitClassifier`: one model with several exits;
- :class:`NetworkSelectionClassifier`: a ladder of models of rising cost;
- :class:`EarlyExitClassifierCV`, :class:`NetworkSelectionClassifierCV`: budget
  mode, which meets a cost or accuracy target instead of taking ``cost_weight``;
- :class:`RoutingPolicy`: the same policies learned from precomputed outputs.

The router protocol and the routers that learn nothing live in
:mod:`skadaptive.routers`; baselines (confidence thresholds, the oracle) in
:mod:`skadaptive.baselines`; the stages' multi-exit views in :mod:`skadaptive.stages`.
"""

from ._early_exit import EarlyExitClassifier, EarlyExitClassifierCV
from ._network_selection import NetworkSelectionClassifier, NetworkSelectionClassifierCV
from ._policy import RoutingPolicy

__version__ = "0.2.0.dev0"

__all__ = [
    "EarlyExitClassifier",
    "EarlyExitClassifierCV",
    "NetworkSelectionClassifier",
    "NetworkSelectionClassifierCV",
    "RoutingPolicy",
    "__version__",
]
