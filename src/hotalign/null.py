"""How much to trust an evaluation: a stimulus-permutation null, split intervals, split agreement.

- :func:`permutation_null`: the rows of Y are permuted jointly across its layers (within the
  training rows and within the held-out rows of one split), so the structure inside each system
  is kept and only the stimulus correspondence between X and Y is broken. Each permutation is
  fitted and scored like the real split. The standardised layers of the split are computed
  once: permuting the rows of standardised Y equals standardising permuted Y (the training
  statistics do not depend on the row order), so only the GEMMs, the solves and the held-out
  reconstruction repeat.
- :func:`null_record`: the null's mean, 95% range and a permutation p-value,
  ``(1 + #{null at least as extreme}) / (1 + N)``.
- :func:`split_interval`: percentile and t intervals over the splits.
- :func:`split_agreement`: per cell of the layer plan, how often the splits put mass there.

See docs/reading-results.md for how to read them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["null_record", "permutation_null", "split_agreement", "split_interval"]

#: A plan cell "carries mass" in a split when ``L * P[l, m]`` exceeds this.
MASS_THRESHOLD = 1e-9


def permutation_null(model, Sx, Sy, X_test, Y_test, n_null, rng, n_threads=None) -> dict:
    """Fit and score ``n_null`` stimulus permutations of Y on one split.

    Parameters
    ----------
    model : HOT
        A plain HOT estimator (its parameters are kept; each permutation is solved eagerly,
        without a cache).
    Sx, Sy : hotalign.systems.StandardizedSystem
        The split's standardised training layers (shared by every permutation).
    X_test, Y_test : list of ndarray, shapes (T_test, n)
        The split's held-out rows.
    n_null : int
        Number of permutations (>= 1).
    rng : numpy.random.Generator
        Draws the permutations.
    n_threads : int, optional
        Worker threads of each grid.

    Returns
    -------
    dict
        ``scores`` (n_null,) HOT scores, ``layer_scores`` (n_null, L), ``distances``
        (n_null,) ``<C, P>`` of each permutation.
    """
    from .grid import solve_systems
    from .kinds import PLAIN

    Zy = Sy.layers()  # held once for every permutation
    n_train, n_test = Zy[0].shape[0], Y_test[0].shape[0]
    L = len(Sx)
    scores, layer_scores = np.empty(n_null), np.empty((n_null, L))
    distances = np.empty(n_null)
    for k in range(n_null):
        train, test = rng.permutation(n_train), rng.permutation(n_test)
        permuted = dataclasses.replace(Sy, _held=[Z[train] for Z in Zy], _raw=None, _keys={})
        grid = solve_systems(Sx, permuted, n_threads=n_threads, kind=PLAIN,
                             max_layers_in_memory=None, cache=None)
        fit = type(model)(**{**model.get_params(), "memory": None, "lazy": False})
        # the layer rule of the observed fit (with "auto": the slack chosen on its rows)
        rule = vars(model).get("marginal_rule_")
        if rule is None:  # an estimator not fitted yet: its own (fixed) rule
            fit._marginals(None, None)
        else:
            fit.marginal_rule_, fit.slack_selection_ = rule, None
        fit._set_fitted(Sx, permuted, grid)
        layer_scores[k] = fit.layer_scores_by_weighting(
            X_test, [B[test] for B in Y_test], {"hot": None})["hot"]
        scores[k] = layer_scores[k].mean()
        distances[k] = fit.distance_
    return {"scores": scores, "layer_scores": layer_scores, "distances": distances}


def _range(values) -> list:
    """The central 95% range (2.5th and 97.5th percentiles)."""
    return np.percentile(values, [2.5, 97.5]).tolist()


def null_record(null: dict, observed_score: float, observed_distance: float, x_names,
                params: dict) -> dict:
    """The ``null`` record of results.json (see :meth:`hotalign.Evaluation.to_dict`)."""
    n = null["scores"].size

    def side(values, observed, higher_is_better):
        extreme = values >= observed if higher_is_better else values <= observed
        return {"observed": float(observed), "mean": float(values.mean()),
                "range_95": _range(values),
                "p_value": float((1 + int(extreme.sum())) / (1 + n)),
                "direction": "higher is better" if higher_is_better else "lower is better",
                "values": values.tolist()}

    return {
        "meaning": "stimulus-permutation null: Y's rows permuted jointly across its layers "
                   "(within the training and within the held-out rows of split `split`), "
                   "fitted and scored like that split; p_value = (1 + #null at least as "
                   "extreme as observed) / (1 + n_permutations); observed is that split's "
                   "value",
        **params,
        "n_permutations": n,
        "hot_score": side(null["scores"], observed_score, True),
        "distance": side(null["distances"], observed_distance, False),
        "layers": {name: {"mean": float(null["layer_scores"][:, l].mean()),
                          "range_95": _range(null["layer_scores"][:, l])}
                   for l, name in enumerate(x_names)},
    }


def split_interval(values) -> dict:
    """95% intervals of a quantity measured on each split.

    ``percentile``: the 2.5th and 97.5th percentiles of the split values (their spread);
    ``t``: mean ± t(0.975, n - 1) · sd / sqrt(n) with sd over splits (ddof=1), an interval
    for the mean that treats splits as independent (they share rows, so it is optimistic);
    None with one split.
    """
    from scipy.stats import t as student

    values = np.asarray(values, dtype=float)
    n = values.size
    if n < 2:
        return {"percentile": _range(values), "t": None}
    half = float(student.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n))
    return {"percentile": _range(values), "t": [float(values.mean()) - half,
                                                float(values.mean()) + half]}


def split_agreement(plans) -> dict:
    """How stable the layer plan is across splits.

    Parameters
    ----------
    plans : ndarray, shape (n_splits, L, M)
        The layer plan of each split.

    Returns
    -------
    dict
        ``n_splits``; ``support_count`` (L, M): splits in which the cell carries mass;
        ``support_fraction`` (L, M): that count over n_splits; ``row_argmax_fraction`` (L, M):
        fraction of splits in which the cell is its row's largest (ties to the first);
        ``std`` (L, M): standard deviation over splits of ``L * P``.
    """
    plans = np.asarray(plans, dtype=float)
    n, L, M = plans.shape
    count = (plans * L > MASS_THRESHOLD).sum(axis=0)
    argmax = np.zeros((L, M))
    best = plans.argmax(axis=2)
    for l in range(L):
        argmax[l] = np.bincount(best[:, l], minlength=M) / n
    return {"n_splits": n, "support_count": count.tolist(),
            "support_fraction": (count / n).tolist(), "row_argmax_fraction": argmax.tolist(),
            "std": (plans * L).std(axis=0).tolist()}
