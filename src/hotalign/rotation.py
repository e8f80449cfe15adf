"""Rotation-augmented HOT (HOT+R): alternating transport and orthogonal Procrustes per layer pair.

For standardised layers X (T x n, unit-norm centred columns) and Y (T x m) the alternation
minimises (docs/method.md: "Rotation-augmented HOT"; paper §2.3)

    J(R, Q) = sum_ij Q_ij ||(X R)_i - y_j||^2 = 2 <K_R, Q>,   K_R[i, j] = 1 - <(X R)_i, y_j>

over orthogonal R (n x n) and transport plans Q (uniform marginals), from R = I: (1) fix R, Q =
exact transport on K_R; (2) fix Q, R = U V^T from the SVD of X^T (Y Q^T) = G Q^T with
G = X^T Y. Both steps are exact, so J never increases.

How the loop avoids the n x n work of a plain implementation (all identities are exact):

- G = X^T Y is formed once per pair, and factored once: G = U_G F with U_G (n x r) orthonormal
  and F = S_G V_G^T (r x m), r = rank bound min(n, m, T). When n > T, ``X^T = Q_x R_x`` (thin
  QR, once per layer) gives G = Q_x (R_x Y), so the factorisation is an SVD of the T x m matrix
  R_x Y, never of an n x n one.
- Procrustes step: G Q^T = U_G N with N = F Q^T (r x n), built by gathering the at most
  n + m - 1 plan cells (no dense Q). With N = U_N S V_N^T, the rotation is
  R = (U_G U_N) V_N^T (+ a completion, below) and J(R, Q) = 2 - 2 sum(S).
- Transport step: R^T G = V_N U_N^T F (exact for every completion), so
  K = 1 - V_N (U_N^T F): GEMMs of sizes r x r x m and n x r x m; R itself is formed only once,
  after the last round.
- Equal widths (n == m, uniform marginals): every plan is a permutation Pi / n, and then
  N = S_G (Pi V_G)^T / n is already an SVD (U_N = I, V_N = Pi V_G): no SVD and no GEMM per round,
  K = 1 - Pi H with H = V_G S_G V_G^T formed once. (Then R = U_G V_G^T Pi^T, the global optimum:
  the alternation is stationary from round 2 on.)
- Each round's transport is warm-started from the previous round's dual potentials when the
  network simplex solves it (n != m); round 0 uses the same solver as plain HOT, so it
  reproduces plain HOT's plan. Equal widths use the Jonker-Volgenant assignment solver every
  round: cold, it is faster than the warm-started network simplex (bench/bench_rotation.py).

Orthogonal completion. When r < n (n > T, or n > m) the Procrustes solutions differ on the
(n - r)-dimensional complements of range(U_G U_N) and range(V_N); J, the plans and the costs do
not depend on that choice. The package takes the completion that maximises trace(R), i.e. the
Procrustes solution closest to the identity in Frobenius norm: on directions the training rows
cannot determine, units keep their identity as far as orthogonality allows. Equivalently
``R = polar(G Q^T + (I - A A^T)(I - B B^T))`` with A = U_G U_N and B = V_N.

The per-pair loop is a short numba ``njit(cache=True, nogil=True)`` driver over named phases
(factor the cross product, transport step, Procrustes step, stopping rule, reconstruction terms)
that calls the C++ solver through the core's C ABI (``hotalign_solve_transport_ex_f64``, which
also reports the solver that ran). Round 0's cost tile and cross product come from the grid's own
C++ kernel (``cost_and_product``), so round 0 is plain HOT's solve of the pair. Pairs run on the
pair engine (:mod:`hotalign.engine`), locally on a thread pool with BLAS limited to one thread.

References
----------
S. Shah, M. Khosla, arXiv:2510.01706, 2025 (HOT+R). P. H. Schönemann, "A generalized solution of
the orthogonal Procrustes problem", Psychometrika 31, 1-10, 1966.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.extending import intrinsic

from . import _core
from ._blas import gemm_pointers
from ._validation import as_layer, check_float, check_int
from .results import PairRotation, TransportResult, raise_for_status

__all__ = ["align_pair", "layer_basis"]

_ERR_LEN = 512
#: Transport methods of the C ABI.
_AUTO, _NETWORK_SIMPLEX = 0, 1


# -- the C ABI call -----------------------------------------------------------------------------
@intrinsic
def _c_solve(typingctx, address, K, method, use_warm, u0, v0, rows, cols, weights, nnz, u, v,
             cost, n_iter, used, err):
    """``hotalign_solve_transport_ex_f64`` at ``address`` on the C-contiguous float64 matrix K,
    uniform marginals, no pivot limit; ``u0``/``v0`` are passed only when ``use_warm``;
    ``used[0]`` receives the solver that ran (hotalign::Method)."""
    sig = types.int32(address, K, method, use_warm, u0, v0, rows, cols, weights, nnz, u, v,
                      cost, n_iter, used, err)

    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        i64 = ir.IntType(64)
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(i32, [i8p, i64, i64, i8p, i8p, i32, i64, i8p, i8p, i8p, i8p, i8p,
                                     i8p, i8p, i8p, i8p, i8p, i8p, i8p, i64])
        fptr = builder.inttoptr(args[0], fnty.as_pointer())

        def data(k):
            ary = context.make_array(signature.args[k])(context, builder, args[k])
            return builder.bitcast(ary.data, i8p)

        kary = context.make_array(signature.args[1])(context, builder, args[1])
        shape = _unpack(builder, kary.shape, 2)
        null = ir.Constant(i8p, None)
        warm = builder.icmp_signed("!=", args[3], ir.Constant(args[3].type, 0))
        u0 = builder.select(warm, data(4), null)
        v0 = builder.select(warm, data(5), null)
        method_arg = builder.trunc(args[2], i32)
        return builder.call(fptr, [data(1), shape[0], shape[1], null, null, method_arg,
                                   ir.Constant(i64, 0), u0, v0, data(6), data(7), data(8),
                                   data(9), data(10), data(11), data(12), data(13), data(14),
                                   data(15), ir.Constant(i64, _ERR_LEN)])

    return sig, codegen


def _unpack(builder, tup, count):
    return [builder.extract_value(tup, k) for k in range(count)]


# -- the per-pair alternation (numba): named phases and a short driver -------------------------
#: What the alternation of one pair returns (see :func:`_alternate`).
Alternation = namedtuple("Alternation", [
    "status", "rows", "cols", "weights", "u", "v", "trace", "n_rounds", "A", "B", "sv",
    "sum_sq_x", "yw_sq", "n_iter", "method", "err"])


@njit(cache=True, nogil=True)
def _factor_cross(G, Y, basis, coef):  # pragma: no cover
    """Factor the cross product G = X^T Y (n x m) once: G = U_G F with U_G (n x r) orthonormal
    and F = S_G V_G^T (r x m). With a layer basis (n > T) the SVD is of R_x Y (T x m).

    Returns U_G, the singular values s (r,), F (r x m), F^T (m x r) and V_G (m x r)."""
    Z = np.dot(coef, Y) if coef.shape[0] > 0 else G.copy()
    UZ, s, VtZ = np.linalg.svd(Z, full_matrices=False)
    UZ = np.ascontiguousarray(UZ)
    VtZ = np.ascontiguousarray(VtZ)
    UG = np.dot(basis, UZ) if coef.shape[0] > 0 else UZ
    r, m = s.shape[0], VtZ.shape[1]
    F = np.empty((r, m))
    for k in range(r):
        for j in range(m):
            F[k, j] = s[k] * VtZ[k, j]
    return UG, s, F, np.ascontiguousarray(F.T), np.ascontiguousarray(VtZ.T)


@njit(cache=True, nogil=True)
def _procrustes_permutation(rows, cols, nnz, UG, VG, F, s, H, perm, A, B, s_final,
                            K):  # pragma: no cover
    """Procrustes step for a permutation plan Pi / n (equal widths): N = S_G (Pi V_G)^T / n is
    already an SVD, so A = U_G, B = Pi V_G and K = 1 - Pi H (H = V_G S_G V_G^T, formed once).
    Returns sum(S) and H."""
    n = A.shape[0]
    r = s.shape[0]
    for k in range(nnz):
        perm[rows[k]] = cols[k]
    sum_s = 0.0
    for k in range(r):
        sum_s += s[k]
        s_final[k] = s[k] / n
    for i in range(n):
        for k in range(r):
            A[i, k] = UG[i, k]
            B[i, k] = VG[perm[i], k]
    if H.shape[0] == 0:
        H = np.dot(VG, F)
    for i in range(n):
        for j in range(K.shape[1]):
            K[i, j] = 1.0 - H[perm[i], j]
    return sum_s / n, H


@njit(cache=True, nogil=True)
def _procrustes_general(rows, cols, weights, nnz, UG, F, Ft, A, B, s_final,
                        K):  # pragma: no cover
    """Procrustes step for any plan Q: N^T = Q F^T gathered from the plan cells, its SVD
    V_N S U_N^T gives A = U_G U_N, B = V_N and the next cost K = 1 - V_N (U_N^T F).
    Returns sum(S)."""
    n, r = A.shape
    Nt = np.zeros((n, r))
    for k in range(nnz):
        i = rows[k]
        j = cols[k]
        w = weights[k]
        for q in range(r):
            Nt[i, q] += w * Ft[j, q]
    Vn, sn, UnT = np.linalg.svd(Nt, full_matrices=False)
    Vn = np.ascontiguousarray(Vn)
    UnT = np.ascontiguousarray(UnT)
    sum_s = 0.0
    for k in range(r):
        sum_s += sn[k]
        s_final[k] = sn[k]
    A[:, :] = np.dot(UG, np.ascontiguousarray(UnT.T))
    B[:, :] = Vn
    E = np.dot(Vn, np.dot(UnT, F))
    for i in range(n):
        for j in range(K.shape[1]):
            K[i, j] = 1.0 - E[i, j]
    return sum_s


@njit(cache=True, nogil=True)
def _stalled(trace, rnd, tol):  # pragma: no cover
    """Whether J, after the Procrustes step of round ``rnd``, stopped decreasing enough."""
    if rnd == 0:
        return trace[1] <= 0.0
    prev = trace[2 * rnd - 1]
    return prev <= 0.0 or (prev - trace[2 * rnd + 1]) < tol * prev


@njit(cache=True, nogil=True)
def _reconstruction_terms(X, Y, rows, cols, weights, nnz):  # pragma: no cover
    """||X||_F^2 and ||Y W^T||_F^2 with W the row-normalised plan (for the reconstruction
    error)."""
    T, n = X.shape
    sum_sq_x = 0.0
    for t in range(T):
        for i in range(n):
            sum_sq_x += X[t, i] * X[t, i]
    row_mass = np.zeros(n)
    for k in range(nnz):
        row_mass[rows[k]] += weights[k]
    yw = np.zeros(n)
    yw_sq = 0.0
    for t in range(T):
        yw[:] = 0.0
        for k in range(nnz):
            yw[rows[k]] += weights[k] / row_mass[rows[k]] * Y[t, cols[k]]
        for i in range(n):
            yw_sq += yw[i] * yw[i]
    return sum_sq_x, yw_sq


@njit(cache=True, nogil=True)
def _alternate(address, X, Y, K, G, basis, coef, max_rounds, tol, warm,
               shortcut):  # pragma: no cover
    """Alternate exact transport and Procrustes for one pair (see the module docstring).

    ``K`` (n x m) enters as the round-0 cost tile and ``G = X^T Y`` as its correlations, both
    from the C++ cost kernel (so round 0 is plain HOT's solve); ``basis``/``coef`` are the layer
    basis (or empty). Returns an :data:`Alternation`.
    """
    n, m = K.shape
    UG, s, F, Ft, VG = _factor_cross(G, Y, basis, coef)
    r = s.shape[0]
    cap = n + m - 1
    rows, cols = np.empty(cap, np.int64), np.empty(cap, np.int64)
    weights, nnz = np.empty(cap), np.zeros(1, np.int64)
    u, v, u0, v0 = np.zeros(n), np.zeros(m), np.zeros(n), np.zeros(m)
    cost, it, used = np.zeros(1), np.zeros(1, np.int64), np.zeros(1, np.int32)
    err = np.zeros(_ERR_LEN, np.uint8)
    trace = np.empty(2 * max_rounds)
    A, B, s_final = np.empty((n, r)), np.empty((n, r)), np.zeros(r)
    H, perm = np.empty((0, 0)), np.empty(n, np.int64)
    n_iter, n_rounds = 0, 0
    for rnd in range(max_rounds):
        # Transport step. Warm starts steer the network simplex; equal widths use the (cold)
        # JV assignment solver, faster there than a warm-started network simplex.
        use_warm = warm and rnd > 0 and n != m
        status = _c_solve(address, K, _NETWORK_SIMPLEX if use_warm else _AUTO, use_warm, u0,
                          v0, rows, cols, weights, nnz, u, v, cost, it, used, err)
        if status != 0:
            return Alternation(np.int64(status), rows[:0].copy(), cols[:0].copy(),
                               weights[:0].copy(), u, v, trace[:0].copy(), n_rounds, A, B,
                               s_final, 0.0, 0.0, n_iter, used[0], err)
        n_iter += it[0]
        u0[:] = u
        v0[:] = v
        trace[2 * rnd] = 2.0 * cost[0]
        # Procrustes step (it also builds the next round's cost).
        if shortcut and n == m and nnz[0] == n:
            sum_s, H = _procrustes_permutation(rows, cols, nnz[0], UG, VG, F, s, H, perm, A, B,
                                               s_final, K)
        else:
            sum_s = _procrustes_general(rows, cols, weights, nnz[0], UG, F, Ft, A, B, s_final,
                                        K)
        trace[2 * rnd + 1] = 2.0 - 2.0 * sum_s
        n_rounds = rnd + 1
        if _stalled(trace, rnd, tol):
            break
    k = nnz[0]
    sum_sq_x, yw_sq = _reconstruction_terms(X, Y, rows, cols, weights, k)
    return Alternation(np.int64(0), rows[:k].copy(), cols[:k].copy(), weights[:k].copy(), u, v,
                       trace[:2 * n_rounds].copy(), n_rounds, A, B, s_final, sum_sq_x, yw_sq,
                       n_iter, used[0], err)


# -- Python side --------------------------------------------------------------------------------
def layer_basis(X):
    """Thin factorisation ``X^T = Q_x R_x`` used when a layer has more units than rows.

    Parameters
    ----------
    X : ndarray, shape (T, n)

    Returns
    -------
    basis : ndarray, shape (n, T) or (0, 0)
        Orthonormal Q_x (empty when n <= T: no factorisation needed).
    coef : ndarray, shape (T, T) or (0, 0)
        Upper-triangular R_x.
    """
    T, n = X.shape
    if n <= T:
        return np.empty((0, 0)), np.empty((0, 0))
    Qx, Rx = np.linalg.qr(X.T)
    return np.ascontiguousarray(Qx), np.ascontiguousarray(Rx)


def _complete(A, B, sv):
    """R = A B^T plus the completion on the complements that maximises trace(R).

    Singular directions with numerically zero singular values (``sv <= max(n, r) eps max(sv)``)
    are not determined by the Procrustes step and join the complements.
    """
    n = A.shape[0]
    keep = sv > max(n, A.shape[1]) * np.finfo(float).eps * (sv.max() if sv.size else 0.0)
    A, B = A[:, keep], B[:, keep]
    r = A.shape[1]
    R = A @ B.T
    if r < n:
        Ua = np.linalg.qr(A, mode="complete")[0][:, r:]
        Vb = np.linalg.qr(B, mode="complete")[0][:, r:]
        W, _, Zt = np.linalg.svd(Ua.T @ Vb)
        R += (Ua @ W) @ (Vb @ Zt.T).T
    return R


def align_pair(X, Y, *, max_rounds=10, tol=1e-6, basis=None, warm_start=True, _shortcut=True):
    """HOT+R alternation for one pair of standardised layers.

    Parameters
    ----------
    X : ndarray, shape (T, n)
        Standardised layer (centred, unit-norm columns on these rows), e.g. from
        :class:`hotalign.costs.ZScore`.
    Y : ndarray, shape (T, m)
        Standardised layer of the other system, same rows.
    max_rounds : int
        At most this many rounds (>= 1).
    tol : float
        Stop when the relative decrease of J over a round is below ``tol`` (any number but NaN;
        a negative ``tol`` never stops early).
    basis : tuple of ndarray, optional
        ``layer_basis(X)``, to reuse across the pairs of one layer.
    warm_start : bool
        Warm-start each round's network simplex (n != m) from the previous potentials.

    Returns
    -------
    PairRotation

    Examples
    --------
    >>> import numpy as np
    >>> from hotalign.costs import zscore
    >>> rng = np.random.default_rng(0)
    >>> X = zscore(rng.standard_normal((50, 6)))
    >>> R0 = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    >>> res = align_pair(X, X @ R0, max_rounds=5)
    >>> bool(res.objective[-1] < 1e-10)
    True
    """
    X = np.ascontiguousarray(as_layer(X, "X", check_finite=False), dtype=np.float64)
    Y = np.ascontiguousarray(as_layer(Y, "Y", check_finite=False), dtype=np.float64)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must have the same rows (stimuli): {X.shape[0]} != "
                         f"{Y.shape[0]}")
    max_rounds = check_int(max_rounds, "max_rounds", minimum=1, maximum=2**62)
    tol = check_float(tol, "tol", finite=False)  # tol < 0 (even -inf): never stop early
    if basis is None:
        basis = layer_basis(X)
    address = _core.C_API["hotalign_solve_transport_ex_f64"]
    K, G = _core.cost_and_product(X, Y, gemm_pointers()[0])  # the grid's own cost kernel
    res = _alternate(address, X, Y, K, G, basis[0], basis[1], int(max_rounds), float(tol),
                     bool(warm_start), bool(_shortcut))
    if res.status != 0:
        raise_for_status(int(res.status), what="HOT+R transport step",
                         detail=bytes(res.err).split(b"\0", 1)[0].decode(errors="replace"))
    n, m = X.shape[1], Y.shape[1]
    trace = res.trace
    plan = TransportResult(rows=res.rows, cols=res.cols, weights=res.weights,
                           cost=float(trace[-2] / 2), u=res.u, v=res.v, status="optimal",
                           n_iter=int(res.n_iter), shape=(n, m),
                           method=_core.METHOD_NAMES[int(res.method)])
    J = float(trace[-1])
    recon = (res.sum_sq_x - n * (2.0 - J) + res.yw_sq) / n
    return PairRotation(plan=plan, rotation=_complete(res.A, res.B, res.sv), objective=trace,
                        n_rounds=int(res.n_rounds), cost=J / 2,
                        reconstruction_error=float(recon), n_iter=int(res.n_iter))
