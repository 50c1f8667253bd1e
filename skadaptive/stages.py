"""The stages of the estimators as multi-exit models.

Both estimators talk to their stages through the multi-exit protocol (see the user
guide): ``init_exits(X)``, ``predict_exit_proba(state, k, rows)``, ``n_exits_``,
``classes_``.  A fitted estimator's ``stage_model_`` is one of these views:

- :class:`ModelLadder`: independent models of rising cost (network selection);
- :class:`TreeEnsembleExits`: a fitted forest or boosting model whose exits are its
  first trees (early exit);

or the user's own protocol model.
"""

from ._stages import ModelLadder, TreeEnsembleExits

__all__ = ["ModelLadder", "TreeEnsembleExits"]
