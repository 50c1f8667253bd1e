"""skadaptive.torch on the CPU: wrappers, multi-exit routing, persistence."""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from _helpers import spy, train_module, train_multi_exit
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

torch = pytest.importorskip("torch")

from skadaptive import EarlyExitClassifier, NetworkSelectionClassifier  # noqa: E402
from skadaptive.torch import MultiExitNetwork, TorchClassifier  # noqa: E402


def test_import_skadaptive_without_torch():
    code = (
        "import sys, importlib.abc\n"
        "class NoTorch(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('No module named torch')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "import skadaptive\n"
        "from skadaptive import EarlyExitClassifier, NetworkSelectionClassifier\n"
        "assert 'torch' not in sys.modules\n"
        "try:\n"
        "    import skadaptive.torch\n"
        "except ImportError as exc:\n"
        "    assert 'skadaptive[torch]' in str(exc), exc\n"
        "    print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_torch_classifier_matches_the_module(digits_float32):
    X, y = digits_float32
    torch.manual_seed(0)
    net = train_module(torch.nn.Linear(64, 10), X[:800], y[:800])
    clf = TorchClassifier(net, batch_size=7).fit(y=y)
    expected = torch.softmax(net(torch.as_tensor(X[800:])), dim=1).detach().numpy()
    assert_allclose(clf.predict_proba(X[800:]), expected, rtol=1e-5, atol=1e-6)
    for batch_size in [1, 1000]:
        other = TorchClassifier(net, batch_size=batch_size).fit(y=y)
        assert_allclose(other.predict_proba(X[800:]), expected, rtol=1e-5, atol=1e-6)
    assert clf.score(X[800:], y[800:]) > 0.8
    names = np.array(list("abcdefghij"))
    assert set(TorchClassifier(net, classes=names).fit().predict(X[:5])) <= set(names)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
def test_cuda_without_cuda_says_what_to_do():
    net = torch.nn.Linear(4, 2)
    with pytest.raises(ValueError, match=r"device='cuda' but torch.cuda.is_available\(\) is False"):
        TorchClassifier(net, classes=[0, 1], device="cuda").fit()
    with pytest.raises(ValueError, match="pass device='cpu'"):
        MultiExitNetwork(
            [net, torch.nn.Identity()], [net, net], classes=[0, 1], device="cuda"
        ).fit()


def test_clone_shares_the_module():
    net = torch.nn.Linear(4, 2)
    clf = TorchClassifier(net, classes=[0, 1])
    assert clone(clf).module is net
    assert clone(MultiExitNetwork([net, net], [net, net])).blocks[0] is net


def test_torch_stage_in_network_selection(digits_float32):
    X, y = digits_float32
    net = train_module(
        torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)),
        X[:800],
        y[:800],
        epochs=60,
    )
    clf = NetworkSelectionClassifier(
        [("lr", LogisticRegression(max_iter=500)), ("mlp", TorchClassifier(net))],
        costs=[1, 5],
        cv=3,
        random_state=0,
    ).fit(X[800:1400], y[800:1400])
    assert clf.score(X[1400:], y[1400:]) > 0.85
    assert clf.estimators_[1].module is net
    stages = clf.apply(X[1400:])
    assert 0 < (stages == 0).mean() <= 1


