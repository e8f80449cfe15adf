"""The two levels of HOT and the reconstruction (docs/method.md; paper §2.2).

Sections of docs/method.md: "Level 1", "Level 2" and "Reconstruction and score".

Level 1 gives, for every layer pair, a sparse unit plan Q_lm and its cost C_lm; level 2 solves
the L x M transport on C for the layer plan P. A layer l is reconstructed from the other system
as ``Xhat_l = sum_m w[l, m] * Y_m W_lm^T`` with row-normalised plans ``W_lm = n_l Q_lm`` and layer
weights ``w = L P`` (HOT) or a baseline's weights; the product runs over the plan's nonzero
cells only (a sparse matrix, at most n_l + n_m - 1 entries), never a dense n_l x n_m array.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .results import TransportResult
from .transport import solve_transport

__all__ = ["layer_plan", "plan_distance", "prescale_columns", "reconstruct", "reconstruct_layer",
           "unit_correlations"]


def layer_plan(C) -> np.ndarray:
    """Level 2: the exact L x M transport plan on the layer costs, uniform marginals.

    Parameters
    ----------
    C : ndarray, shape (L, M)
        Unit-level transport costs.

    Returns
    -------
    P : ndarray, shape (L, M)
        Rows sum to 1/L, columns to 1/M; a permutation / L when L == M.
    """
    return solve_transport(np.asarray(C, dtype=np.float64)).to_dense()


def plan_distance(C, P) -> float:
    """``<C, P>`` over the plan's support: cells where P is zero count for nothing, even where C
    is unknown (NaN, a pair a lazy fit did not solve). Where C is known everywhere this is the
    same products, summed in the same order, as ``sum(C * P)``."""
    return float(np.sum(np.where(P > 0, C, 0.0) * P))


def plan_operator(plan: TransportResult) -> sp.csr_matrix:
    """Sparse ``W^T`` (shape (n_m, n_l)) of a unit plan, rows of W normalised to sum 1.

    ``Y @ plan_operator(plan)`` is ``Y W^T``: column i is the plan-weighted average of the
    units of Y that unit i of X sends its mass to. Rows of X without mass (excluded units)
    get an all-zero column.
    """
    n_l, n_m = plan.shape
    row_mass = np.bincount(plan.rows, weights=plan.weights, minlength=n_l)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = plan.weights / row_mass[plan.rows]
    return sp.csr_matrix((w, (plan.cols, plan.rows)), shape=(n_m, n_l))


def reconstruct(Y, plans, weights, rotations=None) -> list[np.ndarray]:
    """Reconstruct every layer of X from the layers of Y.

    Parameters
    ----------
    Y : list of ndarray, shapes (T, n_m)
        Standardised layers of the second system.
    plans : list of list of TransportResult
        ``plans[l][m]``: unit plan of pair (l, m), shape (n_l, n_m).
    weights : ndarray, shape (L, M)
        Layer weights; row l gives the mixture for layer l (``L * P`` for HOT). Zero weights
        are skipped.
    rotations : list of list of ndarray, optional
        ``rotations[l][m]`` (n_l x n_l orthogonal) for HOT+R: the term becomes
        ``Y_m W^T R^T``.

    Returns
    -------
    list of ndarray, shapes (T, n_l)
    """
    return [reconstruct_layer(Y, plans, [weights], l, rotations)[0]
            for l in range(weights.shape[0])]


def reconstruct_layer(Y, plans, weightings, l, rotations=None) -> list[np.ndarray]:
    """Layer l of X reconstructed under each of several layer weightings, each pair's term
    ``Y_m W^T`` (``R^T``) computed once and shared by every weighting that uses it (how HOT's
    score and its baselines' share one fit's reconstruction).

    Parameters
    ----------
    Y, plans, rotations
        As in :func:`reconstruct`.
    weightings : list of ndarray, shape (L, M)
        Layer weights of each method.
    l : int
        The layer of X.

    Returns
    -------
    list of ndarray, shape (T, n_l)
        One reconstruction per weighting, each the sum :func:`reconstruct` computes.
    """
    n_l = next(p.shape[0] for p in plans[l] if p is not None)
    out = [np.zeros((Y[0].shape[0], n_l)) for _ in weightings]
    for m in range(len(Y)):
        ws = [weights[l, m] for weights in weightings]
        if all(w == 0.0 for w in ws):
            continue
        if plans[l][m] is None:
            w = next(w for w in ws if w != 0.0)
            raise ValueError(f"layer pair ({l}, {m}) has weight {w} but was not solved (a "
                             "lazy fit solves only the pairs its layer plan needs)")
        term = _pair_term(Y[m], plans[l][m], None if rotations is None else rotations[l][m])
        for Xhat, w in zip(out, ws):
            if w != 0.0:
                Xhat += w * term
    return out


def _pair_term(Ym, plan, R):
    """``Y_m W^T`` of one pair, times ``R^T`` when the pair has a rotation R."""
    term = np.asarray(Ym @ plan_operator(plan), dtype=np.float64)
    return term if R is None else term @ R.T


def unit_correlations(A, B) -> np.ndarray:
    """Pearson correlation of matching columns of A and B (shapes (T, n)); NaN where either
    column is constant.

    Columns of extreme magnitude (see :func:`prescale_columns`) are first scaled by a power of
    two, so that their squares neither overflow nor underflow; correlation does not change.
    """
    A = prescale_columns(np.asarray(A, dtype=np.float64))
    B = prescale_columns(np.asarray(B, dtype=np.float64))
    Ac = A - A.mean(axis=0)
    Bc = B - B.mean(axis=0)
    na = np.linalg.norm(Ac, axis=0)
    nb = np.linalg.norm(Bc, axis=0)
    scale_a = np.abs(A).max(axis=0) * np.sqrt(A.shape[0])
    scale_b = np.abs(B).max(axis=0) * np.sqrt(B.shape[0])
    ok = (na > 1e-12 * scale_a) & (nb > 1e-12 * scale_b)
    r = np.full(A.shape[1], np.nan)
    r[ok] = np.einsum("ij,ij->j", Ac[:, ok], Bc[:, ok]) / (na[ok] * nb[ok])
    return np.clip(r, -1.0, 1.0)


#: Columns whose largest magnitude lies in [SAFE_MIN, SAFE_MAX] are used as they are: their
#: squares (and sums of T of them) stay normal doubles.
SAFE_MIN, SAFE_MAX = 2.0**-400, 2.0**400


def prescale_columns(A: np.ndarray) -> np.ndarray:
    """``A`` (float64, shape (T, n)) with each column of extreme magnitude scaled by a power of
    two to a largest magnitude in [1, 2); other columns untouched (no copy if there are none).

    A power of two scales exactly, so correlations computed afterwards are those of the data;
    it only keeps squares of values near 1e200 from overflowing and of values near 1e-200 (or
    subnormal) from underflowing to zero. Non-finite columns are left alone.
    """
    if A.size == 0:
        return A
    mx = np.abs(A).max(axis=0)
    bad = np.isfinite(mx) & (mx > 0) & ((mx < SAFE_MIN) | (mx > SAFE_MAX))
    if not bad.any():
        return A
    _, exp = np.frexp(mx[bad])  # mx = f 2^exp with f in [0.5, 1)
    A = A.copy()
    A[:, bad] *= np.ldexp(1.0, np.minimum(1023, 1 - exp))
    return A
