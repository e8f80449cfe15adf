"""Drop-in behaviour: SciPy's linear_sum_assignment errors, POT's emd/emd2 signatures and types.

Our own tests of each behaviour (SciPy's and POT's test modules are run against hotalign outside
this repository; see README, "Compatibility with POT and SciPy").
"""

from __future__ import annotations

import warnings

import numpy as np
import ot
import pytest
import scipy.sparse
from test_transport_oracles import random_marginal

import hotalign
from hotalign.transport import MarginalMismatchError, MaxIterWarning

# ---------------------------------------------------------------------------------------------
# linear_sum_assignment: SciPy's exception types and phrases, naming the argument
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "C",
    [
        np.identity(3).astype(str),
        np.ones((2, 2), dtype=object),
        np.ones((2, 2), dtype=complex),
        np.ones((2, 2), dtype="M8[s]"),
    ],
    ids=["str", "object", "complex", "datetime"],
)
def test_lsa_non_numeric_is_type_error(C):
    with pytest.raises(TypeError, match=r"cost_matrix.*Cannot cast array data"):
        hotalign.linear_sum_assignment(C)


@pytest.mark.parametrize("C", [[1, 2, 3], np.ones((2, 2, 2)), 5.0])
def test_lsa_not_a_matrix(C):
    with pytest.raises(ValueError, match=r"cost_matrix.*expected a matrix"):
        hotalign.linear_sum_assignment(C)


@pytest.mark.parametrize(
    "C, maximize",
    [
        (np.diag([np.nan, 1, 1]), False),
        (np.diag([1, -np.inf, 1]), False),
        (np.diag([1, np.inf, 1]), True),
        (np.diag([np.nan, 1, 1]), True),
    ],
)
def test_lsa_invalid_entries(C, maximize):
    with pytest.raises(ValueError, match=r"cost_matrix contains invalid numeric entries"):
        hotalign.linear_sum_assignment(C, maximize=maximize)


def test_lsa_infeasible_phrase():
    C = np.identity(3)
    C[:, 0] = np.inf
    with pytest.raises(ValueError, match="cost matrix is infeasible"):
        hotalign.linear_sum_assignment(C)


def test_lsa_ragged_names_argument():
    with pytest.raises(ValueError, match="cost_matrix"):
        hotalign.linear_sum_assignment([[1, 2], [3]])


@pytest.mark.parametrize("shape", [(0, 0), (2, 0), (0, 3)])
def test_lsa_empty(shape):
    r, c = hotalign.linear_sum_assignment(np.empty(shape))
    assert r.shape == c.shape == (0,) and r.dtype == c.dtype == np.int64


def test_lsa_matrix_and_bool_inputs():
    C = [[1, 2, 3], [4, 5, 6]]
    expected = hotalign.linear_sum_assignment(np.asarray(C))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        matrix = np.matrix(C)
    for got in (hotalign.linear_sum_assignment(C), hotalign.linear_sum_assignment(matrix)):
        np.testing.assert_array_equal(got, expected)
    eye = np.identity(3)
    np.testing.assert_array_equal(hotalign.linear_sum_assignment(eye.astype(bool)),
                                  hotalign.linear_sum_assignment(eye))


# ---------------------------------------------------------------------------------------------
# emd / emd2: POT's keywords
# ---------------------------------------------------------------------------------------------


def _problem(rng, n=30, m=40):
    return rng.random((n, m)), random_marginal(rng, n), random_marginal(rng, m)


def test_num_iter_max_positional_warns_and_returns_feasible_plan(rng):
    M, a, b = _problem(rng)
    with pytest.warns(MaxIterWarning, match="numItermax"):
        G, log = hotalign.emd(a, b, M, 1, log=True)
    np.testing.assert_allclose(G.sum(1), a, rtol=1e-12)
    np.testing.assert_allclose(G.sum(0), b, rtol=1e-12)
    assert log["result_code"] == 3 and log["status"] == "max_iter"
    assert "numItermax" in log["warning"]
    assert log["cost"] >= hotalign.emd2(a, b, M) - 1e-12
    with pytest.warns(MaxIterWarning):
        hotalign.emd2(a, b, M, numItermax=1)


@pytest.mark.parametrize("limit", [10**9, 1e9, np.int64(10**9)])
def test_num_iter_max_generous_is_optimal(rng, limit):
    M, a, b = _problem(rng)
    G, log = hotalign.emd(a, b, M, limit, log=True)
    assert log["result_code"] == 1 and log["warning"] is None
    np.testing.assert_array_equal(G, hotalign.emd(a, b, M))


