"""The one selection rule of budget mode, the threshold search and the refit rules.

Every place that picks a candidate for a target (``max_accuracy_loss``: the cheapest
within the loss bound; ``max_cost``: the most accurate within the cost budget) uses
:func:`best_under`, so that they agree on tolerances and ties.
"""

import numpy as np

__all__ = ["best_under"]

RTOL = 1e-12  # rounding allowed when comparing means


def best_under(bounded, bound, objective):
    """Index of the best candidate for a target, and whether it meets the target.

    Parameters
    ----------
    bounded : array-like of shape (n_candidates,)
        The bounded quantity (mean loss for an accuracy target, mean cost for a budget).
    bound : float
        Candidates with ``bounded <= bound`` (up to rounding) meet the target.
    objective : array-like of shape (n_candidates,)
        What to minimise among them (mean cost, or mean loss).

    Returns
    -------
    index : int
        The lowest ``objective`` among the candidates that meet the bound; ties (up
        to rounding) go to the lower ``bounded``, then to the first.  When none meets
        it: the lowest ``bounded``, ties to the lower ``objective``.
    met : bool
    """
    bounded, objective = np.asarray(bounded, float), np.asarray(objective, float)
    meets = bounded <= bound + RTOL * max(1.0, abs(bound))
    first, second = (objective, bounded) if meets.any() else (bounded, objective)
    pool = np.flatnonzero(meets) if meets.any() else np.arange(len(bounded))
    best = first[pool].min()
    pool = pool[first[pool] <= best + RTOL * max(1.0, abs(best))]
    index = int(pool[np.argmin(second[pool])])
    return index, bool(meets[index])
