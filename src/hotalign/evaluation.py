"""The paper's evaluation protocol: random train/test splits, HOT against its baselines."""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass, field

import numpy as np

from ._validation import (check_callable, check_choice, check_int, check_names,
                          check_splits,
                          check_random_state)
from .baselines import ALL_METHODS, LABELS, METHODS, ROTATION_METHODS, layer_weights
from .estimator import HOT, _check_systems
from .layer import Layer
from .slack import evaluation_record, fitted_slack
from .systems import standardize_system
from .null import null_record, permutation_null, split_agreement, split_interval

__all__ = ["Evaluation", "evaluate"]

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
    layer_marginals : dict or None
        ``{"rule", "slack"}`` of the estimator when its layer marginals are relaxed.
    chosen_slack, rotation_chosen_slack : ndarray, shape (n_splits,), or None
        With ``HOT(layer_marginals="auto")``: the slack chosen on each split's training rows
        (inf: semi-relaxed) for the plain and the HOT+R fit.
    null : dict or None
        The stimulus-permutation null (``n_null > 0``), see :mod:`hotalign.null`:
        ``scores`` (N,), ``layer_scores`` (N, L), ``distances`` (N,) of the permutations of
        split ``split``, with that split's ``observed_score`` and ``observed_distance``.
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
    layer_marginals: dict | None = None
    chosen_slack: np.ndarray | None = None
    rotation_chosen_slack: np.ndarray | None = None
    null: dict | None = None

    def mean(self, method="hot") -> float:
        """Mean held-out score of a method over the splits."""
        return float(np.mean(self.split_scores[check_choice(method, "method", self.methods)]))

    def std(self, method="hot") -> float:
        """Standard deviation over the splits (ddof=0)."""
        return float(np.std(self.split_scores[check_choice(method, "method", self.methods)]))

    def to_dict(self, x_names=None, y_names=None, full=None, full_rotation=None) -> dict:
        """The results of the run as plain Python types: the one schema of ``results.json``.

        Parameters
        ----------
        x_names, y_names : list of str, optional
            Layer names (default ``layer_0``, ``layer_1``, ...).
        full, full_rotation : HOT, optional
            Fits on all rows (plain and HOT+R), whose C, P, distance and constant units are
            reported beside the means over splits (``"all_rows"``), as ``hotalign align`` does.

        Returns
        -------
        dict
            ``evaluation`` (the arguments), ``score_meaning``, ``scores`` (per method: mean, std,
            splits, per-layer mean and std, units left out), ``distance``, ``C``, ``P`` (each with
            its meaning), ``constant_units`` (with ``full``), ``rotation`` (HOT+R methods) and,
            for relaxed layer marginals, ``layer_marginals`` (the rule, and with "auto" the
            slack chosen per split; :func:`hotalign.slack.evaluation_record`).
            Uncertainty: ``scores[m]["interval_95"]`` and ``distance["interval_95"]``
            (``percentile`` and ``t`` intervals over the splits,
            :func:`hotalign.null.split_interval`), ``split_agreement`` (how stable each cell of
            P is across splits, :func:`hotalign.null.split_agreement`) and, when the run had
            ``n_null > 0``, ``null`` (:func:`hotalign.null.null_record`: per statistic the
            observed value, the null's mean, ``range_95`` and ``p_value``).
        """
        L, M = self.layer_plans.shape[1:]
        x_names = [f"layer_{l}" for l in range(L)] if x_names is None else list(x_names)
        y_names = [f"layer_{m}" for m in range(M)] if y_names is None else list(y_names)

        def with_full(record, value):
            return record if full is None else {**record, "all_rows": value}

        out = {
            "evaluation": self.params,
            "score_meaning": "held-out reconstruction: mean Pearson correlation of each unit of "
                             "X with its reconstruction from Y (higher is better)",
            "scores": {
                m: {"mean": self.mean(m), "std": self.std(m),
                    "splits": self.split_scores[m].tolist(),
                    "layers": {name: {"mean": float(self.layer_scores[m][:, l].mean()),
                                      "std": float(self.layer_scores[m][:, l].std())}
                               for l, name in enumerate(x_names)},
                    "n_units_left_out": self.n_left_out[m].tolist(),
                    "interval_95": split_interval(self.split_scores[m])}
                for m in self.methods
            },
            "distance": with_full({
                "meaning": "<C, P>, network-level HOT distance (lower = more alike)",
                "mean_over_splits": float(self.distances.mean()),
                "std_over_splits": float(self.distances.std()),
                "splits": self.distances.tolist(),
                "interval_95": split_interval(self.distances)},
                None if full is None else full.distance_),
            "C": with_full({
                "meaning": "C[l][m]: soft-matching (unit transport) distance of X layer l and Y "
                           "layer m (lower = more alike); rows X layers, columns Y layers",
                "mean_over_splits": _mean_solved(self.layer_costs).tolist()},
                None if full is None else full.layer_costs_.tolist()),
            "P": with_full({
                "meaning": "P[l][m]: share of X layer l matched to Y layer m (rows sum to 1/L, "
                           "columns to 1/M)",
                "mean_over_splits": self.layer_plans.mean(axis=0).tolist()},
                None if full is None else full.layer_plan_.tolist()),
        }
        marginals = evaluation_record(self, full, full_rotation)
        if marginals is not None:
            out["layer_marginals"] = marginals
            out["P"]["meaning"] = marginals["P_meaning"]
        out["split_agreement"] = {
            "meaning": "stability of the layer plan P over the splits: support_count[l][m] "
                       "splits of n_splits put mass on the cell (L x P > 1e-9), "
                       "row_argmax_fraction the fraction in which it is its row's largest, "
                       "std the standard deviation of L x P; the mean plan is "
                       "P.mean_over_splits",
            **split_agreement(self.layer_plans)}
        if self.null is not None:
            null = self.null
            out["null"] = null_record(
                null, null["observed_score"], null["observed_distance"], x_names,
                {"split": null["split"]})
        if full is not None and getattr(full, "lazy_certificate_", None) is not None:
            out["lazy"] = _lazy_record(full)
        if full is not None:
            out["constant_units"] = {
                "meaning": "units constant on all rows, excluded from transport and scores",
                "X": {n: c.tolist() for n, c in zip(x_names, full.constant_units_["X"])},
                "Y": {n: c.tolist() for n, c in zip(y_names, full.constant_units_["Y"])},
                "count": full.n_constant_units_,
            }
        if self.rotation_layer_plans is not None:
            rot = full_rotation
            out["rotation"] = {
                "meaning": "HOT+R: C = J / 2 per layer pair after learning rotations (lower = "
                           "more alike), P from that C; reconstruction_error = "
                           "||X R - Y W^T||_F^2 / n_l",
                "distance": {"mean_over_splits": float(self.rotation_distances.mean()),
                             "splits": self.rotation_distances.tolist(),
                             **({} if rot is None else {"all_rows": rot.distance_})},
                "C": {"mean_over_splits": _mean_solved(self.rotation_layer_costs).tolist(),
                      **({} if rot is None else {"all_rows": rot.layer_costs_.tolist()})},
                "P": {"mean_over_splits": self.rotation_layer_plans.mean(axis=0).tolist(),
                      **({} if rot is None else {"all_rows": rot.layer_plan_.tolist()})},
            }
            if rot is not None:
                out["rotation"]["reconstruction_error"] = rot.reconstruction_errors_.tolist()
                out["rotation"]["n_rounds"] = rot.n_rounds_.tolist()
                if getattr(rot, "lazy_certificate_", None) is not None:
                    out["rotation"]["lazy"] = _lazy_record(rot)
        return out

    def to_json(self, **kwargs) -> str:
        """:meth:`to_dict` (no layer names, no fits on all rows) as JSON."""
        return json.dumps(self.to_dict(), **kwargs)

    def table(self) -> str:
        """Markdown table: method, mean ± std of the held-out score over splits."""
        n = len(next(iter(self.split_scores.values())))
        lines = [
            f"| method | score (mean ± std over {n} splits, higher is better) |",
            "|---|---|",
        ]
        for m in self.methods:
            lines.append(f"| {LABELS.get(m, m)} | {self.mean(m):.4f} ± {self.std(m):.4f} |")
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def evaluate(X, Y, *, methods=METHODS, n_splits=5, test_size=0.2, random_state=0,
             estimator=None, progress=None, n_null=0) -> Evaluation:
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
        which is set per fit (False for plain methods, True for "+R" methods). A lazy estimator
        (``HOT(lazy=True)``) fits lazily when the methods need only HOT's layer plan
        (``"hot"``, ``"single_best"``); with Perm-P or Pairwise-Best, whose weights reach pairs
        outside the plan, the plain fit solves every pair.
    progress : callable, optional
        ``progress(split_done, n_splits)`` after each split.
    n_null : int
        Permutations of the stimulus-permutation null (0: none; needs the ``"hot"`` method).
        On the first split, Y's rows are permuted jointly across its layers (within the
        training rows and within the held-out rows) ``n_null`` times, and each permutation is
        fitted and scored like the split, sharing that split's standardised layers (see
        :mod:`hotalign.null`). The null holds the split's standardised layers in memory.

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
    n_splits, n_test = check_splits(T, n_splits, test_size)
    n_null = check_int(n_null, "n_null", minimum=0)
    if n_null and "hot" not in methods:
        raise ValueError(f"n_null={n_null} needs the 'hot' method in methods, got "
                         f"{list(methods)}")
    estimator = HOT() if estimator is None else estimator
    want_plain = any(m in METHODS for m in methods)
    want_rot = any(m in ROTATION_METHODS for m in methods)
    plain_est = rot_est = None
    if want_plain:  # Perm-P and Pairwise-Best need every pair: no lazy fit for them
        eager = any(m in _NEED_ALL_PAIRS for m in methods)
        plain_est = _with_params(estimator, rotation=False, **({"lazy": False} if eager else {}))
    if want_rot:
        eager = any(m[:-2] in _NEED_ALL_PAIRS for m in methods if m in ROTATION_METHODS)
        rot_est = _with_params(estimator, rotation=True, **({"lazy": False} if eager else {}))
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
    chosen = {False: np.empty(n_splits), True: np.empty(n_splits)}
    lazy = getattr(estimator, "max_layers_in_memory", None) is not None
    for s in range(n_splits):
        order = rng.permutation(T)
        test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
        if lazy:  # gather a layer's training rows only when the fit standardises it
            X_train = [Layer.of(A).take(train) for A in X]
            Y_train = [Layer.of(B).take(train) for B in Y]
        else:
            X_train = [A[train] for A in X]
            Y_train = [B[train] for B in Y]
        models, systems = {}, {}  # systems: each split standardised (and hashed) once
        if want_plain:
            models[False] = plain_est._fit(X_train, Y_train, systems)
        if want_rot:
            models[True] = rot_est._fit(X_train, Y_train, systems)
            rot = models[True]
            rot_plans[s], rot_costs[s], rot_distances[s] = (rot.layer_plan_, rot.layer_costs_,
                                                            rot.distance_)
        for rot, model in models.items():
            chosen[rot][s] = fitted_slack(model)
        first = models[not want_plain]
        plans[s], costs[s], distances[s] = first.layer_plan_, first.layer_costs_, first.distance_
        X_test = [A[test] for A in X]
        Y_test = [B[test] for B in Y]
        perm_seed = rng.integers(2**63)
        if n_null and s == 0:
            Sx, Sy = _held_systems(plain_est, X_train, Y_train, systems)
            # its own stream, spawned: the splits do not depend on whether a null is drawn
            null = permutation_null(plain_est, Sx, Sy, X_test, Y_test, n_null,
                                    np.random.default_rng(_spawned(rng)),
                                    n_threads=plain_est.n_threads)
            null.update(split=0, observed_distance=float(distances[0]))
        for rot, model in models.items():
            weightings = {m: layer_weights(m, model.layer_plan_, model.layer_costs_,
                                           random_state=perm_seed)
                          for m in methods if (m in ROTATION_METHODS) == rot}
            scored = model.layer_scores_by_weighting(X_test, Y_test, weightings,
                                                     return_counts=True)
            for m, (scores, counts) in scored.items():
                layer_scores[m][s] = scores
                left_out[m][s] = counts
                split_scores[m][s] = scores.mean()
        if n_null and s == 0:
            null["observed_score"] = float(split_scores["hot"][0])
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
    rule = estimator.layer_marginals
    auto = rule == "auto"
    if n_null:
        params["n_null"] = n_null
    return Evaluation(methods, split_scores, layer_scores, plans, costs, distances, left_out,
                      params, rot_plans, rot_costs, rot_distances,
                      None if rule == "uniform" else {"rule": rule, "slack": estimator.slack},
                      chosen[not want_plain] if auto else None,
                      chosen[True] if auto and want_plain and want_rot else None,
                      null if n_null else None)


