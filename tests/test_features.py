"""One feature implementation: the numpy summary block, and the torch one tested against it."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skadaptive._features import FeatureBuilder, entropy, summary_block, summary_width
from skadaptive._thresholds import neg_entropy_scores


def random_proba(n=200, n_classes=5, seed=0):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(n_classes, 0.3), size=n)
    proba[:10] = np.eye(n_classes)[rng.integers(0, n_classes, 10)]  # exact zeros and ones
    return proba


@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_summary_block_columns(n_classes):
    proba = random_proba(n_classes=n_classes)
    block = summary_block(proba)
    n_top = min(3, n_classes)
    assert block.shape == (len(proba), summary_width(n_classes))
    assert_allclose(block[:, :n_top], -np.sort(-proba, axis=1)[:, :n_top])
    assert_allclose(block[:, n_top], block[:, 0] - block[:, 1])
    assert_allclose(block[:, -1], entropy(proba))
    assert FeatureBuilder("summary").width(n_classes) == block.shape[1]


def test_entropy_is_the_one_used_by_the_thresholds():
    proba = random_proba()
    outputs = np.stack([proba, proba[::-1]], axis=1)
    assert_allclose(neg_entropy_scores(outputs)[:, 0], -entropy(proba))
    assert_allclose(entropy(np.eye(3)), 0.0)
    assert_allclose(entropy(np.full((1, 4), 0.25)), np.log(4))


@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_the_torch_summary_block_equals_the_numpy_one(n_classes):
    torch = pytest.importorskip("torch")
    from skadaptive.torch._multi_exit import _summary_block

    proba = random_proba(n_classes=n_classes, seed=n_classes)
    on_device = _summary_block(torch.as_tensor(proba, dtype=torch.float64)).numpy()
    assert_allclose(on_device, summary_block(proba), rtol=1e-12, atol=1e-15)
