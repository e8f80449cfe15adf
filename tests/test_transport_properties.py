"""Hypothesis properties of the exact transport solvers (sizes 1..12, continuous and tied costs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_transport_oracles import assert_certified, assert_forest

import hotalign

sizes = st.integers(min_value=1, max_value=12)
seeds = st.integers(min_value=0, max_value=2**32 - 1)
#: continuous costs have a unique optimum (almost surely); the others are full of ties
cost_kinds = st.sampled_from(["continuous", "integer", "binary", "zeros", "signed"])
marginal_kinds = st.sampled_from(["uniform", "random", "with_zeros", "unnormalized"])


def make_cost(rng, n, m, kind):
    if kind == "continuous":
        return rng.standard_normal((n, m))
    if kind == "integer":
        return rng.integers(0, 4, size=(n, m)).astype(np.float64)
    if kind == "binary":
        return rng.integers(0, 2, size=(n, m)).astype(np.float64)
    if kind == "zeros":
        return np.zeros((n, m))
    if kind == "signed":
        return rng.integers(-3, 4, size=(n, m)) * 0.25
    raise AssertionError(kind)


def make_marginals(rng, n, m, kind):
    if kind == "uniform":
        return None, None
    a = rng.random(n) + 0.01
    b = rng.random(m) + 0.01
    if kind == "with_zeros":
        a[rng.random(n) < 0.3] = 0.0
        b[rng.random(m) < 0.3] = 0.0
        a[rng.integers(n)] += 0.5
        b[rng.integers(m)] += 0.5
    if kind == "unnormalized":
        t = rng.integers(1, 1000)
        return a / a.sum() * t, b / b.sum() * t
    return a / a.sum(), b / b.sum()


def _total(x, k):
    return 1.0 if x is None else float(np.sum(x))


def _rel_equal(x, y, scale):
    assert x == pytest.approx(y, rel=1e-10, abs=1e-12 * scale)


# ---------------------------------------------------------------------------------------------
@given(n=sizes, m=sizes, seed=seeds, kind=cost_kinds, mkind=marginal_kinds)
def test_optimal_vertex_is_certified(n, m, seed, kind, mkind):
    """Marginals to 1e-12 relative, <= n + m - 1 cells forming a forest, dual certificate."""
    rng = np.random.default_rng(seed)
    M = make_cost(rng, n, m, kind)
    a, b = make_marginals(rng, n, m, mkind)
    res = hotalign.solve_transport(M, a, b)
    assert_certified(res, M, a, b)
    assert res.nnz <= n + m - 1
    assert_forest(res.rows, res.cols, n, m)
    r, c = res.marginals()
    mass = _total(a, n)
    aa = np.full(n, 1.0 / n) if a is None else a
    bb = np.full(m, 1.0 / m) if b is None else b
    assert np.abs(r - aa).max() <= 1e-12 * mass
    assert np.abs(c - bb).max() <= 1e-12 * mass


@given(
    M=st.integers(1, 10).flatmap(
        lambda n: hnp.arrays(
            np.float64,
            st.tuples(st.just(n), st.integers(1, 10)),
            elements=st.one_of(
                st.integers(-5, 5).map(float),
                st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
            ),
        )
    ),
    seed=seeds,
)
def test_certified_on_hypothesis_drawn_costs(M, seed):
    rng = np.random.default_rng(seed)
    n, m = M.shape
    a, b = make_marginals(rng, n, m, "random")
    res = hotalign.solve_transport(M, a, b)
    assert_certified(res, M, a, b)
    res = hotalign.solve_transport(M)
    assert_certified(res, M)


@given(n=sizes, seed=seeds, kind=cost_kinds)
def test_square_uniform_gives_permutation_over_n(n, seed, kind):
    rng = np.random.default_rng(seed)
    M = make_cost(rng, n, n, kind)
    res = hotalign.solve_transport(M)
    assert res.method == "assignment"
    assert_certified(res, M)
    np.testing.assert_array_equal(res.rows, np.arange(n))
    assert sorted(res.cols.tolist()) == list(range(n))
    np.testing.assert_array_equal(res.weights, np.full(n, 1.0 / n))
    P = res.to_dense()
    assert np.array_equal(P * n, (P > 0).astype(float))

    # forcing the network simplex also gives a certified vertex with the same cost
    ns = hotalign.solve_transport(M, method="network_simplex")
    assert ns.method == "network_simplex"
    assert_certified(ns, M)
    _rel_equal(ns.cost, res.cost, np.abs(M).max())
    # and the assignment path through linear_sum_assignment has n times that cost
    r, c = hotalign.linear_sum_assignment(M)
    _rel_equal(math.fsum(M[r, c].tolist()) / n, res.cost, np.abs(M).max())


@given(n=sizes, m=sizes, seed=seeds, kind=cost_kinds, mkind=marginal_kinds)
def test_permuting_rows_and_columns(n, m, seed, kind, mkind):
    rng = np.random.default_rng(seed)
    M = make_cost(rng, n, m, kind)
    a, b = make_marginals(rng, n, m, mkind)
    pr, pc = rng.permutation(n), rng.permutation(m)
    res = hotalign.solve_transport(M, a, b)
    Mp = M[pr][:, pc]
    ap = None if a is None else a[pr]
    bp = None if b is None else b[pc]
    resp = hotalign.solve_transport(Mp, ap, bp)
    assert_certified(resp, Mp, ap, bp)
    _rel_equal(resp.cost, res.cost, max(np.abs(M).max(), 1.0))
    if kind == "continuous":  # unique optimum: the plan itself is permuted
        np.testing.assert_allclose(
            resp.to_dense(), res.to_dense()[pr][:, pc], rtol=0, atol=1e-13 * _total(a, n)
        )


@given(n=sizes, m=sizes, seed=seeds, kind=cost_kinds, mkind=marginal_kinds)
def test_transposing_swaps_marginals(n, m, seed, kind, mkind):
    rng = np.random.default_rng(seed)
    M = make_cost(rng, n, m, kind)
    a, b = make_marginals(rng, n, m, mkind)
    res = hotalign.solve_transport(M, a, b)
    rest = hotalign.solve_transport(M.T, b, a)
    assert_certified(rest, M.T, b, a)
    _rel_equal(rest.cost, res.cost, max(np.abs(M).max(), 1.0))
    if kind == "continuous":
        np.testing.assert_allclose(
            rest.to_dense(), res.to_dense().T, rtol=0, atol=1e-13 * _total(a, n)
        )


@given(n=sizes, m=sizes, seed=seeds, mkind=marginal_kinds, square=st.booleans())
def test_float32_costs_are_solved_in_double(n, m, seed, mkind, square):
    rng = np.random.default_rng(seed)
    if square:
        m = n
    M32 = (rng.standard_normal((n, m)) * 10).astype(np.float32)
    M64 = M32.astype(np.float64)
    a, b = make_marginals(rng, n, m, mkind)
    res32 = hotalign.solve_transport(M32, a, b)
    res64 = hotalign.solve_transport(M64, a, b)
    assert_certified(res32, M32, a, b)
    _rel_equal(res32.cost, res64.cost, np.abs(M64).max())
    # the reported cost is <M32, P> evaluated in double, not in float32
    exact = math.fsum((res32.weights * M64[res32.rows, res32.cols]).tolist())
    _rel_equal(res32.cost, exact, np.abs(M64).max())


@given(n=sizes, m=sizes, seed=seeds, kind=cost_kinds, mkind=marginal_kinds)
def test_warm_start_gives_the_same_optimum(n, m, seed, kind, mkind):
    rng = np.random.default_rng(seed)
    M = make_cost(rng, n, m, kind)
    a, b = make_marginals(rng, n, m, mkind)
    scale = max(np.abs(M).max(), 1.0)
    cold = hotalign.solve_transport(M, a, b, method="network_simplex")
    assert_certified(cold, M, a, b)

    warm = hotalign.solve_transport(
        M, a, b, method="network_simplex", warm_start=(cold.u, cold.v)
    )
    assert_certified(warm, M, a, b)
    _rel_equal(warm.cost, cold.cost, scale)

    u0 = rng.standard_normal(n) * 5
    v0 = rng.standard_normal(m) * 5
    rand = hotalign.solve_transport(M, a, b, method="network_simplex", warm_start=(u0, v0))
    assert_certified(rand, M, a, b)
    _rel_equal(rand.cost, cold.cost, scale)

    # warm start from the optimum of a perturbed problem (the alternation use case)
    Mp = M + 0.01 * rng.standard_normal((n, m))
    prev = hotalign.solve_transport(Mp, a, b, method="network_simplex")
    near = hotalign.solve_transport(M, a, b, method="network_simplex", warm_start=(prev.u, prev.v))
    assert_certified(near, M, a, b)
    _rel_equal(near.cost, cold.cost, scale)


@given(n=sizes, m=sizes, seed=seeds, kind=cost_kinds, mkind=marginal_kinds)
def test_emd_emd2_and_solve_transport_agree(n, m, seed, kind, mkind):
    rng = np.random.default_rng(seed)
    M = make_cost(rng, n, m, kind)
    a, b = make_marginals(rng, n, m, mkind)
    res = hotalign.solve_transport(M, a, b)
    aa = [] if a is None else a
    bb = [] if b is None else b
    G = hotalign.emd(aa, bb, M)
    assert G.shape == (n, m) and G.dtype == np.float64
    np.testing.assert_array_equal(G, res.to_dense())
    cost = hotalign.emd2(aa, bb, M)
    assert cost == res.cost
    scale = max(np.abs(M).max(), 1.0)
    _rel_equal(float((G * M).sum()), res.cost, scale)

    G2, log = hotalign.emd(aa, bb, M, log=True)
    np.testing.assert_array_equal(G2, G)
    assert log["cost"] == res.cost


@given(n=sizes, m=sizes, seed=seeds)
def test_emd2_log_keys(n, m, seed):
    rng = np.random.default_rng(seed)
    M = rng.random((n, m))
    a, b = make_marginals(rng, n, m, "random")
    cost, log = hotalign.emd2(a, b, M, log=True)
    assert set(log) == {"cost", "u", "v", "status", "n_iter", "warning", "result_code"}
    assert log["cost"] == cost
    assert log["status"] == "optimal"
    assert log["result_code"] == 1
    assert log["warning"] is None
    assert isinstance(log["n_iter"], int) and log["n_iter"] >= 0
    assert log["u"].shape == (n,) and log["v"].shape == (m,)
    _rel_equal(float(a @ log["u"] + b @ log["v"]), cost, max(np.abs(M).max(), 1.0))

    cost2, log2 = hotalign.emd2(a, b, M, return_matrix=True)
    assert cost2 == cost
    assert set(log2) == set(log) | {"G"}
    np.testing.assert_array_equal(log2["G"], hotalign.emd(a, b, M))
