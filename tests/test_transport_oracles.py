"""hotalign's exact transport against independent oracles, with a dual certificate on every result.

Oracles: ``scipy.optimize.linear_sum_assignment``, ``networkx.network_simplex`` (integer costs
and demands, compared after scaling) and POT's ``ot.emd2``. Every transport result is also
checked by :func:`assert_certified` (feasible duals, complementary slackness, zero duality gap,
exact marginals, a vertex support that is a forest), which the other test modules import.
"""

from __future__ import annotations

import ctypes
import math

import networkx as nx
import numpy as np
import ot
import pytest
import scipy.optimize

import hotalign
from hotalign import _core

#: Oracle costs must agree to this relative tolerance.
ORACLE_RTOL = 1e-10


# ---------------------------------------------------------------------------------------------
# helpers (imported by test_transport_properties.py and test_transport_errors.py)
# ---------------------------------------------------------------------------------------------
def _marginal(x, k: int) -> np.ndarray:
    if x is None or np.size(x) == 0:
        return np.full(k, 1.0 / k)
    return np.asarray(x, dtype=np.float64)


def assert_forest(rows, cols, n: int, m: int) -> None:
    """The support cells, as edges row i -- column j of the bipartite graph, contain no cycle."""
    parent = list(range(n + m))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in zip(np.asarray(rows).tolist(), np.asarray(cols).tolist()):
        ri, rj = find(i), find(n + j)
        assert ri != rj, f"support has a cycle through cell ({i}, {j})"
        parent[ri] = rj


def random_marginal(rng, k: int, *, zeros: bool = False) -> np.ndarray:
    """A random positive marginal of total 1 (some entries zero when ``zeros``)."""
    x = rng.random(k) + 0.05
    if zeros and k > 1:
        x[rng.random(k) < 0.3] = 0.0
        if not x.any():
            x[rng.integers(k)] = 1.0
    return x / x.sum()


def assert_certified(res, M, a=None, b=None, *, rtol: float = 1e-11) -> None:
    """Check that ``res`` is an optimal vertex of ``min <M, P>``, ``P 1 = a``, ``P^T 1 = b``.

    * the plan: strictly positive cells, sorted by (row, column), in range, at most n + m - 1 of
      them, forming a forest (a vertex of the transportation polytope);
    * primal feasibility: row / column sums equal ``a`` and ``b`` (``b`` rescaled to ``a``'s
      total, as documented) to 1e-12 relative to the total mass;
    * dual feasibility: ``u_i + v_j <= M_ij + tol`` everywhere, ``tol = rtol * max|M|``;
    * complementary slackness: ``u_i + v_j == M_ij`` (to ``tol``) on the support;
    * ``res.cost == <M, P>`` and primal == dual (``a.u + b.v``), relative to ``max|M| * mass``.
    """
    M = np.asarray(M)
    M = M.astype(np.float64)  # float32 values upcast exactly
    n, m = M.shape
    assert res.shape == (n, m)
    assert res.status == "optimal"
    a = _marginal(a, n)
    b = _marginal(b, m)
    mass = float(a.sum())
    b = b * (mass / float(b.sum()))

    rows, cols, w = np.asarray(res.rows), np.asarray(res.cols), np.asarray(res.weights)
    assert rows.dtype == np.int64 and cols.dtype == np.int64 and w.dtype == np.float64
    assert rows.shape == cols.shape == w.shape == (res.nnz,)
    assert res.nnz >= 1
    assert np.all(w > 0), "plan lists a cell without mass"
    assert np.all((rows >= 0) & (rows < n)) and np.all((cols >= 0) & (cols < m))
    keys = rows * m + cols
    assert np.all(np.diff(keys) > 0), "cells not sorted by (row, column) or duplicated"
    assert res.nnz <= n + m - 1, f"{res.nnz} cells > n + m - 1 = {n + m - 1}: not a vertex"
    assert_forest(rows, cols, n, m)

    r = np.bincount(rows, weights=w, minlength=n)
    c = np.bincount(cols, weights=w, minlength=m)
    marginal_error = max(np.abs(r - a).max(), np.abs(c - b).max())
    assert marginal_error <= 1e-12 * mass, f"marginal error {marginal_error:.3g}"

    u, v = np.asarray(res.u), np.asarray(res.v)
    assert u.shape == (n,) and v.shape == (m,)
    assert np.all(np.isfinite(u)) and np.all(np.isfinite(v))
    scale = max(float(np.abs(M).max()), np.finfo(float).tiny)
    tol = rtol * scale
    reduced = M - u[:, None] - v[None, :]
    assert reduced.min() >= -tol, f"dual infeasible by {-reduced.min():.3g} (tol {tol:.3g})"
    slack = np.abs(reduced[rows, cols]).max()
    assert slack <= tol, f"complementary slackness violated by {slack:.3g} (tol {tol:.3g})"

    primal = math.fsum((w * M[rows, cols]).tolist())
    assert abs(res.cost - primal) <= 1e-12 * scale * mass, (res.cost, primal)
    dual = math.fsum((a * u).tolist()) + math.fsum((b * v).tolist())
    assert abs(primal - dual) <= rtol * scale * mass, f"duality gap {primal - dual:.3g}"


