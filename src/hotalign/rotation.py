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

The per-pair loop is a numba ``njit(cache=True, nogil=True)`` function that calls the C++
solver through the core's C ABI (``hotalign_solve_transport_f64``); pairs run on a thread pool
with BLAS limited to one thread.

References
----------
S. Shah, M. Khosla, arXiv:2510.01706, 2025 (HOT+R). P. H. Schönemann, "A generalized solution of
the orthogonal Procrustes problem", Psychometrika 31, 1-10, 1966.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.extending import intrinsic

from . import _core
from ._blas import single_threaded_blas
from .results import TransportResult

__all__ = ["PairRotation", "align_pair", "fit_rotation_grid", "layer_basis"]

_ERR_LEN = 512
#: Transport methods of the C ABI.
_AUTO, _NETWORK_SIMPLEX = 0, 1


# -- the C ABI call -----------------------------------------------------------------------------
@intrinsic
def _c_solve(typingctx, address, K, method, use_warm, u0, v0, rows, cols, weights, nnz, u, v,
             cost, n_iter, err):
    """``hotalign_solve_transport_f64`` at ``address`` on the C-contiguous float64 matrix K,
    uniform marginals, no pivot limit; ``u0``/``v0`` are passed only when ``use_warm``."""
    sig = types.int32(address, K, method, use_warm, u0, v0, rows, cols, weights, nnz, u, v,
                      cost, n_iter, err)

    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        i64 = ir.IntType(64)
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(i32, [i8p, i64, i64, i8p, i8p, i32, i64, i8p, i8p, i8p, i8p, i8p,
                                     i8p, i8p, i8p, i8p, i8p, i8p, i64])
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
                                   ir.Constant(i64, _ERR_LEN)])

    return sig, codegen


def _unpack(builder, tup, count):
    return [builder.extract_value(tup, k) for k in range(count)]


