"""Exact optimal transport and linear assignment with POT- and SciPy-compatible signatures.

The solvers are hotalign's own C++ implementations (``cpp/include/hotalign``): a network simplex
for any marginals and a Jonker-Volgenant shortest augmenting path solver, which
:func:`solve_transport` uses automatically when the problem is square with uniform marginals
(the optimal vertex is then a permutation matrix / n). The GIL is released during every solve.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _arrays, _core, sparse_costs
from ._validation import (
    MarginalMismatchError,
    as_array,
    as_cost_matrix,
    as_marginal,
    check_choice,
    check_equal_mass,
    check_int,
    mass_rtol,
    match_mass,
)
from .results import _MAX_ITER_MESSAGE, MaxIterError, MaxIterWarning, raise_for_status, result_from_core

__all__ = [
    "MarginalMismatchError",
    "MaxIterError",
    "MaxIterWarning",
    "emd",
    "emd2",
    "linear_sum_assignment",
    "solve_transport",
]

_METHODS = {"auto": 0, "network_simplex": 1, "assignment": 2}


def solve_transport(M, a=None, b=None, *, method="auto", max_iter=None, warm_start=None):
    r"""Solve the exact optimal transport problem and return a sparse vertex plan.

    .. math::
        P^\star = \arg\min_{P \ge 0} \langle M, P \rangle
        \quad \text{s.t.} \quad P \mathbf{1}_m = a, \; P^\top \mathbf{1}_n = b

    Parameters
    ----------
    M : array_like, shape (n, m)
        Cost matrix. float32 and float64 are used in place when C- or Fortran-contiguous (a
        Fortran array is solved as its transpose); other layouts and dtypes are copied to
        C-contiguous float64. Must be finite.
    a : array_like, shape (n,), optional
        Source marginal (nonnegative). None or empty means uniform ``1/n``.
    b : array_like, shape (m,), optional
        Target marginal with the same total as ``a`` (relative tolerance 1e-9 for float64
        marginals, ``4 eps sqrt(max(n, m))`` for lower precisions; within it ``b`` is rescaled to
        ``a``'s total). None or empty means uniform ``1/m``.
    method : {"auto", "network_simplex", "assignment"}
        ``"auto"`` uses the assignment solver when ``n == m`` and both marginals are uniform,
        the network simplex otherwise.
    max_iter : int, optional
        Pivot limit of the network simplex (None: no limit; the solver terminates by itself).
    warm_start : tuple of (ndarray (n,), ndarray (m,)), optional
        Dual potentials ``(u, v)`` of a related problem (e.g. the previous round of an
        alternation) used to build the initial basis. Any finite values give the optimum.

    Returns
    -------
    TransportResult
        Sparse plan (``rows``, ``cols``, ``weights``; at most n + m - 1 cells), ``cost``, dual
        potentials ``u``, ``v``, ``status``, ``n_iter``; ``.to_dense()`` gives the (n, m) plan.

    Raises
    ------
    ValueError
        Bad input (naming the argument), or an infeasible problem. Marginals whose length does
        not match ``M`` or whose totals differ raise :class:`MarginalMismatchError` (a
        ``ValueError`` and an ``AssertionError``).
    MaxIterError
        ``max_iter`` pivots were not enough; the feasible plan is in ``err.result``.

    Examples
    --------
    >>> import numpy as np, hotalign
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> res = hotalign.solve_transport(M)
    >>> res.to_dense()
    array([[0.5, 0. ],
           [0. , 0.5]])
    >>> float(res.cost)
    0.0

    References
    ----------
    R. K. Ahuja, T. L. Magnanti, J. B. Orlin, *Network Flows*, Prentice Hall, 1993, ch. 11.
    R. Jonker, A. Volgenant, "A shortest augmenting path algorithm for dense and sparse linear
    assignment problems", Computing 38, 325-340, 1987.
    """
    M = as_cost_matrix(M, "M", allow_fortran=True)
    n, m = M.shape
    rtol = mass_rtol([_dtype_of(a), _dtype_of(b)], n, m)
    a = as_marginal(a, n, "a")
    b = as_marginal(b, m, "b")
    check_equal_mass(a, b, n, m, rtol)
    b = match_mass(a, b, m)
    check_choice(method, "method", _METHODS)
    max_iter = check_int(max_iter, "max_iter", minimum=1, maximum=2**63 - 1, allow_none=True)
    u0 = v0 = None
    if warm_start is not None:
        try:
            u0, v0 = warm_start
        except (TypeError, ValueError):
            raise ValueError("warm_start must be a pair of arrays (u, v)") from None
        u0 = np.ascontiguousarray(u0, dtype=np.float64)
        v0 = np.ascontiguousarray(v0, dtype=np.float64)
        if u0.shape != (n,) or v0.shape != (m,):
            raise ValueError(
                f"warm_start potentials must have shapes ({n},) and ({m},), "
                f"got {u0.shape} and {v0.shape}"
            )
        if not (np.all(np.isfinite(u0)) and np.all(np.isfinite(v0))):
            raise ValueError("warm_start contains NaN or infinity")
    code = _METHODS[method]
    limit = 0 if max_iter is None else max_iter
    if M.flags.c_contiguous:
        rows, cols, weights, u, v, cost, status, n_iter, used = _core.solve_transport(
            M, a, b, code, limit, u0, v0)
    else:
        # Fortran order (e.g. the transpose of a C array): M.T is C-contiguous, so solve the
        # transposed problem (marginals and potentials swapped) instead of copying M.
        cols, rows, weights, v, u, cost, status, n_iter, used = _core.solve_transport(
            M.T, b, a, code, limit, v0, u0)
        order = np.lexsort((cols, rows))
        rows, cols, weights = rows[order], cols[order], weights[order]
    status_name = _core.STATUS_NAMES[status]
    if status_name == "infeasible":
        raise ValueError("the transport problem is infeasible: a and b must have equal totals")
    result = result_from_core((rows, cols, weights, u, v, cost, status, n_iter, used), (n, m))
    raise_for_status(result, max_iter, "the transport problem")
    return result


def emd(a, b, M, numItermax=None, log=False, center_dual=True, numThreads=1,
        check_marginals=True, potentials_init=None, *, max_iter=None, method="auto"):
    r"""Exact earth mover's plan, a drop-in for POT's ``ot.emd`` returning a dense plan.

    Solves :math:`\min_P \langle M, P\rangle` s.t. :math:`P 1 = a`, :math:`P^T 1 = b`,
    :math:`P \ge 0` (see :func:`solve_transport`, which returns the sparse plan instead). The
    positional order and keywords are POT's.

    Parameters
    ----------
    a : array_like, shape (n,)
        Source marginal; empty list or None means uniform.
    b : array_like, shape (m,)
        Target marginal; empty list or None means uniform. Its total must match ``a``'s (see
        :func:`solve_transport` for the tolerance); it is then rescaled to ``a``'s total.
    M : array_like, shape (n, m)
        Cost matrix (float32 or float64 used in place), or a sparse one as in POT: any
        ``scipy.sparse`` array/matrix or a torch sparse tensor, whose stored entries are the
        allowed pairs (every pair not stored is forbidden). A sparse ``M`` is solved exactly on
        its stored entries by the sparse network simplex and ``G`` is then sparse, of ``M``'s
        type (COO in, COO out; CSR in, CSR out; torch sparse of ``M``'s layout); arcs that
        cannot carry the marginals raise ``ValueError``. ``potentials_init`` and a 2-D ``b``
        are dense-only.
    numItermax : int, optional
        POT's pivot limit (an integral float such as ``1e5`` is accepted): when reached, a :class:`MaxIterWarning` is issued and the feasible
        plan is returned (``log["result_code"] == 3``). None (default): no limit, the solver
        terminates by itself.
    log : bool
        If True also return a dict with POT's keys ``cost``, ``u``, ``v`` (dual potentials),
        ``warning`` (None, or the max-iteration message) and ``result_code`` (1 optimal, 3 limit
        reached), plus ``status`` and ``n_iter``.
    center_dual : bool
        Shift the potentials by a constant, ``u + c`` and ``v - c``, so that ``a @ u == b @ v``
        (POT's default). False keeps the solver's potentials. The cost is unchanged.
    numThreads : int or "max"
        Accepted for POT compatibility (one problem is solved by one thread).
    check_marginals : bool
        If False, skip the test that ``a`` and ``b`` have the same total (``b`` is rescaled to
        ``a``'s total regardless, as in POT).
    potentials_init : tuple of (array (n,), array (m,)), optional
        Warm start: dual potentials ``(u, v)``, e.g. from an earlier (or interrupted) solve.
    max_iter : int, optional
        hotalign's pivot limit: reaching it raises :class:`MaxIterError`.
    method : {"auto", "network_simplex", "assignment"}
        See :func:`solve_transport`.

    Returns
    -------
    G : array, shape (n, m)
        Optimal plan (a vertex): float64 NumPy array for NumPy/list inputs; for torch tensors and
        JAX arrays, an array of the same library, on the device and in the floating dtype of the
        first non-empty of ``a``, ``b``, ``M`` (as POT's backends).
    log : dict
        Only if ``log=True``; ``u`` and ``v`` are of the same array type as ``G``.

    Raises
    ------
    MarginalMismatchError
        ``a`` or ``b`` does not match ``M``'s shape, or their totals differ (a ``ValueError``,
        also an ``AssertionError`` as POT raises).
    TypeError
        ``jax.experimental.sparse`` ``M``, or arrays of different libraries mixed.

    Examples
    --------
    >>> import hotalign
    >>> hotalign.emd([0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]])
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    io = _arrays.Boundary(a=a, b=b, M=M, potentials_init=potentials_init)
    if sparse_costs.is_sparse(M):
        res, info, _ = _solve_sparse_pot(io, a, b, M, numItermax, max_iter, center_dual,
                                         numThreads, check_marginals, potentials_init)
        G = sparse_costs.plan_like(M, res, io)
        return (G, _log_as(io, info)) if log else G
    args = _pot_arguments(io, a, b, M, numItermax, max_iter, center_dual, numThreads,
                          check_marginals, potentials_init)
    res, info = _solve_pot(*args, method=method)
    G = io.array(res.to_dense())
    if log:
        return G, _log_as(io, info)
    return G


def emd2(a, b, M, processes=1, numItermax=None, log=False, return_matrix=False,
         center_dual=True, numThreads=1, check_marginals=True, potentials_init=None, *,
         max_iter=None, method="auto"):
    """Exact earth mover's distance ``<M, P*>``, a drop-in for POT's ``ot.emd2``.

    Parameters are those of :func:`emd`, plus:

    b : array_like, shape (m,) or (m, k)
        With 2-D ``b``, each column is a target histogram: the ``k`` problems are solved (in
        parallel threads, see ``processes``) and a list of ``k`` results is returned, as POT.
    processes : int
        Number of threads for a 2-D ``b`` (POT's 4th positional argument). The larger of
        ``processes`` and ``numThreads`` is used; ``numThreads="max"`` means every CPU.
    return_matrix : bool
        Add the dense plan to the log as ``log["G"]`` (and return the log).

    Returns
    -------
    cost : float, or a 0-d torch/JAX array
        Optimal transport cost (a float for NumPy inputs; for torch/JAX inputs a 0-d array of
        the type of ``G`` in :func:`emd`). For torch inputs that require grad, the cost carries
        POT's gradients: ``u - mean(u)`` for ``a``, ``v - mean(v)`` for ``b`` and the plan for
        ``M``.
    log : dict
        With ``log=True`` or ``return_matrix=True``: ``(cost, log)`` is returned.

    Examples
    --------
    >>> import hotalign
    >>> float(hotalign.emd2([], [], [[0.0, 1.0], [1.0, 0.0]]))
    0.0
    """
    io = _arrays.Boundary(a=a, b=b, M=M, potentials_init=potentials_init)
    processes = check_int(processes, "processes", minimum=1)
    if sparse_costs.is_sparse(M):
        res, info, arcs = _solve_sparse_pot(io, a, b, M, numItermax, max_iter, center_dual,
                                            numThreads, check_marginals, potentials_init)
        return _emd2_output(io, a, b, M, res, info, log, return_matrix, arcs)
    b_np = io.to_numpy(b, "b")
    if b_np is not None and np.ndim(b_np) == 2:
        b_np = np.asarray(b_np)
        columns = [b_np[:, k] for k in range(b_np.shape[1])]
        b_inputs = columns if _arrays.family(b) == "numpy" else [b[:, k] for k in
                                                                 range(b_np.shape[1])]
        workers = max(processes, _thread_count(numThreads))
        args = [_pot_arguments(io, a, bk, M, numItermax, max_iter, center_dual, numThreads,
                               check_marginals, potentials_init) for bk in columns]
        if workers > 1 and len(columns) > 1:
            with ThreadPoolExecutor(min(workers, len(columns))) as pool:
                solved = list(pool.map(lambda arg: _solve_pot(*arg, method=method), args))
        else:
            solved = [_solve_pot(*arg, method=method) for arg in args]
        return [_emd2_output(io, a, bk, M, res, info, log, return_matrix)
                for bk, (res, info) in zip(b_inputs, solved)]
    args = _pot_arguments(io, a, b_np, M, numItermax, max_iter, center_dual, numThreads,
                          check_marginals, potentials_init)
    res, info = _solve_pot(*args, method=method)
    return _emd2_output(io, a, b, M, res, info, log, return_matrix)



def _dtype_of(x):
    dtype = getattr(x, "dtype", None)
    return dtype if isinstance(dtype, np.dtype) else np.dtype(np.float64)


def _thread_count(numThreads) -> int:
    if numThreads == "max":
        return os.cpu_count() or 1
    return check_int(numThreads, "numThreads", minimum=1)


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def _pot_arguments(io, a, b, M, numItermax, max_iter, center_dual, numThreads,
                   check_marginals, potentials_init):
    """Validate POT-style arguments; returns the arguments of :func:`_solve_pot` (NumPy)."""
    _arrays.check_not_sparse(M, "M")
    M = as_cost_matrix(io.to_numpy(M, "M"), "M", allow_fortran=True)
    a, b, limit, max_iter, center = _pot_options(io, a, b, M.shape, numItermax, max_iter,
                                                 center_dual, numThreads, check_marginals)
    warm = None
    if potentials_init is not None:
        try:
            u0, v0 = potentials_init
        except (TypeError, ValueError):
            raise ValueError("potentials_init must be a pair of arrays (u, v)") from None
        warm = (io.to_numpy(u0, "potentials_init[0]"), io.to_numpy(v0, "potentials_init[1]"))
    return (M, a, b, limit, max_iter, center, warm)


def _pot_options(io, a, b, shape, numItermax, max_iter, center_dual, numThreads,
                 check_marginals):
    """POT's marginals and options validated for an (n, m) problem: ``(a, b, limit, max_iter,
    center_dual)`` with NumPy marginals (None: uniform) and ``b`` rescaled to ``a``'s total."""
    n, m = shape
    a = io.to_numpy(a, "a")
    b = io.to_numpy(b, "b")
    rtol = mass_rtol([_dtype_of(a), _dtype_of(b)], n, m)
    a = as_marginal(a, n, "a")
    b = as_marginal(b, m, "b")
    if _check_bool(check_marginals, "check_marginals"):
        check_equal_mass(a, b, n, m, rtol)
    b = match_mass(a, b, m)
    if isinstance(numItermax, float) and numItermax.is_integer():
        numItermax = int(numItermax)  # POT accepts e.g. numItermax=1e5
    limit = check_int(numItermax, "numItermax", minimum=1, allow_none=True)
    max_iter = check_int(max_iter, "max_iter", minimum=1, allow_none=True)
    if limit is not None and max_iter is not None:
        raise ValueError("give numItermax (warns when reached) or max_iter (raises), not both")
    _thread_count(numThreads)
    return a, b, limit, max_iter, _check_bool(center_dual, "center_dual")


def _solve_pot(M, a, b, limit, max_iter, center_dual, warm, *, method):
    """Solve one problem; returns (TransportResult, POT log dict of NumPy arrays)."""
    try:
        res = solve_transport(M, a, b, method=method, max_iter=max_iter or limit,
                              warm_start=warm)
    except MaxIterError as err:
        if limit is None:
            raise
        warnings.warn(_MAX_ITER_MESSAGE, MaxIterWarning, stacklevel=4)
        res = err.result
    return res, _pot_log(res, a, b, center_dual)


def _pot_log(res, a, b, center_dual) -> dict:
    """POT's log dict (NumPy arrays) of a solved problem, potentials centred if asked."""
    u, v = res.u, res.v
    if center_dual:
        n, m = res.shape
        wa = np.full(n, 1.0 / n) if a is None else a
        wb = np.full(m, 1.0 / m) if b is None else b
        # on u / 2^e and v / 2^e (exact), so that potentials near the float64 limit do not
        # overflow the sums; kept uncentred where the centred ones would leave the range
        peak = max(float(np.abs(u).max()), float(np.abs(v).max()))
        e = int(np.frexp(peak)[1]) if peak > 0.0 else 0
        with np.errstate(over="ignore", invalid="ignore"):
            t = (wb @ np.ldexp(v, -e) - wa @ np.ldexp(u, -e)) / (wa.sum() + wb.sum())
            uc, vc = u + np.ldexp(t, e), v - np.ldexp(t, e)
        if np.isfinite(uc).all() and np.isfinite(vc).all():
            u, v = uc, vc
    return {
        "cost": res.cost,
        "u": u,
        "v": v,
        "warning": _MAX_ITER_MESSAGE if res.status == "max_iter" else None,
        "result_code": 3 if res.status == "max_iter" else 1,
        "status": res.status,
        "n_iter": res.n_iter,
    }


def _minus_mean(x: np.ndarray) -> np.ndarray:
    s = max(float(np.abs(x).max()), np.finfo(float).tiny)  # no overflow near the float64 limit
    return x - s * float(np.mean(x / s))


def _log_as(io, info: dict) -> dict:
    out = dict(info)
    out["u"] = io.array(info["u"])
    out["v"] = io.array(info["v"])
    return out


def _emd2_output(io, a, b, M, res, info, log, return_matrix, arcs=None):
    """emd2's return value for one solved problem, with POT's gradients for torch inputs
    (``arcs``: the ``(rows, cols, costs)`` of a sparse ``M``, whose plan is sparse)."""
    grads = ()
    if io.kind == "torch":  # POT's gradients: centred potentials, and the plan
        grads = [(a, _minus_mean(info["u"])), (b, _minus_mean(info["v"]))]
        if arcs is None:
            grads.append((M, res.to_dense()))
        else:
            sparse_grad = sparse_costs.cost_gradient(M, res, arcs)
            if sparse_grad is not None:
                grads.append(sparse_grad)
    cost = io.scalar(res.cost, grads)
    if not (log or return_matrix):
        return cost
    out = _log_as(io, info)
    out["cost"] = cost
    if return_matrix:
        out["G"] = io.array(res.to_dense()) if arcs is None else \
            sparse_costs.plan_like(M, res, io)
    return cost, out


def _solve_sparse_pot(io, a, b, M, numItermax, max_iter, center_dual, numThreads,
                      check_marginals, potentials_init):
    """emd / emd2 on a sparse M: ``(TransportResult, POT log, arcs)`` (see sparse_costs)."""
    if potentials_init is not None:
        raise ValueError("potentials_init is not supported with a sparse M (the sparse solver "
                         "starts from its own basis)")
    if np.ndim(io.to_numpy(b, "b")) == 2:
        raise ValueError("b: several target histograms (2-D b) are not supported with a "
                         "sparse M; solve one column at a time")
    shape = tuple(int(x) for x in M.shape)
    if len(shape) != 2:
        raise ValueError(f"M must be a 2-D sparse matrix, got shape {shape}")
    a, b, limit, max_iter, center = _pot_options(io, a, b, shape, numItermax, max_iter,
                                                 center_dual, numThreads, check_marginals)
    res, arcs = sparse_costs.solve_sparse(M, a, b, limit, max_iter)
    return res, _pot_log(res, a, b, center), arcs


def linear_sum_assignment(cost_matrix, maximize=False):
    """Solve the linear sum assignment problem, a drop-in for ``scipy.optimize``'s.

    Parameters
    ----------
    cost_matrix : array_like, shape (n, m)
        Cost of assigning row i to column j. ``+inf`` marks a forbidden pair (``-inf`` when
        ``maximize``); NaN is an error.
    maximize : bool
        Maximise the total instead of minimising it.

    Returns
    -------
    row_ind, col_ind : ndarray of int64, shape (min(n, m),)
        ``row_ind`` is sorted; ``cost_matrix[row_ind, col_ind].sum()`` is optimal.

    Raises
    ------
    TypeError
        ``cost_matrix`` is not real numeric (strings, objects, complex), as in SciPy.
    ValueError
        Not 2-D ("expected a matrix"), NaN or an infinity of the wrong sign ("contains invalid
        numeric entries"), or no complete assignment avoids the forbidden pairs ("cost matrix
        is infeasible"); SciPy's phrases, with the argument named.

    Examples
    --------
    >>> import numpy as np, hotalign
    >>> C = np.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    >>> hotalign.linear_sum_assignment(C)
    (array([0, 1, 2]), array([1, 0, 2]))

    References
    ----------
    R. Jonker, A. Volgenant, Computing 38, 325-340, 1987. D. F. Crouse, "On implementing 2D
    rectangular assignment algorithms", IEEE TAES 52(4), 1679-1696, 2016.
    """
    C = as_array(cost_matrix, "cost_matrix")  # ragged or masked input: an error naming it
    if C.dtype.kind not in "biuf":
        # SciPy's wording (numpy's casting error) and type, naming the argument.
        raise TypeError(
            f"cost_matrix: Cannot cast array data from {C.dtype!r} to dtype('float64') "
            "according to the rule 'safe' (a real numeric array is required)"
        )
    if C.ndim != 2:
        raise ValueError(
            f"cost_matrix: expected a matrix (2-D array), got a {C.ndim}-D array of shape "
            f"{C.shape}"
        )
    if not isinstance(maximize, (bool, np.bool_)):
        raise ValueError(f"maximize must be a bool, got {maximize!r}")
    if C.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy()
    dtype = np.float32 if C.dtype == np.float32 else np.float64
    C = np.ascontiguousarray(C, dtype=dtype)
    try:
        row_ind, col_ind, _u, _v, _cost, status, _n_iter = _core.linear_sum_assignment(
            C, bool(maximize)
        )
    except ValueError as err:  # the core's input errors here: NaN or wrong inf, dynamic range
        if "dynamic range" in str(err):
            raise
        wrong = "+inf" if maximize else "-inf"
        raise ValueError(
            f"cost_matrix contains invalid numeric entries (NaN or {wrong}; only "
            f"{'-inf' if maximize else '+inf'} may mark a forbidden pair)"
        ) from err
    if _core.STATUS_NAMES[status] == "infeasible":
        raise ValueError("cost matrix is infeasible: no complete assignment avoids the inf entries")
    return row_ind, col_ind