def test_num_iter_max_and_max_iter_together_are_refused(rng):
    M, a, b = _problem(rng)
    with pytest.raises(ValueError, match="numItermax"):
        hotalign.emd(a, b, M, numItermax=5, max_iter=5)


@pytest.mark.parametrize(
    "keyword, value",
    [("numItermax", 0), ("numItermax", 1.5), ("numItermax", "many"), ("numThreads", 0),
     ("numThreads", "all"), ("numThreads", 1.0), ("center_dual", None)],
)
def test_pot_keywords_validated(rng, keyword, value):
    M, a, b = _problem(rng)
    with pytest.raises(ValueError, match=keyword):
        hotalign.emd(a, b, M, **{keyword: value})


def test_log_has_pot_keys_and_meanings(rng):
    M, a, b = _problem(rng)
    G, log = hotalign.emd(a, b, M, log=True)
    assert {"cost", "u", "v", "warning", "result_code"} <= set(log)
    scale = np.abs(M).max()
    assert log["cost"] == pytest.approx(float((G * M).sum()), rel=1e-12)
    assert a @ log["u"] + b @ log["v"] == pytest.approx(log["cost"], rel=1e-12)
    assert np.all(log["u"][:, None] + log["v"][None, :] - M <= 1e-12 * scale)


def test_center_dual(rng):
    M, a, b = _problem(rng)
    res = hotalign.solve_transport(M, a, b)
    _, centred = hotalign.emd(a, b, M, log=True)  # POT's default: centred
    assert a @ centred["u"] == pytest.approx(b @ centred["v"], rel=1e-12)
    shift = centred["u"] - res.u
    np.testing.assert_allclose(shift, shift[0], rtol=1e-12)
    np.testing.assert_allclose(res.v - centred["v"], shift[0], rtol=1e-12)
    _, raw = hotalign.emd(a, b, M, log=True, center_dual=False)
    np.testing.assert_array_equal(raw["u"], res.u)
    np.testing.assert_array_equal(raw["v"], res.v)
    _, uniform = hotalign.emd2([], [], M[:, :30], log=True)
    assert uniform["u"].mean() == pytest.approx(uniform["v"].mean(), abs=1e-15)


@pytest.mark.parametrize("threads", [1, 2, "max"])
def test_num_threads_accepted(rng, threads):
    M, a, b = _problem(rng)
    np.testing.assert_array_equal(hotalign.emd(a, b, M, numThreads=threads),
                                  hotalign.emd(a, b, M))
    assert hotalign.emd2(a, b, M, numThreads=threads) == hotalign.emd2(a, b, M)


def test_mass_mismatch_is_value_and_assertion_error(rng):
    M, a, b = _problem(rng)
    for f in (hotalign.emd, hotalign.emd2):
        with pytest.raises(MarginalMismatchError, match=r"\ba\b.*\bb\b.*same total"):
            f(a, 2 * b, M)
    with pytest.raises(AssertionError):
        hotalign.emd(a, 2 * b, M)
    with pytest.raises(ValueError):
        hotalign.solve_transport(M, a, 2 * b)


def test_dimension_mismatch_is_value_and_assertion_error(rng):
    M, a, b = _problem(rng)
    with pytest.raises(AssertionError, match=r"\ba\b must have 30 entries"):
        hotalign.emd(np.append(a, 0.0), b, M)
    with pytest.raises(ValueError, match=r"\bb\b must have 40 entries"):
        hotalign.emd2(a, b[:-1], M)


def test_check_marginals_false_rescales_b(rng):
    M, a, b = _problem(rng)
    G = hotalign.emd(a, 3 * b, M, check_marginals=False)
    np.testing.assert_allclose(G.sum(1), a, rtol=1e-12)
    np.testing.assert_allclose(G.sum(0), b, rtol=1e-12)
    np.testing.assert_allclose(G, hotalign.emd(a, b, M), rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="check_marginals"):
        hotalign.emd(a, b, M, check_marginals="no")


