"""The paper's reduction: cost-sensitive routing as weighted binary classification.

Bolukbasi, Wang, Dekel and Saligrama, "Adaptive Neural Networks for Efficient
Inference" (ICML 2017), minimise over the per-stage policies

    E[ loss(answering stage) + cost_weight * cost(route taken) ]

bottom-up, last decision first.  With ``L`` the realised cost of a row under the
policies already learned downstream, each decision at stage ``k`` becomes one
weighted binary problem:

- ``C_stop = loss_k + cost_weight * cost(route to k)``   (answer now)
- ``C_go   = L``                                         (continue)
- ``label  = C_go < C_stop``   (1 = continue; ties exit, and carry no weight)
- ``weight = |C_stop - C_go| * sample_weight``

Once a policy is fitted, ``L`` becomes ``C_stop`` where that policy says stop and
``C_go`` where it says go: the policy's *own* decisions, never
``min(C_stop, C_go)``, which would assume an oracle downstream.

Network selection adds the paper's jump edge: at stage ``k < K - 2`` a row that
continues either goes to the next model or jumps straight to the last one, paying
only for the models it runs.  That choice is a second binary problem on the same
rule (1 = jump), learned first; the exit decision then compares against the
realised cost of the continue branch under it.

This module is pure numpy and imports nothing else from skadaptive, so it can be
read line by line against the recursion above.  Fitting a policy is delegated to
a callback, which returns that policy's decisions on the training rows.
"""

import numpy as np

__all__ = [
    "binary_problem",
    "learn_policies",
    "route_prefix_costs",
]


def route_prefix_costs(costs):
    """Cost of the chain route that answers at each stage (cumulative costs).

    Parameters
    ----------
    costs : array-like of shape (n_stages,)
        The cost of computing each stage (incremental, for early exit; the cost of
        each model, for network selection).

    Returns
    -------
    prefix : ndarray of shape (n_stages,)
        ``prefix[k] = costs[0] + ... + costs[k]``.
    """
    return np.cumsum(np.asarray(costs, dtype=float))


def binary_problem(cost_stop, cost_go):
    """Label and weight of one decision, as in the paper's reduction.

    Parameters
    ----------
    cost_stop : ndarray of shape (n_samples,)
        Per-row system cost of the default action (exit; or go to the next model).
    cost_go : ndarray of shape (n_samples,)
        Per-row system cost of the alternative (continue; or jump to the last).

    Returns
    -------
    labels : ndarray of shape (n_samples,), dtype int
        1 where the alternative is strictly cheaper, else 0 (ties keep the default).
    weights : ndarray of shape (n_samples,)
        ``|cost_stop - cost_go|``, the regret of taking the wrong action.
    """
    cost_stop = np.asarray(cost_stop, dtype=float)
    cost_go = np.asarray(cost_go, dtype=float)
    labels = (cost_go < cost_stop).astype(int)
    weights = np.abs(cost_stop - cost_go)
    return labels, weights


def learn_policies(losses, costs, cost_weight, fit_decision, *, jump=False, sample_weight=None):
    """Learn every decision bottom-up with the paper's reduction.

    Parameters
    ----------
    losses : ndarray of shape (n_samples, n_stages)
        ``losses[i, k]``: the loss of answering row ``i`` with stage ``k``.
    costs : ndarray of shape (n_stages,)
        The cost of each stage (see :func:`route_prefix_costs`).
    cost_weight : float
        Lambda, the price of one unit of cost in units of loss.
    fit_decision : callable
        ``fit_decision(node, kind, labels, weights) -> decisions`` fits the policy
        of decision ``kind`` ("exit" or "jump") at stage ``node`` on the rows of
        non-zero weight and returns its decisions (0/1, same encoding as the
        labels) for *every* row.  It must handle the constant cases itself.
    jump : bool, default=False
        Whether non-final stages below ``n_stages - 2`` may jump to the last stage
        (network selection).
    sample_weight : ndarray of shape (n_samples,), default=None
        Multiplies every weight.

    Returns
    -------
    realised_cost : ndarray of shape (n_samples,)
        The system cost of each row under all the learned policies.
    problems : dict
        ``problems[(node, kind)] = (labels, weights)``, the binary problems that
        were handed to ``fit_decision`` (weights include ``sample_weight``).
    """
    losses = np.asarray(losses, dtype=float)
    n_samples, n_stages = losses.shape
    prefix = route_prefix_costs(costs)
    sw = np.ones(n_samples) if sample_weight is None else np.asarray(sample_weight, float)
    problems = {}

    # The last stage always answers: the route that ends there is the full chain.
    realised = losses[:, -1] + cost_weight * prefix[-1]
    if jump:
        # Jumping from stage k runs stages 0..k then the last one.
        last = losses[:, -1] + cost_weight * costs[-1]

    for node in range(n_stages - 2, -1, -1):
        cost_go = realised
        if jump and node < n_stages - 2:
            jump_cost = last + cost_weight * prefix[node]
            labels, weights = binary_problem(cost_go, jump_cost)
            weights = weights * sw
            problems[(node, "jump")] = (labels, weights)
            decisions = np.asarray(fit_decision(node, "jump", labels, weights))
            cost_go = np.where(decisions == 1, jump_cost, cost_go)

        cost_stop = losses[:, node] + cost_weight * prefix[node]
        labels, weights = binary_problem(cost_stop, cost_go)
        weights = weights * sw
        problems[(node, "exit")] = (labels, weights)
        decisions = np.asarray(fit_decision(node, "exit", labels, weights))
        realised = np.where(decisions == 1, cost_go, cost_stop)

    return realised, problems