def assert_cost_close(ours: float, oracle: float, scale: float = 1.0) -> None:
    """``ours == oracle`` to ORACLE_RTOL relative (absolute floor relative to ``scale``)."""
    assert ours == pytest.approx(oracle, rel=ORACLE_RTOL, abs=1e-14 * scale)


def _scipy_cost(C, maximize=False):
    r, c = scipy.optimize.linear_sum_assignment(C, maximize=maximize)
    return math.fsum(np.asarray(C, dtype=np.float64)[r, c].tolist())


COST_FAMILIES = ("uniform", "integer", "binary", "logarithmic", "spatial")


def make_cost(rng, n: int, m: int, kind: str) -> np.ndarray:
    """scipy's asv cost families: uniform, integer, binary, logarithmic, spatial."""
    if kind == "uniform":
        return rng.random((n, m))
    if kind == "integer":
        return rng.integers(0, 10, size=(n, m)).astype(np.float64)
    if kind == "binary":
        return rng.integers(0, 2, size=(n, m)).astype(np.float64)
    if kind == "logarithmic":
        return np.log(rng.random((n, m)) + 1e-3)
    if kind == "spatial":
        x, y = rng.random((n, 2)), rng.random((m, 2))
        return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
    raise AssertionError(kind)


# ---------------------------------------------------------------------------------------------
# scipy.optimize.linear_sum_assignment
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", COST_FAMILIES)
@pytest.mark.parametrize("n", [1, 2, 5, 17, 40])
def test_square_uniform_emd_matches_scipy(rng, kind, n):
    M = make_cost(rng, n, n, kind)
    G = hotalign.emd([], [], M)
    res = hotalign.solve_transport(M)
    assert res.method == "assignment"
    assert_certified(res, M)
    assert_cost_close(res.cost, _scipy_cost(M) / n, np.abs(M).max())
    assert_cost_close(float((G * M).sum()), _scipy_cost(M) / n, np.abs(M).max())
    # the optimal vertex is a permutation matrix / n
    assert np.array_equal(np.sort(res.cols), np.arange(n))
    np.testing.assert_array_equal(res.weights, np.full(n, 1.0 / n))


@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("kind", COST_FAMILIES)
@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 6), (6, 1), (8, 8), (7, 12), (12, 7), (30, 45), (45, 30)]
)
def test_linear_sum_assignment_matches_scipy(rng, shape, kind, maximize):
    C = make_cost(rng, *shape, kind)
    row_ind, col_ind = hotalign.linear_sum_assignment(C, maximize=maximize)
    k = min(shape)
    assert row_ind.dtype == np.int64 and col_ind.dtype == np.int64
    assert row_ind.shape == col_ind.shape == (k,)
    assert np.all(np.diff(row_ind) > 0), "row_ind must be sorted and distinct"
    assert len(set(col_ind.tolist())) == k
    assert row_ind.min() >= 0 and row_ind.max() < shape[0]
    assert col_ind.min() >= 0 and col_ind.max() < shape[1]
    ours = math.fsum(C[row_ind, col_ind].tolist())
    assert_cost_close(ours, _scipy_cost(C, maximize), np.abs(C).max())


@pytest.mark.parametrize("shape", [(6, 6), (5, 9), (9, 5)])
def test_linear_sum_assignment_unique_optimum_equals_scipy(rng, shape):
    C = rng.random(shape)  # continuous costs: the optimum is unique
    ours = hotalign.linear_sum_assignment(C)
    theirs = scipy.optimize.linear_sum_assignment(C)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("shape", [(6, 6), (5, 8), (8, 5)])
def test_linear_sum_assignment_forbidden_entries_match_scipy(rng, shape, maximize):
    C = rng.random(shape)
    forbid = rng.random(shape) < 0.3
    C[forbid] = -np.inf if maximize else np.inf
    try:
        expected = _scipy_cost(C, maximize)
    except ValueError:
        with pytest.raises(ValueError, match="infeasible"):
            hotalign.linear_sum_assignment(C, maximize=maximize)
        return
    r, c = hotalign.linear_sum_assignment(C, maximize=maximize)
    assert np.all(np.isfinite(C[r, c]))
    assert_cost_close(math.fsum(C[r, c].tolist()), expected)


