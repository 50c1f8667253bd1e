"""
=======================================
A multi-exit PyTorch network
=======================================

Deep networks can answer easy inputs from their first layers. This example trains a tiny
convolutional network on the 8x8 digits (on the CPU, in a few seconds), adds an exit head
after each of its three blocks, and lets :class:`~skadaptive.EarlyExitClassifier` learn
after which block to stop, row by row. The network is wrapped with
:class:`skadaptive.torch.MultiExitNetwork`, which keeps the activations of the rows still
active and runs the later blocks on those rows only.

It needs PyTorch (``pip install "skadaptive[torch]"``).
"""

# %%
# Three blocks and three heads
# ----------------------------
# scikit-learn passes 2-D arrays around, so the first block reshapes each row of 64
# pixels into a 1 x 8 x 8 image (:class:`torch.nn.Unflatten`). Each head maps its block's
# activations to 10 class scores.
#
# The digits are split in three: the network and its heads are trained on the first part,
# the routing policies on the second (rows no head was trained on) and the third is the
# test set. The network is tiny, so it runs on one thread: for such small tensors, more
# threads mostly add overhead.

import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from skadaptive import EarlyExitClassifier
from skadaptive.plotting import CostAccuracyDisplay, ExitShareDisplay
from skadaptive.torch import MultiExitNetwork, train_exit_heads

threads = torch.get_num_threads()
torch.set_num_threads(1)  # restored at the end of the example
torch.manual_seed(0)

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
X_net, X_rest, y_net, y_rest = train_test_split(X, y, test_size=0.6, stratify=y, random_state=0)
X_policy, X_test, y_policy, y_test = train_test_split(
    X_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=0
)

blocks = [
    nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU()),
    nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
    nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU()),
]
heads = [
    nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 4, 10)),
    nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 10)),
    nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 10)),
]

# %%
# Training: the backbone first, then the early heads
# --------------------------------------------------
# As in the paper, the network is first trained end to end with its last head only (a
# stand-in for a pretrained network), then :func:`skadaptive.torch.train_exit_heads` trains
# the two early heads on the activations of the frozen blocks.

backbone = nn.Sequential(*blocks, heads[-1])
optimizer = torch.optim.Adam(backbone.parameters(), lr=3e-3)
X_t, y_t = torch.as_tensor(X_net), torch.as_tensor(y_net)
for _ in range(30):  # epochs
    order = torch.randperm(len(X_t))
    for start in range(0, len(X_t), 64):
        batch = order[start : start + 64]
        optimizer.zero_grad()
        nn.functional.cross_entropy(backbone(X_t[batch]), y_t[batch]).backward()
        optimizer.step()
backbone.eval()

train_exit_heads(
    blocks, heads, X_net, y_net, frozen_heads=[2], epochs=30, lr=3e-3, batch_size=64, random_state=0
)

# %%
# Costs: multiply-adds per row
# ----------------------------
# The cost of an exit is what it adds to the exit before: its block and its head. We count
# the multiply-adds of the convolutions and linear layers with forward hooks on one row.
# (With ``exit_costs=None`` the estimator would time each exit instead; on small networks
# multiply-adds are a rough proxy for time.)


def multiply_adds(module, inputs):
    """Multiply-adds of the Conv2d and Linear layers of ``module`` for one input row."""
    total = []

    def count(layer, args, out):
        if isinstance(layer, nn.Conv2d):
            per_output = layer.in_channels // layer.groups * np.prod(layer.kernel_size)
            total.append(out[0].numel() * per_output)
        elif isinstance(layer, nn.Linear):
            total.append(layer.in_features * layer.out_features)

    hooks = [m.register_forward_hook(count) for m in module.modules()]
    with torch.no_grad():
        out = module(inputs)
    for hook in hooks:
        hook.remove()
    return int(sum(total)), out


h, exit_costs = torch.as_tensor(X_net[:1]), []
for block, head in zip(blocks, heads):
    block_cost, h = multiply_adds(block, h)
    head_cost, _ = multiply_adds(head, h)
    exit_costs.append(block_cost + head_cost)
print("multiply-adds each exit adds:", exit_costs)

# %%
# The early-exit classifier
# -------------------------
# :class:`~skadaptive.torch.MultiExitNetwork` trains nothing: its ``fit`` records the classes.
# :class:`~skadaptive.EarlyExitClassifier` computes the exits' outputs on the policy rows and
# learns, after exits 0 and 1, whether to answer or to go on.

net = MultiExitNetwork(blocks, heads, exit_costs=exit_costs)
clf = EarlyExitClassifier(net, cost_weight=0.05, cv=3, random_state=0).fit(X_policy, y_policy)

for k, proba in enumerate(clf.staged_predict_proba(X_test)):
    accuracy = np.mean(clf.classes_[proba.argmax(axis=1)] == y_test)
    print(f"exit {k} on every row: accuracy {accuracy:.4f}")
full_cost = clf.costs_.sum()
cost = clf.predict_cost(X_test).mean()
print(
    f"full network: accuracy {clf.estimator_.score(X_test, y_test):.4f}, {full_cost:.0f} "
    f"multiply-adds a row"
)
print(
    f"early exit:   accuracy {clf.score(X_test, y_test):.4f}, {cost:.0f} multiply-adds a row "
    f"on average ({full_cost / cost:.1f}x fewer)"
)

# %%
# The printed per-exit accuracies show what each head can do on its own: the first is
# cheap and already right on most digits. A later exit is not always more accurate than
# the one before it (the heads are trained separately, on few rows), which the policies
# can exploit: they learn from the outputs, not from the exit's position.
#
# The trade-off, and where rows exit
# ----------------------------------
# The sweep over ``cost_weight`` learns on the same out-of-fold outputs as the fitted
# estimator and is evaluated on the test rows.

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=[3, 2])
CostAccuracyDisplay.from_estimator(clf, X_test, y_test, y_train=y_policy, name="learned", ax=left)
left.set_xscale("log")
left.set_title("Tiny CNN with three exits (test rows)")
shares = ExitShareDisplay.from_estimator(clf, X_test, ax=right, name="where test rows exit")
fig.tight_layout()
print("share of test rows answered at each exit:", shares.shares_.round(3).tolist())

# %%
# Wall clock
# ----------
# The numbers above are the cost model's (multiply-adds). Here is the time of ``predict``
# on all the test rows, against the full network's own ``predict`` on the same rows (every
# row through every block), median of 5 runs. On a network this small, each exit's fixed
# costs (Python, the policy, the index select of the rows that go on) weigh heavily, so the
# measured ratio is usually well below the cost model's.


def median_time(func, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func(X_test)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


full_time, adaptive_time = median_time(clf.estimator_.predict), median_time(clf.predict)
print(
    f"predict on {len(X_test)} rows: full network {1e3 * full_time:.1f} ms, early exit "
    f"{1e3 * adaptive_time:.1f} ms: measured speed-up {full_time / adaptive_time:.2f}x "
    f"(cost model: {full_cost / cost:.1f}x)"
)

# %%
# For serving, :func:`skadaptive.torch.save_adaptive` exports the fitted estimator (blocks,
# heads and exit policies) with ``torch.export`` into one file that a server loads with
# torch alone; see the torch page of the user guide.

torch.set_num_threads(threads)  # restore torch's thread count
