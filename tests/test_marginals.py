"""The bounded layer-level LP (hotalign.marginals): exact against an LP oracle, bounds to 1e-12,
a certificate that holds on the plan and fails on perturbed ones, s = 0 equal to uniform HOT,
the objective non-increasing in s, and the semi-relaxed plan equal to Pairwise-Best."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from hotalign import HOT
from hotalign.baselines import layer_weights
from hotalign.datasets import make_depth_mismatch, make_hierarchy
from hotalign.hierarchy import layer_plan
from hotalign.marginals import (DEFAULT_SLACK_GRID, bounded_layer_plan, certify, column_bounds,
                                marginal_layer_plan)

SLACKS = st.sampled_from([0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 7.0, math.inf])


@st.composite
def costs(draw):
    L, M = draw(st.integers(1, 7)), draw(st.integers(1, 9))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    C = rng.random((L, M)) * draw(st.sampled_from([1e-9, 1.0, 1e9]))
    if draw(st.booleans()):
        C = np.round(C / C.max() * 3) * C.max() / 3  # many ties
    return C + draw(st.sampled_from([0.0, -5.0, 1e3]))


def _oracle(C, lower, upper):
    """The bounded LP by HiGHS on costs scaled to [0, 1] (its tolerances are absolute)."""
    L, M = C.shape
    lo, scale = C.min(), max(np.ptp(C), 1e-300)
    A_col = np.kron(np.ones(L), np.eye(M))
    res = linprog(((C - lo) / scale).ravel(), A_ub=np.vstack([A_col, -A_col]),
                  b_ub=np.concatenate([upper, -lower]), A_eq=np.kron(np.eye(L), np.ones(M)),
                  b_eq=np.full(L, 1.0 / L), method="highs")
    assert res.status == 0
    return res.fun * scale + lo


@settings(max_examples=150, deadline=None)
@given(C=costs(), s=SLACKS)
def test_plan_is_feasible_optimal_and_certified(C, s):
    r = marginal_layer_plan(C, "slack", s)
    L, M = C.shape
    assert (r.plan >= 0).all()
    np.testing.assert_allclose(r.plan.sum(axis=1), 1.0 / L, rtol=0, atol=1e-12)
    col = r.plan.sum(axis=0)
    assert (col >= r.lower - 1e-12).all() and (col <= r.upper + 1e-12).all()
    np.testing.assert_allclose(r.lower, max(1.0 - s, 0.0) / M, rtol=1e-15)
    np.testing.assert_allclose(r.upper, min((1.0 + s) / M, 1.0), rtol=1e-15)
    assert r.certificate["ok"], r.certificate
    scale = max(np.abs(C).max(), 1.0)
    assert abs(r.objective - _oracle(C, r.lower, r.upper)) <= 1e-9 * scale
    assert abs(r.objective - np.sum(C * r.plan)) <= 1e-12 * scale


@settings(max_examples=60, deadline=None)
@given(C=costs(), low=SLACKS, high=SLACKS)
def test_asymmetric_slack(C, low, high):
    r = marginal_layer_plan(C, "slack", (low, high))
    M = C.shape[1]
    np.testing.assert_allclose(r.lower, max(1.0 - low, 0.0) / M, rtol=1e-15)
    np.testing.assert_allclose(r.upper, min((1.0 + high) / M, 1.0), rtol=1e-15)
    assert r.certificate["ok"], r.certificate
    assert abs(r.objective - _oracle(C, r.lower, r.upper)) <= 1e-9 * max(np.abs(C).max(), 1)


@settings(max_examples=80, deadline=None)
@given(C=costs())
def test_zero_slack_is_uniform_hot_exactly(C):
    r = marginal_layer_plan(C, "slack", 0.0)
    np.testing.assert_array_equal(r.plan, layer_plan(C))
    np.testing.assert_array_equal(marginal_layer_plan(C, "uniform").plan, layer_plan(C))
    assert r.certificate["ok"]


@settings(max_examples=80, deadline=None)
@given(C=costs())
def test_objective_is_non_increasing_in_slack(C):
    grid = [0.0, 0.01, 0.1, 0.25, 0.5, 1.0, 1.5, 3.0, 10.0, math.inf]
    values = [marginal_layer_plan(C, "slack", s).objective for s in grid]
    scale = max(np.abs(C).max(), 1.0)
    assert all(b <= a + 1e-12 * scale for a, b in zip(values, values[1:])), values


@settings(max_examples=80, deadline=None)
@given(C=costs())
def test_semi_relaxed_is_pairwise_best(C):
    L, M = C.shape
    r = marginal_layer_plan(C, "semi-relaxed")
    np.testing.assert_array_equal(L * r.plan, layer_weights("pairwise_best", r.plan, C))
    assert r.objective == pytest.approx(C.min(axis=1).mean(), rel=1e-14, abs=1e-300)
    assert r.certificate["ok"]
    # a slack that leaves no column constraint binding gives the same plan
    np.testing.assert_array_equal(marginal_layer_plan(C, "slack", math.inf).plan, r.plan)
    np.testing.assert_array_equal(marginal_layer_plan(C, "slack", max(M - 1.0, 1.0)).plan,
                                  r.plan)


@settings(max_examples=60, deadline=None)
@given(C=costs(), s=st.sampled_from([0.1, 0.25, 0.5, 1.0]), seed=st.integers(0, 2**32 - 1))
def test_certificate_fails_on_a_perturbed_plan(C, s, seed):
    r = marginal_layer_plan(C, "slack", s)
    L, M = C.shape
    rng = np.random.default_rng(seed)
    c = r.certificate
    assert c["ok"]
    # Mass off a row: the row equality breaks.
    P = r.plan.copy()
    P[rng.integers(L), rng.integers(M)] += 1e-9
    assert not certify(C, P, r.row_duals, r.column_duals, r.lower, r.upper)["ok"]
    # Mass moved within a row onto a cell of positive reduced cost: complementary slackness
    # (and with it the duality gap) breaks, though the rows still sum to 1/L.
    reduced = C - r.row_duals[:, None] - r.column_duals[None, :]
    scale = max(np.abs(C).max(), 1.0)
    l, m = np.unravel_index(np.argmax(reduced), reduced.shape)
    if reduced[l, m] > 1e-6 * scale:
        P = r.plan.copy()
        donor = int(np.argmax(P[l]))
        P[l, donor] -= P[l, donor] / 2
        P[l, m] += r.plan[l, donor] / 2
        assert not certify(C, P, r.row_duals, r.column_duals, r.lower, r.upper)["ok"]
    # Duals that are not feasible fail too.
    bad = r.row_duals.copy()
    bad[rng.integers(L)] += 1e-6 * scale
    assert not certify(C, r.plan, bad, r.column_duals, r.lower, r.upper)["ok"]


def test_certificate_detects_a_column_outside_its_bounds():
    C = np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    r = marginal_layer_plan(C, "slack", 0.5)  # column 0 capped at 0.5
    np.testing.assert_allclose(r.plan.sum(axis=0)[0], 0.5, rtol=0, atol=1e-15)
    assert r.column_duals[0] < 0  # the upper bound binds: nu > 0
    P = np.array([[0.5, 0, 0], [0.5, 0, 0]])  # column 0 over its upper bound 0.5
    cert = certify(C, P, r.row_duals, r.column_duals, r.lower, r.upper)
    assert not cert["ok"] and cert["bound_violation"] == pytest.approx(0.5)


def test_worked_example_of_the_docs():
    # docs/method.md, "Relaxed layer marginals": two X layers, three Y layers; Y layer 2
    # matches nothing.
    C = np.array([[0.2, 0.5, 0.9],
                  [0.6, 0.3, 0.9]])
    uniform = marginal_layer_plan(C, "uniform")
    np.testing.assert_allclose(uniform.plan * 2, [[2 / 3, 0, 1 / 3], [0, 2 / 3, 1 / 3]],
                               atol=1e-15)
    half = marginal_layer_plan(C, "slack", 0.5)  # columns in [1/6, 1/2]
    np.testing.assert_allclose(half.plan * 2, [[1, 0, 0], [0, 2 / 3, 1 / 3]], atol=1e-15)
    relaxed = marginal_layer_plan(C, "slack", 1.0)  # columns in [0, 2/3]
    np.testing.assert_allclose(relaxed.plan * 2, [[1, 0, 0], [0, 1, 0]], atol=1e-15)
    np.testing.assert_allclose(relaxed.plan.sum(axis=0), [0.5, 0.5, 0.0], atol=1e-15)
    assert uniform.objective == pytest.approx(0.9 / 3 + 0.2 / 3 + 0.3 / 3)
    assert half.objective == pytest.approx(0.35)
    assert relaxed.objective == pytest.approx(0.25)
    assert half.column_duals[2] > 0  # the lower bound of the unmatched layer binds


def test_hot_slack_zero_and_semi_relaxed_fits():
    X, Y, _ = make_depth_mismatch(n_stimuli=200, deep_depth=6, shallow_depth=3, width=12,
                                  random_state=3)
    uniform = HOT(n_threads=1).fit(X, Y)
    zero = HOT(n_threads=1, layer_marginals="slack", slack=0.0).fit(X, Y)
    np.testing.assert_array_equal(zero.layer_plan_, uniform.layer_plan_)
    assert zero.distance_ == uniform.distance_
    semi = HOT(n_threads=1, layer_marginals="semi-relaxed").fit(X, Y)
    L = semi.n_layers_x_
    np.testing.assert_array_equal(L * semi.layer_plan_, layer_weights(
        "pairwise_best", semi.layer_plan_, semi.layer_costs_))
    assert semi.layer_marginals_["rule"] == "semi-relaxed"
    assert semi.layer_marginals_["certificate"]["ok"]
    # The score of the semi-relaxed plan is Pairwise-Best's.
    w = layer_weights("pairwise_best", uniform.layer_plan_, uniform.layer_costs_)
    np.testing.assert_allclose(semi.layer_scores(X, Y), uniform.layer_scores(X, Y, w),
                               rtol=1e-12)


@pytest.mark.parametrize("s", [0.25, 1.0])
def test_relaxed_hot_reconstructs_with_rows_summing_to_one(s):
    X, Y, _ = make_hierarchy(150, (10, 10), (12,) * 5, random_state=1)
    hot = HOT(n_threads=1, layer_marginals="slack", slack=s).fit(X, Y)
    np.testing.assert_allclose(hot.layer_plan_.sum(axis=1), 0.5, atol=1e-12)
    col = hot.layer_plan_.sum(axis=0)
    assert (col >= max(1 - s, 0) / 5 - 1e-12).all() and (col <= (1 + s) / 5 + 1e-12).all()
    np.testing.assert_allclose(hot.layer_marginals_["column_sums"], col)
    # predict uses L * P: each row a mixture of weight 1
    Xhat = hot.predict(Y)
    manual = hot.predict(Y, layer_weights=2 * hot.layer_plan_)
    for a, b in zip(Xhat, manual):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(hot.score(X, Y))


def test_big_cost_safe_on_extreme_ranges():
    rng = np.random.default_rng(0)
    for C in (np.full((3, 5), 7.0), rng.random((4, 6)) * 1e-300, rng.random((4, 6)) * 1e300,
              np.array([[0.0, 1e300], [1e300, 0.0], [5.0, 5.0]])):
        for s in (0.1, 0.5, 1.0):
            r = marginal_layer_plan(C, "slack", s)
            assert r.certificate["ok"], (C, s, r.certificate)


def test_default_grid_and_bounds():
    assert DEFAULT_SLACK_GRID == (0.0, 0.1, 0.25, 0.5, 1.0, math.inf)
    lower, upper = column_bounds(4, "uniform")
    np.testing.assert_array_equal(lower, np.full(4, 0.25))
    np.testing.assert_array_equal(upper, np.full(4, 0.25))
    lower, upper = column_bounds(4, "semi-relaxed")
    np.testing.assert_array_equal(lower, 0.0)
    np.testing.assert_array_equal(upper, 1.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(layer_marginals="loose"), "layer_marginals"),
    (dict(layer_marginals="slack"), "needs slack=s"),
    (dict(layer_marginals="slack", slack=-0.1), "slack must be >= 0"),
    (dict(layer_marginals="slack", slack=float("nan")), "slack must be >= 0"),
    (dict(layer_marginals="slack", slack="big"), "slack must be a number"),
    (dict(layer_marginals="uniform", slack=0.5), "no effect"),
    (dict(layer_marginals="auto", slack=[]), "slack is empty"),
    (dict(layer_marginals="auto", slack=[0.1, (0, 1)]), "single numbers"),
    (dict(layer_marginals="auto", slack_splits=1), "slack_splits"),
])
def test_bad_parameters(kwargs, match):
    X, Y, _ = make_hierarchy(30, (4,), (4, 4), random_state=0)
    with pytest.raises(ValueError, match=match):
        HOT(**kwargs).fit(X, Y)


def test_bad_bounds():
    C = np.ones((2, 3))
    with pytest.raises(ValueError, match="infeasible column bounds"):
        bounded_layer_plan(C, np.full(3, 0.5), np.ones(3))
    with pytest.raises(ValueError, match="lower must be <= upper"):
        bounded_layer_plan(C, np.array([0.5, 0, 0]), np.array([0.4, 1, 1]))
    with pytest.raises(ValueError, match="upper must be a real array of shape"):
        bounded_layer_plan(C, np.zeros(3), np.ones(2))
    with pytest.raises(ValueError, match="C contains NaN"):
        bounded_layer_plan(np.array([[np.nan, 1.0]]), np.zeros(2), np.ones(2))
