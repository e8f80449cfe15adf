"""Correlation-distance kernel and z-scoring with training statistics."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hotalign
from hotalign.costs import ZScore


def reference_cost(X, Y):
    """1 - np.corrcoef block between the columns of X and Y."""
    n = X.shape[1]
    R = np.corrcoef(np.hstack([X, Y]).T)
    return 1.0 - R[:n, n:]


@pytest.mark.parametrize(
    ("T", "n", "m"),
    [(2, 1, 1), (3, 1, 5), (2, 7, 3), (17, 130, 3), (64, 257, 129), (513, 33, 300), (300, 600, 5)],
)
def test_cost_equals_corrcoef_float64(rng, T, n, m):
    X = rng.standard_normal((T, n)) * rng.uniform(0.1, 10, n) + rng.uniform(-5, 5, n)
    Y = rng.standard_normal((T, m))
    K = hotalign.correlation_cost(X, Y)
    assert K.dtype == np.float64 and K.shape == (n, m) and K.flags.c_contiguous
    np.testing.assert_allclose(K, reference_cost(X, Y), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("T", "n", "m"), [(2, 1, 1), (17, 130, 3), (513, 33, 300)])
def test_cost_float32(rng, T, n, m):
    X = rng.standard_normal((T, n))
    Y = rng.standard_normal((T, m))
    K = hotalign.correlation_cost(X, Y, dtype=np.float32)
    assert K.dtype == np.float32
    np.testing.assert_allclose(K, reference_cost(X, Y), rtol=0, atol=1e-6)


@given(
    T=st.integers(2, 40),
    n=st.integers(1, 40),
    m=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_cost_property(T, n, m, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((T, n))
    Y = rng.standard_normal((T, m))
    K = hotalign.correlation_cost(X, Y)
    np.testing.assert_allclose(K, reference_cost(X, Y), rtol=0, atol=1e-12)
    assert np.all((K >= 0) & (K <= 2))


def test_non_contiguous_and_integer_inputs(rng):
    base = rng.standard_normal((50, 40))
    X = base[:, ::2]  # strided columns
    Y = np.asfortranarray(rng.standard_normal((50, 7)))
    Z = base[::-1, :5]  # negative row stride
    np.testing.assert_allclose(hotalign.correlation_cost(X, Y), reference_cost(X, Y), atol=1e-12)
    np.testing.assert_allclose(hotalign.correlation_cost(Z, Y), reference_cost(Z, Y), atol=1e-12)
    Xi = rng.integers(0, 10, size=(30, 4))
    Yi = rng.integers(0, 10, size=(30, 3)).astype(np.int16)
    np.testing.assert_allclose(hotalign.correlation_cost(Xi, Yi),
                               reference_cost(Xi.astype(float), Yi.astype(float)), atol=1e-12)


def test_large_mean_small_spread_is_accurate(rng):
    X = 1e6 + rng.standard_normal((400, 6))
    Y = -3e5 + 1e-3 * rng.standard_normal((400, 5))
    np.testing.assert_allclose(hotalign.correlation_cost(X, Y), reference_cost(X - 1e6, Y + 3e5),
                               rtol=0, atol=1e-10)


def test_out_argument(rng):
    X = rng.standard_normal((20, 4))
    Y = rng.standard_normal((20, 6))
    out = np.empty((4, 6))
    res = hotalign.correlation_cost(X, Y, out=out)
    assert res is out
    np.testing.assert_allclose(out, reference_cost(X, Y), atol=1e-12)


def test_constant_column_costs_one_never_nan(rng):
    X = rng.standard_normal((30, 4))
    X[:, 1] = 7.0
    X[:, 3] = 0.0
    Y = rng.standard_normal((30, 5))
    K = hotalign.correlation_cost(X, Y)
    assert np.isfinite(K).all()
    np.testing.assert_array_equal(K[1], 1.0)
    np.testing.assert_array_equal(K[3], 1.0)
    assert ZScore().fit(X).constant_.tolist() == [False, True, False, True]


def test_zscore_matches_numpy_reference(rng):
    X = rng.standard_normal((100, 8)) * 3 + 2
    train, test = X[:70], X[70:]
    Z_train, Z_test = hotalign.zscore(train, test)
    mean = train.mean(axis=0)
    norm = np.linalg.norm(train - mean, axis=0)
    np.testing.assert_allclose(Z_train, (train - mean) / norm, atol=1e-14)
    # held-out rows reuse the training statistics (scale sqrt(T / T') per the docs)
    np.testing.assert_allclose(Z_test, (test - mean) / norm * np.sqrt(70 / 30), atol=1e-14)
    # the columns of the training rows are centred with unit norm
    np.testing.assert_allclose(Z_train.mean(axis=0), 0, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(Z_train, axis=0), 1, atol=1e-14)


def test_zscore_float32_output_from_float64_input(rng):
    X = 1e4 + rng.standard_normal((50, 3))
    z = ZScore().fit(X)
    Z32 = z.transform(X, np.float32)
    assert Z32.dtype == np.float32
    np.testing.assert_allclose(Z32, z.transform(X), atol=1e-7)


def test_zscore_columns_subset(rng):
    X = rng.standard_normal((20, 5))
    z = ZScore().fit(X)
    np.testing.assert_array_equal(z.transform(X, columns=[0, 3]), z.transform(X)[:, [0, 3]])


@pytest.mark.parametrize(
    ("X", "Y", "kwargs", "match"),
    [
        (np.ones((5, 2)), np.ones((6, 2)), {}, "same number of rows"),
        (np.full((5, 2), np.nan), np.ones((5, 2)), {}, "'X' contains NaN"),
        (np.ones((5, 2)), np.array([[np.inf, 1.0]] * 5), {}, "'Y' contains NaN or inf"),
        (np.ones(5), np.ones((5, 2)), {}, "X must be a 2-D"),
        (np.ones((5, 2)), np.ones((5, 2, 1)), {}, "Y must be a 2-D"),
        (np.ones((1, 2)), np.ones((1, 2)), {}, "X needs at least 2 rows"),
        (np.ones((5, 0)), np.ones((5, 2)), {}, "X has no units"),
        (np.ones((5, 2)), np.ones((5, 2)), {"dtype": np.float16}, "dtype"),
        (np.ones((5, 2)), np.ones((5, 2)), {"dtype": "complex128"}, "dtype"),
        (np.ones((5, 2)), np.ones((5, 2)), {"out": np.empty((2, 3))}, "out"),
        (np.ones((5, 2)), np.ones((5, 2)), {"out": np.empty((2, 2), np.float32)}, "out"),
        (np.array([["a", "b"]] * 3), np.ones((3, 2)), {}, "X must be a real numeric"),
    ],
)
def test_bad_input(X, Y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        hotalign.correlation_cost(X, Y, **kwargs)


def test_zscore_bad_input(rng):
    z = ZScore().fit(rng.standard_normal((10, 3)))
    with pytest.raises(ValueError, match="3 columns"):
        z.transform(rng.standard_normal((4, 2)))
    with pytest.raises(ValueError, match="not fitted"):
        ZScore().transform(np.ones((3, 3)))
    with pytest.raises(ValueError, match="X_test contains NaN"):
        hotalign.zscore(np.ones((3, 2)) + np.eye(3, 2), np.full((2, 2), np.nan))


def test_reused_workspace_gives_identical_results(rng):
    # The per-thread scratch is reused and grown across calls of different shapes and dtypes.
    shapes = [(40, 7, 9), (300, 50, 20), (12, 3, 2), (300, 50, 20)]
    first = {}
    for T, n, m in shapes + shapes:
        X = np.random.default_rng(T * n).standard_normal((T, n))
        Y = np.random.default_rng(T * m + 1).standard_normal((T, m))
        for dtype in (np.float64, np.float32):
            K = hotalign.correlation_cost(X, Y, dtype=dtype)
            key = (T, n, m, dtype)
            if key in first:
                np.testing.assert_array_equal(K, first[key])
            else:
                first[key] = K
                tol = 1e-12 if dtype == np.float64 else 1e-6
                np.testing.assert_allclose(K, reference_cost(X, Y), atol=tol)