# -- the per-pair alternation (numba) -----------------------------------------------------------
@njit(cache=True, nogil=True)
def _alternate(address, X, Y, basis, coef, max_rounds, tol, warm, shortcut):  # pragma: no cover
    """Alternate exact transport and Procrustes for one pair (see the module docstring).

    Parameters
    ----------
    address : int
        Address of ``hotalign_solve_transport_f64``.
    X : ndarray, shape (T, n), C-contiguous float64
    Y : ndarray, shape (T, m), C-contiguous float64
    basis : ndarray, shape (n, T) or (0, 0)
        Q_x of the thin QR ``X^T = Q_x R_x`` (used when ``coef`` is non-empty).
    coef : ndarray, shape (T, T) or (0, 0)
        R_x of that QR.
    max_rounds : int
    tol : float
    warm : bool
        Warm-start rounds >= 1 from the previous potentials (network simplex).
    shortcut : bool
        Use the permutation identity for equal widths (False: generic SVD every round).

    Returns
    -------
    status, rows, cols, weights, u, v, trace, n_rounds, A (n x r), B (n x r), singular values
    (r,) of the last Procrustes step, sum_sq_x, yw_sq, n_iter, err
    """
    T, n = X.shape
    m = Y.shape[1]
    G = np.dot(X.T, Y)                                   # n x m
    if coef.shape[0] > 0:
        Z = np.dot(coef, Y)                              # T x m
    else:
        Z = G.copy()
    UZ, s, VtZ = np.linalg.svd(Z, full_matrices=False)   # (rz, r), (r,), (r, m)
    UZ = np.ascontiguousarray(UZ)
    VtZ = np.ascontiguousarray(VtZ)
    r = s.shape[0]
    if coef.shape[0] > 0:
        UG = np.dot(basis, UZ)                           # n x r
    else:
        UG = UZ
    F = np.empty((r, m))
    for k in range(r):
        for j in range(m):
            F[k, j] = s[k] * VtZ[k, j]
    Ft = np.ascontiguousarray(F.T)                       # m x r
    VG = np.ascontiguousarray(VtZ.T)                     # m x r

    K = np.empty((n, m))
    for i in range(n):
        for j in range(m):
            K[i, j] = 1.0 - G[i, j]

    cap = n + m - 1
    rows = np.empty(cap, np.int64)
    cols = np.empty(cap, np.int64)
    weights = np.empty(cap)
    nnz = np.zeros(1, np.int64)
    u = np.zeros(n)
    v = np.zeros(m)
    u0 = np.zeros(n)
    v0 = np.zeros(m)
    cost = np.zeros(1)
    it = np.zeros(1, np.int64)
    err = np.zeros(_ERR_LEN, np.uint8)
    trace = np.empty(2 * max_rounds)
    A = np.empty((n, r))
    B = np.empty((n, r))
    H = np.empty((0, 0))
    perm = np.empty(n, np.int64)
    s_final = np.zeros(r)
    n_iter = 0
    status = 0
    n_rounds = 0
    sum_s = 0.0
    for rnd in range(max_rounds):
        # Warm starts steer the network simplex; equal widths use the (cold) JV assignment
        # solver, which is faster there than a warm-started network simplex (bench_rotation).
        use_warm = warm and rnd > 0 and n != m
        method = _NETWORK_SIMPLEX if use_warm else _AUTO
        status = _c_solve(address, K, method, use_warm, u0, v0, rows, cols, weights, nnz, u, v,
                          cost, it, err)
        if status != 0:
            return (status, rows[:0].copy(), cols[:0].copy(), weights[:0].copy(), u, v,
                    trace[:0].copy(), n_rounds, A, B, s_final, 0.0, 0.0, n_iter, err)
        n_iter += it[0]
        u0[:] = u
        v0[:] = v
        trace[2 * rnd] = 2.0 * cost[0]
        k_nnz = nnz[0]
        # Procrustes step.
        if shortcut and n == m and k_nnz == n:
            for k in range(k_nnz):
                perm[rows[k]] = cols[k]
            sum_s = 0.0
            for k in range(r):
                sum_s += s[k]
            sum_s /= n
            for k in range(r):
                s_final[k] = s[k] / n
            for i in range(n):
                for k in range(r):
                    A[i, k] = UG[i, k]
                    B[i, k] = VG[perm[i], k]
            if H.shape[0] == 0:
                H = np.dot(VG, F)                        # m x m, V_G S_G V_G^T
            for i in range(n):
                for j in range(m):
                    K[i, j] = 1.0 - H[perm[i], j]
        else:
            Nt = np.zeros((n, r))                        # N^T = Q F^T
            for k in range(k_nnz):
                i = rows[k]
                j = cols[k]
                w = weights[k]
                for q in range(r):
                    Nt[i, q] += w * Ft[j, q]
            Vn, sn, UnT = np.linalg.svd(Nt, full_matrices=False)   # (n, r), (r,), (r, r)
            Vn = np.ascontiguousarray(Vn)
            UnT = np.ascontiguousarray(UnT)
            sum_s = 0.0
            for k in range(r):
                sum_s += sn[k]
                s_final[k] = sn[k]
            A[:, :] = np.dot(UG, np.ascontiguousarray(UnT.T))
            B[:, :] = Vn
            E = np.dot(Vn, np.dot(UnT, F))               # R^T G, n x m
            for i in range(n):
                for j in range(m):
                    K[i, j] = 1.0 - E[i, j]
        trace[2 * rnd + 1] = 2.0 - 2.0 * sum_s
        n_rounds = rnd + 1
        if rnd > 0:
            prev = trace[2 * rnd - 1]
            cur = trace[2 * rnd + 1]
            if prev <= 0.0 or (prev - cur) < tol * prev:
                break
        elif trace[1] <= 0.0:
            break

    k_nnz = nnz[0]
    sum_sq_x = 0.0
    for t in range(T):
        for i in range(n):
            sum_sq_x += X[t, i] * X[t, i]
    # ||Y W^T||_F^2 with W = row-normalised Q.
    row_mass = np.zeros(n)
    for k in range(k_nnz):
        row_mass[rows[k]] += weights[k]
    yw = np.zeros(n)
    yw_sq = 0.0
    for t in range(T):
        yw[:] = 0.0
        for k in range(k_nnz):
            yw[rows[k]] += weights[k] / row_mass[rows[k]] * Y[t, cols[k]]
        for i in range(n):
            yw_sq += yw[i] * yw[i]
    return (status, rows[:k_nnz].copy(), cols[:k_nnz].copy(), weights[:k_nnz].copy(), u, v,
            trace[:2 * n_rounds].copy(), n_rounds, A, B, s_final, sum_sq_x, yw_sq, n_iter, err)


