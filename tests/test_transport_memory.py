"""The solvers read the caller's cost matrix in place: no dense n x m copy (tracemalloc sees
NumPy's allocations), for float64 and float32, C and Fortran order."""

import tracemalloc

import numpy as np
import pytest

import hotalign


def peak_bytes(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("shape", [(300, 300), (300, 450)])
def test_no_dense_copy_of_the_cost(rng, dtype, order, shape):
    M = np.asarray(rng.random(shape), dtype=dtype, order=order)
    hotalign.solve_transport(M)  # warm up imports and caches
    peak = peak_bytes(lambda: hotalign.solve_transport(M))
    assert peak < M.nbytes / 4, (peak, M.nbytes)


def test_copy_happens_for_other_layouts(rng):
    # the measurement does see a copy when one is needed (a strided view)
    M = rng.random((300, 600))[:, ::2]
    peak = peak_bytes(lambda: hotalign.solve_transport(M))
    assert peak >= M.nbytes


def test_fortran_and_c_give_the_same_optimum(rng):
    M = rng.random((40, 70))
    a = rng.dirichlet(np.ones(40))
    b = rng.dirichlet(np.ones(70))
    rc = hotalign.solve_transport(M, a, b)
    rf = hotalign.solve_transport(np.asfortranarray(M), a, b)
    assert rf.cost == pytest.approx(rc.cost, rel=1e-12)
    assert max(rf.certificate(M, a, b).values()) < 1e-12
    assert np.all(np.diff(rf.rows) >= 0)
