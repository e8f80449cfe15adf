"""Choosing the slack of the layer marginals on held-out rows of the training data
(docs/method.md, "Relaxed layer marginals").

``HOT(layer_marginals="auto")`` and :func:`select_slack` split the rows they are given into
``n_splits`` folds. For every fold, one uniform HOT fit on the other folds gives the unit plans
and the layer costs C; every candidate slack s then costs one small layer-level LP on that C
(:func:`hotalign.marginals.marginal_layer_plan`), and its plan is scored on the fold's rows
with the same unit plans. The chosen s has the best mean score over the folds (ties: the
smallest s, the closest to the paper's HOT). Only the rows passed in are ever read: inside
:func:`hotalign.evaluate` those are a split's training rows, never its test rows.
"""

from __future__ import annotations

import math

import numpy as np

from .marginals import check_slack_grid
from .slack_search import SlackSelection, search_slack, slack_to_json

__all__ = ["SlackSelection", "check_slack_grid", "select_slack"]


def select_slack(X, Y, grid=None, n_splits=3, random_state=0, estimator=None):
    """The held-out score of every candidate slack by cross-validation on the rows given.

    Parameters
    ----------
    X, Y : list of array_like, shapes (T, n_l) and (T, n_m)
        The two systems (same stimuli, same row order); pass training rows only.
    grid : sequence of float, optional
        Candidate slacks >= 0 (inf allowed); default (0, 0.1, 0.25, 0.5, 1, inf).
    n_splits : int
        Folds (>= 2); each needs at least 3 rows, and so do the other folds together.
    random_state : int >= 0, numpy.random.Generator or None
        Seeds the assignment of rows to folds.
    estimator : HOT, optional
        Its parameters are used for the fold fits (with ``layer_marginals="uniform"`` and
        ``lazy=False``: every slack needs its own pairs); default ``HOT()``.

    Returns
    -------
    SlackSelection

    Examples
    --------
    >>> import hotalign
    >>> X, Y, _ = hotalign.datasets.make_depth_mismatch(n_stimuli=300, random_state=0)
    >>> curve = hotalign.select_slack(X, Y, grid=[0, 1, float("inf")])
    >>> curve.scores.shape
    (3, 3)
    """
    from .estimator import HOT, _check_systems

    if estimator is not None and not isinstance(estimator, HOT):
        raise ValueError(f"estimator must be a hotalign.HOT instance (or None), got "
                         f"{type(estimator).__name__}")
    X, Y = _check_systems(X, Y)
    return search_slack(HOT() if estimator is None else estimator, X, Y, grid=grid,
                        n_splits=n_splits, random_state=random_state)


def fitted_slack(model) -> float:
    """The slack of a fitted HOT's layer plan as one number: 0 (uniform), inf
    (semi-relaxed), s ("slack" and "auto"; for a pair (s_low, s_high), NaN)."""
    rule, slack = model.marginal_rule_
    if rule == "uniform":
        return 0.0
    if rule == "semi-relaxed":
        return math.inf
    low, high = (float(x) for x in slack)
    return low if low == high else math.nan


def evaluation_record(evaluation, full=None, full_rotation=None):
    """``results.json``'s ``layer_marginals`` record of an evaluation whose estimator relaxes
    the layer marginals (None for the uniform rule).

    Keys: ``meaning``, ``rule``, ``slack`` (the parameter), ``P_meaning`` (the meaning of P's
    marginals), with "auto" ``chosen_slack`` (``splits``: the slack chosen on each split's
    training rows, inf written ``"inf"``; ``rotation_splits`` for HOT+R), ``column_sums``
    (``mean_over_splits`` of P's column sums, and ``all_rows`` with ``full``), and with
    ``full`` fitted by "auto" its ``selection`` (:meth:`SlackSelection.to_dict` layout).
    """
    from .estimator import HOT

    if evaluation.layer_marginals is None:
        return None
    rule, slack = evaluation.layer_marginals["rule"], evaluation.layer_marginals["slack"]
    out = {
        "meaning": "layer plan with relaxed column marginals: rows of P sum to 1/L; column m "
                   "(Y layer m) between max(1 - s, 0)/M and (1 + s)/M; s = inf: no column "
                   "constraint (semi-relaxed)",
        "rule": rule,
        "slack": _jsonable(slack),
        "P_meaning": "P[l][m]: share of X layer l matched to Y layer m (rows sum to 1/L, "
                     "columns within the bounds of layer_marginals)",
        "column_sums": {"mean_over_splits": evaluation.layer_plans.sum(axis=1).mean(axis=0)
                        .tolist()},
    }
    if evaluation.chosen_slack is not None:
        out["chosen_slack"] = {"splits": [slack_to_json(s) for s in evaluation.chosen_slack]}
        if evaluation.rotation_chosen_slack is not None:
            out["chosen_slack"]["rotation_splits"] = [
                slack_to_json(s) for s in evaluation.rotation_chosen_slack]
    if isinstance(full, HOT):
        out["column_sums"]["all_rows"] = full.layer_plan_.sum(axis=0).tolist()
        if full.slack_selection_ is not None:
            sel = full.slack_selection_
            out["selection"] = SlackSelection(sel["grid"], sel["scores"], sel["mean"],
                                              sel["std"], float(sel["chosen"])).to_dict()
    return out


def _jsonable(slack):
    if slack is None:
        return None
    if isinstance(slack, (tuple, list, np.ndarray)):
        return [_jsonable(s) for s in slack]
    return slack_to_json(float(slack))
