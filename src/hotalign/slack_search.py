"""The cross-validated search of the slack of relaxed layer marginals (docs/method.md,
"Relaxed layer marginals"): the folds, the one uniform fit per fold, and the held-out curve.

:func:`search_slack` works on an estimator instance it is given (its class and parameters make
the fold fits), so :class:`hotalign.HOT` (``layer_marginals="auto"``) and the public
:func:`hotalign.select_slack` share it without importing each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._validation import check_int, check_random_state
from .marginals import check_slack_grid, marginal_layer_plan

__all__ = ["SlackSelection", "search_slack", "slack_to_json"]


@dataclass(eq=False)
class SlackSelection:
    """The held-out curve of the slack.

    Attributes
    ----------
    grid : ndarray, shape (G,)
        Candidate slacks, ascending (inf allowed: the semi-relaxed plan).
    scores : ndarray, shape (n_splits, G)
        Held-out HOT score of each slack on each inner fold.
    mean, std : ndarray, shape (G,)
        Over the folds (std with ddof=0).
    chosen : float
        The slack of the best mean score (the smallest on ties).
    """

    grid: np.ndarray
    scores: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    chosen: float

    def to_dict(self) -> dict:
        """Plain Python types; slacks as numbers, inf as the string ``"inf"`` (valid JSON)."""
        return {"grid": [slack_to_json(s) for s in self.grid],
                "mean_score": self.mean.tolist(), "std_score": self.std.tolist(),
                "fold_scores": self.scores.tolist(), "chosen": slack_to_json(self.chosen)}

    def state(self) -> dict:
        """Arrays only (what a fitted estimator stores, cache-safe)."""
        return {"grid": self.grid, "scores": self.scores, "mean": self.mean, "std": self.std,
                "chosen": np.float64(self.chosen)}


def slack_to_json(s):
    """A slack for JSON: a float, or ``"inf"``."""
    return "inf" if math.isinf(s) else float(s)


def search_slack(estimator, X, Y, grid=None, n_splits=3, random_state=0):
    """The :class:`SlackSelection` of ``estimator`` (a HOT instance: its parameters make the
    uniform fold fits) on the checked systems ``X``, ``Y`` (lists of ``(T, n)`` arrays, the same
    stimuli); see :func:`hotalign.select_slack` for the other arguments."""
    grid = check_slack_grid(grid, "grid")
    n_splits = check_int(n_splits, "n_splits", minimum=2)
    random_state = check_random_state(random_state)
    T = X[0].shape[0]
    if T // n_splits < 3 or T - (T + n_splits - 1) // n_splits < 3:
        raise ValueError(f"n_splits={n_splits} folds of T={T} rows leave fewer than 3 rows in a "
                         "fold or in the rest; use fewer folds or more rows")
    params = estimator.get_params()
    fold_est = type(estimator)(**{**params, "layer_marginals": "uniform", "slack": None,
                                  "lazy": False})
    folds = np.array_split(np.random.default_rng(random_state).permutation(T), n_splits)
    scores = np.empty((n_splits, grid.size))
    for k, fold in enumerate(folds):
        held, rest = np.sort(fold), np.sort(np.setdiff1d(np.arange(T), fold))
        fit = fold_est.fit([A[rest] for A in X], [B[rest] for B in Y])
        L = fit.n_layers_x_
        weights = {i: L * marginal_layer_plan(fit.layer_costs_, "slack", s).plan
                   for i, s in enumerate(grid)}
        scored = fit.layer_scores_by_weighting([A[held] for A in X], [B[held] for B in Y],
                                               weights)
        scores[k] = [scored[i].mean() for i in range(grid.size)]
    mean = scores.mean(axis=0)
    best = int(np.flatnonzero(mean >= mean.max() - 1e-12)[0])
    return SlackSelection(grid, scores, mean, scores.std(axis=0), float(grid[best]))
