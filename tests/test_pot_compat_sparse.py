"""Sparse cost matrices in emd / emd2 (issue 24): scipy.sparse and torch sparse costs are solved
exactly on their stored entries only, and the plan comes back sparse in the input's type."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import hotalign


def _pattern(rng, n, m, k=2):
    """k arcs per row and per column (POT's test pattern: feasible for uniform marginals),
    integer costs (exact for networkx's oracle)."""
    mask = np.zeros((n, m), dtype=bool)
    for i in range(n):
        mask[i, rng.choice(m, min(k, m), replace=False)] = True
    for j in range(m):
        mask[rng.choice(n, min(k, n), replace=False), j] = True
    rows, cols = np.nonzero(mask)
    costs = rng.integers(0, 1000, rows.size).astype(float)
    return rows, cols, costs


def _networkx_cost(n, m, rows, cols, costs, a, b):
    """Optimal cost by networkx.network_simplex on the same arcs (masses in units of 1e-12)."""
    S = 10**12
    ai = np.round(a * S).astype(np.int64)
    bi = np.round(b * S).astype(np.int64)
    bi[-1] += ai.sum() - bi.sum()
    G = nx.DiGraph()
    for i in range(n):
        G.add_node(("r", i), demand=-int(ai[i]))
    for j in range(m):
        G.add_node(("c", j), demand=int(bi[j]))
    for i, j, c in zip(rows, cols, costs):
        G.add_edge(("r", int(i)), ("c", int(j)), weight=int(c))
    return nx.network_simplex(G)[0] / S


def _check_plan(P, rows, cols, costs, a, b, log):
    P = sp.coo_array(P)
    allowed = set(zip(rows.tolist(), cols.tolist()))
    assert set(zip(P.row.tolist(), P.col.tolist())) <= allowed  # only given arcs carry mass
    np.testing.assert_allclose(P.sum(axis=1), a, rtol=1e-12, atol=0)
    np.testing.assert_allclose(P.sum(axis=0), b, rtol=1e-12, atol=0)
    u, v = log["u"], log["v"]
    scale = max(np.abs(costs).max(), 1.0)
    reduced = costs - u[rows] - v[cols]
    assert reduced.min() >= -1e-12 * scale  # dual feasible on the given arcs
    on = dict(zip(zip(rows.tolist(), cols.tolist()), reduced))
    for i, j in zip(P.row.tolist(), P.col.tolist()):
        assert abs(on[i, j]) <= 1e-12 * scale  # complementary slackness
    assert log["cost"] == pytest.approx(a @ u + b @ v, rel=1e-12, abs=1e-12 * scale)


@pytest.mark.parametrize("kind", [sp.coo_array, sp.csr_array, sp.coo_matrix, sp.csr_matrix,
                                  sp.csc_array])
def test_scipy_sparse_in_same_type_out(kind):
    rng = np.random.default_rng(0)
    n, m = 30, 45
    rows, cols, costs = _pattern(rng, n, m)
    M = kind((costs, (rows, cols)), shape=(n, m))
    a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    G, log = hotalign.emd(a, b, M, log=True)
    assert type(G) is type(M) and G.format == M.format
    _check_plan(G, rows, cols, costs, a, b, log)
    assert log["cost"] == pytest.approx(_networkx_cost(n, m, rows, cols, costs, a, b),
                                        rel=1e-9)
    assert hotalign.emd2(a, b, M) == pytest.approx(log["cost"], rel=1e-15)
    cost, log2 = hotalign.emd2(a, b, M, return_matrix=True)
    assert type(log2["G"]) is type(M)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12), m=st.integers(1, 12),
       density=st.floats(0.05, 1.0), uniform=st.booleans())
def test_random_patterns_against_networkx(seed, n, m, density, uniform):
    rng = np.random.default_rng(seed)
    mask = rng.random((n, m)) < density
    rows, cols = np.nonzero(mask)
    costs = rng.integers(0, 1000, rows.size).astype(float)
    a = np.full(n, 1 / n) if uniform else rng.uniform(0.1, 1, n)
    b = np.full(m, 1 / m) if uniform else rng.uniform(0.1, 1, m)
    a, b = a / a.sum(), b / b.sum()
    M = sp.coo_array((costs, (rows, cols)), shape=(n, m))
    try:
        want = _networkx_cost(n, m, rows, cols, costs, a, b)
    except nx.NetworkXUnfeasible:
        with pytest.raises(ValueError, match="cannot carry the marginals"):
            hotalign.emd(a, b, M)
        return
    G, log = hotalign.emd(a, b, M, log=True)
    _check_plan(G, rows, cols, costs, a, b, log)
    assert log["cost"] == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_sparse_equals_dense_with_forbidden_pairs_priced_out():
    rng = np.random.default_rng(3)
    n, m = 40, 60
    rows, cols, costs = _pattern(rng, n, m)
    costs = rng.random(rows.size)
    M = sp.coo_array((costs, (rows, cols)), shape=(n, m))
    dense = np.full((n, m), 1e8)
    dense[rows, cols] = costs
    assert hotalign.emd2([], [], M) == pytest.approx(hotalign.emd2([], [], dense), rel=1e-12)


