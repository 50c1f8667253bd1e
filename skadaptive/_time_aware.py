"""The estimators' side of the time-aware cost model (the arithmetic is in ``_timing``).

:class:`TimeAwareMixin` learns the router at the fixed point of the amortised stage
times and measures what ``predict`` spends outside the stages.
"""

import logging

import numpy as np

from ._compat import num_samples
from ._routing import route_outputs
from ._rows import safe_rows
from ._stages import stage_outputs
from ._timing import (
    MAX_TIME_ROUNDS,
    REACH_TOLERANCE,
    amortised_costs,
    measure_routing_times,
    reach_fractions,
)

logger = logging.getLogger("skadaptive")


class TimeAwareMixin:
    """Fitting with measured stage times, for :class:`~skadaptive._base.BaseAdaptiveClassifier`."""

    def _measure_routing_times(self, X):
        """``predict``'s seconds per call and per row outside the stages (see ``_timing``)."""
        n_rows = num_samples(X)
        if self._device_rule_ is not None:  # the model routes on its device: subtract
            return measure_routing_times(
                self.predict,
                n_rows,
                self.stage_times_,
                lambda X_rows: self.decision_path(X_rows),
                prepare=lambda rows: safe_rows(X, rows),
            )
        with self._stage_config(X):
            outputs = stage_outputs(self.stage_model_, X, self.classes_)
        return measure_routing_times(
            lambda args: self._predict_outputs(*args),
            n_rows,
            prepare=lambda rows: (safe_rows(X, rows), outputs[rows]),
        )

    def _predict_outputs(self, X, outputs):
        """``predict`` on stage outputs computed beforehand: what it does besides the stages."""
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        with self._stage_config(X):
            policy_X = X if self.policy_.uses_X else None
            res = route_outputs(outputs, self.policy_, policy_X, self.costs_)
        return self.classes_[np.argmax(res.proba, axis=1)]

    def _timing(self):
        """``(stage_times_, serving batch size)`` when the costs were measured, else None."""
        times = getattr(self, "stage_times_", None)
        return None if times is None else (times, self._time_batch_size)

    def _set_costs(self, costs):
        self.costs_ = costs
        self.normalized_costs_ = costs / costs.sum()

    def _fit_time_aware(self, outputs, y, X_policy, sample_weight):
        """The router at the fixed point of the amortised stage times (see ``_timing``).

        The costs first assume that every row reaches every stage; each round
        refits the router with the costs amortised over the rows that the previous
        router sent to each stage, until those fractions settle.  ``costs_`` are
        then amortised over the final router's fractions.
        """
        times, batch = self.stage_times_, self._time_batch_size
        reach, last_step = np.ones(self.n_stages_), None
        for round_ in range(MAX_TIME_ROUNDS):
            self._set_costs(amortised_costs(times, reach, batch))
            router = self._fit_router(outputs, y, X_policy, sample_weight)
            new_reach = reach_fractions(router.decision_path(outputs, X_policy), sample_weight)
            if self.verbose:
                logger.info(
                    "Time-aware costs, round %d: costs %s, rows reaching each stage %s.",
                    round_ + 1,
                    self.costs_.tolist(),
                    new_reach.round(3).tolist(),
                )
            step = new_reach - reach
            if np.max(np.abs(step)) <= REACH_TOLERANCE:
                reach = new_reach
                break
            if round_ and np.any(step * last_step < 0):  # oscillating: damp
                step = step / 2
            reach, last_step = reach + step, step
        else:
            reach = new_reach
            logger.info(
                "Time-aware costs did not settle in %d fits (rows reaching each stage %s): "
                "the router of the last fit is kept, costs_ amortised over its routes.",
                MAX_TIME_ROUNDS,
                reach.round(3).tolist(),
            )
        # costs_ are those of the routes the router takes, so that predict_cost is the
        # expected time per row even where the last fit moved the fractions
        self._set_costs(amortised_costs(times, reach, batch))
        return router
