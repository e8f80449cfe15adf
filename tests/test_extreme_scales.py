"""Layers of extreme magnitude: correlation is scale-invariant, so x1e-200, subnormal, x1e200
and x1e300 layers give the costs, z-scores, fits and scores of the unscaled layers, and
constant columns stay constant at every scale (issue 14, item 2)."""

import dataclasses

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


# ---- exact solvers at the float edges (issue 24) -------------------------------------------

from hotalign.bench import float_edges  # noqa: E402
from hotalign.results import TransportResult  # noqa: E402

F64 = float(np.finfo(np.float64).max)


def test_reproducer_near_float_max_is_solved_exactly():
    M = np.random.default_rng(1).uniform(-1, 1, (50, 50)) * 1.7e308
    r, c = hotalign.linear_sum_assignment(M)
    import scipy.optimize

    Ms = np.ldexp(M, -1024)  # exact: every entry is far above the subnormal range
    rs, cs = scipy.optimize.linear_sum_assignment(Ms)
    assert Ms[r, c].sum() == pytest.approx(Ms[rs, cs].sum(), abs=1e-12)


def test_no_false_infeasible_near_float_max():
    rng = np.random.default_rng(5)
    for _ in range(40):
        M = -F64 * (1 - 1e-3 * rng.random((12, 12)))
        r, c = hotalign.linear_sum_assignment(M)
        assert len(r) == 12


def test_subnormal_costs_with_nonuniform_marginals():
    rng = np.random.default_rng(3)
    M = rng.uniform(0, 1, (20, 30)) * 1e-320
    a, b = rng.uniform(0.1, 1, 20), rng.uniform(0.1, 1, 30)
    a, b = a / a.sum(), b / b.sum()
    res = hotalign.solve_transport(M, a, b)
    import ot

    want = ot.emd2(a, b, np.ldexp(M, 1070))
    got = float(np.sum(res.weights * np.ldexp(M, 1070)[res.rows, res.cols]))
    assert got == pytest.approx(want, rel=1e-12)
    assert res.cost > 0.0
    assert max(res.certificate(M, a, b).values()) < 1e-9


def test_too_wide_dynamic_range_is_refused():
    M = np.full((3, 3), 1.7e308)
    M[0, 1] = 5e-324
    with pytest.raises(ValueError, match=r"M: dynamic range too wide.*max \|M\| = 1\.7e\+308"):
        hotalign.solve_transport(M, [0.2, 0.3, 0.5], [0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match=r"cost_matrix: dynamic range too wide"):
        hotalign.linear_sum_assignment(M)


def _perturbed(res: TransportResult) -> TransportResult:
    """The plan of `res` with mass moved around a 4-cycle through an off-support cell."""
    P = res.to_dense()
    n, m = P.shape
    i, j = int(res.rows[0]), int(res.cols[0])
    k = next(x for x in range(n) if x != i)
    l_ = next(y for y in range(m) if y != j and P[k, y] > 0)
    d = 0.5 * min(P[i, j], P[k, l_])
    P[i, j] -= d
    P[k, l_] -= d
    P[i, l_] += d
    P[k, j] += d
    rows, cols = np.nonzero(P)
    return dataclasses.replace(res, rows=rows, cols=cols, weights=P[rows, cols])


@pytest.mark.parametrize("scale", [1e300, 1.0, 1e-310])
def test_certificate_fails_a_perturbed_plan_at_every_scale(scale):
    rng = np.random.default_rng(7)
    M = rng.uniform(0.0, 1.0, (6, 6)) * scale
    M[0, 0] = 0.0  # the cheapest cell, so that the perturbed plan is strictly worse
    a = np.full(6, 1 / 6)
    res = hotalign.solve_transport(M, a, a, method="network_simplex")
    assert max(res.certificate(M, a, a).values()) < 1e-12
    bad = _perturbed(res)
    assert bad.certificate(M, a, a)["marginal_error"] < 1e-15
    cert = bad.certificate(M, a, a)
    assert max(cert["slackness"], cert["duality_gap"]) > 1e-4, cert


@given(regime=st.sampled_from(sorted(float_edges.REGIMES)), seed=st.integers(0, 2**32 - 1))
def test_solvers_agree_with_the_rescaled_oracle(regime, seed):
    outcome = float_edges.check_case(*float_edges.make_case(np.random.default_rng(seed),
                                                            regime, n_max=12))
    assert not outcome.startswith("wrong"), outcome
    if regime not in ("wide range", "mixed sign at max", "+-(1-1e-3u) max"):
        assert outcome == "ok"


@pytest.mark.slow
def test_float_edge_regimes_have_no_wrong_case():
    table = float_edges.run(cases=40, seed=11, n_max=20)
    wrong = {k: rec["examples"] for k, rec in table.items() if rec["counts"]["wrong"]}
    assert not wrong
    assert table["wide range"]["counts"]["refused"] > 0
    assert table["subnormal"]["counts"]["ok"] == 40