class IdBlock(torch.nn.Module):
    """Column 0 carries the row id through; the rest goes through a layer."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.layer = torch.nn.Linear(n_in, n_out)
        self.seen = []

    def forward(self, x):
        self.seen.append(x[:, 0].long().tolist())
        return torch.cat([x[:, :1], torch.relu(self.layer(x[:, 1:]))], dim=1)


class Head(torch.nn.Module):
    def __init__(self, n_in, n_classes):
        super().__init__()
        self.layer = torch.nn.Linear(n_in, n_classes)

    def forward(self, x):
        return self.layer(x[:, 1:])


def make_multi_exit(digits, seed=0):
    X, y = digits
    torch.manual_seed(seed)
    blocks = [IdBlock(64, 32), IdBlock(32, 32), IdBlock(32, 32)]
    heads = [Head(32, 10), Head(32, 10), Head(32, 10)]
    X_fit = np.hstack([np.zeros((800, 1), np.float32), X[:800]])
    train_multi_exit(blocks, heads, X_fit, y[:800], epochs=60)
    for b in blocks:
        b.seen.clear()
    return MultiExitNetwork(blocks, heads, exit_costs=[1, 1, 1])


def with_ids(X):
    return np.hstack([np.arange(len(X), dtype=np.float32)[:, None], X])


def test_multi_exit_network_routes_only_active_rows(digits_float32):
    X, y = digits_float32
    net = make_multi_exit(digits_float32)
    clf = EarlyExitClassifier(net, cost_weight=0.3, cv=3, random_state=0).fit(
        with_ids(X[800:1400]), y[800:1400]
    )
    X_test = with_ids(X[1400:])
    for b in net.blocks:
        b.seen.clear()
    res = clf.route(X_test)
    for k, block in enumerate(net.blocks):
        seen = [i for batch in block.seen for i in batch]
        assert seen == np.flatnonzero(res.path[:, k]).tolist()
    assert (res.stage == 0).any() and (res.stage > 0).any()
    assert clf.score(X_test, y[1400:]) > 0.8


@pytest.mark.parametrize("batch_size", [1, 3, 64, 4096])
def test_multi_exit_outputs_come_back_in_input_order(digits_float32, batch_size):
    X, y = digits_float32
    net = make_multi_exit(digits_float32)
    net.set_params(batch_size=batch_size).fit(y=y)
    X_test = with_ids(X[1400:1500])
    full = net.predict_proba(X_test)
    clf = EarlyExitClassifier(net, cost_weight=0.3, cv=3, random_state=0).fit(
        with_ids(X[800:1400]), y[800:1400]
    )
    res = clf.route(X_test)
    staged = np.stack(list(clf.staged_predict_proba(X_test)), axis=1)
    assert_allclose(staged[:, -1], full, rtol=1e-5, atol=1e-6)
    assert_allclose(res.proba, staged[np.arange(100), res.stage], rtol=1e-5, atol=1e-6)
    one = np.array([clf.predict_proba(X_test[i : i + 1])[0] for i in range(0, 100, 25)])
    assert_allclose(one, res.proba[::25], rtol=1e-5, atol=1e-6)


def test_every_row_exits_at_the_first_exit(digits_float32):
    X, y = digits_float32
    net = make_multi_exit(digits_float32)
    clf = EarlyExitClassifier(net, cost_weight=1e6, cv=3).fit(with_ids(X[800:1400]), y[800:1400])
    for b in net.blocks:
        b.seen.clear()
    assert_array_equal(clf.apply(with_ids(X[1400:])), 0)
    assert net.blocks[1].seen == [] and net.blocks[2].seen == []


def host_route(clf, X):
    """The generic engine's answer: the fitted policy on every exit's outputs, on the host."""
    return clf.policy_.route(np.stack(list(clf.staged_predict_proba(X)), axis=1))


@pytest.mark.parametrize("features", ["summary", "proba"])
@pytest.mark.parametrize("batch_size", [1, 7, 4096])
def test_linear_policies_route_on_the_device_as_on_the_host(
    digits_float32, features, batch_size, monkeypatch
):
    X, y = digits_float32
    net = make_multi_exit(digits_float32).set_params(batch_size=batch_size)
    clf = EarlyExitClassifier(net, cost_weight=0.01, features=features, cv=3, random_state=0)
    clf.fit(with_ids(X[800:1400]), y[800:1400])
    X_test = with_ids(X[1400:])
    calls = spy(monkeypatch, MultiExitNetwork, "route_linear")
    for b in net.blocks:
        b.seen.clear()
    res = clf.route(X_test)
    seen = [[i for batch in block.seen for i in batch] for block in net.blocks]
    assert len(calls) == 1
    expected = host_route(clf, X_test)
    assert_array_equal(res.stage, expected.stage)
    assert_array_equal(res.path, expected.path)
    assert_allclose(res.proba, expected.proba, rtol=1e-5, atol=1e-6)  # float32 batches
    assert_allclose(res.cost, expected.cost)
    assert len(np.unique(res.stage)) == 3  # every exit answers some rows
    for k in range(3):  # a block sees exactly the rows that reach it, once each
        assert sorted(seen[k]) == np.flatnonzero(res.path[:, k]).tolist()


def test_the_device_rule_is_compiled_once_at_fit(digits_float32, monkeypatch):
    from skadaptive import RoutingPolicy

    X, y = digits_float32
    net = make_multi_exit(digits_float32)
    clf = EarlyExitClassifier(net, cost_weight=0.1, cv=3, random_state=0)
    clf.fit(with_ids(X[800:1400]), y[800:1400])
    X_test = with_ids(X[1400:])
    expected = clf.route(X_test)
    assert clf._device_rule_ is not None
    rebuilt = spy(monkeypatch, RoutingPolicy, "linear_exit_rule")
    on_device = spy(monkeypatch, MultiExitNetwork, "route_linear")
    res = clf.route(X_test)
    assert rebuilt == [] and len(on_device) == 1  # routed on the device, rule not rebuilt
    assert_array_equal(res.stage, expected.stage)
    assert_allclose(res.proba, expected.proba)
    del clf._device_rule_  # as saved by an earlier version: rebuilt per predict, same answer
    assert_array_equal(clf.route(X_test).stage, expected.stage)
    assert len(rebuilt) == 1


def test_device_routing_streams_large_inputs_in_chunks(digits_float32, monkeypatch):
    import sklearn

    from skadaptive import _chunks

    X, y = digits_float32
    net = make_multi_exit(digits_float32).set_params(batch_size=64)
    clf = EarlyExitClassifier(net, cost_weight=0.01, cv=3, random_state=0)
    clf.fit(with_ids(X[800:1400]), y[800:1400])
    X_test = with_ids(X[1400:])  # 397 rows
    expected = clf.route(X_test)
    calls = spy(monkeypatch, MultiExitNetwork, "route_linear")
    monkeypatch.setattr(_chunks, "MIN_CHUNK_ROWS", 128)
    with sklearn.config_context(working_memory=1e-9):
        res = clf.route(X_test)
    # One device call per chunk, with the chunk's rows only (a short tail joins the last).
    assert [len(args[0]) for args in calls] == [128, 128, 141]
    assert_array_equal(res.stage, expected.stage)
    assert_array_equal(res.path, expected.path)
    assert_allclose(res.proba, expected.proba, rtol=1e-5, atol=1e-6)  # float32 batches
    assert_allclose(res.cost, expected.cost)


@pytest.mark.parametrize("family", ["hybrid", "thresholds"])
def test_budget_mode_routers_route_on_the_device_as_on_the_host(
    digits_float32, family, monkeypatch
):
    from skadaptive import EarlyExitClassifierCV
    from skadaptive.routers import HybridPolicy, ThresholdPolicy

    X, y = digits_float32
    net = make_multi_exit(digits_float32)
    clf = EarlyExitClassifierCV(
        net, max_relative_cost=0.8, families=[family], cost_weights=[0.01], cv=3, random_state=0
    ).fit(with_ids(X[800:1400]), y[800:1400])
    X_test = with_ids(X[1400:])
    # This small network's first exit is its most accurate: the chosen router answers every
    # row there.  The same family at thresholds that mix the exits routes the rows apart.
    if family == "hybrid":
        mixed = HybridPolicy(clf.policy_.policy, [0.9, 0.9]).fit()
    else:
        mixed = ThresholdPolicy([0.99, 0.99], costs=clf.costs_, classes=clf.classes_)
        mixed.fit(clf.oof_outputs_)
    for router in [clf.policy_, mixed]:
        clf.policy_, clf._device_rule_ = router, clf._device_rule(router)
        calls = spy(monkeypatch, MultiExitNetwork, "route_linear")
        res = clf.route(X_test)
        assert len(calls) == (1 if family == "hybrid" else 0)  # thresholds on max-proba: host
        expected = host_route(clf, X_test)
        assert_array_equal(res.stage, expected.stage)
    assert len(np.unique(res.stage)) > 1


def test_other_policies_route_on_the_host(digits_float32, monkeypatch):
    from sklearn.tree import DecisionTreeClassifier

    X, y = digits_float32
    net = make_multi_exit(digits_float32)
    clf = EarlyExitClassifier(
        net, policy_estimator=DecisionTreeClassifier(max_depth=3, random_state=0), cv=3
    ).fit(with_ids(X[800:1400]), y[800:1400])
    assert clf.policy_.linear_exit_rule() is None
    calls = spy(monkeypatch, MultiExitNetwork, "route_linear")
    X_test = with_ids(X[1400:])
    res = clf.route(X_test)
    assert calls == []
    assert_array_equal(res.stage, host_route(clf, X_test).stage)


def test_linear_exit_rule_of_constant_policies(digits_float32):
    X, y = digits_float32
    net = make_multi_exit(digits_float32)
    X_fit = with_ids(X[800:1400])
    rule = EarlyExitClassifier(net, cost_weight=1e6, cv=3, random_state=0).fit(X_fit, y[800:1400])
    rule = rule.policy_.linear_exit_rule()
    assert_array_equal(rule.intercept, [-1, -1])  # always exit
    assert all(not w.any() for w in rule.weights)
    proba_x = EarlyExitClassifier(net, features="proba+X", cv=3, random_state=0)
    proba_x.fit(X_fit, y[800:1400])
    assert proba_x.policy_.linear_exit_rule() is None  # needs X: routed on the host


def test_measured_exit_costs(digits_float32, monkeypatch):
    X, y = digits_float32
    net = make_multi_exit(digits_float32).set_params(exit_costs=None)
    seconds = net.fit(y=y).measure_exit_costs(with_ids(X[:300]), repeats=3)
    assert seconds.shape == (3,) and np.all(seconds > 0)
    calls = spy(monkeypatch, MultiExitNetwork, "measure_exit_costs")
    clf = EarlyExitClassifier(net, cv=3).fit(with_ids(X[800:1400]), y[800:1400])
    # timed on one row and on a sample of the fit rows: seconds per call and per row
    assert [len(args[0]) for args in calls] == [1, 512]
    assert clf.stage_times_.shape == (3, 2) and np.all(clf.stage_times_[:, 1] > 0)
    assert clf.costs_.shape == (3,) and np.all(clf.costs_ > 0)


def test_modules_back_in_training_mode_are_evaluated_in_eval_mode(digits_float32):
    X, y = digits_float32
    net = make_multi_exit(digits_float32)
    clf = EarlyExitClassifier(net, cost_weight=0.01, cv=3).fit(with_ids(X[800:1400]), y[800:1400])
    expected = clf.predict_proba(with_ids(X[1400:]))
    for module in [*net.blocks, *net.heads]:
        module.train()
    assert_allclose(clf.predict_proba(with_ids(X[1400:])), expected)
    assert not any(m.training for block in net.blocks for m in block.modules())


def test_pickle_round_trip_and_weights_only(digits_float32, tmp_path):
    X, y = digits_float32
    net = make_multi_exit(digits_float32)
    clf = EarlyExitClassifier(net, cost_weight=0.3, cv=3, random_state=0).fit(
        with_ids(X[800:1400]), y[800:1400]
    )
    X_test = with_ids(X[1400:])
    again = pickle.loads(pickle.dumps(clf))
    assert_allclose(again.predict_proba(X_test), clf.predict_proba(X_test))
    wrapped = TorchClassifier(torch.nn.Linear(64, 10), classes=np.arange(10)).fit()
    loaded = pickle.loads(pickle.dumps(wrapped))
    assert_allclose(loaded.predict_proba(X[:5]), wrapped.predict_proba(X[:5]))
    assert loaded.module is not wrapped.module


def test_gpu_saved_estimator_loads_on_cpu_with_a_warning(monkeypatch):
    clf = TorchClassifier(torch.nn.Linear(4, 2), classes=[0, 1], device="cuda:0")
    # Simulate an estimator fitted on a GPU: its device says cuda; this machine has none.
    clf.classes_ = np.array([0, 1])
    blob = pickle.dumps(clf)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        loaded = pickle.loads(blob)
    assert loaded.device == "cpu"
    assert next(loaded.module.parameters()).device.type == "cpu"
    assert loaded.predict_proba(np.ones((3, 4))).shape == (3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pickle.loads(pickle.dumps(loaded))


def test_bad_multi_exit_network():
    with pytest.raises(ValueError, match="one head per block"):
        MultiExitNetwork([torch.nn.Linear(2, 2)] * 2, [torch.nn.Linear(2, 2)]).fit(y=[0, 1])
    with pytest.raises(ValueError, match="classes= or y"):
        TorchClassifier(torch.nn.Linear(2, 2)).fit()


def test_skorch_classifier_is_a_stage_unchanged(digits_float32):
    skorch = pytest.importorskip("skorch")
    X, y = digits_float32
    torch.manual_seed(0)
    net = skorch.NeuralNetClassifier(
        torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-2,
        max_epochs=15,
        train_split=None,
        verbose=0,
    )
    clf = NetworkSelectionClassifier(
        [("lr", LogisticRegression(max_iter=500)), ("skorch", net)],
        costs=[1, 5],
        cv=3,
        random_state=0,
    ).fit(X[:1200], y[:1200])
    assert clf.estimators_[1] is not net  # cloned and fitted; the template is untouched
    assert not net.initialized_
    proba = np.stack(list(clf.staged_predict_proba(X[1200:])), axis=1)
    assert_allclose(proba[:, 1], clf.estimators_[1].predict_proba(X[1200:]), rtol=1e-5)
    assert clf.score(X[1200:], y[1200:]) > 0.85


def test_train_exit_heads_on_a_frozen_backbone(digits_float32):
    from skadaptive.torch import train_exit_heads

    X, y = digits_float32
    torch.manual_seed(0)
    blocks = [
        torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU()),
        torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.ReLU()),
    ]
    heads = [torch.nn.Linear(32, 10), torch.nn.Linear(32, 10)]
    before_block = [p.detach().clone() for p in blocks[0].parameters()]
    before_last = [p.detach().clone() for p in heads[1].parameters()]
    names = np.array(list("abcdefghij"))[y]
    train_exit_heads(
        blocks, heads, X[:1000], names[:1000], frozen_heads=[1], epochs=30, lr=1e-2, random_state=0
    )
    for old, new in zip(before_block, blocks[0].parameters()):
        assert torch.equal(old, new)  # the backbone is frozen
    for old, new in zip(before_last, heads[1].parameters()):
        assert torch.equal(old, new)  # so is a frozen head
    net = MultiExitNetwork(blocks, heads, classes=np.array(list("abcdefghij"))).fit()
    state = net.init_exits(X[1000:])
    acc0 = np.mean(net.predict_exit_proba(state, 0, np.arange(len(X) - 1000)).argmax(1) == y[1000:])
    assert acc0 > 0.8  # a linear head on random features of digits_float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_routing_on_a_gpu_matches_the_cpu(digits_float32):
    X, y = digits_float32
    net = make_multi_exit(digits_float32)
    X_test = with_ids(X[1400:])
    cpu = EarlyExitClassifier(net, cost_weight=0.3, cv=3, random_state=0).fit(
        with_ids(X[800:1400]), y[800:1400]
    )
    expected = cpu.predict_proba(X_test)
    gpu = EarlyExitClassifier(
        net.set_params(device="cuda"), cost_weight=0.3, cv=3, random_state=0
    ).fit(with_ids(X[800:1400]), y[800:1400])
    assert next(net.blocks[0].parameters()).device.type == "cuda"
    assert_allclose(gpu.predict_proba(X_test), expected, rtol=1e-4, atol=1e-5)
    again = pickle.loads(pickle.dumps(gpu))
    assert_allclose(again.predict_proba(X_test), expected, rtol=1e-4, atol=1e-5)
    assert gpu.policy_.linear_exit_rule() is not None  # so predict routed on the device
    assert_array_equal(gpu.route(X_test).stage, host_route(gpu, X_test).stage)
    seconds = gpu.estimator_.measure_exit_costs(X_test, repeats=3)  # CUDA events
    assert seconds.shape == (3,) and np.all(seconds > 0)