def test_linear_sum_assignment_float32_matches_scipy_on_upcast(rng):
    C = rng.random((20, 31)).astype(np.float32)
    r, c = hotalign.linear_sum_assignment(C)
    C64 = C.astype(np.float64)
    assert_cost_close(math.fsum(C64[r, c].tolist()), _scipy_cost(C64))


@pytest.mark.slow
def test_linear_sum_assignment_matches_scipy_large(rng):
    for shape in [(1000, 1000), (600, 1200), (1200, 600)]:
        for kind in COST_FAMILIES:
            C = make_cost(rng, *shape, kind)
            r, c = hotalign.linear_sum_assignment(C)
            assert_cost_close(math.fsum(C[r, c].tolist()), _scipy_cost(C), np.abs(C).max())


# ---------------------------------------------------------------------------------------------
# networkx.network_simplex (integer costs and demands)
# ---------------------------------------------------------------------------------------------
def _integer_demands(rng, k: int, total: int, zeros: bool) -> np.ndarray:
    x = rng.random(k) + 0.05
    if zeros and k > 1:
        x[rng.random(k) < 0.3] = 0.0
        if not x.any():
            x[0] = 1.0
    d = np.floor(x / x.sum() * total).astype(np.int64)
    d[np.argmax(x)] += total - d.sum()
    return d


def _networkx_cost(C_int: np.ndarray, a_int: np.ndarray, b_int: np.ndarray) -> int:
    G = nx.DiGraph()
    n, m = C_int.shape
    for i in range(n):
        G.add_node(("r", i), demand=-int(a_int[i]))
    for j in range(m):
        G.add_node(("c", j), demand=int(b_int[j]))
    for i in range(n):
        for j in range(m):
            G.add_edge(("r", i), ("c", j), weight=int(C_int[i, j]))
    cost, _flow = nx.network_simplex(G)
    return cost


@pytest.mark.parametrize("zeros", [False, True])
@pytest.mark.parametrize("cmax", [1, 9, 1000, 10**6])
@pytest.mark.parametrize("shape", [(1, 5), (5, 1), (4, 4), (6, 9), (9, 6), (12, 12)])
def test_network_simplex_matches_networkx(rng, shape, cmax, zeros):
    n, m = shape
    total = 1000
    C_int = rng.integers(0, cmax + 1, size=shape)
    a_int = _integer_demands(rng, n, total, zeros)
    b_int = _integer_demands(rng, m, total, zeros)
    expected = _networkx_cost(C_int, a_int, b_int)

    # integer data as given: the optimal vertex has integer flows
    res = hotalign.solve_transport(C_int, a_int, b_int, method="network_simplex")
    assert res.method == "network_simplex"
    assert_certified(res, C_int, a_int, b_int)
    np.testing.assert_array_equal(res.weights, np.round(res.weights))
    assert res.cost == pytest.approx(expected, rel=ORACLE_RTOL, abs=1e-9)

    # scaled data: cost is the networkx cost divided by both scales
    cs, ms = float(cmax) * 7.0, float(total)
    M, a, b = C_int / cs, a_int / ms, b_int / ms
    res = hotalign.solve_transport(M, a, b)
    assert_certified(res, M, a, b)
    assert_cost_close(res.cost, expected / (cs * ms), 1.0)


