"""Layers of extreme magnitude: correlation is scale-invariant, so x1e-200, subnormal, x1e200
and x1e300 layers give the costs, z-scores, fits and scores of the unscaled layers, and
constant columns stay constant at every scale (issue 14, item 2)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hotalign
from hotalign import HOT
from hotalign.costs import ZScore
from hotalign.datasets import make_hierarchy
from hotalign.hierarchy import prescale_columns, unit_correlations

# Powers of two: scaling by them is exact (above the subnormal range), so results must agree
# with the unscaled data at rounding level. 2^-1040 puts the data in the subnormal range.
EXPONENTS = [-665, -1040, 665, 997]


def _scaled(A, e):
    return np.ldexp(A, e)


def _as_stored(A, e):
    """The scaled data brought back to O(1): what the scaled layer really holds (subnormal
    data have lost their low bits)."""
    return np.ldexp(_scaled(A, e), -e)


@pytest.mark.parametrize("e", EXPONENTS)
def test_correlation_cost_is_scale_invariant(rng, e):
    X = rng.standard_normal((40, 6)) + rng.uniform(-3, 3, 6)
    Y = rng.standard_normal((40, 5))
    X[:, 2] = 3.0  # constant at every scale
    K = hotalign.correlation_cost(_scaled(X, e), _scaled(Y, e))
    want = hotalign.correlation_cost(_as_stored(X, e), _as_stored(Y, e))
    np.testing.assert_allclose(K, want, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(K[2], 1.0)
    if e > -1000:
        np.testing.assert_allclose(K, hotalign.correlation_cost(X, Y), rtol=0, atol=1e-13)
    # Other columns really correlate (not all cost 1 as for a "constant" layer).
    assert np.abs(np.delete(K, 2, axis=0) - 1.0).max() > 1e-3


@pytest.mark.parametrize("e", EXPONENTS)
def test_zscore_is_scale_invariant(rng, e):
    X = rng.standard_normal((50, 4)) * [1, 10, 0.1, 3]
    Z_train, Z_test = hotalign.zscore(_scaled(X[:35], e), _scaled(X[35:], e))
    W_train, W_test = hotalign.zscore(_as_stored(X[:35], e), _as_stored(X[35:], e))
    np.testing.assert_allclose(Z_train, W_train, rtol=0, atol=1e-13)
    np.testing.assert_allclose(Z_test, W_test, rtol=0, atol=1e-12)
    assert np.abs(Z_train).max() > 0.1
    z = ZScore().fit(_scaled(X, e))
    assert not z.constant_.any()
    # The factor is a power of two bringing the largest magnitude into [1, 2) (capped at
    # 2^1023, the largest double power of two, for subnormal data).
    mx = np.abs(_scaled(X, e)).max(axis=0) * z.prescale_
    assert np.all(((mx >= 1) | (z.prescale_ == 2.0**1023)) & (mx < 2))
    assert np.all(np.frexp(z.prescale_)[0] == 0.5)


def test_ordinary_columns_keep_prescale_one(rng):
    X = rng.standard_normal((30, 3)) * [1e-100, 1, 1e100]
    z = ZScore().fit(X)
    np.testing.assert_array_equal(z.prescale_, 1.0)


@pytest.mark.parametrize("value", [1e-310, 5e-324, 1e-200, 1e200, 1.7e308, -1.7e308, 0.0])
def test_constant_columns_stay_constant(value):
    X = np.full((6, 2), value)
    X[:, 1] = np.linspace(-1, 1, 6) * (abs(value) or 1.0)
    z = ZScore().fit(X)
    assert z.constant_.tolist() == [True, False]
    K = hotalign.correlation_cost(X, X)
    np.testing.assert_array_equal(K[0], 1.0)
    assert K[1, 1] == pytest.approx(0.0, abs=1e-15)


def test_huge_values_are_not_refused_but_real_inf_is():
    X = np.array([[1.5e308, 1.0], [-1.7e308, 2.0], [1e308, 4.0], [-1e308, 3.0]])
    K = hotalign.correlation_cost(X, X)
    assert np.isfinite(K).all()
    np.testing.assert_allclose(K, hotalign.correlation_cost(X / [1e308, 1], X / [1e308, 1]),
                               atol=1e-14)
    X[2, 0] = np.inf
    with pytest.raises(ValueError, match=r"'X' contains NaN or inf in column 0"):
        hotalign.correlation_cost(X, X)
    X[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or inf"):
        ZScore().fit(X, "X")


@given(e=st.integers(-1060, 1000), seed=st.integers(0, 2**32 - 1))
def test_cost_scale_invariance_property(e, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((12, 3))
    Y = rng.standard_normal((12, 2))
    K = hotalign.correlation_cost(_scaled(X, e), Y)
    np.testing.assert_allclose(K, hotalign.correlation_cost(_as_stored(X, e), Y), rtol=0,
                               atol=1e-12)


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_hot_fit_and_score_at_extreme_scales(scale):
    X, Y, _ = make_hierarchy(160, (12, 12), (10, 14, 8), random_state=3)
    tr, te = slice(0, 120), slice(120, 160)
    ref = HOT().fit([A[tr] for A in X], [B[tr] for B in Y])
    hot = HOT().fit([A[tr] * scale for A in X], [B[tr] * scale for B in Y])
    np.testing.assert_allclose(hot.layer_costs_, ref.layer_costs_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(hot.layer_plan_, ref.layer_plan_, atol=1e-12)
    want = ref.layer_scores([A[te] for A in X], [B[te] for B in Y])
    got = hot.layer_scores([A[te] * scale for A in X], [B[te] * scale for B in Y])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # Held-out rows of about 1e200 against a model fitted on ordinary rows: no overflow.
    s = ref.score([A[te] * 1e200 for A in X], [B[te] for B in Y])
    assert s == pytest.approx(ref.score([A[te] for A in X], [B[te] for B in Y]), abs=1e-12)


def test_unit_correlations_prescale(rng):
    A = rng.standard_normal((20, 3))
    B = A + 0.5 * rng.standard_normal((20, 3))
    want = unit_correlations(A, B)
    for e in (-900, -1040, 900):
        np.testing.assert_allclose(unit_correlations(_scaled(A, e), B),
                                   unit_correlations(_as_stored(A, e), B), atol=1e-13)
        if e > -1000:
            np.testing.assert_allclose(unit_correlations(_scaled(A, e), _scaled(B, e)), want,
                                       atol=1e-13)
    # Ordinary data are returned as they are (no copy, no change).
    assert prescale_columns(A) is A
    C = np.full((5, 1), 1e-300)
    assert np.isnan(unit_correlations(C, C[:, :1] + np.arange(5)[:, None]))[0]
