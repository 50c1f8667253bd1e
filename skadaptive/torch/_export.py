"""The whole adaptive model as plain torch: blocks, heads and exit policies, for serving.

:func:`export_adaptive` turns a fitted :class:`~skadaptive.EarlyExitClassifier` (or
:class:`~skadaptive.EarlyExitClassifierCV`) over a :class:`MultiExitNetwork` into a
``torch.nn.Module`` whose ``forward`` routes a batch as ``predict`` does: the policy
features, the linear exit rules and the compaction of the rows that go on, all on the
device.  :func:`save_adaptive` exports that module with ``torch.export`` (dynamic batch
dimension) and saves it, so that a serving stack loads it with torch alone.

Why ``torch.export``: after each exit the number of rows that go on depends on the
data.  ``torch.nonzero`` gives it as an *unbacked* symbolic size, which ``torch.export``
carries through the later blocks, the index selects and the policy features, so the
saved graph keeps the compaction (later blocks run on fewer rows) instead of
computing every block on every row behind masks.  The one thing it cannot express is
a Python branch on that size, so the exported graph does not stop early when no row
goes on: the later blocks then run on zero rows.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

import numpy as np
import torch
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from .._features import summary_width
from .._plain_routers import HybridPolicy, ReferencePolicy, ThresholdPolicy
from .._routers import ConstantPolicy
from ._multi_exit import MultiExitNetwork, add_policy_scores, rule_tensors

__all__ = ["EarlyExitModule", "export_adaptive", "save_adaptive"]

FORMAT_VERSION = 1
METADATA_FILE = "skadaptive.json"  # the extra file of a saved program, read with json


class EarlyExitModule(torch.nn.Module):
    """A multi-exit network with its exit policies, routing a batch in ``forward``.

    Made by :func:`export_adaptive`; see there for the contract of ``forward``.

    Parameters
    ----------
    blocks, heads : list of torch.nn.Module
        The network's blocks and exit heads (shared, not copied).
    features : {"summary", "proba"}
        The policy features of each exit's probabilities.
    weights : torch.Tensor of shape (n_exits - 1, block_width, n_exits - 1)
        The linear exit rule's weights (float64, on the network's device), one
        matrix per non-final exit.
    intercept : torch.Tensor of shape (n_exits - 1,)
        The rule's intercepts: a row continues past exit ``k`` where its running
        score ``k`` plus ``intercept[k]`` is > 0.
    classes : list
        The label of each probability column.
    exit_costs : list of float
        The estimator's ``costs_``.
    n_features_in : int
        The width of the input rows.
    """

    policy_weights: torch.Tensor  # buffers, registered in __init__
    policy_intercept: torch.Tensor

    def __init__(
        self, blocks, heads, features, weights, intercept, classes, exit_costs, n_features_in
    ):
        super().__init__()
        self.blocks = torch.nn.ModuleList(blocks)
        self.heads = torch.nn.ModuleList(heads)
        self.features = features
        self.register_buffer("policy_weights", weights)
        self.register_buffer("policy_intercept", intercept)
        self.classes = list(classes)
        self.exit_costs = list(exit_costs)
        self.n_features_in = int(n_features_in)

    def forward(self, x):
        """Route the rows of ``x``: ``(proba, exit)``, see :func:`export_adaptive`."""
        n_exits = len(self.blocks)
        ids = torch.arange(x.shape[0], device=x.device)  # input row of each active row
        h, scores = x, None
        out_proba = out_exit = None
        for k in range(n_exits):
            h = self.blocks[k](h)
            proba = torch.softmax(self.heads[k](h), dim=1)
            if k == 0:  # every row: exit 0 answers until a later exit does
                out_proba = proba.clone()
                out_exit = torch.zeros_like(ids)
            else:
                out_proba.index_copy_(0, ids, proba)
                out_exit.index_fill_(0, ids, k)
            if k == n_exits - 1:
                break
            scores = add_policy_scores(scores, proba, self.features, self.policy_weights[k])
            keep = torch.nonzero(scores[:, k] + self.policy_intercept[k] > 0).squeeze(1)
            if not _tracing() and keep.shape[0] == 0:
                break  # eager only: an exported graph cannot branch on a data-dependent size
            ids, h = ids.index_select(0, keep), h.index_select(0, keep)
            scores = scores.index_select(0, keep)
        return out_proba, out_exit


def _tracing():
    """Whether ``torch.export`` (or ``torch.compile``) is tracing the module."""
    return torch.compiler.is_exporting() or torch.compiler.is_compiling()


def export_adaptive(estimator: Any) -> EarlyExitModule:
    """The fitted early-exit estimator as one plain ``torch.nn.Module``, for serving.

    The module holds the network's blocks and heads (shared with the estimator, not
    copied) and the exit policies as tensors, and its ``forward`` routes a batch as
    the estimator's ``predict`` does, on the network's device: after each non-final
    exit it computes the policy features of the exit's probabilities (float64, as
    the estimator does), updates the linear policy scores, and keeps only the rows
    that go on (an index select), so later blocks run on fewer rows.  Save it with
    :func:`save_adaptive` to serve it without skadaptive or scikit-learn.

    ``forward(x)``: ``x`` is a float32 tensor of shape ``(n, n_features_in)`` (the rows
    ``predict`` would get, as float32), on the network's device; it returns
    ``(proba, exit)``: ``proba``, float32 of shape ``(n, n_classes)``, the
    probabilities of the exit that answers each row (the label of row ``i`` is
    ``classes[proba[i].argmax()]``), and ``exit``, int64 of shape ``(n,)``, the index
    of that exit (as the estimator's ``apply``).  The module also has ``classes``
    (the labels), ``exit_costs`` (the estimator's ``costs_``) and
    ``n_features_in``.  It runs the whole batch at once (the network's
    ``batch_size`` does not apply) and does not check its input.  Call it under
    ``torch.inference_mode()``.

    Parameters
    ----------
    estimator : EarlyExitClassifier or EarlyExitClassifierCV
        Fitted, over a :class:`MultiExitNetwork`, with exit policies that are
        linear on ``features="summary"`` or ``"proba"`` (the default
        ``LogisticRegression``, or any binary linear classifier), or a router of
        budget mode on them (``ThresholdPolicy``, ``HybridPolicy``, the reference).

    Returns
    -------
    module : torch.nn.Module
        The blocks, heads and policies; in eval mode, on the network's device.

    Raises
    ------
    TypeError
        If the stage model is not a :class:`MultiExitNetwork`, or a policy is not
        linear (a tree, a pipeline, ...), or the policy features read the raw input.

    See Also
    --------
    save_adaptive : Export the module with ``torch.export`` and save it.
    MultiExitNetwork.route_linear : The same routing, for the estimator's ``predict``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skadaptive import EarlyExitClassifier
    >>> from skadaptive.torch import MultiExitNetwork, export_adaptive
    >>> _ = torch.manual_seed(0)
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)).astype(np.float32)
    >>> y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    >>> relu_linear = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(8, 8))
    >>> blocks = [torch.nn.Linear(4, 8), relu_linear]
    >>> heads = [torch.nn.Linear(8, 2), torch.nn.Linear(8, 2)]
    >>> net = MultiExitNetwork(blocks, heads, exit_costs=[1, 3])
    >>> clf = EarlyExitClassifier(net, cost_weight=0.05, cv=2, random_state=0).fit(X, y)
    >>> module = export_adaptive(clf)
    >>> with torch.inference_mode():
    ...     proba, exits = module(torch.as_tensor(X[:5]))
    >>> exits.tolist() == clf.apply(X[:5]).tolist()
    True
    >>> np.array_equal(np.asarray(module.classes)[proba.argmax(1)], clf.predict(X[:5]))
    True
    """
    check_is_fitted(estimator, "policy_")
    network = getattr(estimator, "stage_model_", None)
    if not isinstance(network, MultiExitNetwork):
        raise TypeError(
            "export_adaptive needs a fitted EarlyExitClassifier or EarlyExitClassifierCV "
            f"whose estimator is a skadaptive.torch.MultiExitNetwork; got a "
            f"{type(estimator).__name__} over a {type(network).__name__}."
        )
    if not np.array_equal(network.classes_, estimator.classes_):
        raise TypeError(
            "export_adaptive needs the network's classes_ to be the estimator's: the "
            "exported module returns the network's probability columns as they are."
        )
    rule = _exit_rule(estimator.policy_, len(estimator.classes_), network.n_exits_)
    network._eval_modules()
    weights, intercept = rule_tensors(rule, network._device())
    module = EarlyExitModule(
        network.blocks,
        network.heads,
        rule.features,
        weights,
        intercept,
        classes=np.asarray(estimator.classes_).tolist(),
        exit_costs=np.asarray(estimator.costs_, dtype=float).tolist(),
        n_features_in=estimator.n_features_in_,
    )
    return module.eval()


def save_adaptive(
    estimator: Any,
    file: str | os.PathLike[str] | IO[bytes],
    *,
    example: torch.Tensor | None = None,
) -> torch.export.ExportedProgram:
    """Export the fitted estimator with ``torch.export`` and save it for serving.

    :func:`export_adaptive`'s module is exported with a dynamic batch dimension
    (any number of rows, 0 included) and saved with ``torch.export.save``; the
    labels, exit costs and input width travel in the file as the extra file
    ``"skadaptive.json"``.  A serving stack loads it with torch alone (no
    skadaptive, no scikit-learn): ``model = torch.export.load(file).module()``;
    ``proba, exits = model(x)``, as :func:`export_adaptive` describes.

    Parameters
    ----------
    estimator : EarlyExitClassifier or EarlyExitClassifierCV
        As for :func:`export_adaptive`.
    file : str, path-like or file object
        Where to write the program (a ``.pt2`` file).
    example : torch.Tensor, default=None
        An input batch to trace with (its values are not read); None means two
        rows of zeros of width ``n_features_in_``, on the network's device.

    Returns
    -------
    program : torch.export.ExportedProgram
        The saved program.

    See Also
    --------
    export_adaptive : The module that is exported, and the contract of its ``forward``.

    Examples
    --------
    >>> import json, os, tempfile
    >>> import numpy as np, torch
    >>> from skadaptive import EarlyExitClassifier
    >>> from skadaptive.torch import MultiExitNetwork, save_adaptive
    >>> _ = torch.manual_seed(0)
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)).astype(np.float32)
    >>> y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    >>> relu_linear = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(8, 8))
    >>> blocks = [torch.nn.Linear(4, 8), relu_linear]
    >>> heads = [torch.nn.Linear(8, 2), torch.nn.Linear(8, 2)]
    >>> net = MultiExitNetwork(blocks, heads, exit_costs=[1, 3])
    >>> clf = EarlyExitClassifier(net, cost_weight=0.05, cv=2, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.pt2")
    >>> _ = save_adaptive(clf, path)

    What a serving stack does, with torch only:

    >>> extra = {"skadaptive.json": ""}
    >>> model = torch.export.load(path, extra_files=extra).module()
    >>> json.loads(extra["skadaptive.json"])["classes"]
    [0, 1]
    >>> with torch.inference_mode():
    ...     proba, exits = model(torch.as_tensor(X[:5]))
    >>> exits.tolist() == clf.apply(X[:5]).tolist()
    True
    """
    module = export_adaptive(estimator)
    if example is None:
        device = module.policy_weights.device
        example = torch.zeros((2, module.n_features_in), device=device)
    metadata = {
        "format_version": FORMAT_VERSION,
        "outputs": ["proba", "exit"],
        "classes": module.classes,
        "exit_costs": module.exit_costs,
        "n_features_in": module.n_features_in,
    }
    try:
        metadata_json = json.dumps(metadata)
    except TypeError as exc:
        raise TypeError(
            f"save_adaptive writes the labels as JSON; these are not: {module.classes!r}."
        ) from exc
    batch = torch.export.Dim("batch", min=0)
    with torch.no_grad():
        program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, file, extra_files={METADATA_FILE: metadata_json})
    return program


# -- the routers as linear rules ------------------------------------------------------------


def _exit_rule(router, n_classes, n_stages):
    """The router's exit decisions as one linear rule over the stages' blocks, or raise."""
    if isinstance(router, ThresholdPolicy):
        return _threshold_rule(router, n_classes)
    if isinstance(router, ReferencePolicy):
        if router.entry_stage() != 0 or getattr(router, "_legacy_jump", False):
            raise TypeError("export_adaptive: this ReferencePolicy does not start at exit 0.")
        return _constant_rule(n_classes, n_stages, go_on=True)
    rule = router.linear_exit_rule()
    if rule is None:
        raise TypeError(_not_linear_message(router))
    return rule


def _constant_rule(n_classes, n_stages, go_on):
    """Every row continues (``go_on``) or exits, at every exit."""
    n_exits = n_stages - 1
    width = summary_width(n_classes)
    return Bunch(
        features="summary",
        weights=[np.zeros((width, n_exits)) for _ in range(n_exits)],
        intercept=np.full(n_exits, 1.0 if go_on else -1.0),
    )


def _threshold_rule(router, n_classes):
    """ThresholdPolicy as a linear rule on the summary features.

    The summary block's first column is the largest probability and its last the
    entropy, so "exit where max >= t" is "continue where t - max > 0" and "exit
    where entropy <= t" is "continue where entropy - t > 0": weights -1 or +1 on
    that column, intercept t or -t.  The other weights are 0, so the score is the
    column itself and the comparison is exact (``inf`` thresholds included).
    """
    thresholds = router.thresholds_
    rule = _constant_rule(n_classes, len(thresholds) + 1, go_on=True)
    column = 0 if router.criterion == "max_proba" else summary_width(n_classes) - 1
    sign = -1.0 if router.criterion == "max_proba" else 1.0
    for k, t in enumerate(thresholds):
        rule.weights[k][column, k] = sign
        rule.intercept[k] = -sign * t
    return rule


def _not_linear_message(router):
    """Why the router has no linear rule, and what to use instead."""
    policy = router.policy if isinstance(router, HybridPolicy) else router
    advice = (
        "export_adaptive evaluates linear exit policies only: refit with "
        "policy_estimator=None (LogisticRegression, the default) or another binary "
        "linear classifier (LogisticRegression(C=...), LinearSVC, RidgeClassifier, "
        "SGDClassifier), on features='summary' or 'proba'."
    )
    features = getattr(policy, "features", None)
    if features is not None and features not in ("summary", "proba"):
        return (
            f"Cannot export policies on features={features!r}: they read the raw input "
            f"or a callable's output, which the exported module does not compute. {advice}"
        )
    policies = getattr(policy, "policies_", None)
    if isinstance(policies, dict):
        names = sorted(
            {type(p).__name__ for p in policies.values() if not isinstance(p, ConstantPolicy)}
        )
        return (
            f"Cannot export exit policies of type {', '.join(names)}: they are not linear "
            f"(no linear_exit_rule). {advice}"
        )
    return f"Cannot export a {type(router).__name__} router: it has no linear_exit_rule. {advice}"