# ---------------------------------------------------------------------------------------------
# POT ot.emd2
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", COST_FAMILIES)
@pytest.mark.parametrize("shape", [(1, 7), (7, 1), (10, 10), (13, 29), (29, 13), (60, 80)])
def test_emd2_matches_pot(rng, shape, kind, dtype):
    n, m = shape
    M = make_cost(rng, n, m, kind).astype(dtype)
    a = random_marginal(rng, n)
    b = random_marginal(rng, m)
    M64 = M.astype(np.float64)
    expected = float(ot.emd2(a, b, M64))
    res = hotalign.solve_transport(M, a, b)
    assert res.method == "network_simplex"
    assert_certified(res, M, a, b)
    assert_cost_close(res.cost, expected, np.abs(M64).max())
    assert_cost_close(float(hotalign.emd2(a, b, M)), expected, np.abs(M64).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_emd2_matches_pot_with_zero_marginal_entries(rng, dtype):
    for n, m in [(5, 5), (8, 11), (11, 8)]:
        M = rng.random((n, m)).astype(dtype)
        a = random_marginal(rng, n, zeros=True)
        b = random_marginal(rng, m, zeros=True)
        res = hotalign.solve_transport(M, a, b)
        assert_certified(res, M, a, b)
        assert_cost_close(res.cost, float(ot.emd2(a, b, M.astype(np.float64))))


def test_emd_plan_has_pot_cost_and_uniform_square(rng):
    M = rng.random((15, 15))
    expected = float(ot.emd2([], [], M))
    G = hotalign.emd([], [], M)
    assert_cost_close(float((G * M).sum()), expected)
    assert_cost_close(float(hotalign.emd2([], [], M)), expected)
    assert_cost_close(hotalign.solve_transport(M, method="network_simplex").cost, expected)


@pytest.mark.slow
def test_emd2_matches_pot_large(rng):
    for shape in [(500, 500), (400, 700), (700, 400)]:
        for kind in ("uniform", "integer", "spatial"):
            M = make_cost(rng, *shape, kind)
            a = random_marginal(rng, shape[0])
            b = random_marginal(rng, shape[1])
            res = hotalign.solve_transport(M, a, b)
            assert_certified(res, M, a, b)
            assert_cost_close(res.cost, float(ot.emd2(a, b, M, numItermax=10**7)), 1.0)


# ---------------------------------------------------------------------------------------------
# C ABI through ctypes
# ---------------------------------------------------------------------------------------------
_f64p = ctypes.POINTER(ctypes.c_double)
_i64p = ctypes.POINTER(ctypes.c_int64)
_SOLVE_F64 = ctypes.CFUNCTYPE(
    ctypes.c_int,
    _f64p, ctypes.c_int64, ctypes.c_int64,  # M, n, m
    _f64p, _f64p,  # a, b
    ctypes.c_int, ctypes.c_int64,  # method, max_iter
    _f64p, _f64p,  # u0, v0
    _i64p, _i64p, _f64p, _i64p,  # rows, cols, weights, nnz
    _f64p, _f64p, _f64p, _i64p,  # u, v, cost, n_iter
    ctypes.c_char_p, ctypes.c_int64,  # err, err_len
)


def _ptr(x, kind):
    return x.ctypes.data_as(kind)


def _c_solve(M, a, b, method=0):
    M = np.ascontiguousarray(M, dtype=np.float64)
    n, m = M.shape
    k = n + m - 1
    rows = np.full(k, -1, np.int64)
    cols = np.full(k, -1, np.int64)
    weights = np.zeros(k)
    u, v = np.zeros(n), np.zeros(m)
    nnz = np.zeros(1, np.int64)
    cost = np.zeros(1)
    n_iter = np.zeros(1, np.int64)
    err = ctypes.create_string_buffer(256)
    fn = _SOLVE_F64(_core.C_API["hotalign_solve_transport_f64"])
    status = fn(
        _ptr(M, _f64p), n, m,
        None if a is None else _ptr(a, _f64p), None if b is None else _ptr(b, _f64p),
        method, 0, None, None,
        _ptr(rows, _i64p), _ptr(cols, _i64p), _ptr(weights, _f64p), _ptr(nnz, _i64p),
        _ptr(u, _f64p), _ptr(v, _f64p), _ptr(cost, _f64p), _ptr(n_iter, _i64p),
        err, len(err),
    )
    k = int(nnz[0])
    return status, rows[:k], cols[:k], weights[:k], u, v, float(cost[0]), err.value.decode()


@pytest.mark.parametrize("uniform", [False, True])
@pytest.mark.parametrize("shape", [(4, 6), (5, 5)])
def test_c_abi_matches_solve_transport(rng, shape, uniform):
    M = rng.random(shape)
    a = None if uniform else random_marginal(rng, shape[0])
    b = None if uniform else random_marginal(rng, shape[1])
    status, rows, cols, weights, u, v, cost, err = _c_solve(M, a, b)
    assert status == 0 and err == ""
    res = hotalign.solve_transport(M, a, b)
    np.testing.assert_array_equal(rows, res.rows)
    np.testing.assert_array_equal(cols, res.cols)
    np.testing.assert_array_equal(weights, res.weights)
    np.testing.assert_array_equal(u, res.u)
    np.testing.assert_array_equal(v, res.v)
    assert cost == res.cost
    assert_certified(res, M, a, b)


def test_c_abi_reports_invalid_argument():
    M = np.array([[0.0, np.nan], [1.0, 0.0], [2.0, 3.0]])
    status, *_rest, err = _c_solve(M, None, None, method=1)
    assert status == -1
    assert "M" in err


def test_c_abi_reports_infeasible_totals():
    M = np.ones((2, 3))
    a = np.array([0.5, 0.5])
    b = np.array([0.5, 0.5, 0.5])
    status, rows, *_rest = _c_solve(M, a, b, method=1)
    assert status == 1
    assert rows.shape == (0,)
