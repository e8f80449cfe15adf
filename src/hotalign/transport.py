"""Exact optimal transport and linear assignment with POT- and SciPy-compatible signatures.

The solvers are hotalign's own C++ implementations (``cpp/include/hotalign``): a network simplex
for any marginals and a Jonker-Volgenant shortest augmenting path solver, which
:func:`solve_transport` uses automatically when the problem is square with uniform marginals
(the optimal vertex is then a permutation matrix / n). The GIL is released during every solve.
"""

from __future__ import annotations

import numpy as np

from . import _core
from ._validation import (
    as_cost_matrix,
    as_marginal,
    check_choice,
    check_equal_mass,
    check_int,
)
from .results import MaxIterError, TransportResult

__all__ = [
    "MaxIterError",
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
        Target marginal with the same total as ``a`` (relative tolerance 1e-9; within it ``b`` is
        rescaled to ``a``'s total). None or empty means uniform ``1/m``.
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
        Bad input (naming the argument), or an infeasible problem.
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
    a = as_marginal(a, n, "a")
    b = as_marginal(b, m, "b")
    check_equal_mass(a, b, n, m)
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
    result = TransportResult(
        rows=rows,
        cols=cols,
        weights=weights,
        cost=float(cost),
        u=u,
        v=v,
        status=status_name,
        n_iter=int(n_iter),
        shape=(n, m),
        method=_core.METHOD_NAMES[used],
    )
    if status_name == "max_iter":
        raise MaxIterError(
            f"max_iter={max_iter} pivots reached before optimality; the feasible plan is in "
            "err.result",
            result,
        )
    return result


def emd(a, b, M, *, max_iter=None, log=False, method="auto"):
    r"""Exact earth mover's plan, a drop-in for POT's ``ot.emd`` returning a dense plan.

    Solves :math:`\min_P \langle M, P\rangle` s.t. :math:`P 1 = a`, :math:`P^T 1 = b`,
    :math:`P \ge 0` (see :func:`solve_transport`, which returns the sparse plan instead).

    Parameters
    ----------
    a : array_like, shape (n,)
        Source marginal; empty list or None means uniform.
    b : array_like, shape (m,)
        Target marginal; empty list or None means uniform.
    M : array_like, shape (n, m)
        Cost matrix (float32 or float64 used in place).
    max_iter : int, optional
        Pivot limit (None: none).
    log : bool
        If True also return a dict with ``cost``, ``u``, ``v``, ``status``, ``n_iter``,
        ``warning`` (None) and ``result_code`` (1 for optimal, as in POT).
    method : {"auto", "network_simplex", "assignment"}
        See :func:`solve_transport`.

    Returns
    -------
    G : ndarray, shape (n, m)
        Optimal plan (a vertex).
    log : dict
        Only if ``log=True``.

    Examples
    --------
    >>> import hotalign
    >>> hotalign.emd([0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]])
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    res = solve_transport(M, a, b, method=method, max_iter=max_iter)
    G = res.to_dense()
    if log:
        return G, _log_dict(res)
    return G


def emd2(a, b, M, *, max_iter=None, log=False, return_matrix=False, method="auto"):
    """Exact earth mover's distance ``<M, P*>``, a drop-in for POT's ``ot.emd2``.

    Parameters are those of :func:`emd`. With ``log=True`` returns ``(cost, log)``, and with
    ``return_matrix=True`` the dense plan is added to the log as ``log["G"]``.

    Returns
    -------
    cost : float
        Optimal transport cost.

    Examples
    --------
    >>> import hotalign
    >>> float(hotalign.emd2([], [], [[0.0, 1.0], [1.0, 0.0]]))
    0.0
    """
    res = solve_transport(M, a, b, method=method, max_iter=max_iter)
    if log or return_matrix:
        info = _log_dict(res)
        if return_matrix:
            info["G"] = res.to_dense()
        return res.cost, info
    return res.cost


def _log_dict(res: TransportResult) -> dict:
    return {
        "cost": res.cost,
        "u": res.u,
        "v": res.v,
        "status": res.status,
        "n_iter": res.n_iter,
        "warning": None,
        "result_code": 1,
    }


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
    ValueError
        Bad input, or no complete assignment avoids the forbidden pairs ("infeasible").

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
    C = np.asarray(cost_matrix)
    if C.dtype.kind not in "biuf":
        raise ValueError(f"cost_matrix must be a real numeric array, got dtype {C.dtype}")
    if C.ndim != 2:
        raise ValueError(f"cost_matrix must be a 2-D array, got shape {C.shape}")
    if not isinstance(maximize, (bool, np.bool_)):
        raise ValueError(f"maximize must be a bool, got {maximize!r}")
    dtype = np.float32 if C.dtype == np.float32 else np.float64
    C = np.ascontiguousarray(C, dtype=dtype)
    row_ind, col_ind, _u, _v, _cost, status, _n_iter = _core.linear_sum_assignment(
        C, bool(maximize)
    )
    if _core.STATUS_NAMES[status] == "infeasible":
        raise ValueError("cost matrix is infeasible: no complete assignment avoids the inf entries")
    return row_ind, col_ind
