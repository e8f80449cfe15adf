"""One test per bad input (ValueError naming the argument), accepted inputs, degenerate shapes."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import scipy.optimize
from test_transport_oracles import assert_certified, random_marginal

import hotalign

#: the argument names as whole words in the message
M_NAME = r"\bM\b"
A_NAME = r"\ba\b"
B_NAME = r"\bb\b"

# Square uniform problems take the assignment path, the others the network simplex: every
# check on M is exercised on both.
M_SHAPES = pytest.mark.parametrize("shape", [(3, 4), (3, 3)], ids=["rect", "square"])


def _M(shape):
    return np.arange(shape[0] * shape[1], dtype=np.float64).reshape(shape) % 5


# ---------------------------------------------------------------------------------------------
# M
# ---------------------------------------------------------------------------------------------
@M_SHAPES
def test_nan_in_M(shape):
    M = _M(shape)
    M[1, 2] = np.nan
    with pytest.raises(ValueError, match=M_NAME):
        hotalign.solve_transport(M)


@M_SHAPES
def test_inf_in_M(shape):
    M = _M(shape)
    M[0, 1] = np.inf
    with pytest.raises(ValueError, match=M_NAME):
        hotalign.solve_transport(M)


@M_SHAPES
def test_neg_inf_in_M(shape):
    M = _M(shape)
    M[2, 0] = -np.inf
    with pytest.raises(ValueError, match=M_NAME):
        hotalign.solve_transport(M)


def test_nan_in_M_float32():
    M = _M((3, 4)).astype(np.float32)
    M[1, 1] = np.nan
    with pytest.raises(ValueError, match=M_NAME):
        hotalign.solve_transport(M)


def test_nan_in_M_through_emd():
    M = _M((2, 3))
    M[0, 0] = np.nan
    with pytest.raises(ValueError, match=M_NAME):
        hotalign.emd([], [], M)
    with pytest.raises(ValueError, match=M_NAME):
        hotalign.emd2([], [], M)


def test_1d_M():
    with pytest.raises(ValueError, match=M_NAME):
        hotalign.solve_transport(np.ones(4))


def test_3d_M():
    with pytest.raises(ValueError, match=M_NAME):
        hotalign.solve_transport(np.ones((2, 3, 4)))


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
def test_empty_M(shape):
    with pytest.raises(ValueError, match=M_NAME):
        hotalign.solve_transport(np.ones(shape))


def test_complex_M():
    with pytest.raises(ValueError, match=M_NAME):
        hotalign.solve_transport(np.ones((2, 3), dtype=complex))


def test_string_M():
    with pytest.raises(ValueError, match=M_NAME):
        hotalign.solve_transport([["a", "b"], ["c", "d"]])


def test_object_M():
    with pytest.raises(ValueError, match=M_NAME):
        hotalign.solve_transport(np.array([[1.0, None], [2.0, 3.0]], dtype=object))


# ---------------------------------------------------------------------------------------------
# a, b
# ---------------------------------------------------------------------------------------------
def test_nan_in_a():
    with pytest.raises(ValueError, match=A_NAME):
        hotalign.solve_transport(_M((3, 4)), [0.5, np.nan, 0.5], None)


def test_inf_in_b():
    with pytest.raises(ValueError, match=B_NAME):
        hotalign.solve_transport(_M((3, 4)), None, [0.5, np.inf, 0.5, 0.0])


def test_negative_mass_in_a():
    with pytest.raises(ValueError, match=A_NAME):
        hotalign.solve_transport(_M((3, 4)), [0.6, -0.1, 0.5], None)


def test_negative_mass_in_b():
    with pytest.raises(ValueError, match=B_NAME):
        hotalign.solve_transport(_M((3, 4)), None, [0.6, -0.1, 0.25, 0.25])


def test_zero_total_a():
    with pytest.raises(ValueError, match=A_NAME):
        hotalign.solve_transport(_M((3, 4)), [0.0, 0.0, 0.0], None)


def test_zero_total_b():
    with pytest.raises(ValueError, match=B_NAME):
        hotalign.solve_transport(_M((3, 4)), None, np.zeros(4))


@pytest.mark.parametrize("shape", [(3, 4), (3, 3)], ids=["rect", "square"])
def test_unequal_totals(shape):
    n, m = shape
    a = np.full(n, 1.0 / n)
    b = np.full(m, 1.0 / m) * (1 + 1e-6)
    with pytest.raises(ValueError, match=rf"{A_NAME}.*{B_NAME}"):
        hotalign.solve_transport(_M(shape), a, b)
    with pytest.raises(ValueError, match=rf"{A_NAME}.*{B_NAME}"):
        hotalign.emd(a, b, _M(shape))


def test_unequal_totals_uniform_a():
    with pytest.raises(ValueError, match=rf"{A_NAME}.*{B_NAME}"):
        hotalign.solve_transport(_M((3, 4)), None, [1.0, 1.0, 1.0, 1.0])


def test_wrong_length_a():
    with pytest.raises(ValueError, match=A_NAME):
        hotalign.solve_transport(_M((3, 4)), [0.5, 0.5], None)


def test_wrong_length_b():
    with pytest.raises(ValueError, match=B_NAME):
        hotalign.solve_transport(_M((3, 4)), None, [0.5, 0.5, 0.0])


def test_2d_a():
    with pytest.raises(ValueError, match=A_NAME):
        hotalign.solve_transport(_M((3, 4)), np.full((3, 1), 1 / 3), None)


def test_complex_a():
    with pytest.raises(ValueError, match=A_NAME):
        hotalign.solve_transport(_M((3, 4)), np.full(3, 1 / 3, dtype=complex), None)


# ---------------------------------------------------------------------------------------------
# method, max_iter, warm_start
# ---------------------------------------------------------------------------------------------
def test_bad_method():
    with pytest.raises(ValueError, match="method"):
        hotalign.solve_transport(_M((3, 4)), method="hungarian")


def test_bad_method_through_emd():
    with pytest.raises(ValueError, match="method"):
        hotalign.emd([], [], _M((3, 4)), method="sinkhorn")


def test_assignment_method_on_rectangular():
    with pytest.raises(ValueError, match="method"):
        hotalign.solve_transport(_M((3, 4)), method="assignment")


def test_assignment_method_on_nonuniform_square():
    with pytest.raises(ValueError, match="method"):
        hotalign.solve_transport(_M((3, 3)), [0.2, 0.3, 0.5], None, method="assignment")


@pytest.mark.parametrize("max_iter", [0, -1, 1.5, True, "10"])
def test_bad_max_iter(max_iter):
    with pytest.raises(ValueError, match="max_iter"):
        hotalign.solve_transport(_M((3, 4)), max_iter=max_iter)


@pytest.mark.parametrize(
    "warm_start",
    [
        (np.zeros(4), np.zeros(4)),
        (np.zeros(3), np.zeros(3)),
        (np.zeros((3, 1)), np.zeros(4)),
        (np.zeros(3),),
        np.zeros(3),
    ],
    ids=["u_len", "v_len", "u_2d", "one_array", "not_pair"],
)
def test_warm_start_wrong_shapes(warm_start):
    with pytest.raises(ValueError, match="warm_start"):
        hotalign.solve_transport(_M((3, 4)), warm_start=warm_start)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_warm_start_not_finite(bad):
    u = np.zeros(3)
    u[1] = bad
    with pytest.raises(ValueError, match="warm_start"):
        hotalign.solve_transport(_M((3, 4)), warm_start=(u, np.zeros(4)))


# ---------------------------------------------------------------------------------------------
# linear_sum_assignment
# ---------------------------------------------------------------------------------------------
LSA_NAME = r"cost.matrix"  # "cost_matrix" or "cost matrix"


def test_lsa_nan():
    C = np.ones((3, 3))
    C[1, 1] = np.nan
    with pytest.raises(ValueError, match=LSA_NAME):
        hotalign.linear_sum_assignment(C)


def test_lsa_wrong_infinity():
    with pytest.raises(ValueError, match=LSA_NAME):
        hotalign.linear_sum_assignment(np.array([[-np.inf, 1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match=LSA_NAME):
        hotalign.linear_sum_assignment(np.array([[np.inf, 1.0], [1.0, 0.0]]), maximize=True)


def test_lsa_1d():
    with pytest.raises(ValueError, match=LSA_NAME):
        hotalign.linear_sum_assignment(np.ones(3))


def test_lsa_3d():
    with pytest.raises(ValueError, match=LSA_NAME):
        hotalign.linear_sum_assignment(np.ones((2, 2, 2)))


def test_lsa_complex():
    # SciPy raises TypeError (numpy's "Cannot cast array data") for non-real input; so do we.
    with pytest.raises(TypeError, match=LSA_NAME):
        hotalign.linear_sum_assignment(np.ones((2, 2), dtype=complex))


def test_lsa_bad_maximize():
    with pytest.raises(ValueError, match="maximize"):
        hotalign.linear_sum_assignment(np.ones((2, 2)), maximize="yes")


@pytest.mark.parametrize(
    "C",
    [
        [[np.inf, np.inf], [1.0, 2.0]],
        [[1.0, np.inf, np.inf], [2.0, np.inf, np.inf], [3.0, 1.0, 0.0]],
        [[np.inf, 1.0], [np.inf, 2.0], [np.inf, 3.0]],
    ],
)
def test_lsa_infeasible(C):
    with pytest.raises(ValueError, match="infeasible"):
        hotalign.linear_sum_assignment(np.array(C))


def test_lsa_infeasible_maximize():
    C = np.array([[-np.inf, -np.inf], [1.0, 2.0]])
    with pytest.raises(ValueError, match="infeasible"):
        hotalign.linear_sum_assignment(C, maximize=True)


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0)])
def test_lsa_empty(shape):
    r, c = hotalign.linear_sum_assignment(np.ones(shape))
    sr, sc = scipy.optimize.linear_sum_assignment(np.ones(shape))
    assert r.shape == c.shape == sr.shape == (0,)
    assert r.dtype == c.dtype == np.int64


# ---------------------------------------------------------------------------------------------
# accepted inputs (copied and converted)
# ---------------------------------------------------------------------------------------------
def _reference(M, a=None, b=None):
    return hotalign.solve_transport(np.array(M, dtype=np.float64, order="C"), a, b)


@pytest.mark.parametrize(
    "make",
    [
        lambda M: M[:, ::2],  # non-contiguous view
        lambda M: np.asfortranarray(M[:, :5]),
        lambda M: M[::-1, :5],  # negative strides
        lambda M: np.round(M[:, :5] * 10).astype(np.int64),
        lambda M: np.round(M[:, :5] * 10).astype(np.int32),
        lambda M: np.round(M[:, :5] * 10).astype(np.uint8),
        lambda M: M[:, :5].astype(np.float16),
        lambda M: M[:, :5] > 0.5,
        lambda M: np.asfortranarray(M[:, :5].astype(np.float32)),
        lambda M: (M[:, :5] * 10).tolist(),
    ],
    ids=["strided", "fortran", "reversed", "int64", "int32", "uint8", "float16", "bool",
         "fortran_f32", "list"],
)
@pytest.mark.parametrize("uniform", [True, False])
def test_accepted_layouts_and_dtypes(rng, make, uniform):
    base = rng.random((5, 10))
    M = make(base)
    n, m = np.shape(M)
    a = None if uniform else random_marginal(rng, n)
    b = None if uniform else random_marginal(rng, m)
    res = hotalign.solve_transport(M, a, b)
    Mref = np.asarray(M).astype(np.float64)
    assert_certified(res, Mref, a, b)
    ref = _reference(Mref, a, b)
    assert res.cost == pytest.approx(ref.cost, rel=1e-12, abs=1e-15)
    if not uniform:
        assert float(hotalign.emd2(a, b, M)) == pytest.approx(ref.cost, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    "make",
    [
        lambda C: C[:, ::2],
        lambda C: np.asfortranarray(C),
        lambda C: np.round(C * 10).astype(np.int64),
        lambda C: C.astype(np.float16),
        lambda C: C > 0.5,
        lambda C: C.astype(np.float32),
    ],
    ids=["strided", "fortran", "int64", "float16", "bool", "float32"],
)
def test_lsa_accepted_layouts_and_dtypes(rng, make):
    C = make(rng.random((6, 8)))
    r, c = hotalign.linear_sum_assignment(C)
    C64 = np.asarray(C).astype(np.float64)
    sr, sc = scipy.optimize.linear_sum_assignment(C64)
    assert math.fsum(C64[r, c].tolist()) == pytest.approx(math.fsum(C64[sr, sc].tolist()))


def test_marginals_as_lists_and_integer_arrays(rng):
    M = rng.random((3, 4))
    res = hotalign.solve_transport(M, [1, 2, 3], np.array([3, 1, 1, 1]))
    assert_certified(res, M, [1, 2, 3], [3, 1, 1, 1])
    res2 = hotalign.solve_transport(M, np.array([1.0, 2.0, 3.0])[::-1][::-1], [3.0, 1, 1, 1])
    assert res2.cost == res.cost


def test_totals_differing_by_1e_12_are_accepted(rng):
    M = rng.random((4, 6))
    a = random_marginal(rng, 4)
    b = random_marginal(rng, 6) * (1 + 1e-12)
    res = hotalign.solve_transport(M, a, b)
    assert_certified(res, M, a, b)  # b is rescaled to a's total
    r, _c = res.marginals()
    assert np.abs(r - a).max() <= 1e-15


def test_empty_marginals_mean_uniform(rng):
    M = rng.random((3, 5))
    ref = hotalign.solve_transport(M, np.full(3, 1 / 3), np.full(5, 1 / 5))
    for a, b in [([], []), (None, None), (np.array([]), [])]:
        assert hotalign.solve_transport(M, a, b).cost == pytest.approx(ref.cost, rel=1e-14)
        assert hotalign.emd2(a, b, M) == pytest.approx(ref.cost, rel=1e-14)


# ---------------------------------------------------------------------------------------------
# MaxIterError
# ---------------------------------------------------------------------------------------------
def test_max_iter_error_keeps_a_feasible_plan():
    rng = np.random.default_rng(7)
    n, m = 30, 40
    M = rng.random((n, m))
    a = random_marginal(rng, n)
    b = random_marginal(rng, m)
    optimal = hotalign.solve_transport(M, a, b)
    assert optimal.n_iter > 1  # nontrivial: the initial basis is not optimal
    with pytest.raises(hotalign.MaxIterError, match="max_iter") as info:
        hotalign.solve_transport(M, a, b, max_iter=1)
    err = info.value
    assert isinstance(err, RuntimeError)
    res = err.result
    assert isinstance(res, hotalign.TransportResult)
    assert res.status == "max_iter"
    assert res.n_iter == 1
    assert res.shape == (n, m)
    r, c = res.marginals()
    assert np.abs(r - a).max() <= 1e-12
    assert np.abs(c - b).max() <= 1e-12
    assert np.all(res.weights > 0)
    assert res.nnz <= n + m - 1
    primal = math.fsum((res.weights * M[res.rows, res.cols]).tolist())
    assert res.cost == pytest.approx(primal, rel=1e-12)
    assert res.cost >= optimal.cost - 1e-12


def test_max_iter_error_through_emd():
    rng = np.random.default_rng(8)
    M = rng.random((30, 40))
    a = random_marginal(rng, 30)
    b = random_marginal(rng, 40)
    with pytest.raises(hotalign.MaxIterError):
        hotalign.emd(a, b, M, max_iter=1)
    with pytest.raises(RuntimeError):
        hotalign.emd2(a, b, M, max_iter=1)


def test_generous_max_iter_is_optimal(rng):
    M = rng.random((30, 40))
    a = random_marginal(rng, 30)
    b = random_marginal(rng, 40)
    res = hotalign.solve_transport(M, a, b, max_iter=10**6)
    assert_certified(res, M, a, b)


# ---------------------------------------------------------------------------------------------
# degenerate problems
# ---------------------------------------------------------------------------------------------
def test_1x1():
    res = hotalign.solve_transport([[3.5]])
    assert_certified(res, [[3.5]])
    assert res.cost == 3.5
    np.testing.assert_array_equal(res.to_dense(), [[1.0]])
    res = hotalign.solve_transport([[3.5]], [2.0], [2.0])
    assert res.cost == 7.0
    assert hotalign.solve_transport([[-1.0]], method="network_simplex").cost == -1.0
    r, c = hotalign.linear_sum_assignment([[2.0]])
    assert r.tolist() == [0] and c.tolist() == [0]


@pytest.mark.parametrize("m", [1, 2, 7])
def test_1_by_m(rng, m):
    M = rng.random((1, m))
    b = random_marginal(rng, m)
    res = hotalign.solve_transport(M, None, b)
    assert_certified(res, M, None, b)
    np.testing.assert_allclose(res.to_dense()[0], b, rtol=0, atol=1e-15)
    assert res.cost == pytest.approx(float(M[0] @ b), rel=1e-14)


@pytest.mark.parametrize("n", [1, 2, 7])
def test_n_by_1(rng, n):
    M = rng.random((n, 1))
    a = random_marginal(rng, n)
    res = hotalign.solve_transport(M, a, None)
    assert_certified(res, M, a, None)
    np.testing.assert_allclose(res.to_dense()[:, 0], a, rtol=0, atol=1e-15)
    assert res.cost == pytest.approx(float(M[:, 0] @ a), rel=1e-14)


@pytest.mark.parametrize("value", [0.0, 2.5, -3.0, 1e9])
@pytest.mark.parametrize("shape", [(5, 5), (4, 7), (7, 4)])
@pytest.mark.parametrize("method", ["auto", "network_simplex"])
def test_constant_matrices(rng, value, shape, method):
    M = np.full(shape, value)
    for a, b in [(None, None), (random_marginal(rng, shape[0]), random_marginal(rng, shape[1]))]:
        res = hotalign.solve_transport(M, a, b, method=method)
        assert_certified(res, M, a, b)
        assert res.cost == pytest.approx(value, rel=1e-14, abs=1e-300)


@pytest.mark.parametrize("kind", ["zeros", "binary", "integer"])
@pytest.mark.parametrize("shape", [(12, 12), (20, 33), (33, 20), (60, 60)])
def test_massive_ties(rng, kind, shape):
    if kind == "zeros":
        M = np.zeros(shape)
    elif kind == "binary":
        M = rng.integers(0, 2, size=shape).astype(np.float64)
    else:
        M = rng.integers(0, 3, size=shape).astype(np.float64)
    for a, b in [(None, None), (random_marginal(rng, shape[0]), random_marginal(rng, shape[1]))]:
        for method in ("auto", "network_simplex"):
            res = hotalign.solve_transport(M, a, b, method=method)
            assert_certified(res, M, a, b)


def test_zero_entries_in_marginals(rng):
    n, m = 8, 10
    M = rng.random((n, m))
    a = random_marginal(rng, n)
    b = random_marginal(rng, m)
    a[[0, 3, 7]] = 0.0
    b[[1, 2, 9]] = 0.0
    a /= a.sum()
    b /= b.sum()
    res = hotalign.solve_transport(M, a, b)
    assert_certified(res, M, a, b)
    P = res.to_dense()
    assert not P[[0, 3, 7]].any()
    assert not P[:, [1, 2, 9]].any()


def test_single_nonzero_marginal_entries(rng):
    M = rng.random((4, 5))
    a = np.array([0.0, 0.0, 1.0, 0.0])
    b = np.array([0.0, 1.0, 0.0, 0.0, 0.0])
    res = hotalign.solve_transport(M, a, b)
    assert_certified(res, M, a, b)
    assert res.rows.tolist() == [2] and res.cols.tolist() == [1]
    assert res.cost == M[2, 1]


@pytest.mark.parametrize("shape", [(10, 10), (9, 14), (14, 9)])
def test_costs_spanning_24_orders_of_magnitude(rng, shape):
    M = 10.0 ** rng.uniform(-12, 12, size=shape)
    for a, b in [(None, None), (random_marginal(rng, shape[0]), random_marginal(rng, shape[1]))]:
        res = hotalign.solve_transport(M, a, b)
        assert_certified(res, M, a, b)  # tolerances are relative to max |M|


def test_tiny_costs(rng):
    M = rng.random((6, 9)) * 1e-200
    a = random_marginal(rng, 6)
    b = random_marginal(rng, 9)
    res = hotalign.solve_transport(M, a, b)
    assert_certified(res, M, a, b)


def test_huge_marginal_totals(rng):
    M = rng.random((5, 7))
    a = random_marginal(rng, 5) * 1e150
    b = random_marginal(rng, 7) * 1e150
    res = hotalign.solve_transport(M, a, b)
    assert_certified(res, M, a, b)


# ---------------------------------------------------------------------------------------------
# tie-breaking regression (scipy #11602 pattern)
# ---------------------------------------------------------------------------------------------
def test_constant_matrix_gives_identity_assignment():
    C = np.full((5, 5), 3.0)
    r, c = hotalign.linear_sum_assignment(C)
    np.testing.assert_array_equal(r, np.arange(5))
    np.testing.assert_array_equal(c, np.arange(5))
    r, c = hotalign.linear_sum_assignment(C, maximize=True)
    np.testing.assert_array_equal(c, np.arange(5))

    res = hotalign.solve_transport(C)
    assert res.method == "assignment"
    np.testing.assert_array_equal(res.rows, np.arange(5))
    np.testing.assert_array_equal(res.cols, np.arange(5))
    np.testing.assert_array_equal(res.to_dense(), np.eye(5) / 5)


def test_constant_rectangular_gives_leading_identity():
    r, c = hotalign.linear_sum_assignment(np.zeros((3, 5)))
    np.testing.assert_array_equal(r, np.arange(3))
    np.testing.assert_array_equal(c, np.arange(3))
    r, c = hotalign.linear_sum_assignment(np.zeros((5, 3)))
    np.testing.assert_array_equal(r, np.arange(3))
    np.testing.assert_array_equal(c, np.arange(3))


# ---------------------------------------------------------------------------------------------
# costs near the float64 limit (solved on an exactly scaled copy, or refused naming M)
# ---------------------------------------------------------------------------------------------

BIG = np.finfo(np.float64).max


@pytest.mark.parametrize("shape", [(5, 7), (6, 6), (30, 40)])
@pytest.mark.parametrize("method", ["auto", "network_simplex"])
def test_costs_near_float64_limit_are_exact(rng, shape, method):
    M = rng.uniform(-1, 1, shape) * BIG
    a = random_marginal(rng, shape[0])
    b = random_marginal(rng, shape[1])
    for aa, bb in [(None, None), (a, b)]:
        res = hotalign.solve_transport(M, aa, bb, method=method)
        assert res.status == "optimal"
        assert np.all(np.isfinite(res.u)) and np.all(np.isfinite(res.v))
        # oracle: POT on the exactly scaled problem (2**-12 is a power of two)
        expected = ot.emd2([] if aa is None else aa, [] if bb is None else bb,
                           M * 2.0**-12, numItermax=10**7) * 2.0**12
        assert res.cost == pytest.approx(expected, rel=1e-12)
        assert max(res.certificate(M, aa, bb).values()) <= 1e-13


def test_huge_costs_warm_start(rng):
    M = rng.uniform(-1, 1, (20, 25)) * BIG
    cold = hotalign.solve_transport(M)
    warm = hotalign.solve_transport(M, warm_start=(cold.u, cold.v))
    assert warm.cost == pytest.approx(cold.cost, rel=1e-12)


def test_cost_beyond_float64_range_is_refused_naming_M():
    M = np.full((2, 3), BIG)
    with pytest.raises(ValueError, match=r"^M: costs too large"):
        hotalign.solve_transport(M, [2.0, 2.0], [4 / 3] * 3)
