"""Certified lazy layer grid: the exact HOT layer plan without solving every layer pair
(docs/method.md, "Certified lazy layer grid").

The layer plan P of HOT is a vertex of the L x M transportation polytope, so at most L + M - 1
of its cells are non-zero, yet a full fit solves all L x M unit-level problems. The lazy fit
(``HOT(lazy=True)``) solves only the pairs the optimal P needs, and proves it:

1. Every pair gets a cheap, certified lower bound ``LB[l, m] <= C[l, m]``
   (:func:`projection_bounds`).
2. The outer transport is solved on ``C'`` = exact ``C`` where a pair is solved, ``LB`` elsewhere
   (:func:`certified_layer_plan`). If every cell in the support of its optimal plan ``P'`` is
   solved, ``P'`` is optimal for the true ``C``; otherwise the unsolved support cells are solved
   and the outer problem is solved again.

Proof. Let (alpha, beta) be the optimal dual potentials of the outer problem on C'. Then
``alpha_l + beta_m <= C'_lm <= C_lm`` for every cell (dual feasibility for C'; C' <= C), with
equality on the support of P', where C' = C. So (alpha, beta) is dual feasible for C and
complementary with P', which is primal feasible: P' is optimal for C, and the distance
``<C, P'> = <C', P'>`` is exact. The certificate records the duals' worst reduced cost
``min_lm (C'_lm - alpha_l - beta_m)`` over every cell (>= -tol), which bounds the same quantity
for C from below on unsolved cells.

The bound (:func:`projection_bounds`). For standardised layers (centred columns, unit norm)
C_lm = min_Q <Q, 1 - Zx^T Zy> = 1 - max_Q <Q, G> over plans Q with the pair's unit marginals
a, b. Let U (T x k) have orthonormal columns spanning (approximately) the top-k left singular
subspace of Zx (a randomised range finder, computed once per layer of X). Write each unit
column x = U A + x_perp and y = U B + y_perp. Then

    x_i . y_j = A_i . B_j + x_perp,i . y_perp,j <= A_i . B_j + e_i f_j = H_ij,

with e_i = ||x_perp,i|| and f_j = ||y_perp,j|| (Cauchy-Schwarz on the complement; exact for
any orthonormal U, however good a subspace it is). Any plan Q puts mass a_i on row i and b_j on
column j, so <Q, G> <= <Q, H> <= min(sum_i a_i max_j H_ij, sum_j b_j max_i H_ij). Hence
C_lm >= 1 - that minimum. It costs T k (n + m) + k n m per pair instead of the T n m of the
correlation GEMM, and no transport solve.

Rounding. The grid computes the tile in the working dtype (float32 or float64): each computed
correlation differs from the dot product of the stored standardised columns by at most
gamma_T ||x|| ||y|| (gamma_T = T u / (1 - T u), u the unit roundoff, for any summation order),
and the clamp to [0, 2] only raises costs. The projections are computed in float64 from the
stored columns and the n x m tile H in float32, whose rounding adds at most
delta = (gamma_k' (1 + u32)^2 + 7 u32) max||x|| max||y|| (see :func:`_pair_bound`), so
``LB = 1 - UB - delta - gamma_T max||x|| max||y|| - 1e-9`` is below the computed C as well.
A bound that is not finite, or a layer too small to bound (k >= T or n <= k), falls back to
``LB = 0`` (always valid, never prunes): a pair is then solved whenever the outer plan needs it,
never skipped.

Where it prunes. When layers share low-dimensional structure (the usual case for layers of one
network or of related networks), the top-k subspace of a layer captures most of each unit and
e_i f_j is small: the bound separates distant layer pairs from the near-diagonal ones and the
lazy fit solves little more than the L + M - 1 support cells. When units are noisy and
unrelated (independent systems, flat costs), e_i f_j is as large as the correlations themselves
and nothing is pruned: the lazy fit then solves every pair (plus the bounds' cost), which the
benchmark reports.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._blas import single_threaded_blas
from ._validation import resolve_threads
from .transport import solve_transport

__all__ = ["certified_layer_plan", "layer_basis_bound", "probed_projection_bounds",
           "projection_bounds", "rotation_bounds"]

#: Slack for the float64 arithmetic of the bound itself and of the solver's cost sums.
_SLACK = 1e-9


def layer_basis_bound(Z, rank, random_state=0):
    """Orthonormal U (T x k') spanning an approximate top-``rank`` left singular subspace of
    ``Z`` (T x n): a randomised range finder with one power iteration, k' = rank + 8 columns
    (capped by T and n). Any orthonormal U gives a valid bound; a better subspace a tighter one.
    """
    Z = np.asarray(Z, dtype=np.float64)
    T, n = Z.shape
    k = min(rank + 8, T, n)
    rng = np.random.default_rng(random_state)
    Q, _ = np.linalg.qr(Z @ rng.standard_normal((n, k)))
    Q, _ = np.linalg.qr(Z @ (Z.T @ Q))  # one power iteration: closer to the top subspace
    return Q


#: Unit roundoff of float32, in which the n x m tile H of the bound is formed.
_U32 = 2.0 ** -24


def _pair_bound(A32, e32, nx, B, ny2, a, b, gamma):
    """Lower bound on the computed cost of one pair (see the module notes). ``A32`` is
    ``(U^T X)^T`` (n x k') and ``e32`` the residual norms of X's columns, both in float32;
    ``B = U^T Y`` is the other system's layer projected on this layer's basis (float64) and
    ``ny2`` the squared column norms of that layer.

    The tile H (n x m) is formed in float32: with |A_i| <= nx and |B_j|, f_j <= ny, rounding
    the inputs and the k'-term dot products moves each entry by at most
    (gamma_k' (1 + u)^2 + 2u + u^2) nx ny, and the rank-one update and its sum by at most
    5u nx ny more (u = 2^-24), so ``delta = (gamma_k' (1 + u)^2 + 7u) nx ny`` is added to the
    upper bound: H computed + delta >= the exact H >= every correlation.
    """
    f = np.sqrt(np.maximum(0.0, ny2 - np.einsum("ij,ij->j", B, B)))
    H = A32 @ B.astype(np.float32)                 # n x m
    H += e32[:, None] * f.astype(np.float32)[None, :]
    rows = H.max(axis=1).astype(np.float64)
    cols = H.max(axis=0).astype(np.float64)
    ub = min(float(rows.mean() if a is None else rows @ a),
             float(cols.mean() if b is None else cols @ b))
    ny = float(np.sqrt(ny2.max()))
    k = A32.shape[1]
    delta = (k * _U32 / (1.0 - k * _U32) * (1.0 + _U32) ** 2 + 7.0 * _U32) * nx * ny
    lb = 1.0 - ub - delta - gamma * nx * ny - _SLACK
    return lb if np.isfinite(lb) else 0.0


def _map(fn, items, n_threads):
    """``[fn(i) for i in items]`` on ``n_threads`` worker threads (NumPy releases the GIL in
    its kernels), with BLAS limited to one thread meanwhile so the pool is the parallelism."""
    items = list(items)
    if n_threads <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    with single_threaded_blas(), ThreadPoolExecutor(min(n_threads, len(items))) as pool:
        return list(pool.map(fn, items))


def _stack(Us):
    """Orthonormal bases side by side, so that one GEMM projects a layer on all of them:
    ``(stacked, offsets)``, basis i being ``stacked[:, offsets[i]:offsets[i + 1]]``."""
    return np.hstack(Us), np.cumsum([0] + [U.shape[1] for U in Us])


def _wanted(L, M, pairs):
    """The pairs to bound as a set (None: all), and the rows and columns they touch."""
    if pairs is None:
        return None, list(range(L)), list(range(M))
    want = {(int(l), int(m)) for l, m in pairs}
    return want, sorted({l for l, _ in want}), sorted({m for _, m in want})


def projection_bounds(Sx, Sy, *, rank=32, pairs=None, n_threads=None,
                      _bases=None) -> np.ndarray:
    """Certified lower bounds on the layer costs of two standardised systems.

    Parameters
    ----------
    Sx, Sy : StandardizedSystem
        From :func:`hotalign.systems.standardize_system` (the systems a fit solves).
    rank : int
        Dimension of the projection subspace per layer of X (>= 1); larger is tighter and
        costlier.
    pairs : collection of (l, m), optional
        Bound only these pairs (default all); the others are 0.
    n_threads : int, optional
        Worker threads (default: every CPU this process may use); the result does not depend
        on it.

    Returns
    -------
    LB : ndarray, shape (L, M)
        ``0 <= LB[l, m] <= C[l, m]``, the cost the grid computes for pair (l, m) (rounding of
        the working dtype included; see the module notes for the proof).
    """
    n_threads = resolve_threads(n_threads)
    L, M = len(Sx), len(Sy)
    LB = np.zeros((L, M))
    want, rows, cols = _wanted(L, M, pairs)
    u = float(np.finfo(Sx.dtype).eps) / 2

    def basis(l):  # once per layer of X: (U, (U^T X)^T and e in float32, max ||x||, gamma),
        # or None (LB = 0)
        Zx = np.asarray(Sx.layer(l), dtype=np.float64)
        T, n = Zx.shape
        if rank >= min(T, n):
            return None  # nothing to gain over the exact solve
        U = layer_basis_bound(Zx, rank, random_state=l)
        A = U.T @ Zx                                # k' x n
        nx2 = np.einsum("ij,ij->j", Zx, Zx)
        e = np.sqrt(np.maximum(0.0, nx2 - np.einsum("ij,ij->j", A, A)))
        return (U, np.ascontiguousarray(A.T, dtype=np.float32), e.astype(np.float32),
                float(np.sqrt(nx2.max())), T * u / (1.0 - T * u))

    cache = {} if _bases is None else _bases  # l -> basis (or None), shared across calls
    todo = [l for l in rows if l not in cache]
    cache.update(zip(todo, _map(basis, todo, n_threads)))
    bases = {l: cache[l] for l in rows if cache[l] is not None}

    order = list(bases)
    stacked, offsets = _stack([bases[l][0] for l in order]) if order else (None, None)

    def column(m, threads=1):  # each layer of Y read (and converted) once
        ls = [i for i, l in enumerate(order) if want is None or (l, m) in want]
        if not ls:
            return
        Y = np.asarray(Sy.layer(m), dtype=np.float64)
        ny2 = np.einsum("ij,ij->j", Y, Y)
        Ball = stacked.T @ Y if len(ls) > 1 else None

        def cell(i):
            l = order[i]
            U, A32, e32, nx, gamma = bases[l]
            B = U.T @ Y if Ball is None else Ball[offsets[i]:offsets[i + 1]]   # k' x m
            LB[l, m] = max(0.0, _pair_bound(A32, e32, nx, B, ny2, Sx.marginal(l),
                                            Sy.marginal(m), gamma))

        _map(cell, ls, threads)

    if len(cols) == 1:  # one column (a probe): its pairs on the threads
        column(cols[0], n_threads)
    else:
        _map(column, cols, n_threads)
    return LB


def probed_projection_bounds(Sx, Sy, costs, solve, *, rank=32, n_threads=None):
    """:func:`projection_bounds` for a lazy fit, after a probe that skips them where they
    cannot prune.

    The probe bounds one column of the grid (layer ``M // 2`` of Y against every layer of X)
    and solves its pair of smallest bound exactly. If every bound of the column is below half
    that exact cost, the bounds are far too loose to exclude anything (unrelated or very noisy
    layers: the column's most promising pair costs more than twice the bound of its least
    promising one), so the other bounds are not computed and every pair is solved in one
    batch; the outer plan is then certified on exact costs alone. Otherwise the other columns
    are bounded, reusing the probe's per-layer bases. Either way the result is exact; the probe
    only decides how much bounding to pay for.

    Parameters
    ----------
    Sx, Sy : StandardizedSystem
    costs : ndarray, shape (L, M)
        Exact costs found so far (NaN elsewhere), filled by ``solve``.
    solve : callable
        ``solve(cells)`` solves the listed pairs and writes their costs into ``costs``.
    rank, n_threads
        As for :func:`projection_bounds`.

    Returns
    -------
    LB : ndarray, shape (L, M)
        Certified lower bounds (0 where not computed).
    skipped : bool
        True when the probe found the bounds useless and every pair was solved.
    """
    L, M = len(Sx), len(Sy)
    m0 = M // 2
    bases = {}
    LB = projection_bounds(Sx, Sy, rank=rank, pairs=[(l, m0) for l in range(L)],
                           n_threads=n_threads, _bases=bases)
    l0 = int(np.argmin(LB[:, m0]))
    solve([(l0, m0)])
    if L > 1 and LB[:, m0].max() < 0.5 * costs[l0, m0]:
        solve([(l, m) for l in range(L) for m in range(M) if (l, m) != (l0, m0)])
        return LB, True
    rest = [(l, m) for l in range(L) for m in range(M) if m != m0]
    if rest:
        LB += projection_bounds(Sx, Sy, rank=rank, pairs=rest, n_threads=n_threads,
                                _bases=bases)
    return LB, False


def _nuclear(M) -> float:
    """Nuclear norm (sum of singular values) of a small dense matrix."""
    return float(np.linalg.svd(M, compute_uv=False).sum()) if M.size else 0.0


def _rotation_basis(Z, rank, seed):
    """Per-layer pieces of :func:`rotation_bounds`: U (T x k'), A = U^T Z, R_A (k' x k', with
    A^T = Q_A R_A), the residual norm ||(I - U U^T) Z||_F and the layer width."""
    Z = np.asarray(Z, dtype=np.float64)
    U = layer_basis_bound(Z, rank, random_state=seed)
    A = U.T @ Z
    R = np.linalg.qr(A.T, mode="r")  # k' <= n (layer_basis_bound caps it)
    resid = float(np.sqrt(max(0.0, float(np.einsum("ij,ij->", Z, Z))
                                - float(np.einsum("ij,ij->", A, A)))))
    return U, A, R, resid, Z.shape[1]


def rotation_bounds(Sx, Sy, *, rank=32, pairs=None, n_threads=None) -> np.ndarray:
    """Certified lower bounds on the HOT+R layer costs (J / 2 after the alternation).

    Let X = Zx (T x n) and Y = Zy (T x m) be the standardised layers and G = X^T Y. For any
    orthogonal R and any plan Q with uniform marginals, J(R, Q) / 2 = 1 - tr(R^T G Q^T), and
    tr(R^T N) <= ||N||_* (nuclear norm), so

        J / 2 >= 1 - max_Q ||G Q^T||_* >= 1 - ||G||_* ||Q||_2 >= 1 - ||G||_* / sqrt(n m),

    since ||Q||_2 <= sqrt(max row sum * max column sum) = 1 / sqrt(n m). (For n = m this is the
    global optimum of J / 2: R absorbs any permutation.) The alternation ends at some (R, Q),
    so its cost is above the bound. ||G||_* needs the T n m GEMM of the pair; instead, with
    orthonormal U_x (T x k') and U_y spanning approximate top-k subspaces of X and Y (one
    randomised range finder per layer), write X = X_k + X_r with X_k = U_x U_x^T X, and the same
    for Y. Then G = X_k^T Y + X_r^T Y_k + X_r^T Y_r and, by the triangle inequality and von
    Neumann's trace inequality followed by Cauchy-Schwarz,

        ||G||_* <= ||(U_x^T X)^T (U_x^T Y)||_* + ||X_r^T U_y (U_y^T Y)||_* + ||X_r||_F ||Y_r||_F.

    The first two terms are nuclear norms of rank-k' products, computed from k' x m and n x k'
    matrices (T k' (n + m) per pair, no GEMM of the layers against each other); the third needs
    only the residual norms ||X_r||_F^2 = ||X||_F^2 - ||U_x^T X||_F^2. Every step holds for any
    orthonormal U (a better subspace gives a tighter bound); when k' reaches the rank of a
    layer, its residual is 0 and the bound is the exact 1 - ||G||_* / sqrt(n m). Everything is
    computed in float64 from the stored standardised columns, as the alternation is; a relative
    1e-12 on ||G||_* and an absolute 1e-9 cover rounding.

    Parameters
    ----------
    Sx, Sy : StandardizedSystem
    rank : int
        Dimension k of the subspaces (k' = k + 8 columns, capped by T and the width).
    pairs : collection of (l, m), optional
        Bound only these pairs (default all); the others are 0.
    n_threads : int, optional
        Worker threads (default: every CPU this process may use).

    Returns
    -------
    LB : ndarray, shape (L, M)
        ``0 <= LB[l, m] <=`` the HOT+R cost of pair (l, m).
    """
    n_threads = resolve_threads(n_threads)
    L, M = len(Sx), len(Sy)
    LB = np.zeros((L, M))
    want, rows, cols = _wanted(L, M, pairs)
    if not rows:
        return LB
    bx = dict(zip(rows, _map(lambda l: _rotation_basis(Sx.layer(l), rank, l), rows,
                             n_threads)))
    sx, ox = _stack([bx[l][0] for l in rows])
    first, by = {}, {}  # (l, m) -> ||(U_x^T X)^T (U_x^T Y)||_*, while layer m of Y is in hand

    def column(m):
        Y = np.asarray(Sy.layer(m), dtype=np.float64)
        by[m] = _rotation_basis(Y, rank, L + m)
        UY = sx.T @ Y                                 # every U_x^T Y at once
        for i, l in enumerate(rows):
            if want is None or (l, m) in want:
                first[l, m] = _nuclear(bx[l][2] @ UY[ox[i]:ox[i + 1]])

    _map(column, cols, n_threads)
    sy, oy = _stack([by[m][0] for m in cols])

    def row(l):  # the second pass over X: its residual against every U_y
        Ux, Ax, _, rx, n = bx[l]
        XU = np.asarray(Sx.layer(l), dtype=np.float64).T @ sy
        XrU = XU - Ax.T @ (Ux.T @ sy)                 # X_r^T U_y for every m, n x (M k')
        for j, m in enumerate(cols):
            if want is not None and (l, m) not in want:
                continue
            _, _, Ry, ry, k = by[m]
            nuclear = first[l, m] + _nuclear(XrU[:, oy[j]:oy[j + 1]] @ Ry.T) + rx * ry
            bound = 1.0 - nuclear * (1.0 + 1e-12) / np.sqrt(n * k) - _SLACK
            LB[l, m] = max(0.0, bound) if np.isfinite(bound) else 0.0

    _map(row, rows, n_threads)
    return LB


def certified_layer_plan(costs, bounds, solve, *, tol=1e-12, give_up=True, outer=None):
    """The exact layer plan from bounds, solving only the pairs its support needs.

    Parameters
    ----------
    costs : ndarray, shape (L, M)
        Exact costs of the pairs solved so far (NaN elsewhere); updated in place by ``solve``.
    bounds : ndarray, shape (L, M)
        Certified lower bounds (:func:`projection_bounds`).
    solve : callable
        ``solve(cells)`` solves the listed (l, m) pairs and writes their exact costs into
        ``costs``.
    tol : float
        Tolerance of the reduced-cost check, relative to ``max |C'|``.
    give_up : bool
        When, after the first round, every bound left is below every exact cost found so far,
        the bounds cannot prune: each outer round would only move the support onto more
        unsolved pairs. Then every remaining pair is solved in one call (one parallel batch
        instead of many small rounds). The plan stays exact and certified; only the number of
        outer rounds changes.
    outer : callable, optional
        The outer problem: ``outer(C')`` returns a :class:`hotalign.marginals.MarginalPlan`
        (plan and duals of an LP whose constraints do not depend on C, e.g. relaxed column
        bounds); default the uniform transport. The proof holds for any such LP: duals
        feasible for C' <= C are feasible for C, and complementary where C' = C.

    Returns
    -------
    P : ndarray, shape (L, M)
        An optimal layer plan for the true costs (rows sum to 1/L, columns to 1/M).
    certificate : dict
        ``rounds`` (outer solves), ``solved`` (L x M bool: pairs with an exact cost),
        ``min_reduced_cost`` (over every cell, relative; >= -tol), ``support_solved`` (True)
        and, with ``outer``, ``outer`` (its last MarginalPlan, on C').

    Raises
    ------
    ValueError
        A bound above its exact cost (an invalid bound) or a failed reduced-cost check.
    """
    costs = np.asarray(costs)
    L, M = costs.shape
    rounds = 0
    while True:
        rounds += 1
        solved = np.isfinite(costs)
        if np.any(bounds[solved] > costs[solved] + 1e-9):
            raise ValueError("a layer-cost bound exceeds its exact cost: the bound is invalid")
        Cp = np.where(solved, costs, bounds)
        if outer is None:
            res = solve_transport(Cp)
            P, u, v = res.to_dense(), res.u, res.v
            cells = zip(res.rows, res.cols)
        else:
            res = outer(Cp)
            P, u, v = res.plan, res.row_duals, res.column_duals
            cells = zip(*np.nonzero(P))
        missing = [(int(l), int(m)) for l, m in cells if P[l, m] > 0 and not solved[l, m]]
        if not missing:
            break
        if give_up and rounds > 1 and bounds[~solved].max() < costs[solved].min():
            missing = [(int(l), int(m)) for l, m in zip(*np.nonzero(~solved))]
        solve(missing)
        if not all(np.isfinite(costs[l, m]) for l, m in missing):
            raise ValueError("solve() did not fill the costs of the pairs it was given")
    scale = max(float(np.abs(Cp).max()), np.finfo(float).tiny)
    reduced = float((Cp - u[:, None] - v[None, :]).min()) / scale
    if not reduced >= -tol:
        raise ValueError(f"the outer plan failed its reduced-cost check ({reduced:.3g})")
    certificate = {"rounds": rounds, "solved": solved, "min_reduced_cost": reduced,
                   "support_solved": True}
    if outer is not None:
        certificate["outer"] = res
    return P, certificate