# -- Python side --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PairRotation:
    """HOT+R result of one layer pair.

    Attributes
    ----------
    plan : TransportResult
        Final unit plan Q, shape (n, m) (the plan of the last transport step).
    rotation : ndarray, shape (n, n)
        Orthogonal R, Procrustes-optimal for ``plan`` (completion: closest to the identity).
    objective : ndarray, shape (2 * n_rounds,)
        J after every half step: ``[J(I, Q_0), J(R_1, Q_0), J(R_1, Q_1), J(R_2, Q_1), ...]``;
        non-increasing. ``objective[0] / 2`` is plain HOT's cost of the pair.
    n_rounds : int
        Rounds run (one round = transport step + Procrustes step).
    cost : float
        ``objective[-1] / 2`` (= ``J / 2`` at the end), the pair's layer cost.
    reconstruction_error : float
        ``||X R - Y W^T||_F^2 / n`` on the fitted rows (``W = n Q``); at most ``J``, equal to it
        when Q is a permutation / n.
    n_iter : int
        Solver pivots/augmentations summed over the rounds.
    """

    plan: TransportResult
    rotation: np.ndarray
    objective: np.ndarray
    n_rounds: int
    cost: float
    reconstruction_error: float
    n_iter: int


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
        Stop when the relative decrease of J over a round is below ``tol`` (>= 0).
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
    X = np.ascontiguousarray(X, dtype=np.float64)
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    if basis is None:
        basis = layer_basis(X)
    address = _core.C_API["hotalign_solve_transport_f64"]
    (status, rows, cols, weights, u, v, trace, n_rounds, A, B, sv, sum_sq_x, yw_sq, n_iter,
     err) = _alternate(address, X, Y, basis[0], basis[1], int(max_rounds), float(tol),
                       bool(warm_start), bool(_shortcut))
    if status != 0:
        msg = bytes(err).split(b"\0", 1)[0].decode(errors="replace")
        name = _core.STATUS_NAMES.get(int(status), "error")
        raise (ValueError if status in (-1, 1) else RuntimeError)(
            f"HOT+R transport step failed ({name}): {msg}")
    n, m = X.shape[1], Y.shape[1]
    plan = TransportResult(rows=rows, cols=cols, weights=weights, cost=float(trace[-2] / 2),
                           u=u, v=v, status="optimal", n_iter=int(n_iter), shape=(n, m),
                           method="network_simplex" if n != m else "assignment")
    J = float(trace[-1])
    recon = (sum_sq_x - n * (2.0 - J) + yw_sq) / n
    return PairRotation(plan=plan, rotation=_complete(A, B, sv), objective=trace,
                        n_rounds=int(n_rounds), cost=J / 2, reconstruction_error=float(recon),
                        n_iter=int(n_iter))


def fit_rotation_grid(Zx, Zy, *, max_rounds=10, tol=1e-6, n_threads=1, warm_start=True):
    """HOT+R for every layer pair, on a thread pool (BLAS limited to one thread meanwhile).

    Parameters
    ----------
    Zx, Zy : list of ndarray, shapes (T, n_l) and (T, n_m)
        Standardised layers (float64, centred unit-norm columns on the training rows).
    max_rounds, tol, warm_start
        As in :func:`align_pair`.
    n_threads : int
        Worker threads; the numba loop releases the GIL.

    Returns
    -------
    list of list of PairRotation
        ``out[l][m]``. Results do not depend on ``n_threads``.
    """
    Zx = [np.ascontiguousarray(A, dtype=np.float64) for A in Zx]
    Zy = [np.ascontiguousarray(B, dtype=np.float64) for B in Zy]
    L, M = len(Zx), len(Zy)
    with single_threaded_blas():
        with ThreadPoolExecutor(max_workers=max(1, int(n_threads))) as pool:
            bases = list(pool.map(layer_basis, Zx))
            futures = [[pool.submit(align_pair, Zx[l], Zy[m], max_rounds=max_rounds, tol=tol,
                                    basis=bases[l], warm_start=warm_start)
                        for m in range(M)] for l in range(L)]
            return [[f.result() for f in row] for row in futures]
