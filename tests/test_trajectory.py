"""Tests of three-level HOT over training trajectories (``hotalign.TrajectoryHOT``)."""

import numpy as np
import ot
import pytest

from hotalign import HOT, TrajectoryHOT


def smooth_trajectory(times, rng_seed=0, T=120, widths=(8, 10), theta=1.2):
    """Checkpoints at ``times`` of a network whose units turn smoothly from one tuning to
    another: layer l at time t is ``cos(theta t) P_l + sin(theta t) S_l``, so unit i at t and
    t' correlate about ``cos(theta (t - t'))``."""
    rng = np.random.default_rng(rng_seed)
    P = [rng.standard_normal((T, n)) for n in widths]
    S = [rng.standard_normal((T, n)) for n in widths]
    return [[np.cos(theta * t) * p + np.sin(theta * t) * s for p, s in zip(P, S)] for t in times]


def _support_is_monotone(G):
    k, kp = np.nonzero(G > 1e-12)
    order = np.lexsort((kp, k))
    return bool(np.all(np.diff(kp[order]) >= 0))


def test_self_gives_identity():
    A = smooth_trajectory(np.linspace(0, 1, 5))
    traj = TrajectoryHOT().fit(A, A)
    np.testing.assert_allclose(traj.checkpoint_plan_, np.eye(5) / 5, atol=1e-15)
    np.testing.assert_allclose(np.diag(traj.checkpoint_costs_), 0, atol=1e-12)
    np.testing.assert_array_equal(traj.greedy_match_, np.arange(5))
    assert traj.distance_ == pytest.approx(0, abs=1e-12)
    assert traj.layer_costs_.shape == (5, 5, 2, 2)


def test_time_warped_copy_gives_monotone_coupling():
    A = smooth_trajectory(np.linspace(0, 1, 6))
    B = smooth_trajectory(np.linspace(0, 1, 9) ** 2)     # resampled by a monotone map
    traj = TrajectoryHOT().fit(A, B)
    G = traj.checkpoint_plan_
    np.testing.assert_allclose(G.sum(axis=1), 1 / 6, atol=1e-15)
    np.testing.assert_allclose(G.sum(axis=0), 1 / 9, atol=1e-15)
    assert _support_is_monotone(G)
    assert np.all(np.diff(traj.greedy_match_) >= 0)
    # The coupling is optimal for D.
    D = traj.checkpoint_costs_
    ref = ot.emd2(np.full(6, 1 / 6), np.full(9, 1 / 9), D)
    assert traj.distance_ == pytest.approx(ref, abs=1e-12)


def test_swapping_transposes():
    A = smooth_trajectory(np.linspace(0, 1, 4), widths=(8, 6, 10))
    B = smooth_trajectory(np.linspace(0.2, 0.9, 5), rng_seed=0, widths=(8, 6, 10))
    ab = TrajectoryHOT().fit(A, B)
    ba = TrajectoryHOT().fit(B, A)
    np.testing.assert_allclose(ba.checkpoint_costs_, ab.checkpoint_costs_.T, atol=1e-12)
    np.testing.assert_allclose(ba.checkpoint_plan_, ab.checkpoint_plan_.T, atol=1e-15)
    np.testing.assert_allclose(ba.layer_costs_, ab.layer_costs_.transpose(1, 0, 3, 2),
                               atol=1e-12)


def test_matches_two_level_hot(rng):
    A = [[rng.standard_normal((50, n)) for n in (6, 9)] for _ in range(3)]
    B = [[rng.standard_normal((50, m)) for m in (7, 5, 6)] for _ in range(2)]
    traj = TrajectoryHOT(n_threads=2).fit(A, B)
    for k in range(3):
        for kp in range(2):
            hot = HOT().fit(A[k], B[kp])
            assert traj.checkpoint_costs_[k, kp] == pytest.approx(hot.distance_, abs=1e-12)
            np.testing.assert_allclose(traj.layer_plans_[k, kp], hot.layer_plan_, atol=1e-15)
    G = ot.emd(np.full(3, 1 / 3), np.full(2, 1 / 2), traj.checkpoint_costs_)
    np.testing.assert_allclose(traj.checkpoint_plan_, G, atol=1e-15)
    greedy = np.zeros((3, 2))
    greedy[np.arange(3), np.argmin(traj.checkpoint_costs_, axis=1)] = 1 / 3
    np.testing.assert_array_equal(traj.greedy_plan_, greedy)
    one = TrajectoryHOT(n_threads=1).fit(A, B)
    np.testing.assert_array_equal(one.checkpoint_costs_, traj.checkpoint_costs_)


def test_params_protocol():
    t = TrajectoryHOT(n_threads=2)
    assert t.get_params() == {"constant_units": "exclude", "n_threads": 2, "dtype": "float64",
                              "memory": None, "lazy": False, "lazy_rank": 32,
                              "layer_marginals": "uniform", "slack": None}
    assert t.set_params(dtype="float32") is t
    assert repr(t) == ("TrajectoryHOT(constant_units='exclude', dtype='float32', "
                       "layer_marginals='uniform', lazy=False, lazy_rank=32, memory=None, "
                       "n_threads=2, slack=None)")
    with pytest.raises(ValueError, match="invalid parameter 'rotation'"):
        t.set_params(rotation=True)


# -- bad input ------------------------------------------------------------------------------------
def _ckpt(rng, T=30, widths=(5, 6)):
    return [rng.standard_normal((T, n)) for n in widths]


def test_different_layer_counts(rng):
    A = [_ckpt(rng), _ckpt(rng, widths=(5,))]
    with pytest.raises(ValueError, match=r"A\[1\] has 1 layers but A\[0\] has 2"):
        TrajectoryHOT().fit(A, [_ckpt(rng)])
    with pytest.raises(ValueError, match=r"B\[1\] has 1 layers"):
        TrajectoryHOT().fit([_ckpt(rng)], A)


def test_row_mismatch_between_trajectories(rng):
    with pytest.raises(ValueError, match="A and B must hold the same stimuli"):
        TrajectoryHOT().fit([_ckpt(rng, T=30)], [_ckpt(rng, T=31)])


def test_row_mismatch_inside_trajectory(rng):
    with pytest.raises(ValueError,
                       match=r"A\[0\] and A\[1\] must hold the same stimuli: .*A\[1\] has 31"):
        TrajectoryHOT().fit([_ckpt(rng), _ckpt(rng, T=31)], [_ckpt(rng)])


@pytest.mark.parametrize("bad,match", [([], "A is empty"), ([[]], r"A\[0\] is empty"),
                                       (np.zeros((2, 3)), "A must be a list"),
                                       (3, "A must be a list")])
def test_empty_or_malformed(rng, bad, match):
    with pytest.raises(ValueError, match=match):
        TrajectoryHOT().fit(bad, [_ckpt(rng)])


def test_empty_b(rng):
    with pytest.raises(ValueError, match="B is empty"):
        TrajectoryHOT().fit([_ckpt(rng)], [])


def test_bad_params(rng):
    with pytest.raises(ValueError, match="n_threads"):
        TrajectoryHOT(n_threads=0).fit([_ckpt(rng)], [_ckpt(rng)])
    with pytest.raises(ValueError, match="constant_units"):
        TrajectoryHOT(constant_units="drop").fit([_ckpt(rng)], [_ckpt(rng)])
