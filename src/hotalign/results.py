"""Result objects returned by the solvers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["TransportResult"]


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
        """Return the plan as a dense ``(n, m)`` array."""
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
            All four are ~1e-15 for an exact optimum. They are computed on ``M / max|M|``, so
            costs near the float64 limit do not overflow. A measure that is NaN (a NaN in the
            result or the problem) is reported as ``inf``: a failure under any threshold, and
            visible to ``max(cert.values())``.
        """
        M = np.asarray(M, dtype=np.float64)
        n, m = self.shape
        a = np.full(n, 1.0 / n) if a is None or np.size(a) == 0 else np.asarray(a, float)
        b = np.full(m, 1.0 / m) if b is None or np.size(b) == 0 else np.asarray(b, float)
        scale = max(float(np.abs(M).max()), np.finfo(float).tiny)
        mass = float(a.sum())
        r, c = self.marginals()
        marginal_error = max(np.abs(r - a).max(), np.abs(c - b).max()) / mass
        with np.errstate(over="ignore", invalid="ignore"):
            us, vs = self.u / scale, self.v / scale
            reduced = M / scale - us[:, None] - vs[None, :]
            violation = float(-reduced.min())
            dual_infeasibility = violation if not violation < 0.0 else 0.0  # NaN stays NaN
            slackness = float(np.abs(reduced[self.rows, self.cols]).max()) if self.nnz else 0.0
            gap = abs(self.cost / scale - (a @ us + b @ vs)) / mass
        measures = {
            "marginal_error": float(marginal_error),
            "dual_infeasibility": dual_infeasibility,
            "slackness": slackness,
            "duality_gap": float(gap),
        }
        return {k: (np.inf if np.isnan(x) else x) for k, x in measures.items()}

    def __repr__(self) -> str:
        n, m = self.shape
        return (
            f"TransportResult(shape=({n}, {m}), nnz={self.nnz}, cost={self.cost!r}, "
            f"status={self.status!r}, method={self.method!r}, n_iter={self.n_iter})"
        )
