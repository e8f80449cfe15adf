"""The lean assignment path of solve_transport / emd / emd2: the finite check of M rides on the
solver's first scan of each row (cpp/include/hotalign/assignment.hpp, Checks), so it must still catch
every NaN and infinity, wherever it sits (SIMD body or scalar tail, first or last row), in both
dtypes, and the result must be the assignment solver's own arrays."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given
from hypothesis import strategies as st

import hotalign

M_NAME = r"\bM\b contains NaN or infinity"
BAD = (np.nan, np.inf, -np.inf)
ENTRY_POINTS = {
    "solve_transport": lambda M: hotalign.solve_transport(M),
    "emd": lambda M: hotalign.emd([], [], M),
    "emd2": lambda M: hotalign.emd2([], [], M),
}


@given(n=st.integers(1, 20), cell=st.integers(0, 399), bad=st.sampled_from(BAD),
       dtype=st.sampled_from([np.float64, np.float32]),
       entry=st.sampled_from(sorted(ENTRY_POINTS)))
def test_every_bad_entry_raises_naming_M(n, cell, bad, dtype, entry):
    M = np.random.default_rng(n).random((n, n)).astype(dtype)
    M.flat[cell % (n * n)] = bad
    with pytest.raises(ValueError, match=M_NAME):
        ENTRY_POINTS[entry](M)


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("where", ["first", "last", "middle"])
def test_bad_entry_in_large_square_problem(bad, where):
    n = 257  # odd: the SIMD loops leave a scalar tail in every row
    M = np.random.default_rng(1).random((n, n))
    i, j = {"first": (0, 0), "last": (n - 1, n - 1), "middle": (n // 2, n // 3)}[where]
    M[i, j] = bad
    with pytest.raises(ValueError, match=M_NAME):
        hotalign.solve_transport(M)
    with pytest.raises(ValueError, match=M_NAME):
        hotalign.solve_transport(np.asfortranarray(M))  # the transposed (Fortran) route


def test_lsa_still_accepts_forbidden_entries():
    # +inf is documented as a forbidden pair for linear_sum_assignment only
    C = np.array([[np.inf, 1.0, 2.0], [1.0, np.inf, 3.0], [2.0, 3.0, np.inf]])
    r, c = hotalign.linear_sum_assignment(C)
    assert np.isfinite(C[r, c]).all()


@pytest.mark.parametrize("M", [np.zeros((0, 0)), np.zeros((3, 0)), np.zeros((0, 2))])
def test_empty_M(M):
    with pytest.raises(ValueError, match=r"\bM\b must be non-empty"):
        hotalign.solve_transport(M)


@pytest.mark.parametrize("M", [np.zeros(4), np.zeros((2, 2, 2))])
def test_wrong_shape_M(M):
    with pytest.raises(ValueError, match=r"\bM\b must be a 2-D array"):
        hotalign.emd2([], [], M)


@given(n=st.integers(1, 40), seed=st.integers(0, 2**32 - 1),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_result_comes_from_the_solver_arrays(n, seed, dtype):
    M = np.random.default_rng(seed).random((n, n)).astype(dtype)
    res = hotalign.solve_transport(M)
    assert res.method == "assignment"
    r, c = scipy.optimize.linear_sum_assignment(M.astype(np.float64))
    M64 = M.astype(np.float64)
    assert np.isclose(res.cost, M64[r, c].sum() / n, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(res.rows, np.arange(n))
    assert sorted(res.cols.tolist()) == list(range(n))
    assert np.all(res.weights == 1.0 / n)
    cert = res.certificate(M64)
    assert max(cert.values()) < 1e-12
    assert hotalign.emd2([], [], M) == res.cost


@given(n=st.integers(1, 19), extra=st.integers(1, 19), cell=st.integers(0, 10**6),
       bad=st.sampled_from([np.nan, -np.inf]), dtype=st.sampled_from([np.float64, np.float32]),
       transpose=st.booleans(), maximize=st.booleans())
def test_rectangular_lsa_validates_in_its_first_scan(n, extra, cell, bad, dtype, transpose,
                                                     maximize):
    # rectangular problems validate each row inside its first row scan (augmenting row
    # reduction): a bad entry anywhere must still raise, whatever the orientation
    C = np.random.default_rng(n * 100 + extra).random((n, n + extra)).astype(dtype)
    C.flat[cell % C.size] = -bad if maximize else bad
    if transpose:
        C = np.ascontiguousarray(C.T)
    with pytest.raises(ValueError, match="contains (NaN|invalid numeric entries)"):
        hotalign.linear_sum_assignment(C, maximize=maximize)