def test_explicit_zero_is_an_arc_and_missing_pair_is_forbidden():
    M = sp.coo_array((np.array([0.0, 5.0, 5.0]), (np.array([0, 0, 1]), np.array([0, 1, 0]))),
                     shape=(2, 2))
    # (1, 1) is not stored: the plan must use (0, 1) and (1, 0) at cost 5 despite (0, 0) = 0
    G = hotalign.emd([0.5, 0.5], [0.5, 0.5], M).toarray()
    np.testing.assert_allclose(G, [[0.0, 0.5], [0.5, 0.0]])


def test_infeasible_arc_set_is_a_clear_error():
    M = sp.coo_array((np.ones(2), (np.array([0, 0]), np.array([0, 1]))), shape=(2, 2))
    with pytest.raises(ValueError, match=r"M: the 2 stored entries .* cannot carry the marginals"):
        hotalign.emd2([0.5, 0.5], [0.5, 0.5], M)


def test_bad_sparse_input():
    M = sp.coo_array((np.array([np.inf]), (np.array([0]), np.array([0]))), shape=(1, 1))
    with pytest.raises(ValueError, match="M contains NaN or infinity"):
        hotalign.emd([1.0], [1.0], M)
    M = sp.coo_array((np.array([1.0]), (np.array([0]), np.array([0]))), shape=(1, 1))
    with pytest.raises(ValueError, match="potentials_init"):
        hotalign.emd([1.0], [1.0], M, potentials_init=(np.zeros(1), np.zeros(1)))
    with pytest.raises(ValueError, match="a"):
        hotalign.emd([1.0, 1.0], [1.0], M)


def test_torch_sparse_in_torch_sparse_out_with_gradients():
    torch = pytest.importorskip("torch")
    n = 6
    rows, cols, costs = [], [], []
    for i in range(n):
        for off, c in ((0, 0.1), (1, 1.0), (2, 2.0)):
            rows.append(i)
            cols.append((i + off) % n)
            costs.append(c + 0.01 * i)
    idx = torch.tensor([rows, cols])
    M = torch.sparse_coo_tensor(idx, torch.tensor(costs, dtype=torch.float64), (n, n),
                                requires_grad=True, check_invariants=True)
    a = torch.full((n,), 1 / n, dtype=torch.float64, requires_grad=True)
    b = torch.full((n,), 1 / n, dtype=torch.float64, requires_grad=True)
    G = hotalign.emd(a.detach(), b.detach(), M.detach())
    assert G.layout == torch.sparse_coo and G.dtype == torch.float64
    cost = hotalign.emd2(a, b, M)
    cost.backward()
    plan = G.to_dense()[torch.tensor(rows), torch.tensor(cols)]
    np.testing.assert_allclose(M.grad.coalesce().to_dense()[torch.tensor(rows),
                                                            torch.tensor(cols)], plan)
    assert float(cost.detach()) == pytest.approx(float((G.to_dense() * M.detach().to_dense()).sum()))
    assert a.grad.sum().item() == pytest.approx(-b.grad.sum().item(), abs=1e-12)


def test_sparse_costs_at_the_float_edges():
    rng = np.random.default_rng(9)
    rows, cols, costs = _pattern(rng, 20, 20)
    costs = rng.uniform(-1, 1, rows.size)
    base = hotalign.emd2([], [], sp.coo_array((costs, (rows, cols)), shape=(20, 20)))
    for e in (1000, -1060):
        got = hotalign.emd2([], [], sp.coo_array((np.ldexp(costs, e), (rows, cols)),
                                                 shape=(20, 20)))
        assert np.ldexp(got, -e) == pytest.approx(base, rel=1e-12, abs=float(np.ldexp(40.0, -1074 - e)))