def test_float32_marginals_equal_up_to_rounding_are_accepted(rng):
    a = np.full(1000, 1 / 1000, dtype=np.float32)
    b = np.full(800, 1 / 800, dtype=np.float32)
    M = rng.random((1000, 800))
    assert abs(float(a.sum(dtype=np.float64)) - float(b.sum(dtype=np.float64))) > 1e-9
    G = hotalign.emd(a, b, M)
    np.testing.assert_allclose(G.sum(1), a.astype(np.float64), rtol=1e-12)
    res = hotalign.solve_transport(M, a, b)
    assert res.cost == pytest.approx(float((G * M).sum()), rel=1e-12)
    # float64 marginals keep the strict tolerance
    with pytest.raises(MarginalMismatchError):
        hotalign.emd(a.astype(np.float64), b.astype(np.float64) * (1 + 1e-6), M)


def test_potentials_init_warm_start(rng):
    M, a, b = _problem(rng, 60, 50)
    with pytest.warns(MaxIterWarning):
        _, partial = hotalign.emd(a, b, M, numItermax=3, log=True)
    G_warm, warm = hotalign.emd(a, b, M, log=True, potentials_init=(partial["u"], partial["v"]))
    G_cold, cold = hotalign.emd(a, b, M, log=True)
    assert warm["cost"] == pytest.approx(cold["cost"], rel=1e-12)
    np.testing.assert_allclose(G_warm.sum(0), b, rtol=1e-12)
    cost = hotalign.emd2(a, b, M, potentials_init=(cold["u"], cold["v"]))
    assert cost == pytest.approx(cold["cost"], rel=1e-12)
    with pytest.raises(ValueError, match="potentials_init"):
        hotalign.emd(a, b, M, potentials_init=cold["u"][:3])


def test_emd2_processes_positional_and_2d_b(rng):
    M, a, _ = _problem(rng, 40, 35)
    B = np.stack([random_marginal(rng, 35) for _ in range(5)], axis=1)
    expected = [hotalign.emd2(a, B[:, k], M) for k in range(5)]
    one = hotalign.emd2(a, B, M, 1)
    many = hotalign.emd2(a, B, M, processes=3)
    assert isinstance(one, list) and len(one) == 5
    assert one == expected and many == expected
    logs = hotalign.emd2(a, B, M, log=True, return_matrix=True, numThreads=2)
    for k, (cost, log) in enumerate(logs):
        assert cost == expected[k]
        np.testing.assert_allclose(log["G"].sum(0), B[:, k], rtol=1e-12)
        assert a @ log["u"] + B[:, k] @ log["v"] == pytest.approx(cost, rel=1e-12)
    with pytest.raises(ValueError, match="processes"):
        hotalign.emd2(a, B, M, processes=0)


def test_emd2_2d_b_checks_each_column(rng):
    M, a, _ = _problem(rng, 10, 12)
    B = np.stack([random_marginal(rng, 12), 2 * random_marginal(rng, 12)], axis=1)
    with pytest.raises(MarginalMismatchError):
        hotalign.emd2(a, B, M)
    costs = hotalign.emd2(a, B, M, check_marginals=False)
    assert costs[1] == pytest.approx(hotalign.emd2(a, B[:, 1] / 2, M), rel=1e-12)


@pytest.mark.parametrize("fmt", ["coo_array", "csr_matrix"])
def test_scipy_sparse_cost_is_solved_on_its_entries(rng, fmt):
    # (the full behaviour is in test_pot_compat_sparse.py)
    M = getattr(scipy.sparse, fmt)(rng.random((4, 5)))
    assert hotalign.emd2([], [], M) == pytest.approx(hotalign.emd2([], [], M.toarray()),
                                                     rel=1e-12)
    assert type(hotalign.emd([], [], M)) is type(M)


