"""Routers: fitted policies that route rows through stages, from their outputs.

A router sees each stage's class probabilities for the rows that computed it and
decides, after every non-final stage, what each row does next.
:class:`BaseRouter` is the protocol (what a router implements, and how the routing
engine, the estimators and the torch side call it); every router routes
precomputed stage outputs (``route``, ``predict``, ``apply``, ...) and the live
stages of an estimator alike.

- :class:`~skadaptive.RoutingPolicy`: the paper's learned policies (also
  ``skadaptive.RoutingPolicy``);
- :class:`ThresholdPolicy`: exit where a stage is confident enough;
- :class:`HybridPolicy`: thresholds on a learned policy's probability of "exit";
- :class:`ReferencePolicy`: every row answered by the non-adaptive reference;
- :class:`ConstantPolicy`: a policy estimator with one answer, used by
  ``RoutingPolicy`` where a decision has nothing to learn.
"""

from ._plain_routers import HybridPolicy, ReferencePolicy, ThresholdPolicy
from ._policy import RoutingPolicy
from ._routers import BaseRouter, ConstantPolicy

__all__ = [
    "BaseRouter",
    "ConstantPolicy",
    "HybridPolicy",
    "ReferencePolicy",
    "RoutingPolicy",
    "ThresholdPolicy",
]
