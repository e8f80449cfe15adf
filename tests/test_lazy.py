"""The certified lazy layer grid (``HOT(lazy=True)``, :mod:`hotalign.lazy`): bounds are below the
computed costs, and the lazy fit is an optimal HOT fit with the full fit's distance."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hotalign
from hotalign import HOT
from hotalign.datasets import make_hierarchy
from hotalign.lazy import certified_layer_plan, projection_bounds
from hotalign.systems import standardize_system
from hotalign.transport import solve_transport


def _systems(X, Y, dtype="float64", a=None, b=None):
    return (standardize_system(X, "X", dtype=dtype, marginals=a),
            standardize_system(Y, "Y", dtype=dtype, marginals=b))


def _grid_costs(X, Y, dtype="float64", a=None, b=None):
    return hotalign.solve_grid(X, Y, dtype=dtype, a=a, b=b, keep_plans=False).costs


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), T=st.integers(12, 80), rank=st.integers(1, 12),
       dtype=st.sampled_from(["float64", "float32"]),
       kind=st.sampled_from(["random", "related", "duplicated", "heavy_tailed", "marginals"]))
def test_bounds_never_exceed_the_computed_costs(seed, T, rank, dtype, kind):
    rng = np.random.default_rng(seed)
    widths_x = rng.integers(2, 30, size=2)
    widths_y = rng.integers(2, 30, size=3)
    latent = rng.standard_normal((T, 3))
    X = [latent @ rng.standard_normal((3, n)) + 0.1 * rng.standard_normal((T, n))
         if kind == "related" else rng.standard_normal((T, n)) for n in widths_x]
    Y = [latent @ rng.standard_normal((3, n)) + 0.1 * rng.standard_normal((T, n))
         if kind == "related" else rng.standard_normal((T, n)) for n in widths_y]
    if kind == "duplicated":  # identical layers: C = 0 exactly on the diagonal pair
        Y[0] = X[0].copy()
    if kind == "heavy_tailed":
        X = [A ** 3 for A in X]
    a = b = None
    if kind == "marginals":
        a = [w / w.sum() for w in (rng.random(n) + 0.1 for n in widths_x)]
        b = [w / w.sum() for w in (rng.random(n) + 0.1 for n in widths_y)]
    Sx, Sy = _systems(X, Y, dtype, a, b)
    LB = projection_bounds(Sx, Sy, rank=rank)
    C = _grid_costs(X, Y, dtype, a, b)
    assert np.all(np.isfinite(LB)) and np.all(LB >= 0)
    assert np.all(LB <= C), (LB - C).max()


def test_bounds_are_tight_on_identical_layers_and_fall_back_when_rank_too_large():
    X, Y, _ = make_hierarchy(200, (20, 20), (20, 20), random_state=0)
    Sx, Sy = _systems(X, [X[0], Y[1]])
    LB = projection_bounds(Sx, Sy, rank=25)  # rank >= n: no bound (LB = 0), never invalid
    assert np.all(LB == 0)
    LB = projection_bounds(Sx, Sy, rank=8)
    C = _grid_costs(X, [X[0], Y[1]])
    assert np.all(LB <= C) and C[0, 0] < 1e-12


@pytest.mark.parametrize("shape", [((64,) * 6, (64,) * 6), ((48,) * 5, (64,) * 7)])
def test_lazy_fit_equals_the_full_fit(shape):
    X, Y, _ = make_hierarchy(500, *shape, random_state=3)
    full = HOT().fit(X, Y)
    lazy = HOT(lazy=True, lazy_rank=16).fit(X, Y)
    assert lazy.distance_ == pytest.approx(full.distance_, rel=0, abs=1e-15)
    np.testing.assert_allclose(lazy.layer_plan_, full.layer_plan_, rtol=0, atol=1e-15)
    support = lazy.layer_plan_ > 0
    assert np.all(lazy.solved_pairs_[support])
    assert lazy.n_pairs_solved_ < support.size  # something was pruned
    assert lazy.lazy_certificate_["support_solved"]
    assert lazy.lazy_certificate_["min_reduced_cost"] >= -1e-12
    for l, m in zip(*np.nonzero(lazy.solved_pairs_)):
        assert lazy.layer_costs_[l, m] == full.layer_costs_[l, m]
        np.testing.assert_array_equal(lazy.unit_plans_[l][m].weights,
                                      full.unit_plans_[l][m].weights)
    unsolved = ~lazy.solved_pairs_
    assert np.all(np.isnan(lazy.layer_costs_[unsolved]))
    assert all(lazy.unit_plans_[l][m] is None for l, m in zip(*np.nonzero(unsolved)))
    assert np.all(lazy.layer_cost_bounds_[unsolved] <= full.layer_costs_[unsolved])
    np.testing.assert_allclose(lazy.score(X, Y), full.score(X, Y), rtol=0, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), L=st.integers(1, 6), M=st.integers(1, 6),
       levels=st.integers(1, 4))
def test_certified_plan_is_optimal_for_the_true_costs_even_with_ties(seed, L, M, levels):
    """Costs on a few levels (many ties, P not unique) and bounds anywhere below them: the
    distance equals the full optimum and the plan is optimal for the true costs."""
    rng = np.random.default_rng(seed)
    C = rng.integers(0, levels, size=(L, M)).astype(float) / levels
    LB = C * rng.random((L, M)) * rng.integers(0, 2, size=(L, M))  # some bounds are 0
    costs = np.full((L, M), np.nan)
    asked = []

    def solve(cells):
        asked.extend(cells)
        for l, m in cells:
            costs[l, m] = C[l, m]

    P, cert = certified_layer_plan(costs, LB, solve)
    best = solve_transport(C)
    np.testing.assert_allclose(P.sum(axis=1), 1 / L, rtol=0, atol=1e-15)
    np.testing.assert_allclose(P.sum(axis=0), 1 / M, rtol=0, atol=1e-15)
    assert float(np.sum(C * P)) == pytest.approx(best.cost, abs=1e-12)
    assert len(set(asked)) == len(asked)  # no pair solved twice
    assert np.all(cert["solved"][P > 0])


@pytest.mark.parametrize("give_up", [True, False])
def test_loose_bounds_give_up_into_one_batch(give_up):
    """Bounds that prune nothing (all 0, below every cost): with give_up the outer loop solves
    every remaining pair in one batch after the first round, instead of many small rounds; the
    plan is the same optimum either way."""
    rng = np.random.default_rng(0)
    C = 0.5 + rng.random((10, 10))
    costs = np.full((10, 10), np.nan)
    batches = []

    def solve(cells):
        batches.append(len(cells))
        for l, m in cells:
            costs[l, m] = C[l, m]

    P, cert = certified_layer_plan(costs, np.zeros((10, 10)), solve, give_up=give_up)
    assert float(np.sum(C * P)) == pytest.approx(solve_transport(C).cost, abs=1e-12)
    assert sum(batches) <= 100 and np.all(cert["solved"][P > 0])
    if give_up:
        assert len(batches) == 2 and sum(batches) == 100 and cert["rounds"] == 3
    else:
        assert len(batches) > 2 and max(batches[1:]) < 50  # many small rounds


def test_an_invalid_bound_is_caught():
    C = np.array([[0.1, 0.9], [0.9, 0.1]])
    costs = np.full((2, 2), np.nan)

    def solve(cells):
        for l, m in cells:
            costs[l, m] = C[l, m]

    with pytest.raises(ValueError, match="bound exceeds its exact cost"):
        certified_layer_plan(costs, np.array([[0.5, 0.0], [0.0, 0.0]]), solve)


def test_lazy_parameters_are_checked():
    X, Y, _ = make_hierarchy(60, (6,), (6,), random_state=0)
    with pytest.raises(ValueError, match="lazy must be a bool"):
        HOT(lazy="yes").fit(X, Y)
    with pytest.raises(ValueError, match="lazy_rank"):
        HOT(lazy=True, lazy_rank=0).fit(X, Y)


def test_lazy_fit_through_the_cache_round_trips(tmp_path):
    from hotalign.cache import Memory

    X, Y, _ = make_hierarchy(300, (48,) * 4, (48,) * 5, random_state=1)
    first = HOT(lazy=True, lazy_rank=8, memory=Memory(tmp_path)).fit(X, Y)
    memory = Memory(tmp_path)
    again = HOT(lazy=True, lazy_rank=8, memory=memory).fit(X, Y)
    assert memory.fits.hits == 1
    np.testing.assert_array_equal(again.solved_pairs_, first.solved_pairs_)
    np.testing.assert_array_equal(again.layer_plan_, first.layer_plan_)
    assert again.distance_ == first.distance_


def _align_lazy_and_full(tmp_path, monkeypatch, case, *options):
    """results.json of ``hotalign align`` with and without --lazy on make_hierarchy(*case)."""
    import json

    from hotalign.cli import main

    monkeypatch.chdir(tmp_path)
    T, x_widths, y_widths, seed = case
    X, Y, _ = make_hierarchy(T, x_widths, y_widths, random_state=seed)
    np.savez("x.npz", **{f"l{i}": A for i, A in enumerate(X)})
    np.savez("y.npz", **{f"l{i}": A for i, A in enumerate(Y)})
    argv = ["align", "x.npz", "y.npz", "--splits", "1", *options, "--quiet",
            "--figure-format", "svg"]
    assert main(argv + ["--out", "lazy", "--lazy"]) == 0
    assert main(argv + ["--out", "full"]) == 0
    return [json.loads((tmp_path / d / "results.json").read_text()) for d in ("lazy", "full")]


def _check_lazy_record(lazy, full, n_pairs, tol):
    """A results.json section of a lazy run against the full run's: the same distance, fewer
    pairs solved, a certificate, and bounds below the full costs; returns the solved mask."""
    assert lazy["distance"]["all_rows"] == pytest.approx(full["distance"]["all_rows"], abs=tol)
    record = lazy["lazy"]
    assert record["n_pairs_solved"] < record["n_pairs"] == n_pairs
    assert record["support_solved"] and record["min_reduced_cost"] >= -1e-12
    solved = np.array(record["solved_pairs"])
    C_full = np.array(full["C"]["all_rows"])
    assert np.all(np.array(record["bounds"], dtype=float)[~solved] <= C_full[~solved])
    return solved


def test_align_lazy_records_the_certificate(tmp_path, monkeypatch):
    lazy, full = _align_lazy_and_full(tmp_path, monkeypatch, (400, (48,) * 5, (48,) * 6, 2))
    solved = _check_lazy_record(lazy, full, n_pairs=30, tol=1e-15)
    C_lazy = np.array(lazy["C"]["all_rows"], dtype=float)  # null -> nan where unsolved
    C_full = np.array(full["C"]["all_rows"])
    np.testing.assert_array_equal(C_lazy[solved], C_full[solved])
    assert np.all(np.isnan(C_lazy[~solved]))
    assert "lazy" not in full


def _trajectory(seed, K, L, n=40, T=300, drift=0.6):
    X, _, _ = make_hierarchy(T, (n,) * L, (n,) * L, random_state=seed)
    rng = np.random.default_rng(seed)
    return [[A + (K - 1 - k) * drift * A.std(0) * rng.standard_normal(A.shape) for A in X]
            for k in range(K)]


@pytest.mark.parametrize("K, Kp", [(3, 3), (3, 4)])
def test_lazy_trajectory_equals_the_full_fit(K, Kp):
    A = _trajectory(0, K, 4)
    B = _trajectory(0, Kp, 4)
    full = hotalign.TrajectoryHOT().fit(A, B)
    lazy = hotalign.TrajectoryHOT(lazy=True, lazy_rank=8).fit(A, B)
    assert lazy.distance_ == pytest.approx(full.distance_, rel=0, abs=1e-15)
    np.testing.assert_allclose(lazy.checkpoint_plan_, full.checkpoint_plan_, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(lazy.greedy_match_, full.greedy_match_)
    solved = lazy.solved_checkpoints_
    assert np.all(solved[lazy.checkpoint_plan_ > 0])
    np.testing.assert_array_equal(lazy.checkpoint_costs_[solved], full.checkpoint_costs_[solved])
    assert lazy.n_pairs_solved_ < full.n_pairs_solved_ == K * Kp * 16
    assert np.all(np.isnan(lazy.checkpoint_costs_[~solved]))


def test_lazy_trajectory_parameters_are_checked():
    A = _trajectory(1, 2, 2, n=8, T=60)
    with pytest.raises(ValueError, match="lazy must be a bool"):
        hotalign.TrajectoryHOT(lazy=1).fit(A, A)
    with pytest.raises(ValueError, match="lazy_rank"):
        hotalign.TrajectoryHOT(lazy=True, lazy_rank=0).fit(A, A)


def test_trajectory_cli_lazy(tmp_path, monkeypatch):
    import json

    from hotalign.cli import main

    monkeypatch.chdir(tmp_path)
    for name, K in (("A", 3), ("B", 3)):
        (tmp_path / name).mkdir()
        for k, ckpt in enumerate(_trajectory(4, K, 3)):
            np.savez(tmp_path / name / f"step_{k}.npz", **{f"l{i}": X for i, X in enumerate(ckpt)})
    base = ["trajectory", "A", "B", "--quiet", "--figure-format", "svg"]
    assert main(base + ["--out", "lazy", "--lazy"]) == 0
    assert main(base + ["--out", "full"]) == 0
    lazy, full = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("lazy", "full"))
    assert lazy["distance"]["value"] == pytest.approx(full["distance"]["value"], abs=1e-15)
    assert lazy["greedy_match"]["values"] == full["greedy_match"]["values"]
    assert lazy["lazy"]["layer_pairs_solved"] < lazy["lazy"]["layer_pairs"] == 81


def test_rotation_bounds_never_exceed_the_hot_r_costs():
    from hotalign.kinds import Rotation
    from hotalign.grid import solve_systems

    rng = np.random.default_rng(5)
    X = [rng.standard_normal((60, 12)), rng.standard_normal((60, 5)) @ rng.standard_normal((5, 12))]
    Y = [X[0] @ np.linalg.qr(rng.standard_normal((12, 12)))[0], rng.standard_normal((60, 9)),
         rng.standard_normal((60, 2)) @ rng.standard_normal((2, 15))]
    from hotalign.lazy import rotation_bounds

    Sx, Sy = _systems(X, Y)
    LB = rotation_bounds(Sx, Sy)
    C = solve_systems(Sx, Sy, rotation=Rotation(max_rounds=6)).costs
    assert np.all(LB <= C)
    assert LB[0, 0] < 0.01 and C[0, 0] < 0.01  # a rotated copy (up to standardisation)
    assert LB[1, 0] > 0.1  # a rank-5 layer against a full-rank one: spectra differ


def test_lazy_hot_r_equals_the_full_fit():
    rng = np.random.default_rng(2)
    # layers of different effective rank: their spectra tell distant pairs apart
    X = [rng.standard_normal((150, r)) @ rng.standard_normal((r, 20)) +
         0.05 * rng.standard_normal((150, 20)) for r in (2, 6, 14)]
    Y = [A @ np.linalg.qr(rng.standard_normal((20, 20)))[0] for A in X]
    full = HOT(rotation=True, max_rounds=4).fit(X, Y)
    lazy = HOT(rotation=True, max_rounds=4, lazy=True).fit(X, Y)
    assert lazy.distance_ == pytest.approx(full.distance_, rel=0, abs=1e-12)
    np.testing.assert_allclose(lazy.layer_plan_, full.layer_plan_, rtol=0, atol=1e-15)
    assert lazy.n_pairs_solved_ < 9
    for l, m in zip(*np.nonzero(lazy.solved_pairs_)):
        np.testing.assert_array_equal(lazy.rotations_[l][m], full.rotations_[l][m])
    unsolved = ~lazy.solved_pairs_
    assert all(lazy.rotations_[l][m] is None for l, m in zip(*np.nonzero(unsolved)))
    assert np.all(np.isnan(lazy.reconstruction_errors_[unsolved]))
    np.testing.assert_allclose(lazy.score(X, Y), full.score(X, Y), rtol=0, atol=1e-12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), T=st.integers(6, 40),
       ranks=st.lists(st.integers(1, 8), min_size=3, max_size=3))
def test_rotation_bounds_hold_on_random_layers(seed, T, ranks):
    from hotalign.kinds import Rotation
    from hotalign.grid import solve_systems
    from hotalign.lazy import rotation_bounds

    rng = np.random.default_rng(seed)
    widths = rng.integers(2, 12, size=3)
    layers = [rng.standard_normal((T, r)) @ rng.standard_normal((r, n)) +
              1e-3 * rng.standard_normal((T, n)) for r, n in zip(ranks, widths)]
    Sx, Sy = _systems(layers[:1], layers[1:])
    LB = rotation_bounds(Sx, Sy)
    C = solve_systems(Sx, Sy, rotation=Rotation(max_rounds=5)).costs
    assert np.all(LB >= 0) and np.all(LB <= C)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), T=st.integers(20, 70), rank=st.integers(1, 6),
       kind=st.sampled_from(["random", "related", "rotated", "low_rank", "float32"]))
def test_truncated_rotation_bounds_hold(seed, T, rank, kind):
    """Layers wider than the subspace (k' = rank + 8 < width): the residual terms of the bound
    are exercised, on random, related, rotated-copy and low-rank layers."""
    from hotalign.kinds import Rotation
    from hotalign.grid import solve_systems
    from hotalign.lazy import rotation_bounds

    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((T, 4))
    widths = rng.integers(rank + 10, rank + 24, size=4)

    def layer(n):
        if kind == "random":
            return rng.standard_normal((T, n))
        if kind == "low_rank":
            return rng.standard_normal((T, 3)) @ rng.standard_normal((3, n)) \
                + 1e-6 * rng.standard_normal((T, n))
        return latent @ rng.standard_normal((4, n)) + 0.3 * rng.standard_normal((T, n))

    X = [layer(n) for n in widths[:2]]
    Y = [layer(n) for n in widths[2:]]
    if kind == "rotated":  # a rotated copy: the square pair's cost is close to its bound
        Y[0] = X[0] @ np.linalg.qr(rng.standard_normal((widths[0], widths[0])))[0]
    Sx, Sy = _systems(X, Y, dtype="float32" if kind == "float32" else "float64")
    LB = rotation_bounds(Sx, Sy, rank=rank)
    C = solve_systems(Sx, Sy, rotation=Rotation(max_rounds=5)).costs
    assert np.all(np.isfinite(LB)) and np.all(LB >= 0) and np.all(LB <= C)


def test_lazy_hot_r_prunes_related_networks():
    """Two networks sharing a drifting hierarchy (noise 0.5): the rank-k nuclear-norm bounds
    separate distant layer pairs, so only the diagonal support is solved."""
    X, Y, _ = make_hierarchy(400, (64,) * 4, (64,) * 4, noise=0.5, random_state=0)
    full = HOT(rotation=True, max_rounds=3).fit(X, Y)
    lazy = HOT(rotation=True, max_rounds=3, lazy=True, lazy_rank=8).fit(X, Y)
    assert lazy.distance_ == pytest.approx(full.distance_, rel=0, abs=1e-12)
    np.testing.assert_allclose(lazy.layer_plan_, full.layer_plan_, rtol=0, atol=1e-15)
    assert lazy.n_pairs_solved_ == 4
    solved = lazy.solved_pairs_
    assert np.all(lazy.layer_cost_bounds_[~solved] <= full.layer_costs_[~solved])


def test_align_rotation_lazy_records_both_certificates(tmp_path, monkeypatch):
    """``align --rotation --lazy``: the HOT+R fit on all rows is lazy too, results.json records
    its solved pairs and certificate, and its distance equals the full run's."""
    lazy, full = (r["rotation"] for r in _align_lazy_and_full(
        tmp_path, monkeypatch, (300, (40,) * 4, (40,) * 4, 1), "--rotation"))
    _check_lazy_record(lazy, full, n_pairs=16, tol=1e-12)
    assert "lazy" not in full


@pytest.mark.parametrize("regime", ["related", "independent"])
def test_probe_skips_bounds_only_where_they_cannot_prune(regime):
    """The one-column probe: on independent layers every bound is below the probed exact cost,
    so the lazy fit solves every pair at once (one outer round); on related layers it bounds
    the grid and prunes. Both give the full fit's plan and distance."""
    rng = np.random.default_rng(4)
    if regime == "related":
        X, Y, _ = make_hierarchy(400, (48,) * 5, (48,) * 5, random_state=4)
    else:
        X = [rng.standard_normal((400, 48)) for _ in range(5)]
        Y = [rng.standard_normal((400, 48)) for _ in range(5)]
    full = HOT().fit(X, Y)
    lazy = HOT(lazy=True, lazy_rank=8).fit(X, Y)
    assert lazy.distance_ == pytest.approx(full.distance_, rel=0, abs=1e-15)
    np.testing.assert_allclose(lazy.layer_plan_, full.layer_plan_, rtol=0, atol=1e-15)
    cert = lazy.lazy_certificate_
    if regime == "related":
        assert not cert["bounds_skipped"] and lazy.n_pairs_solved_ < 25
    else:
        assert cert["bounds_skipped"] and lazy.n_pairs_solved_ == 25 and cert["rounds"] == 1
        np.testing.assert_array_equal(lazy.layer_costs_, full.layer_costs_)
