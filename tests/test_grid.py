"""Grid solves: every layer pair on the C++ thread pool."""

import threading

import numpy as np
import pytest

import hotalign
from hotalign.costs import ZScore
from hotalign.datasets import make_hierarchy
from hotalign.engine import solve_pairs
from hotalign.grid import solve_grid


@pytest.fixture
def systems(rng):
    X, Y, _ = hotalign.datasets.make_hierarchy(
        n_stimuli=200, x_widths=(12, 20, 16), y_widths=(16, 12), random_state=1
    )
    return X, Y


def test_grid_equals_per_pair_loop(systems):
    X, Y = systems
    grid = hotalign.solve_grid(X, Y)
    assert grid.costs.shape == (3, 2)
    for l, A in enumerate(X):
        for m, B in enumerate(Y):
            ref = hotalign.solve_transport(hotalign.correlation_cost(A, B))
            res = grid.plans[l][m]
            assert grid.costs[l, m] == pytest.approx(ref.cost, rel=1e-12)
            np.testing.assert_array_equal(res.rows, ref.rows)
            np.testing.assert_array_equal(res.cols, ref.cols)
            np.testing.assert_allclose(res.weights, ref.weights, rtol=1e-12)
            assert res.shape == (A.shape[1], B.shape[1])
            assert res.method == ref.method
            assert grid.statuses[l, m] == "optimal"


def test_grid_plans_are_certified(systems):
    X, Y = systems
    grid = hotalign.solve_grid(X, Y)
    for l, A in enumerate(X):
        for m, B in enumerate(Y):
            K = hotalign.correlation_cost(A, B)
            cert = grid.plans[l][m].certificate(K)
            assert max(cert.values()) < 1e-10, cert


def test_grid_is_identical_across_thread_counts(systems):
    X, Y = systems
    one = hotalign.solve_grid(X, Y, n_threads=1)
    two = hotalign.solve_grid(X, Y, n_threads=2)
    np.testing.assert_array_equal(one.costs, two.costs)
    for l in range(len(X)):
        for m in range(len(Y)):
            np.testing.assert_array_equal(one.plans[l][m].weights, two.plans[l][m].weights)
            np.testing.assert_array_equal(one.plans[l][m].cols, two.plans[l][m].cols)
            np.testing.assert_array_equal(one.plans[l][m].u, two.plans[l][m].u)


def test_grid_float32_is_close_to_float64(systems):
    X, Y = systems
    g64 = hotalign.solve_grid(X, Y, dtype=np.float64)
    g32 = hotalign.solve_grid(X, Y, dtype="float32")
    np.testing.assert_allclose(g32.costs, g64.costs, atol=1e-5)


def test_grid_without_plans(systems):
    X, Y = systems
    grid = hotalign.solve_grid(X, Y, keep_plans=False)
    assert grid.plans is None
    np.testing.assert_allclose(grid.costs, hotalign.solve_grid(X, Y).costs, rtol=0, atol=0)


