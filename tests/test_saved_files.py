"""Saved files outlive refactors: stable public type names, a format version, old files load.

tests/data/saved_v0_1.skops was written by skadaptive 0.1 (commit dee1a79, with
tests/data/make_saved_v0_1.py), when saved files named the private modules that
defined each type.  It must keep loading, and answering exactly as it did then.
"""

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.utils.fixes import parse_version

from skadaptive import NetworkSelectionClassifier

pytest.importorskip("skops")
import skops.io as sio  # noqa: E402

from skadaptive.persistence import FORMAT_VERSION, TRUSTED_TYPES, dump, load  # noqa: E402

DATA = Path(__file__).parent / "data"
sklearn_version = parse_version(sklearn.__version__)
TREE = ["sklearn.tree._tree.Tree"]  # the v0.1 file's decision tree and forest stages


def schema_types(data):
    """The ``module.Class`` names in a skops file's schema."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        text = archive.read("schema.json").decode()
    types = set()

    def walk(node):
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                types.add(f"{node['__module__']}.{node['__class__']}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(text))
    return types


def test_a_file_saved_by_version_0_1_loads_and_answers_as_it_did():
    if sklearn_version < parse_version("1.8"):
        # scikit-learn loads its models only in the version that saved them (the file holds a
        # LogisticRegression of 1.9, whose attributes 1.6 and 1.7 do not know).
        pytest.skip("the v0.1 file was saved with scikit-learn 1.9; this is " + sklearn.__version__)
    expected = json.loads((DATA / "saved_v0_1.json").read_text())
    X = np.array(expected.pop("X"))
    models = load(DATA / "saved_v0_1.skops", trusted=TREE)
    assert set(models) == set(expected)
    kinds = {name: type(model.policy_).__name__ for name, model in models.items()}
    assert kinds == {
        "network_selection": "RoutingPolicy",
        "network_selection_cv_hybrid": "HybridPolicy",
        "early_exit_cv_thresholds": "ThresholdPolicy",
    }
    for name, model in models.items():
        assert_array_equal(model.predict(X), expected[name]["predict"])
        assert_array_equal(model.apply(X), expected[name]["apply"])
        assert_allclose(model.predict_proba(X), expected[name]["predict_proba"], atol=1e-12)
        assert len(set(model.apply(X))) > 1  # the routes are not all the same
        # parameters added since take their defaults (get_params, repr and clone work)
        assert model.get_params()["serving_batch_size"] == 100
        assert "serving_batch_size" not in repr(clone(model))  # at its default
    # Renamed attributes come back under their new names.
    hybrid = models["network_selection_cv_hybrid"]
    assert hybrid.target_scale_ is not None and not hasattr(hybrid, "level_")
    assert "target_scale" in hybrid.cv_results_ and "level" not in hybrid.cv_results_
    # Cost fractions replaced target scales in 0.2: the old router is kept as it was fitted.
    assert hybrid.cost_fraction_ is None and hybrid.get_params()["confidence"] is None
    with pytest.raises(ValueError, match="fit it again to retarget it"):
        hybrid.retarget(max_accuracy_loss=0.02)


def test_the_old_file_names_private_modules_and_still_needs_its_stage_types_trusted():
    data = (DATA / "saved_v0_1.skops").read_bytes()
    assert "skadaptive._policy.RoutingPolicy" in schema_types(data)
    with pytest.raises(Exception, match="sklearn.tree._tree.Tree"):
        load(data)


@pytest.fixture(scope="module")
def ladder():
    X, y = load_iris(return_X_y=True)
    clf = NetworkSelectionClassifier(
        [("nb", GaussianNB()), ("lr", LogisticRegression(max_iter=300))],
        costs=[1, 10],
        cv=3,
        random_state=0,
    )
    return clf.fit(X, y), X


def test_files_name_public_types_and_record_the_format(ladder):
    clf, X = ladder
    data = dump(clf)
    skadaptive_types = {t for t in schema_types(data) if t.startswith("skadaptive")}
    assert skadaptive_types <= set(TRUSTED_TYPES)
    assert not any("._" in name for name in skadaptive_types)  # no private module in a name
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        version = json.loads(archive.read("skadaptive.json"))
    assert version["format"] == FORMAT_VERSION == 1
    assert_array_equal(load(data).predict(X), clf.predict(X))


def test_pickles_name_public_types_too(ladder):
    clf, X = ladder
    data = pickle.dumps(clf)
    assert b"skadaptive._" not in data
    assert_array_equal(pickle.loads(data).predict(X), clf.predict(X))


def test_a_file_from_a_newer_format_is_refused_with_a_clear_error(ladder):
    clf, _ = ladder
    source = zipfile.ZipFile(io.BytesIO(dump(clf)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == "skadaptive.json":
                content = json.dumps({"format": FORMAT_VERSION + 1})
            target.writestr(name, content)
    with pytest.raises(ValueError, match="newer skadaptive"):
        load(out.getvalue())


def test_skops_alone_loads_a_current_file_with_the_trusted_types(ladder):
    clf, X = ladder
    loaded = sio.loads(dump(clf), trusted=TRUSTED_TYPES)
    assert_array_equal(loaded.predict(X), clf.predict(X))


def test_a_reference_router_saved_by_0_1_routes_as_it_did():
    # 0.1's ReferencePolicy(costs, topology, classes) ran stage 0, then jumped to the last.
    from skadaptive.routers import ReferencePolicy

    state = {
        "costs": [1.0, 2.0, 10.0],
        "topology": "jump",
        "classes": [0, 1],
        "costs_": np.array([1.0, 2.0, 10.0]),
        "normalized_costs_": np.array([1.0, 2.0, 10.0]) / 13,
        "n_stages_": 3,
        "classes_": np.array([0, 1]),
        "jumps_": True,
    }
    router = ReferencePolicy.__new__(ReferencePolicy)
    router.__setstate__(state)
    outputs = np.full((4, 3, 2), 0.5)
    route = router.route(outputs)
    assert_array_equal(route.path, np.tile([True, False, True], (4, 1)))
    assert_array_equal(route.cost, 11.0)
