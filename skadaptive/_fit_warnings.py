"""Warnings at the end of ``fit``, when the out-of-fold rows say the setup defeats itself."""

import warnings

import numpy as np

from ._routing import route_outputs

REFERENCE_SLACK = 0.01  # an earlier stage this much more accurate than the reference: warn


class FitWarningsMixin:
    """``_warn_about_the_fit``, for :class:`~skadaptive._base.BaseAdaptiveClassifier`."""

    def _router_messages(self):
        """``(message, category)`` pairs that the router's fit leaves for the end of ``fit``."""
        return []

    def _warn_about_the_costs(self):
        """Warn about given costs that read as a mistake: a zero, or a ladder that gets cheaper."""
        costs = self.costs_
        free = np.flatnonzero(costs == 0)
        if len(free):
            warnings.warn(
                f"{self._stage_label(int(free[0]))} costs 0: the policies treat running it as "
                f"free (costs_={costs.tolist()}). Give every stage its cost, however small.",
                UserWarning,
                stacklevel=5,
            )
        if self._independent_stages and np.any(np.diff(costs) < 0):
            k = int(np.flatnonzero(np.diff(costs) < 0)[0]) + 1
            warnings.warn(
                f"{self._stage_label(k)} costs less than the model before it (costs_="
                f"{costs.tolist()}): network selection expects the models cheapest first, and "
                "the reference is the last one.",
                UserWarning,
                stacklevel=5,
            )

    def _warn_about_the_fit(self, y, X_policy):
        """Warn, with the numbers, when the out-of-fold rows say the setup defeats itself.

        A reference less accurate than an earlier stage makes every target relative to
        it misleading; routes that cost more than the reference (a weak first stage
        sends most rows on) make the system slower than no routing at all.
        """
        for message, category in self._router_messages():
            warnings.warn(message, category, stacklevel=5)
        outputs = self.oof_outputs_
        if self.loss == "zero_one":
            right = self.classes_[outputs.argmax(axis=2)] == np.asarray(y)[:, None]
            accuracy = right.mean(axis=0)
            best = int(np.argmax(accuracy[:-1]))
            if accuracy[best] > accuracy[-1] + REFERENCE_SLACK:
                warnings.warn(
                    f"{self._stage_label(best)} is more accurate than the last stage on the "
                    f"out-of-fold rows ({accuracy[best]:.4f} against {accuracy[-1]:.4f}): the "
                    "reference that costs and accuracy targets are measured against is not the "
                    "best model here.",
                    UserWarning,
                    stacklevel=5,
                )
        res = route_outputs(outputs, self.policy_, X_policy, self.costs_)
        mean_cost, reference = float(np.mean(res.cost)), self._reference_cost()
        if mean_cost > reference * (1 + 1e-9):
            warnings.warn(
                f"The fitted routes cost more than the reference on the out-of-fold rows "
                f"({mean_cost:.4g} against {reference:.4g} a row): most rows run a stage "
                "that does not answer them before the reference. Raise cost_weight, use "
                "topology='jump' (network selection) or drop the first stage.",
                UserWarning,
                stacklevel=5,
            )
