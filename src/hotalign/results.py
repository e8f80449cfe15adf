"""Result objects returned by the solvers, built from the core's output in one place, and the
mapping of solver statuses to exceptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import _core
from ._validation import describe

__all__ = ["GridResult", "MaxIterError", "PairCost", "PairRotation", "TransportResult"]


@dataclass(frozen=True, eq=False)
class TransportResult:
    """Sparse optimal transport plan with its cost, dual potentials and solver status.

    The plan ``P`` (``shape = (n, m)``) is zero except at the cells
    ``P[rows[k], cols[k]] = weights[k]``: at most ``n + m - 1`` cells, because the solver returns
    a vertex of the transportation polytope (its support is a forest). For square problems with
    uniform marginals the vertex is a permutation matrix scaled by ``1/n``.

    Attributes
    ----------
    rows, cols : ndarray of int64, shape (nnz,)
        Row and column indices of the nonzero cells, sorted by row then column.
    weights : ndarray of float64, shape (nnz,)
        Mass of each cell (same units as the marginals).
    cost : float
        Objective ``<M, P>``.
    u, v : ndarray of float64, shapes (n,) and (m,)
        Dual potentials: ``u[i] + v[j] <= M[i, j]`` for all cells, with equality on the support,
        and ``cost == a @ u + b @ v`` at optimality (a certificate of optimality).
    status : str
        ``"optimal"`` or ``"max_iter"`` (infeasible problems raise instead of returning).
    n_iter : int
        Network simplex pivots, or augmentations of the assignment solver.
    shape : tuple of int
        ``(n, m)``.
    method : str
        ``"network_simplex"`` or ``"assignment"``.
    """

    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray
    cost: float
    u: np.ndarray
    v: np.ndarray
    status: str
    n_iter: int
    shape: tuple[int, int]
    method: str = field(default="network_simplex")

    @property
    def nnz(self) -> int:
        """Number of nonzero cells of the plan."""
        return int(self.weights.shape[0])

    def to_dense(self, dtype=np.float64) -> np.ndarray:
        """Return the plan as a dense ``(n, m)`` array of ``dtype`` (a real float dtype)."""
        try:
            ok = np.dtype(dtype).kind == "f"
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"dtype must be a floating-point dtype, got {describe(dtype)}")
        P = np.zeros(self.shape, dtype=dtype)
        P[self.rows, self.cols] = self.weights
        return P

    def marginals(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column sums of the plan, shapes ``(n,)`` and ``(m,)``."""
        n, m = self.shape
        return (
            np.bincount(self.rows, weights=self.weights, minlength=n),
            np.bincount(self.cols, weights=self.weights, minlength=m),
        )

    def certificate(self, M, a=None, b=None) -> dict:
        """Check this result against the problem it solves; returns the measured errors.

        Parameters
        ----------
        M : array_like, shape (n, m)
            The cost matrix that was solved.
        a, b : array_like, shapes (n,) and (m,), optional
            The marginals (None or empty for uniform).

        Returns
        -------
        dict
            ``marginal_error`` (max relative deviation of the plan's row/column sums),
            ``dual_infeasibility`` (max of ``u_i + v_j - M_ij``, relative to ``max|M|``),
            ``slackness`` (max ``|M_ij - u_i - v_j|`` on the support, relative),
            ``duality_gap`` (``|cost - (a.u + b.v)|`` relative to ``max|M| * total mass``).
            All four are ~1e-15 for an exact optimum, and of the order of the error for a wrong
            plan at any scale: they are computed on ``M``, ``u``, ``v`` and the cost divided by
            ``2^e``, the power of two with ``max|M| / 2^e`` in ``[1/2, 1)`` (exact, so costs near
            the float64 limit do not overflow and subnormal costs are not flushed), then by
            ``max|M| / 2^e``, so that they are relative to ``max|M|``. The only
            allowance is the float64 resolution of the stored values (``2^-1074 / 2^e`` per
            number), which matters for subnormal costs alone. The gap is measured from the
            plan's own objective as well as from ``cost``. A measure that is NaN (a NaN in the
            result or the problem) is reported as ``inf``: a failure under any threshold, and
            visible to ``max(cert.values())``.
        """
        M = np.asarray(M, dtype=np.float64)
        n, m = self.shape
        a = np.full(n, 1.0 / n) if a is None or np.size(a) == 0 else np.asarray(a, float)
        b = np.full(m, 1.0 / m) if b is None or np.size(b) == 0 else np.asarray(b, float)
        with np.errstate(over="ignore", invalid="ignore"):
            peak = float(np.abs(M).max()) if M.size else 0.0
            fraction, e = np.frexp(peak) if np.isfinite(peak) and peak > 0.0 else (1.0, 0)
            e, fraction = int(e), float(fraction)  # max|M| = fraction * 2^e
            quantum = float(np.ldexp(np.finfo(float).smallest_subnormal, -e)) / fraction
            mass = float(a.sum())
            r, c = self.marginals()
            marginal_error = max(np.abs(r - a).max(), np.abs(c - b).max()) / mass
            Ms, us, vs = (np.ldexp(x, -e) / fraction for x in (M, self.u, self.v))
            reduced = Ms - us[:, None] - vs[None, :]
            violation = float(-reduced.min()) - 2.0 * quantum
            dual_infeasibility = violation if not violation < 0.0 else 0.0  # NaN stays NaN
            slack = float(np.abs(reduced[self.rows, self.cols]).max()) if self.nnz else 0.0
            dual = float(a @ us + b @ vs)
            primal = float(np.sum(self.weights * Ms[self.rows, self.cols]))
            gap = max(abs(float(np.ldexp(self.cost, -e)) / fraction - dual), abs(primal - dual))
            gap = (gap - quantum * (1.0 + 2.0 * mass)) / mass
        measures = {
            "marginal_error": float(marginal_error),
            "dual_infeasibility": dual_infeasibility,
            "slackness": max(slack - 2.0 * quantum, 0.0) if not np.isnan(slack) else slack,
            "duality_gap": max(gap, 0.0) if not np.isnan(gap) else gap,
        }
        return {k: (np.inf if np.isnan(x) else x) for k, x in measures.items()}

    def __repr__(self) -> str:
        n, m = self.shape
        return (
            f"TransportResult(shape=({n}, {m}), nnz={self.nnz}, cost={self.cost!r}, "
            f"status={self.status!r}, method={self.method!r}, n_iter={self.n_iter})"
        )


