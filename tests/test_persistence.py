"""Saving and loading fitted estimators: pickle, skops (no code on load), torch weights."""

import io
import json
import pickle
import zipfile

import pytest
from _helpers import pixels_float32, train_module, train_multi_exit
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from skadaptive import (
    EarlyExitClassifier,
    EarlyExitClassifierCV,
    NetworkSelectionClassifier,
    NetworkSelectionClassifierCV,
)

sio = pytest.importorskip("skops.io")
from skadaptive.persistence import TRUSTED_TYPES, dump, load  # noqa: E402

HGB_TREES = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
TREE = "sklearn.tree._tree.Tree"
# The user's stage and policy types that skops does not trust by default.
USER_TYPES = {
    "selection": [TREE],
    "selection-tree-policy": [TREE],
    "early-exit": [HGB_TREES],
    "selection-cv": [],
    "early-exit-cv": [HGB_TREES],
}


def ladder():
    return [("nb", GaussianNB()), ("lr", LogisticRegression(max_iter=500))]


def hgb():
    return HistGradientBoostingClassifier(max_iter=12, early_stopping=False, random_state=0)


ESTIMATORS = {
    "selection": lambda: NetworkSelectionClassifier(
        ladder() + [("tree", DecisionTreeClassifier(random_state=0))],
        costs=[1, 5, 20],
        cost_weight=0.02,
        cv=3,
        random_state=0,
    ),
    "selection-tree-policy": lambda: NetworkSelectionClassifier(
        ladder(),
        costs=[1, 10],
        policy_estimator=DecisionTreeClassifier(max_depth=3, random_state=0),
        features="proba+X",
        cv=3,
        random_state=0,
    ),
    "early-exit": lambda: EarlyExitClassifier(
        hgb(), exits=[3, 6, 12], costs=[1, 1, 2], cost_weight=0.05, cv=3, random_state=0
    ),
    "selection-cv": lambda: NetworkSelectionClassifierCV(
        ladder(), costs=[1, 10], max_accuracy_loss=0.01, cv=3, selection_cv=3, random_state=0
    ),
    "early-exit-cv": lambda: EarlyExitClassifierCV(
        hgb(), exits=[3, 12], costs=[1, 3], max_relative_cost=0.6, cv=3, random_state=0
    ),
}


def assert_same_predictions(loaded, fitted, X):
    assert type(loaded) is type(fitted)
    assert_array_equal(loaded.predict(X), fitted.predict(X))
    assert_allclose(loaded.predict_proba(X), fitted.predict_proba(X), rtol=0, atol=0)
    assert_array_equal(loaded.apply(X), fitted.apply(X))
    assert_array_equal(loaded.predict_cost(X), fitted.predict_cost(X))


@pytest.fixture(scope="module")
def fitted(digits):
    X, y, _, _ = digits
    return {name: make().fit(X, y) for name, make in ESTIMATORS.items()}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_skops_round_trip_gives_identical_predictions(fitted, digits, name, tmp_path):
    _, _, X_test, _ = digits
    clf = fitted[name]
    path = tmp_path / "model.skops"
    dump(clf, path)
    untrusted = set(sio.get_untrusted_types(file=path))
    user_types = USER_TYPES[name]
    # Every type skops does not trust by default is either ours or the user's estimators'.
    assert untrusted <= set(TRUSTED_TYPES) | set(user_types)
    loaded = load(path, trusted=user_types)
    assert_same_predictions(loaded, clf, X_test)
    # skops.io itself, with the documented list, gives the same estimator.
    again = sio.load(path, trusted=TRUSTED_TYPES + user_types)
    assert_same_predictions(again, clf, X_test)
    # pickle stays supported.
    assert_same_predictions(pickle.loads(pickle.dumps(clf)), clf, X_test)


def test_stage_types_must_be_trusted_by_the_user(fitted):
    data = dump(fitted["early-exit"])
    with pytest.raises(Exception, match="TreePredictor") as info:
        load(data)
    assert type(info.value).__name__ == "UntrustedTypesFoundException"


