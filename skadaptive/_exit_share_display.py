"""ExitShareDisplay: the share of rows answered at each stage (matplotlib, imported lazily)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.utils.validation import column_or_1d

from ._display import _check_names, _final_adaptive, _pyplot
from ._validation import Estimator

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_Display = TypeVar("_Display", bound="ExitShareDisplay")


class ExitShareDisplay:
    """Bar plot of the share of rows answered at each stage.

    The answering stage of a row is the one whose probabilities ``predict`` returns
    (``apply``): the bars show how much of the data exits early.  Build it with
    :meth:`from_estimator` or :meth:`from_predictions`; the shares are an attribute,
    so they can be read without the plot.

    Parameters
    ----------
    shares : array-like of shape (n_stages,)
        Stored as ``shares_``.
    stage_names : list of str, default=None
        Bar labels; None: ``"stage k"``.
    name : str, default=None
        Title of the plot.

    Attributes
    ----------
    shares_ : ndarray of shape (n_stages,)
        Fraction of the rows whose answer comes from each stage; sums to 1.
    stage_names_ : list of str
        The bar labels.
    ax_ : matplotlib Axes
        The axes of the last :meth:`plot`.
    figure_ : matplotlib Figure
        The figure of ``ax_``.
    bars_ : matplotlib BarContainer
        The bars, one per stage.

    See Also
    --------
    CostAccuracyDisplay : Accuracy against average cost of the policies.
    skadaptive.NetworkSelectionClassifier.apply : The answering stage of each row.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skadaptive.plotting import ExitShareDisplay
    >>> disp = ExitShareDisplay.from_predictions([0, 0, 1, 2, 0], n_stages=4)
    >>> disp.shares_.tolist()
    [0.6, 0.2, 0.2, 0.0]
    >>> disp.stage_names_
    ['stage 0', 'stage 1', 'stage 2', 'stage 3']

    From a fitted classifier, on rows it was not fitted on:

    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skadaptive import NetworkSelectionClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = NetworkSelectionClassifier(
    ...     [("tree", DecisionTreeClassifier(max_depth=6, random_state=0)),
    ...      ("knn", KNeighborsClassifier())],
    ...     costs=[1, 10], cost_weight=0.3, cv=3, random_state=0,
    ... ).fit(X[:800], y[:800])
    >>> disp = ExitShareDisplay.from_estimator(clf, X[800:1200])
    >>> disp.stage_names_, disp.shares_.round(4).tolist()
    (['tree', 'knn'], [0.7275, 0.2725])
    """

    def __init__(
        self,
        shares: ArrayLike,
        *,
        stage_names: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        self.shares_ = np.asarray(shares, dtype=float)
        self.stage_names_ = _check_names(stage_names, len(self.shares_))
        self.name = name

    def plot(
        self: _Display, ax: Axes | None = None, *, name: str | None = None, **kwargs: Any
    ) -> _Display:
        """Draw the bars on ``ax`` (a new figure if None).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure with one axes.
        name : str, default=None
            Title; None uses the display's ``name`` (no title if that is None too).
        **kwargs : dict
            Passed to ``ax.bar``.

        Returns
        -------
        display : ExitShareDisplay
            The display itself, with ``ax_``, ``figure_`` and ``bars_`` set.
        """
        plt = _pyplot("ExitShareDisplay.plot")
        if ax is None:
            _, ax = plt.subplots()
        self.bars_ = ax.bar(self.stage_names_, self.shares_, **kwargs)
        ax.bar_label(self.bars_, labels=[f"{share:.0%}" for share in self.shares_])
        # room above a full bar for its label; the ticks stop at 100%
        ax.set(xlabel="answering stage", ylabel="share of rows", ylim=(0, 1.1))
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        name = self.name if name is None else name
        if name:
            ax.set_title(name)
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_predictions(
        cls: type[_Display],
        stage: ArrayLike,
        *,
        n_stages: int | None = None,
        stage_names: Sequence[str] | None = None,
        name: str | None = None,
        ax: Axes | None = None,
    ) -> _Display:
        """Plot the shares of answering-stage indices.

        Parameters
        ----------
        stage : array-like of shape (n_samples,)
            Index of the stage that answered each row (as ``apply`` returns).
        n_stages : int, default=None
            Number of bars, above every index in ``stage``.  None: ``len(stage_names)``
            if given, else ``max(stage) + 1``.
        stage_names : list of str, default=None
            Bar labels, one per stage; None: ``"stage k"``.
        name : str, default=None
            Title of the plot; None: no title.
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure with one axes.

        Returns
        -------
        display : ExitShareDisplay
            The display, plotted, with the shares as ``shares_``.
        """
        _pyplot("ExitShareDisplay.from_predictions")
        stage = cast("NDArray[Any]", column_or_1d(stage))  # sklearn is not typed
        if stage.size == 0 or not np.issubdtype(stage.dtype, np.integer) or stage.min() < 0:
            raise ValueError("stage must be a non-empty array of non-negative integers.")
        if n_stages is None:
            n_stages = len(stage_names) if stage_names is not None else int(stage.max()) + 1
        if not isinstance(n_stages, numbers.Integral) or stage.max() >= n_stages:
            raise ValueError(f"n_stages={n_stages!r} must be an int above every stage index.")
        shares = np.bincount(stage, minlength=n_stages) / stage.size
        return cls(shares, stage_names=stage_names, name=name).plot(ax=ax)

    @classmethod
    def from_estimator(
        cls: type[_Display],
        estimator: Estimator,
        X: ArrayLike,
        *,
        stage_names: Sequence[str] | None = None,
        name: str | None = None,
        ax: Axes | None = None,
    ) -> _Display:
        """Plot where a fitted adaptive classifier answers the rows of ``X`` (``apply``).

        Parameters
        ----------
        estimator : EarlyExitClassifier, NetworkSelectionClassifier or Pipeline
            Fitted; a Pipeline must end with one of them.  Their budget siblings
            (``EarlyExitClassifierCV``, ``NetworkSelectionClassifierCV``) work too.
        X : array-like of shape (n_samples, n_features)
            The rows to route (the Pipeline's input, for a Pipeline).
        stage_names : list of str, default=None
            Bar labels; None: the models' names (network selection) or ``"exit k"``.
        name : str, default=None
            Title; None: the estimator's class name.
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure with one axes.

        Returns
        -------
        display : ExitShareDisplay
            The display, plotted, with the shares as ``shares_``.
        """
        _pyplot("ExitShareDisplay.from_estimator")
        final, Xt = _final_adaptive(estimator, X)
        stage_names = final._stage_names() if stage_names is None else stage_names
        name = type(final).__name__ if name is None else name
        return cls.from_predictions(
            final.apply(Xt), n_stages=final.n_stages_, stage_names=stage_names, name=name, ax=ax
        )