@dataclass(frozen=True, eq=False)
class PairRotation:
    """HOT+R result of one layer pair (see :mod:`hotalign.rotation`).

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

    @property
    def status(self) -> str:
        """Status of the final transport step."""
        return self.plan.status


class MaxIterWarning(UserWarning):
    """POT-style ``numItermax`` reached: the returned plan is feasible but maybe not optimal."""


_MAX_ITER_MESSAGE = "numItermax reached before optimality. Try to increase numItermax."


class MaxIterError(RuntimeError):
    """The iteration limit was reached before optimality.

    The feasible but possibly suboptimal result is kept as ``.result`` (``status="max_iter"``).
    """

    def __init__(self, message: str, result):
        super().__init__(message)
        self.result = result


class PairCost(NamedTuple):
    """Cost, status and solver iterations of a layer pair solved without keeping its plan."""

    cost: float
    status: str
    n_iter: int


def result_from_core(raw, shape) -> TransportResult:
    """A :class:`TransportResult` from the core's ``(rows, cols, weights, u, v, cost, status,
    n_iter, method)`` tuple (arrays handed over without copies)."""
    rows, cols, weights, u, v, cost, status, n_iter, method = raw
    return TransportResult(rows=rows, cols=cols, weights=weights, cost=float(cost), u=u, v=v,
                           status=_core.STATUS_NAMES[int(status)], n_iter=int(n_iter),
                           shape=tuple(shape), method=_core.METHOD_NAMES[int(method)])


#: Status codes of the core's C ABI that mean bad input: an invalid argument (-1) and an
#: infeasible problem (1). Any other failure code is an internal error.
_INPUT_ERROR_CODES = (-1, 1)


def raise_for_status(result, max_iter=None, what: str = "the problem", detail: str = ""):
    """The one mapping of solver statuses to exceptions.

    ``result`` is anything with a ``status`` name (TransportResult, PairRotation, PairCost) or
    a status code (int) of the core's C ABI; ``what`` names the problem in the message.

    - ``"optimal"`` (code 0): nothing;
    - ``"max_iter"``: :class:`MaxIterError` (the pivot limit ``max_iter``), the result kept;
    - a failure code: ValueError for bad input (invalid argument, infeasible problem),
      RuntimeError otherwise, naming the status and ``detail`` (the solver's message).
    """
    if isinstance(result, (int, np.integer)):
        code = int(result)
        if code == 0:
            return
        name = _core.STATUS_NAMES.get(code, "error")
        raise (ValueError if code in _INPUT_ERROR_CODES else RuntimeError)(
            f"{what} failed ({name}): {detail}")
    if getattr(result, "status", "optimal") == "max_iter":
        raise MaxIterError(
            f"max_iter={max_iter} pivots reached before optimality ({what}); the feasible "
            "plan is in err.result", result)


@dataclass(frozen=True, eq=False)
class GridResult:
    """Costs and plans of layer pairs (l, m) of an L x M grid.

    Attributes
    ----------
    costs : ndarray, shape (L, M)
        ``costs[l, m]``, the transport cost of pair (l, m) (NaN where not solved).
    plans : list of list of TransportResult, or None
        ``plans[l][m]`` is the sparse optimal plan of pair (l, m) with its dual potentials
        (None where not solved, and None as a whole when ``keep_plans=False``).
    statuses : ndarray of str, shape (L, M)
        Solver status of each pair (``"unsolved"`` where not asked for).
    n_iter : ndarray of int, shape (L, M)
        Pivots or augmentations of each pair.
    rotations : list of list of PairRotation, or None
        HOT+R pairs: the whole result of each pair (rotation, objective trace, ...).
    """

    costs: np.ndarray
    plans: list | None
    statuses: np.ndarray
    n_iter: np.ndarray
    rotations: list | None = None

    @classmethod
    def empty(cls, L, M, *, keep_plans=True, rotation=False):
        """An L x M result with no pair solved yet (filled by :meth:`set`)."""
        return cls(costs=np.full((L, M), np.nan), plans=_grid(L, M) if keep_plans else None,
                   statuses=np.full((L, M), "unsolved", dtype="<U16"),
                   n_iter=np.zeros((L, M), dtype=np.int64),
                   rotations=_grid(L, M) if rotation else None)

    def set(self, l, m, result):
        """Record the result of pair (l, m): a TransportResult, PairCost or PairRotation."""
        plan = getattr(result, "plan", result)
        if self.rotations is not None:
            self.rotations[l][m] = result
        self.costs[l, m] = result.cost
        self.statuses[l, m] = plan.status
        self.n_iter[l, m] = result.n_iter
        if self.plans is not None:
            self.plans[l][m] = plan if isinstance(plan, TransportResult) else None


def _grid(L, M):
    return [[None] * M for _ in range(L)]
