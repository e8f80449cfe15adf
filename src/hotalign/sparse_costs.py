"""Sparse cost matrices for :func:`hotalign.emd` / :func:`hotalign.emd2`, as POT accepts them.

A sparse ``M`` (any ``scipy.sparse`` array or matrix, or a torch sparse tensor) lists the
allowed pairs: its stored entries are the arcs of the transport network, with their costs (an
explicitly stored 0 is an arc of cost 0), and every pair that is not stored is forbidden. The
problem is solved exactly on those arcs only by hotalign's sparse network simplex
(``cpp/include/hotalign/sparse_network_simplex.hpp``, GIL released), never densified. The plan
comes back sparse in the input's type: a SciPy COO array for a COO array, CSR for CSR (arrays
stay arrays, matrices matrices), a torch sparse tensor of the input's layout for torch.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import _arrays, _core
from .results import _MAX_ITER_MESSAGE, MaxIterWarning, TransportResult, raise_for_status

__all__ = ["cost_gradient", "is_sparse", "plan_like", "solve_sparse"]


def is_sparse(M) -> bool:
    """True for a ``scipy.sparse`` array/matrix or a torch tensor of a sparse layout."""
    if type(M).__module__.startswith("scipy.sparse"):
        return True
    if _arrays.family(M) == "torch":
        import torch

        return M.layout != torch.strided
    return False


def _arcs(M):
    """``(shape, rows, cols, costs)`` of a sparse M: int64 / float64 arrays, duplicates summed
    (the matrix's value), explicit zeros kept as arcs."""
    if _arrays.family(M) == "torch":
        import torch

        C = M.detach()
        if C.layout != torch.sparse_coo:
            C = C.to_sparse_coo()
        if C.dim() != 2:
            raise ValueError(f"M must be a 2-D sparse tensor, got {C.dim()} dimensions")
        C = C.coalesce()
        idx = C.indices().cpu().numpy()
        vals = C.values()
        if not vals.is_floating_point():
            vals = vals.double()
        rows, cols, costs = idx[0], idx[1], vals.cpu().to(torch.float64).numpy()
        shape = tuple(int(x) for x in C.shape)
    else:
        if M.ndim != 2:
            raise ValueError(f"M must be a 2-D sparse matrix, got {M.ndim} dimensions")
        C = M.tocoo(copy=True)
        C.sum_duplicates()
        if C.dtype.kind not in "biuf":
            raise TypeError(f"M: sparse costs must be real numbers, got dtype {C.dtype}")
        rows, cols, costs = C.row, C.col, C.data
        shape = tuple(int(x) for x in C.shape)
    costs = np.ascontiguousarray(costs, dtype=np.float64)
    if not np.isfinite(costs).all():
        raise ValueError("M contains NaN or infinity among its stored entries (a forbidden pair "
                         "is one that is not stored)")
    return (shape, np.ascontiguousarray(rows, dtype=np.int64),
            np.ascontiguousarray(cols, dtype=np.int64), costs)


def solve_sparse(M, a, b, limit, max_iter):
    """Solve on the arcs of the sparse ``M``; returns ``(TransportResult, arcs)``.

    ``a``, ``b``: validated NumPy marginals (None: uniform); ``limit`` POT's ``numItermax``
    (reached: :class:`~hotalign.results.MaxIterWarning`) or ``max_iter`` (reached:
    :class:`~hotalign.results.MaxIterError`). ``arcs`` is ``(rows, cols, costs)`` of ``M``.
    Raises ValueError when the arcs cannot carry the marginals.
    """

    shape, rows, cols, costs = _arcs(M)
    n, m = shape
    out = _core.sparse_transport(n, m, rows, cols, costs, a, b, max_iter or limit or 0)
    arcs, flows, u, v, cost, status, n_iter = out
    name = _core.STATUS_NAMES[status]
    if name == "infeasible":
        raise ValueError(
            f"M: the {costs.size} stored entries (the allowed pairs) of the sparse ({n}, {m}) "
            "cost matrix cannot carry the marginals a and b: the sparse transport problem is "
            "infeasible (store more pairs, or check that a and b fit the pattern)")
    res = TransportResult(rows=rows[arcs], cols=cols[arcs], weights=flows, cost=float(cost),
                          u=u, v=v, status=name, n_iter=int(n_iter), shape=(n, m))
    if name == "max_iter":
        if max_iter is not None or limit is None:
            raise_for_status(res, max_iter, "the sparse transport problem")
        warnings.warn(_MAX_ITER_MESSAGE, MaxIterWarning, stacklevel=4)
    return res, (rows, cols, costs)


def plan_like(M, res: TransportResult, io):
    """The plan of ``res`` as a sparse matrix of ``M``'s type (and, for torch, of the dtype and
    device of the call's reference array)."""
    n, m = res.shape
    if _arrays.family(M) == "torch":
        import torch

        values = io.array(res.weights) if io.kind == "torch" else torch.from_numpy(res.weights)
        index = torch.from_numpy(np.vstack([res.rows, res.cols])).to(values.device)
        P = torch.sparse_coo_tensor(index, values, (n, m), check_invariants=True).coalesce()
        if M.layout == torch.sparse_csr:
            return P.to_sparse_csr()
        if M.layout == torch.sparse_csc:
            return P.to_sparse_csc()
        return P
    import scipy.sparse

    maker = scipy.sparse.coo_array if isinstance(M, scipy.sparse.sparray) else \
        scipy.sparse.coo_matrix
    P = maker((res.weights, (res.rows, res.cols)), shape=(n, m))
    return P if M.format == "coo" else P.asformat(M.format)


def cost_gradient(M, res: TransportResult, arcs):
    """For a torch sparse ``M`` that requires grad: ``(values, plan)``, M's coalesced stored
    values (in the autograd graph) and the plan on those arcs (NumPy), the ``(input, gradient)``
    pair that carries ``d cost / d M`` (the plan, POT's gradient) into an emd2 value."""
    if _arrays.family(M) != "torch" or not M.requires_grad:
        return None
    import torch

    values = (M.to_sparse_coo() if M.layout != torch.sparse_coo else M).coalesce().values()
    rows, cols, _ = arcs
    m = res.shape[1]
    plan = np.zeros(rows.size)
    key = rows * m + cols  # coalesced: sorted by (row, col), unique
    plan[np.searchsorted(key, res.rows * m + res.cols)] = res.weights
    return values, plan
