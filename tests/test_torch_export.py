"""skadaptive.torch export: the whole adaptive model as plain torch, saved and served."""

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
from _helpers import train_multi_exit
from numpy.testing import assert_allclose, assert_array_equal

torch = pytest.importorskip("torch")

from skadaptive import EarlyExitClassifier, EarlyExitClassifierCV  # noqa: E402
from skadaptive.routers import HybridPolicy, ReferencePolicy, ThresholdPolicy  # noqa: E402
from skadaptive.torch import MultiExitNetwork, export_adaptive, save_adaptive  # noqa: E402


def mlp_network(X, y):
    """A 3-exit MLP on the digits, its exits trained together (tiny: ~0.2 s)."""
    torch.manual_seed(0)
    nn = torch.nn
    blocks = [
        nn.Sequential(nn.Linear(64, 32), nn.ReLU()),
        nn.Sequential(nn.Linear(32, 32), nn.ReLU()),
        nn.Sequential(nn.Linear(32, 32), nn.ReLU()),
    ]
    heads = [nn.Linear(32, 10) for _ in blocks]
    train_multi_exit(blocks, heads, X[:800], y[:800], epochs=40)
    return MultiExitNetwork(blocks, heads, exit_costs=[1, 1, 1])


@pytest.fixture(scope="module")
def data(digits_float32):
    X, y = digits_float32
    return X[800:1400], y[800:1400], X[1400:]


@pytest.fixture(scope="module")
def network(digits_float32):
    return mlp_network(*digits_float32)


@pytest.fixture(scope="module", params=["summary", "proba"])
def fitted(request, network, data):
    X_fit, y_fit, _ = data
    clf = EarlyExitClassifier(network, cost_weight=0.01, features=request.param, cv=3)
    return clf.set_params(random_state=0).fit(X_fit, y_fit)


def run(module, X):
    """``module`` on the rows of ``X``, as numpy: (proba, exit)."""
    with torch.inference_mode():
        proba, exit_ = module(torch.as_tensor(X))
    return proba.double().numpy(), exit_.numpy()


def assert_same_answers(clf, proba, exit_, X):
    """The exported answers are the estimator's: exits, labels and probabilities."""
    assert exit_.dtype == np.int64 and proba.shape == (len(X), len(clf.classes_))
    assert_array_equal(exit_, clf.apply(X))
    assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    assert_allclose(proba, clf.predict_proba(X), rtol=1e-6, atol=1e-7)


def test_exported_module_routes_as_the_estimator(fitted, data):
    X_test = data[2]
    module = export_adaptive(fitted)
    assert isinstance(module, torch.nn.Module) and not module.training
    assert module.classes == fitted.classes_.tolist()
    assert module.blocks[0] is fitted.estimator_.blocks[0]  # shared, not copied
    proba, exit_ = run(module, X_test)
    assert len(np.unique(exit_)) == 3  # every exit answers some rows: routing is tested
    assert_same_answers(fitted, proba, exit_, X_test)


def test_exported_program_with_one_and_zero_rows(fitted, data, tmp_path):
    X_test = data[2]
    program = save_adaptive(fitted, tmp_path / "model.pt2")
    model = program.module()
    _, exits = run(model, X_test)
    for k in range(3):  # one row at a time, a row that answers at each exit
        row = X_test[[np.flatnonzero(exits == k)[0]]]
        assert_same_answers(fitted, *run(model, row), row)
        assert_same_answers(fitted, *run(export_adaptive(fitted), row), row)
    for module in [model, export_adaptive(fitted)]:
        proba, exit_ = run(module, X_test[:0])
        assert proba.shape == (0, 10) and exit_.shape == (0,)


BLOCKED = ("skadaptive", "sklearn", "scipy")
# As if they were not installed: ``import`` raises ImportError, ``find_spec`` gives None.
BLOCK_IMPORTS = f"""
import sys
for name in {BLOCKED!r}:
    sys.modules[name] = None
"""

SERVE = """
import json, torch
for name in ('skadaptive', 'sklearn'):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise AssertionError(name + ' imported')
extra = {'skadaptive.json': ''}
model = torch.export.load(sys.argv[1], extra_files=extra).module()
X = torch.load(sys.argv[2], weights_only=True)
with torch.inference_mode():
    answers = {n: model(X[:n]) for n in (len(X), 1, 0)}
torch.save({'answers': answers, 'meta': extra['skadaptive.json']}, sys.argv[3])
loaded = [m for m, module in sys.modules.items() if module is not None]
assert not any(m.split('.')[0] in ('skadaptive', 'sklearn', 'scipy') for m in loaded), loaded
"""