def _spawned(rng):
    """A child seed sequence of ``rng``'s (drawing it leaves ``rng``'s stream unchanged)."""
    bits = rng.bit_generator
    seq = getattr(bits, "seed_seq", None) or getattr(bits, "_seed_seq")
    return seq.spawn(1)[0]


def _held_systems(estimator, X_train, Y_train, systems):
    """The split's standardised systems as ``estimator`` fitted them (standardised and held
    here when its fit was restored from a cache or standardises under a memory budget)."""
    policy, dtype, held = estimator._system_key()
    if not held or (policy, dtype, held) not in systems:
        return tuple(standardize_system(A, name, policy=policy, dtype=dtype)
                     for A, name in ((X_train, "X"), (Y_train, "Y")))
    return systems[policy, dtype, held]


def _with_params(estimator, **params):
    """``estimator`` itself when it has the bool ``params`` already (or a parameter is not a
    bool: its fit then says so), else a copy with them."""
    current = estimator.get_params()
    if all(_same_bool(current[name], value) for name, value in params.items()) or any(
            not isinstance(current[name], (bool, np.bool_)) for name in params):
        return estimator
    return type(estimator)(**{**current, **params})


def _same_bool(value, flag: bool) -> bool:
    """Whether ``value`` is the bool ``flag`` (Python or NumPy; anything else is not)."""
    return isinstance(value, (bool, np.bool_)) and bool(value) == flag


#: Baselines whose layer weights reach pairs outside HOT's layer plan (a lazy fit would not
#: have solved them): Perm-P's permuted rows and Pairwise-Best's argmin over all of C.
_NEED_ALL_PAIRS = ("perm_p", "pairwise_best")


def _lazy_record(fit) -> dict:
    """results.json's record of a lazy fit on all rows: which pairs were solved, the bounds of
    the others and the certificate."""
    return {
        "meaning": "certified lazy layer grid: only solved_pairs were solved; C is null "
                   "elsewhere, where bounds holds a certified lower bound; P is optimal for "
                   "the true C (min_reduced_cost >= -1e-12)",
        "n_pairs_solved": fit.n_pairs_solved_,
        "n_pairs": int(fit.solved_pairs_.size),
        "solved_pairs": fit.solved_pairs_.tolist(),
        "bounds": fit.layer_cost_bounds_.tolist(),
        **fit.lazy_certificate_,
    }


def _mean_solved(values):
    """Mean over splits (axis 0) of the finite entries (a lazy fit leaves unsolved pairs NaN);
    NaN where no split solved the pair."""
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    total = np.where(finite, values, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)
