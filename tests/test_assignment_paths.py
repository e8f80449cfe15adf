"""Properties of the assignment solver's code paths: augmenting row reduction from v = 0 (ties,
deferred rows, displaced rows), one-column-per-step path search, float32 rows, rectangular
orientations, degenerate and extreme-magnitude costs. Every result is checked against its own
dual certificate and SciPy's objective."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st

from hotalign import _core, linear_sum_assignment
from hotalign.bench.harness import certify_assignment

seeds = st.integers(min_value=0, max_value=2**32 - 1)
#: sizes around the SIMD block widths (8 columns per AVX2 step, 16 in the path search's scan)
sizes = st.integers(min_value=1, max_value=40)
kinds = st.sampled_from(["ties3", "binary", "correlated", "constant", "signed", "wide_range"])


def _cost(rng, n, m, kind):
    if kind == "ties3":  # values in {0, 1, 2}: ties in every row's two smallest entries
        return rng.integers(0, 3, size=(n, m)).astype(np.float64)
    if kind == "binary":
        return rng.integers(0, 2, size=(n, m)).astype(np.float64)
    if kind == "correlated":  # 1 - corr of noisy low-rank units (the benchmark families' shape)
        z = rng.standard_normal((64, 3))
        x = z @ rng.standard_normal((3, n)) + rng.standard_normal((64, n))
        y = z @ rng.standard_normal((3, m)) + rng.standard_normal((64, m))
        x = (x - x.mean(0)) / x.std(0)
        y = (y - y.mean(0)) / y.std(0)
        return 1.0 - x.T @ y / 64
    if kind == "constant":
        return np.full((n, m), 0.75)
    if kind == "signed":
        return rng.integers(-3, 4, size=(n, m)) * 0.25
    if kind == "wide_range":  # entries spread over many binades
        return np.exp(rng.uniform(-30, 30, size=(n, m)))
    raise AssertionError(kind)


def _check(C, maximize=False):
    """Solve C with the core and the public entry point; certify; compare with SciPy."""
    C64 = np.asarray(C, dtype=np.float64)
    rows, cols, u, v, cost, status, _ = _core.linear_sum_assignment(C, maximize)
    sign = -1.0 if maximize else 1.0
    # a maximisation certificate is the minimisation one of -C
    errors = certify_assignment(sign * C64, rows, cols, sign * np.asarray(u),
                                sign * np.asarray(v), sign * cost)
    assert errors == []
    r, c = linear_sum_assignment(C, maximize=maximize)
    np.testing.assert_array_equal(r, rows)
    np.testing.assert_array_equal(c, cols)
    sr, sc = scipy.optimize.linear_sum_assignment(C64, maximize=maximize)
    ref = math.fsum(C64[sr, sc].tolist())
    ours = math.fsum(C64[rows, cols].tolist())
    scale = max(float(np.abs(C64).max()), 1e-300)
    assert abs(ours - ref) <= 1e-10 * scale * max(1, min(C64.shape))


@settings(max_examples=150, deadline=None)
@given(n=sizes, m=sizes, seed=seeds, kind=kinds, f32=st.booleans(), maximize=st.booleans())
def test_certified_and_optimal(n, m, seed, kind, f32, maximize):
    C = _cost(np.random.default_rng(seed), n, m, kind)
    _check(C.astype(np.float32) if f32 else C, maximize)


@pytest.mark.parametrize("scale", [1e-300, 1e-150, 1e150, 1e300])
@pytest.mark.parametrize("shape", [(33, 33), (20, 47), (47, 20)])
def test_tiny_and_huge_magnitudes(rng, scale, shape):
    _check(rng.random(shape) * scale)


@pytest.mark.parametrize("shape", [(64, 64), (50, 90), (90, 50)])
def test_forbidden_entries_with_ties(rng, shape):
    C = rng.integers(0, 3, size=shape).astype(np.float64)
    C[rng.random(shape) < 0.4] = np.inf
    for i in range(min(shape)):  # keep a complete matching allowed
        C[i, i] = 1.0
    _check(C)


@pytest.mark.parametrize("shape", [(300, 300), (200, 220), (220, 200)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_path_search_on_correlation_costs(rng, shape, dtype):
    # large enough that rows are left to the path search after augmenting row reduction
    C = _cost(rng, *shape, "correlated").astype(dtype)
    _, _, _, _, _, _, n_iter = _core.linear_sum_assignment(C, False)
    assert n_iter > 0
    _check(C)


def test_constant_square_is_identity():
    rows, cols = linear_sum_assignment(np.zeros((37, 37)))
    np.testing.assert_array_equal(rows, np.arange(37))
    np.testing.assert_array_equal(cols, np.arange(37))


@pytest.mark.parametrize("bad", [np.nan, -np.inf])
@pytest.mark.parametrize("shape", [(21, 21), (13, 29), (29, 13)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bad_entry_anywhere_raises(rng, bad, shape, dtype):
    # the first scan of a row validates it: inside the SIMD blocks and in the scalar tail
    for i, j in [(0, 0), (shape[0] - 1, shape[1] - 1), (shape[0] // 2, 7), (3, shape[1] - 2)]:
        C = rng.random(shape).astype(dtype)
        C[i, j] = bad
        with pytest.raises(ValueError, match="invalid numeric entries"):
            linear_sum_assignment(C)


@pytest.mark.parametrize("shape", [(24, 24), (16, 40), (40, 16)])
def test_overflowing_row_sums_are_not_errors(rng, shape):
    # rows whose running sum overflows to +-inf (or inf - inf) hold only finite entries
    # (entries small enough that no reduced cost C_ij - v_j overflows)
    C = np.where(rng.random(shape) < 0.5, 4e307, -4e307) * rng.uniform(0.9, 1.0, shape)
    C[0] = -np.abs(C[0])  # a row summing to -inf
    C[1] = np.abs(C[1])  # one summing to +inf
    rows, cols, u, v, cost, status, _ = _core.linear_sum_assignment(C, False)
    assert len(rows) == min(shape)
    sr, sc = scipy.optimize.linear_sum_assignment(C)
    ours, theirs = (math.fsum((C[r, c] / 1e300).tolist()) for r, c in [(rows, cols), (sr, sc)])
    assert ours == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize("value", [-1.5e307, 1.5e307])
@pytest.mark.parametrize("shape", [(24, 24), (19, 19)])
def test_transport_cost_beyond_the_safe_bound_leaves_the_assignment_path(rng, value, shape):
    # solve_transport's first row scans check both finite bounds (lo and hi), in the SIMD blocks
    # and in the scalar tail; a cost beyond them goes to the network simplex, which scales
    import hotalign

    for pos in [(0, 0), (5, shape[1] - 2), (shape[0] - 1, shape[1] - 1), (7, 9)]:
        C = rng.random(shape)
        C[pos] = value
        res = hotalign.solve_transport(C)
        assert res.method == "network_simplex"
        sr, sc = scipy.optimize.linear_sum_assignment(C)
        # (optimal to the network simplex's tolerance, relative to max |C|)
        ref = math.fsum(C[sr, sc].tolist()) / shape[0]
        assert abs(res.cost - ref) <= 1e-12 * abs(value)