def tamper(data, old, new):
    """Rewrite a type name inside a skops file's schema."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "schema.json":
                schema = json.loads(content)
                text = json.dumps(schema).replace(old, new)
                assert text != json.dumps(schema), f"{old!r} is not in the schema"
                content = text.encode()
            target.writestr(item, content)
    return out.getvalue()


def test_a_file_altered_to_hold_an_untrusted_type_is_refused(fitted, digits):
    data = dump(fitted["selection-cv"])  # naive Bayes and logistic regression stages
    assert load(data).predict(digits[2][:3]).shape == (3,)
    bad = tamper(data, '"__class__": "ModelLadder"', '"__class__": "system"')
    bad = tamper(bad, '"__module__": "skadaptive.stages"', '"__module__": "os"')
    assert "os.system" in sio.get_untrusted_types(data=bad)
    with pytest.raises(Exception, match="os.system") as info:
        load(bad)
    assert type(info.value).__name__ == "UntrustedTypesFoundException"
    with pytest.raises(Exception, match="os.system"):
        sio.loads(bad, trusted=TRUSTED_TYPES)


def test_load_without_skops_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_skops(name, *args, **kwargs):
        if name.startswith("skops"):
            raise ImportError("No module named 'skops'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_skops)
    with pytest.raises(ImportError, match=r"skadaptive\[skops\]"):
        dump(NetworkSelectionClassifier(ladder()))


# -- torch stages: weights only, architectures from code -------------------------------
def mlp(torch, seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))


def test_torch_stages_save_weights_only(digits, monkeypatch):
    torch = pytest.importorskip("torch")
    from skadaptive.torch import MultiExitNetwork, TorchClassifier

    X, y, X_test, _ = digits
    X, X_test = pixels_float32(X), pixels_float32(X_test)

    net = train_module(mlp(torch, 0), X, y, epochs=40)
    clf = NetworkSelectionClassifier(
        [("lr", LogisticRegression(max_iter=500)), ("mlp", TorchClassifier(net))],
        costs=[1, 5],
        cost_weight=0.02,
        cv=3,
        random_state=0,
    ).fit(X, y)
    data = dump(clf)
    untrusted = sio.get_untrusted_types(data=data)
    assert not [t for t in untrusted if t.startswith("torch")]  # no module, no code
    assert set(untrusted) <= set(TRUSTED_TYPES)

    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    fresh = mlp(torch, 1)  # same architecture, other weights: they get replaced
    loaded = load(data, torch_stages=[TorchClassifier(fresh)])
    assert calls == [True]
    assert loaded.estimators_[1].module is fresh
    assert_same_predictions(loaded, clf, X_test)

    with pytest.raises(ValueError, match="torch_stages"):
        load(data)
    with pytest.raises(ValueError, match="do not fit"):
        load(data, torch_stages=[TorchClassifier(torch.nn.Linear(64, 10))])
    with pytest.raises(ValueError, match="out of order"):
        load(data, torch_stages=[MultiExitNetwork([fresh], [fresh])])
    with pytest.raises(ValueError, match="left over"):
        load(data, torch_stages=[TorchClassifier(mlp(torch, 2)), TorchClassifier(mlp(torch, 3))])


def test_too_few_torch_stages_at_load_say_how_many_the_file_has(digits):
    torch = pytest.importorskip("torch")
    from skadaptive.torch import TorchClassifier

    X, y, _, _ = digits
    X = pixels_float32(X)
    small, large = (train_module(mlp(torch, seed), X, y, epochs=5) for seed in (0, 1))
    clf = NetworkSelectionClassifier(
        [("small", TorchClassifier(small)), ("large", TorchClassifier(large))],
        costs=[1, 5],
        cost_weight=0.02,
        cv=3,
        random_state=0,
    ).fit(X, y)
    data = dump(clf)
    with pytest.raises(ValueError, match=r"more torch stages than the 1 torch_stages passed"):
        load(data, torch_stages=[TorchClassifier(mlp(torch, 2))])
    with pytest.raises(ValueError, match="saved without its modules' code"):
        load(data)


def test_multi_exit_network_saves_weights_only(digits):
    torch = pytest.importorskip("torch")
    from skadaptive.torch import MultiExitNetwork

    X, y, X_test, _ = digits
    X, X_test = pixels_float32(X), pixels_float32(X_test)

    def network(seed):
        torch.manual_seed(seed)
        blocks = [torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU())] + [
            torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU())
        ]
        heads = [torch.nn.Linear(16, 10), torch.nn.Linear(16, 10)]
        return blocks, heads

    blocks, heads = network(0)
    train_multi_exit(blocks, heads, X, y, epochs=40)
    clf = EarlyExitClassifier(
        MultiExitNetwork(blocks, heads, exit_costs=[1, 1]), cost_weight=0.1, cv=3, random_state=0
    ).fit(X, y)
    data = dump(clf)
    assert not [t for t in sio.get_untrusted_types(data=data) if t.startswith("torch")]
    loaded = load(data, torch_stages=[MultiExitNetwork(*network(5))])
    assert_same_predictions(loaded, clf, X_test)


def test_cuda_stages_round_trip_on_the_gpu(digits):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from skadaptive.torch import TorchClassifier

    X, y, X_test, _ = digits
    X, X_test = pixels_float32(X), pixels_float32(X_test)

    net = train_module(mlp(torch, 0), X, y, epochs=40)
    clf = NetworkSelectionClassifier(
        [("lr", LogisticRegression(max_iter=500)), ("mlp", TorchClassifier(net, device="cuda"))],
        costs=[1, 5],
        cost_weight=0.02,
        cv=3,
        random_state=0,
    ).fit(X, y)
    assert next(net.parameters()).device.type == "cuda"
    fresh = mlp(torch, 1)
    loaded = load(dump(clf), torch_stages=[TorchClassifier(fresh, device="cuda")])
    assert next(fresh.parameters()).device.type == "cuda"
    assert_same_predictions(loaded, clf, X_test)