def test_pot_agrees(rng):
    M, a, b = _problem(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _, log_pot = ot.emd(a, b, M, log=True)
    _, log = hotalign.emd(a, b, M, log=True)
    assert log["cost"] == pytest.approx(log_pot["cost"], rel=1e-12)
    assert a @ log["u"] == pytest.approx(a @ log_pot["u"], rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# torch and JAX arrays in, the same array type out (optional backends)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_in_torch_out(rng, dtype):
    torch = pytest.importorskip("torch")
    M, a, b = _problem(rng, 12, 9)
    tdtype = getattr(torch, dtype)
    at, bt, Mt = (torch.tensor(x, dtype=tdtype) for x in (a, b, M))
    G, log = hotalign.emd(at, bt, Mt, log=True)
    assert isinstance(G, torch.Tensor) and G.dtype == tdtype and G.device == Mt.device
    assert isinstance(log["u"], torch.Tensor) and log["u"].dtype == tdtype
    expected = hotalign.emd(at.numpy(), bt.numpy(), Mt.numpy())
    np.testing.assert_array_equal(G.numpy(), expected.astype(dtype))
    cost = hotalign.emd2(at, bt, Mt)
    assert isinstance(cost, torch.Tensor) and cost.dim() == 0 and cost.dtype == tdtype
    assert float(cost) == pytest.approx(hotalign.emd2(at.numpy(), bt.numpy(), Mt.numpy()),
                                        rel=1e-6)
    empty = hotalign.emd2([], [], Mt)  # the type follows M when a and b are empty
    assert isinstance(empty, torch.Tensor) and empty.dtype == tdtype


def test_torch_gradients_are_pot_s(rng):
    torch = pytest.importorskip("torch")
    M, a, b = _problem(rng, 8, 11)
    at, bt, Mt = (torch.tensor(x, requires_grad=True) for x in (a, b, M))
    cost, log = hotalign.emd2(at, bt, Mt, log=True)
    assert cost.item() == hotalign.emd2(a, b, M)  # the value is exact
    (3.0 * cost).backward()
    u, v = log["u"].numpy(), log["v"].numpy()
    np.testing.assert_allclose(at.grad.numpy(), 3.0 * (u - u.mean()), rtol=1e-12)
    np.testing.assert_allclose(bt.grad.numpy(), 3.0 * (v - v.mean()), rtol=1e-12)
    np.testing.assert_allclose(Mt.grad.numpy(), 3.0 * hotalign.emd(a, b, M), rtol=1e-12)
    G = hotalign.emd(at, bt, Mt)
    assert not G.requires_grad


def test_torch_2d_b_and_warm_start(rng):
    torch = pytest.importorskip("torch")
    M, a, _ = _problem(rng, 10, 7)
    B = np.stack([random_marginal(rng, 7) for _ in range(3)], axis=1)
    costs = hotalign.emd2(torch.tensor(a), torch.tensor(B), torch.tensor(M), processes=2)
    assert all(isinstance(c, torch.Tensor) for c in costs)
    np.testing.assert_allclose([float(c) for c in costs], hotalign.emd2(a, B, M), rtol=1e-15)
    _, log = hotalign.emd(torch.tensor(a), torch.tensor(B[:, 0]), torch.tensor(M), log=True)
    warm = hotalign.emd2(a, B[:, 0], M, potentials_init=(log["u"], log["v"]))
    assert warm == pytest.approx(float(costs[0]), rel=1e-12)


def test_torch_sparse_is_solved_on_its_entries(rng):
    torch = pytest.importorskip("torch")
    M = torch.tensor(rng.random((3, 4)))
    G = hotalign.emd([], [], M.to_sparse())
    assert G.layout == torch.sparse_coo
    np.testing.assert_allclose(G.to_dense().numpy(), hotalign.emd([], [], M.numpy()))


def test_mixed_libraries_refused(rng):
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    M = torch.tensor(rng.random((3, 4)))
    with pytest.raises(TypeError, match="different libraries"):
        hotalign.emd(jax.numpy.ones(3) / 3, [], M)


def test_jax_in_jax_out(rng):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    M, a, b = _problem(rng, 6, 5)
    aj, bj, Mj = (jnp.asarray(x, dtype=jnp.float32) for x in (a, b, M))
    G, log = hotalign.emd(aj, bj, Mj, log=True)
    assert isinstance(G, jax.Array) and G.dtype == jnp.float32
    assert isinstance(log["v"], jax.Array)
    cost = hotalign.emd2(aj, bj, Mj)
    assert isinstance(cost, jax.Array) and cost.shape == ()
    expected = hotalign.emd2(np.asarray(aj), np.asarray(bj), np.asarray(Mj))
    assert float(cost) == pytest.approx(expected, rel=1e-6)


def test_center_dual_with_costs_near_the_float64_limit(rng):
    M = rng.uniform(-1, 1, (20, 30)) * np.finfo(np.float64).max
    a, b = random_marginal(rng, 20), random_marginal(rng, 30)
    cost, log = hotalign.emd2(a, b, M, log=True)
    assert np.all(np.isfinite(log["u"])) and np.all(np.isfinite(log["v"]))
    scale = np.finfo(np.float64).max
    assert a @ (log["u"] / scale) == pytest.approx(b @ (log["v"] / scale), abs=1e-14)
    assert a @ (log["u"] / scale) + b @ (log["v"] / scale) == pytest.approx(cost / scale,
                                                                             rel=1e-12)
