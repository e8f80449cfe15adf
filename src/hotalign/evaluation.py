"""The paper's evaluation protocol: random train/test splits, HOT against its baselines."""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass, field

import numpy as np

from ._validation import (check_callable, check_choice, check_float, check_int, check_names,
                          check_random_state)
from .baselines import ALL_METHODS, METHODS, ROTATION_METHODS, layer_weights
from .estimator import HOT, _check_systems
from .grid import RowSubset

__all__ = ["Evaluation", "evaluate"]

_LABELS = {
    "hot": "HOT",
    "perm_p": "Perm-P",
    "single_best": "Single-Best OT",
    "pairwise_best": "Pairwise-Best OT",
    "hot_r": "HOT+R",
    "perm_p_r": "Perm-P+R",
    "single_best_r": "Single-Best OT+R",
    "pairwise_best_r": "Pairwise-Best OT+R",
}


@dataclass(eq=False)
class Evaluation:
    """Scores of HOT and the baselines over random splits.

    Attributes
    ----------
    methods : tuple of str
    split_scores : dict of str -> ndarray, shape (n_splits,)
        Held-out score of each method on each split.
    layer_scores : dict of str -> ndarray, shape (n_splits, L)
        Per-layer held-out scores.
    layer_plans : ndarray, shape (n_splits, L, M)
        HOT's layer plan fitted on each split (HOT+R's when only "+R" methods are asked for).
    layer_costs : ndarray, shape (n_splits, L, M)
    distances : ndarray, shape (n_splits,)
        ``<C, P>`` of each split (lower = more alike).
    n_left_out : dict of str -> ndarray, shape (n_splits, L)
        Units left out of each layer's score (constant on held-out rows or in training).
    params : dict
        The arguments of the run.
    rotation_layer_plans, rotation_layer_costs : ndarray, shape (n_splits, L, M), or None
        HOT+R's layer plan and costs (J / 2) per split, when a "+R" method was asked for.
    rotation_distances : ndarray, shape (n_splits,), or None
    """

    methods: tuple
    split_scores: dict
    layer_scores: dict
    layer_plans: np.ndarray
    layer_costs: np.ndarray
    distances: np.ndarray
    n_left_out: dict
    params: dict = field(default_factory=dict)
    rotation_layer_plans: np.ndarray | None = None
    rotation_layer_costs: np.ndarray | None = None
    rotation_distances: np.ndarray | None = None

    def mean(self, method="hot") -> float:
        """Mean held-out score of a method over the splits."""
        return float(np.mean(self.split_scores[check_choice(method, "method", self.methods)]))

    def std(self, method="hot") -> float:
        """Standard deviation over the splits (ddof=0)."""
        return float(np.std(self.split_scores[check_choice(method, "method", self.methods)]))

    def to_dict(self) -> dict:
        """Plain Python types only (JSON-serialisable)."""
        out = {
            "params": self.params,
            "scores": {
                m: {
                    "mean": self.mean(m),
                    "std": self.std(m),
                    "splits": self.split_scores[m].tolist(),
                    "layers_mean": self.layer_scores[m].mean(axis=0).tolist(),
                }
                for m in self.methods
            },
            "distance": {"mean": float(self.distances.mean()), "splits": self.distances.tolist()},
            "layer_plan_mean": self.layer_plans.mean(axis=0).tolist(),
            "layer_costs_mean": self.layer_costs.mean(axis=0).tolist(),
            "n_left_out": {m: self.n_left_out[m].tolist() for m in self.methods},
        }
        if self.rotation_layer_plans is not None:
            out["rotation"] = {
                "distance": {"mean": float(self.rotation_distances.mean()),
                             "splits": self.rotation_distances.tolist()},
                "layer_plan_mean": self.rotation_layer_plans.mean(axis=0).tolist(),
                "layer_costs_mean": self.rotation_layer_costs.mean(axis=0).tolist(),
            }
        return out

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def table(self) -> str:
        """Markdown table: method, mean ± std of the held-out score over splits."""
        n = len(next(iter(self.split_scores.values())))
        lines = [
            f"| method | score (mean ± std over {n} splits, higher is better) |",
            "|---|---|",
        ]
        for m in self.methods:
            lines.append(f"| {_LABELS.get(m, m)} | {self.mean(m):.4f} ± {self.std(m):.4f} |")
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def evaluate(X, Y, *, methods=METHODS, n_splits=5, test_size=0.2, random_state=0,
             estimator=None, progress=None) -> Evaluation:
    """Fit HOT on random training rows and score it and its baselines on the held-out rows.

    The protocol of Shah & Khosla (2025): for each of ``n_splits`` random splits, fit on
    ``1 - test_size`` of the rows (unit plans, layer costs and layer plan, z-scoring statistics),
    then reconstruct X from Y on the held-out rows with each method's layer weights (see
    :mod:`hotalign.baselines`) and score by mean per-unit Pearson correlation.

    Parameters
    ----------
    X, Y : list of array_like, shapes (T, n_l) and (T, n_m)
        The two systems (same stimuli, same row order).
    methods : list of str
        A list of method names (not a single string), any of ``"hot"``, ``"perm_p"``,
        ``"single_best"``, ``"pairwise_best"`` and their "+R" versions
        ``"hot_r"``, ``"perm_p_r"``, ``"single_best_r"``, ``"pairwise_best_r"``. When a
        "+R" method is asked for, each split also fits one ``HOT(rotation=True)`` (the
        estimator's parameters otherwise kept); plain methods use the plain fit.
    n_splits : int
        Number of random splits (1 <= n_splits <= T).
    test_size : float
        Held-out fraction, in (0, 1); both parts need at least 3 rows.
    random_state : int >= 0, numpy.random.Generator or None
        Seeds the splits and Perm-P's permutations.
    estimator : HOT, optional
        Estimator to fit (default ``HOT()``); its parameters are kept, except ``rotation``,
        which is set per fit (False for plain methods, True for "+R" methods).
    progress : callable, optional
        ``progress(split_done, n_splits)`` after each split.

    Returns
    -------
    Evaluation
    """
    methods = check_names(methods, "methods", ALL_METHODS, "method")
    random_state = check_random_state(random_state)
    progress = check_callable(progress, "progress")
    if estimator is not None and not isinstance(estimator, HOT):
        raise ValueError(f"estimator must be a hotalign.HOT instance (or None for HOT()), got "
                         f"{type(estimator).__name__}")
    X, Y = _check_systems(X, Y)
    T = X[0].shape[0]
    n_splits = check_int(n_splits, "n_splits", minimum=1)
    if n_splits > T:
        raise ValueError(f"n_splits must be at most the number of rows T={T}, got {n_splits}")
    check_float(test_size, "test_size", low=0.0, high=1.0, open_low=True, open_high=True)
    n_test = int(round(float(test_size) * T))
    if n_test < 3 or T - n_test < 3:
        raise ValueError(
            f"test_size={test_size} leaves {n_test} held-out and {T - n_test} training rows of "
            f"T={T}; both need at least 3"
        )
    estimator = HOT() if estimator is None else estimator
    want_plain = any(m in METHODS for m in methods)
    want_rot = any(m in ROTATION_METHODS for m in methods)
    plain_est = rot_est = None
    if want_plain:
        plain_est = estimator if not estimator.rotation else _with_rotation(estimator, False)
    if want_rot:
        rot_est = estimator if estimator.rotation else _with_rotation(estimator, True)
    rng = np.random.default_rng(random_state)
    L, M = len(X), len(Y)
    split_scores = {m: np.empty(n_splits) for m in methods}
    layer_scores = {m: np.empty((n_splits, L)) for m in methods}
    left_out = {m: np.zeros((n_splits, L), dtype=np.int64) for m in methods}
    plans = np.empty((n_splits, L, M))
    costs = np.empty((n_splits, L, M))
    distances = np.empty(n_splits)
    rot_plans = np.empty((n_splits, L, M)) if want_rot else None
    rot_costs = np.empty((n_splits, L, M)) if want_rot else None
    rot_distances = np.empty(n_splits) if want_rot else None
    lazy = getattr(estimator, "max_layers_in_memory", None) is not None
    for s in range(n_splits):
        order = rng.permutation(T)
        test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
        if lazy:  # gather a layer's training rows only when the fit standardises it
            X_train = [RowSubset(A, train) for A in X]
            Y_train = [RowSubset(B, train) for B in Y]
        else:
            X_train = [A[train] for A in X]
            Y_train = [B[train] for B in Y]
        models = {}
        if want_plain:
            models[False] = plain_est.fit(X_train, Y_train)
        if want_rot:
            models[True] = rot_est.fit(X_train, Y_train)
            rot = models[True]
            rot_plans[s], rot_costs[s], rot_distances[s] = (rot.layer_plan_, rot.layer_costs_,
                                                            rot.distance_)
        first = models[not want_plain]
        plans[s], costs[s], distances[s] = first.layer_plan_, first.layer_costs_, first.distance_
        X_test = [A[test] for A in X]
        Y_test = [B[test] for B in Y]
        perm_seed = rng.integers(2**63)
        held_out = {rot: model._held_out(X_test, Y_test) for rot, model in models.items()}
        for m in methods:
            rot = m in ROTATION_METHODS
            model = models[rot]
            w = layer_weights(m, model.layer_plan_, model.layer_costs_, random_state=perm_seed)
            scores, counts = model._scores(*held_out[rot], w, return_counts=True)
            layer_scores[m][s] = scores
            left_out[m][s] = counts
            split_scores[m][s] = scores.mean()
        if progress is not None:
            progress(s + 1, n_splits)
    params = {
        "methods": list(methods),
        "n_splits": n_splits,
        "test_size": float(test_size),
        # JSON-serialisable: an integer seed as int, a Generator (etc.) by its repr.
        "random_state": (random_state if random_state is None
                         else int(random_state) if isinstance(random_state, numbers.Integral)
                         else repr(random_state)),
        "estimator": repr(estimator),
        "n_stimuli": T,
        "x_widths": [A.shape[1] for A in X],
        "y_widths": [B.shape[1] for B in Y],
    }
    return Evaluation(methods, split_scores, layer_scores, plans, costs, distances, left_out,
                      params, rot_plans, rot_costs, rot_distances)


def _with_rotation(estimator, rotation):
    params = estimator.get_params()
    params["rotation"] = rotation
    return type(estimator)(**params)