def test_saved_program_serves_without_skadaptive_or_sklearn(network, data, tmp_path):
    X_fit, y_fit, X_test = data
    clf = EarlyExitClassifier(network, cost_weight=0.01, cv=3, random_state=0).fit(X_fit, y_fit)
    save_adaptive(clf, tmp_path / "model.pt2")
    torch.save(torch.as_tensor(X_test), tmp_path / "X.pt")
    out = subprocess.run(
        [sys.executable, "-c", BLOCK_IMPORTS + SERVE]
        + [str(tmp_path / name) for name in ("model.pt2", "X.pt", "out.pt")],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the repository: skadaptive is not on the path
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = torch.load(tmp_path / "out.pt", weights_only=True)
    meta = json.loads(result["meta"])
    assert meta["classes"] == clf.classes_.tolist() and meta["outputs"] == ["proba", "exit"]
    assert meta["exit_costs"] == clf.costs_.tolist() and meta["n_features_in"] == 64
    for n, (proba, exit_) in result["answers"].items():
        if n:
            assert_same_answers(clf, proba.double().numpy(), exit_.numpy(), X_test[:n])
        else:
            assert proba.shape == (0, 10) and exit_.shape == (0,)


@pytest.mark.parametrize("family", ["hybrid", "thresholds"])
def test_budget_mode_routers_export(network, data, family):
    X_fit, y_fit, X_test = data
    clf = EarlyExitClassifierCV(
        network, max_relative_cost=0.8, families=[family], cost_weights=[0.01], cv=3
    ).fit(X_fit, y_fit)
    # The small network's first exit is its most accurate, so the chosen router answers
    # every row there; the same family at each exit's median score spreads the rows.
    outputs = clf.oof_outputs_
    if family == "hybrid":
        scores = clf.policy_.policy.exit_probabilities(outputs)
        mixed = HybridPolicy(clf.policy_.policy, np.median(scores, axis=0)).fit()
    else:
        scores = outputs[:, :-1].max(axis=2)
        mixed = ThresholdPolicy(np.median(scores, axis=0), costs=clf.costs_, classes=clf.classes_)
        mixed.fit(outputs)
    for router in [clf.policy_, mixed]:
        other = with_router(clf, router)
        proba, exit_ = run(export_adaptive(other), X_test)
        assert_same_answers(other, proba, exit_, X_test)
    assert len(np.unique(exit_)) == 3


def with_router(clf, router):
    """A copy of the fitted ``clf`` routing with ``router`` (its device rule dropped)."""
    other = copy.copy(clf)
    other.__dict__.pop("_device_rule_", None)
    other.policy_ = router
    return other


@pytest.mark.parametrize(
    "router",
    [
        ThresholdPolicy([0.9, 0.8]),
        ThresholdPolicy([np.inf, -np.inf]),  # never exit at 0; always at 1
        ThresholdPolicy([0.4, 0.6], criterion="entropy"),
        ReferencePolicy([1, 1, 1], classes=np.arange(10)),
    ],
    ids=["max_proba", "infinite", "entropy", "reference"],
)
def test_plain_routers_export_as_they_route(network, data, router):
    X_fit, y_fit, X_test = data
    clf = EarlyExitClassifier(network, cv=3, random_state=0).fit(X_fit, y_fit)
    router = (
        router.fit(clf.oof_outputs_, y_fit) if isinstance(router, ThresholdPolicy) else router.fit()
    )
    expected = router.route(np.stack(list(clf.staged_predict_proba(X_test)), axis=1))
    proba, exit_ = run(export_adaptive(with_router(clf, router)), X_test)
    assert_array_equal(exit_, expected.stage)
    assert_allclose(proba, expected.proba, rtol=1e-6, atol=1e-7)


def test_non_linear_policies_raise_a_clear_error(network, data):
    from sklearn.tree import DecisionTreeClassifier

    X_fit, y_fit, _ = data
    tree = DecisionTreeClassifier(max_depth=2, random_state=0)
    clf = EarlyExitClassifier(network, policy_estimator=tree, cv=2).fit(X_fit, y_fit)
    with pytest.raises(TypeError, match="DecisionTreeClassifier.*LogisticRegression"):
        export_adaptive(clf)
    clf = EarlyExitClassifier(network, features="proba+X", cv=2).fit(X_fit, y_fit)
    with pytest.raises(TypeError, match=r"features='proba\+X'"):
        export_adaptive(clf)


def test_other_stage_models_raise(data):
    from sklearn.ensemble import RandomForestClassifier

    X_fit, y_fit, _ = data
    forest = RandomForestClassifier(n_estimators=4, random_state=0)
    clf = EarlyExitClassifier(forest, exits=[2, 4], cv=2).fit(X_fit, y_fit)
    with pytest.raises(TypeError, match="MultiExitNetwork"):
        export_adaptive(clf)


def test_route_linear_synchronises_once_per_exit(fitted, data, monkeypatch):
    """route_linear: one torch.nonzero per non-final exit, two copies to the host at the end.

    Its answers are those of the host engine (tests/test_torch.py checks them for
    several batch sizes) and of the exported module.
    """
    X_test = data[2]
    network, rule = fitted.estimator_, fitted.policy_.linear_exit_rule()
    expected = network.route_linear(X_test, rule)
    calls = {"nonzero": 0, "cpu": 0, "item": 0, "tolist": 0}
    patched = [(torch, "nonzero")] + [(torch.Tensor, name) for name in ("cpu", "item", "tolist")]
    for owner, name in patched:
        original = getattr(owner, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)
    proba, stage = network.route_linear(X_test, rule)
    monkeypatch.undo()
    assert calls == {"nonzero": 2, "cpu": 2, "item": 0, "tolist": 0}
    assert_array_equal(stage, expected[1])
    assert_array_equal(proba, expected[0])
    exported = run(export_adaptive(fitted), X_test)
    assert_array_equal(exported[1], stage)
    assert_allclose(exported[0], proba, rtol=1e-6, atol=1e-7)
