"""Layer-weight matrices of HOT and its baselines (docs/method.md: "Baselines"; paper §2.4).

Every method reconstructs layer l of X as ``sum_m w[l, m] Y_m W_lm^T`` with the same unit plans;
they differ only in the L x M layer weights ``w``:

- ``hot``: ``L * P`` (the layer plan).
- ``perm_p``: the rows of ``L * P`` randomly permuted (seeded): layer correspondences broken,
  unit plans kept.
- ``single_best``: weight 1 on ``argmax_m P[l, m]``.
- ``pairwise_best``: weight 1 on ``argmin_m C[l, m]`` (training costs): the standard greedy
  layer-wise method; several l may pick the same m, and some m none.

The "+R" versions (``hot_r``, ``perm_p_r``, ``single_best_r``, ``pairwise_best_r``) use the same
rules on the plan P and costs C of a HOT+R fit (``HOT(rotation=True)``), whose reconstruction
also applies the learned rotations: ``sum_m w[l, m] Y_m W_lm^T R_lm^T``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ALL_METHODS", "LABELS", "METHODS", "ROTATION_METHODS", "layer_weights"]

METHODS = ("hot", "perm_p", "single_best", "pairwise_best")
#: The "+R" baselines, fitted with ``HOT(rotation=True)``.
ROTATION_METHODS = ("hot_r", "perm_p_r", "single_best_r", "pairwise_best_r")
ALL_METHODS = METHODS + ROTATION_METHODS
#: Display names of the methods (tables, figures), as the paper writes them.
LABELS = {
    "hot": "HOT",
    "perm_p": "Perm-P",
    "single_best": "Single-Best OT",
    "pairwise_best": "Pairwise-Best OT",
    "hot_r": "HOT+R",
    "perm_p_r": "Perm-P+R",
    "single_best_r": "Single-Best OT+R",
    "pairwise_best_r": "Pairwise-Best OT+R",
}


def _one_hot(index, M):
    w = np.zeros((index.size, M))
    w[np.arange(index.size), index] = 1.0
    return w


def layer_weights(method, P, C, random_state=None) -> np.ndarray:
    """Layer weights (L, M) of ``method`` for a fitted layer plan P and layer costs C.

    Parameters
    ----------
    method : {"hot", "perm_p", "single_best", "pairwise_best"} or its "+R" name (``"hot_r"``, ...)
        A "+R" name applies the same rule; pass P and C of the HOT+R fit.
    P : ndarray, shape (L, M)
        HOT (or HOT+R) layer plan (rows sum to 1/L).
    C : ndarray, shape (L, M)
        Unit-level transport costs on the training rows (HOT+R: J / 2).
    random_state : int or numpy.random.Generator, optional
        Seed of the row permutation of ``perm_p``.

    Returns
    -------
    ndarray, shape (L, M); each row sums to 1.
    """
    L, M = P.shape
    if method in ROTATION_METHODS:
        method = method[:-2]
    if method == "hot":
        return L * P
    if method == "perm_p":
        rng = np.random.default_rng(random_state)
        return L * P[rng.permutation(L)]
    if method == "single_best":
        return _one_hot(np.argmax(P, axis=1), M)
    if method == "pairwise_best":
        return _one_hot(np.argmin(C, axis=1), M)
    raise ValueError(f"method: unknown method {method!r}; choose from {list(ALL_METHODS)}")