def test_grid_with_marginals(systems, rng):
    X, Y = systems
    a = [None, rng.dirichlet(np.ones(20)), None]
    b = [rng.dirichlet(np.ones(16)), None]
    grid = hotalign.solve_grid(X, Y, a=a, b=b)
    ref = hotalign.solve_transport(hotalign.correlation_cost(X[1], Y[0]), a[1], b[0])
    assert grid.costs[1, 0] == pytest.approx(ref.cost, rel=1e-12)
    rows, cols = grid.plans[1][0].marginals()
    np.testing.assert_allclose(rows, a[1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cols, b[0], rtol=1e-12, atol=1e-15)


def test_grid_progress_reports_every_pair(systems):
    X, Y = systems
    seen = []
    hotalign.solve_grid(X, Y, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (6, 6)
    assert all(total == 6 for _, total in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_grid_constant_unit_has_cost_one_never_nan(rng):
    X = [rng.standard_normal((50, 6))]
    Y = [rng.standard_normal((50, 6))]
    X[0][:, 2] = 3.0
    grid = hotalign.solve_grid(X, Y, constant_units="cost_one")
    assert np.isfinite(grid.costs).all()
    # the constant unit is matched somewhere at cost exactly 1
    plan = grid.plans[0][0]
    j = plan.cols[plan.rows == 2][0]
    K = hotalign.correlation_cost(X[0], Y[0])
    assert K[2, j] == 1.0


def test_worker_exception_reaches_the_caller(systems):
    X, Y = systems
    Zx = [ZScore().fit(A).transform(A) for A in X]
    Zy = [ZScore().fit(B).transform(B) for B in Y]
    bad_b = [np.full(16, 1.0 / 16), -np.ones(12)]  # a negative marginal raises inside a worker
    with pytest.raises(ValueError, match="b"):
        solve_pairs(Zx, Zy, n_threads=2, b=bad_b)


def test_cancel_from_another_thread_stops_the_grid(rng):
    # A job cancelled before it runs finishes no pair; one cancelled midway stops early.
    Z = [np.ascontiguousarray(ZScore().fit(A).transform(A)) for A in
         [rng.standard_normal((40, 30)) for _ in range(4)]]
    job = hotalign._core.GridJob(Z, Z, [], [], 1, True, 0, 0)
    job.cancel()
    job.run()
    costs, statuses, n_iter, plans, cancelled = job.result()
    assert cancelled and job.n_done() == 0 and plans is None


def test_keyboard_interrupt_cancels(systems, monkeypatch):
    X, Y = systems
    calls = {"n": 0}

    def interrupt(done, total):
        calls["n"] += 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hotalign.solve_grid(X, Y, progress=interrupt)
    assert calls["n"] == 1
    assert not any(t.name == "hotalign-grid" and t.is_alive() for t in threading.enumerate())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_threads": 0}, "n_threads"),
        ({"n_threads": -2}, "n_threads"),
        ({"n_threads": 1.5}, "n_threads"),
        ({"dtype": np.float16}, "dtype"),
        ({"dtype": "int32"}, "dtype"),
        ({"dtype": "bogus"}, "dtype"),
    ],
)
def test_bad_options(systems, kwargs, match):
    X, Y = systems
    with pytest.raises(ValueError, match=match):
        hotalign.solve_grid(X, Y, **kwargs)


def test_t_mismatch_between_systems(systems):
    X, Y = systems
    with pytest.raises(ValueError, match="same stimuli"):
        hotalign.solve_grid(X, [Y[0][:100]])


def test_t_mismatch_within_a_system(systems):
    X, Y = systems
    with pytest.raises(ValueError, match=r"X\[1\]"):
        hotalign.solve_grid([X[0], X[1][:150]], Y)


def test_nan_in_a_layer(systems):
    X, Y = systems
    Y = [B.copy() for B in Y]
    Y[1][3, 4] = np.nan
    with pytest.raises(ValueError, match=r"Y\[1\]"):
        hotalign.solve_grid(X, Y)


def test_inf_in_a_layer(systems):
    X, Y = systems
    X = [A.copy() for A in X]
    X[0][0, 0] = np.inf
    with pytest.raises(ValueError, match=r"X\[0\]"):
        hotalign.solve_grid(X, Y)


def test_one_dimensional_layer(systems):
    X, Y = systems
    with pytest.raises(ValueError, match=r"X\[0\].*2-D"):
        hotalign.solve_grid([X[0][:, 0]], Y)


def test_empty_lists(systems):
    X, Y = systems
    with pytest.raises(ValueError, match="X is empty"):
        hotalign.solve_grid([], Y)
    with pytest.raises(ValueError, match="Y is empty"):
        hotalign.solve_grid(X, [])


def test_single_array_instead_of_list(systems):
    X, Y = systems
    with pytest.raises(ValueError, match="list of layers"):
        hotalign.solve_grid(X[0], Y)


def test_marginal_count_mismatch(systems):
    X, Y = systems
    with pytest.raises(ValueError, match="a must give one marginal per layer"):
        hotalign.solve_grid(X, Y, a=[None])


def test_marginal_not_summing_to_one(systems):
    X, Y = systems
    with pytest.raises(ValueError, match=r"b\[0\] must sum to 1"):
        hotalign.solve_grid(X, Y, b=[np.ones(16), None])


def test_non_contiguous_layers_are_accepted(systems):
    X, Y = systems
    Xf = [np.asfortranarray(A) for A in X]
    Ys = [np.hstack([B, np.zeros_like(B)])[:, : B.shape[1]] for B in Y]  # row stride 2m
    # Column statistics are summed in another order for Fortran input: equal to rounding.
    np.testing.assert_allclose(hotalign.solve_grid(Xf, Ys).costs,
                               hotalign.solve_grid(X, Y).costs, rtol=1e-13, atol=0)


def test_grid_excludes_constant_units_by_default(rng):
    X = [rng.standard_normal((50, 6))]
    Y = [rng.standard_normal((50, 7))]
    X[0][:, 2] = 3.0
    Y[0][:, 0] = 0.0
    grid = hotalign.solve_grid(X, Y)
    plan = grid.plans[0][0]
    assert plan.shape == (6, 7)
    assert 2 not in plan.rows and 0 not in plan.cols
    assert np.isnan(plan.u[2]) and np.isnan(plan.v[0])
    # the cost is that of the problem without the constant units
    keep_x, keep_y = [0, 1, 3, 4, 5], [1, 2, 3, 4, 5, 6]
    ref = hotalign.solve_transport(hotalign.correlation_cost(X[0][:, keep_x], Y[0][:, keep_y]))
    assert grid.costs[0, 0] == pytest.approx(ref.cost, rel=1e-12)
    rows, cols = plan.marginals()
    np.testing.assert_allclose(rows[keep_x], 1 / 5, rtol=1e-12)
    np.testing.assert_allclose(cols[keep_y], 1 / 6, rtol=1e-12)


def test_grid_exclusion_renormalises_given_marginals(rng):
    X = [rng.standard_normal((40, 4))]
    Y = [rng.standard_normal((40, 4))]
    X[0][:, 1] = 1.0
    a = [np.array([0.1, 0.2, 0.3, 0.4])]
    grid = hotalign.solve_grid(X, Y, a=a)
    rows, _ = grid.plans[0][0].marginals()
    np.testing.assert_allclose(rows, np.array([0.1, 0.0, 0.3, 0.4]) / 0.8, rtol=1e-12, atol=0)


def test_grid_constant_units_raise(rng):
    X = [rng.standard_normal((40, 4))]
    X[0][:, 3] = 5.0
    with pytest.raises(ValueError, match=r"X\[0\] has units constant.*\[3\]"):
        hotalign.solve_grid(X, X, constant_units="raise")
    with pytest.raises(ValueError, match="constant_units"):
        hotalign.solve_grid(X, X, constant_units="bogus")


def test_grid_reports_the_solver_that_ran(rng):
    # the method comes from the core: explicit uniform marginals still take the assignment path
    X = [rng.standard_normal((40, 6))]
    Y = [rng.standard_normal((40, 6)), rng.standard_normal((40, 9))]
    grid = hotalign.solve_grid(X, Y, a=[np.full(6, 1 / 6)])
    assert grid.plans[0][0].method == "assignment"
    assert grid.plans[0][1].method == "network_simplex"
    assert hotalign.solve_transport(rng.random((5, 5)), np.full(5, 0.2)).method == "assignment"


def test_grid_progress_reported_when_the_grid_ends_before_the_first_poll(systems, monkeypatch):
    """The main thread polls the worker; a grid already finished at the first poll (a small
    one on a fast machine) must still report its final count."""
    import threading

    real_start = threading.Thread.start

    def start_and_finish(self):
        real_start(self)
        self.join()  # the worker is done before the engine polls it

    monkeypatch.setattr(threading.Thread, "start", start_and_finish)
    X, Y = systems
    seen = []
    hotalign.solve_grid(X, Y, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(k, 6) for k in range(1, 7)]


def test_solve_grid_raises_max_iter_error():
    from hotalign import MaxIterError

    X, Y, _ = make_hierarchy(80, (12,), (15,), random_state=0)  # 12 x 15: network simplex
    with pytest.raises(MaxIterError, match="max_iter=1 pivots") as err:
        solve_grid(X, Y, max_iter=1)
    assert err.value.result.status == "max_iter"
    ok = solve_grid(X, Y, max_iter=10**6)
    assert ok.statuses[0, 0] == "optimal"
