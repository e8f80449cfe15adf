"""Type stub of the compiled core (pybind11). Shapes in comments; see transport.py/grid.py."""

from typing import Any

import numpy as np
import numpy.typing as npt

_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]

STATUS_NAMES: dict[int, str]
"""Status code -> "optimal" | "infeasible" | "unbounded" | "max_iter"."""
METHOD_NAMES: dict[int, str]
"""Method code -> "network_simplex" | "assignment" (the solver a result came from)."""

C_API: dict[str, int]
"""Addresses of the C ABI entry points of hotalign/c_api.h (for ctypes / numba)."""

def solve_transport(
    M: npt.NDArray[np.float64] | npt.NDArray[np.float32],  # (n, m), C-contiguous
    a: _F64 | None,  # (n,) or None for uniform
    b: _F64 | None,  # (m,) or None for uniform
    method: int,  # 0 auto, 1 network simplex, 2 assignment
    max_iter: int,  # <= 0: no limit
    u0: _F64 | None,  # (n,) warm-start potentials
    v0: _F64 | None,  # (m,)
) -> tuple[_I64, _I64, _F64, _F64, _F64, float, int, int, int]:
    """(rows, cols, weights, u, v, cost, status, n_iter, method); GIL released while solving."""

def sparse_transport(
    n: int,
    m: int,
    rows: _I64,  # (E,) row of each arc
    cols: _I64,  # (E,) column of each arc
    costs: _F64,  # (E,) cost of each arc
    a: _F64 | None,  # (n,) or None for uniform
    b: _F64 | None,  # (m,) or None for uniform
    max_iter: int,  # <= 0: no limit
) -> tuple[_I64, _F64, _F64, _F64, float, int, int]:
    """(arcs, flows, u, v, cost, status, n_iter): exact transport on the given arcs only."""

def linear_sum_assignment(
    cost_matrix: npt.NDArray[np.float64] | npt.NDArray[np.float32], maximize: bool
) -> tuple[_I64, _I64, _F64, _F64, float, int, int]:
    """(row_ind, col_ind, u, v, cost, status, n_iter)."""

def column_stats(X: npt.NDArray[Any]) -> tuple[_F64, _F64, _I64, int, _F64]:
    """(mean (n,), inv_norm (n,), constant column indices, rows, prescale (n,)) of a (T, n)
    float array; mean and inv_norm are in units of X * prescale."""

def standardize(
    X: npt.NDArray[Any], mean: _F64, inv_norm: _F64, rows: int, out_float32: bool,
    threads: int = 1, prescale: _F64 | None = None,
) -> npt.NDArray[Any]:
    """(T', n) standardised copy, float32 or float64."""

def correlation_cost(
    X: npt.NDArray[Any],  # (T, n) standardised, float32 or float64, rows contiguous
    Y: npt.NDArray[Any],  # (T, m), same dtype
    out: npt.NDArray[Any],  # (n, m), C-contiguous, writeable, same dtype
    gemm_address: int,  # address of a Fortran ?gemm (hotalign._blas); 0: built-in kernel
    workspace: npt.NDArray[Any] | None = None,  # reusable scratch, >= workspace_bytes(...)
    threads: int = 1,
) -> None:
    """Write 1 - pearson(X[:, i], Y[:, j]) into out (n, m); GIL released."""

def correlation_cost_workspace_bytes(T: int, n: int, m: int, float32: bool) -> int:
    """Bytes of scratch correlation_cost needs for (T, n) x (T, m) layers."""

def cost_and_product(Zx: _F64, Zy: _F64, gemm_address: int) -> tuple[_F64, _F64]:
    """The cost tile clamp(1 - Zx^T Zy, 0, 2) of standardized float64 layers (the grid's own
    kernel) and the product Zx^T Zy it comes from, both (n, m)."""

def assignment_simd_path() -> str:
    """SIMD path of the assignment solver on this CPU: "avx2", "sse2" or "scalar"."""

class GridJob:
    def __init__(self, Zx: list[npt.NDArray[Any]], Zy: list[npt.NDArray[Any]],
                 a: list[_F64 | None], b: list[_F64 | None], n_threads: int, keep_plans: bool,
                 max_iter: int, gemm_address: int, pairs: _I64 | None = None,
                 stream: bool = False) -> None: ...
    def run(self) -> None:
        """Solve the pairs (GIL released); call from a worker thread."""
    def take_finished(self) -> list[tuple[int, float, int, int, tuple | None]]:
        """Stream mode: (position, cost, status, n_iter, plan or None) of the pairs finished
        since the last call."""
    def cancel(self) -> None: ...
    def n_done(self) -> int: ...
    def n_total(self) -> int: ...
    def result(self) -> tuple[_F64, npt.NDArray[np.int32], _I64, list[tuple] | None, bool]:
        """(costs (K,), statuses (K,), n_iter (K,), plans or None, cancelled) for the K pairs
        solved, in order (all L * M row-major, or the given pair list)."""
