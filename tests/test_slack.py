"""Relaxed layer marginals in the estimators: the held-out choice of the slack (never on test
rows), evaluate's record of it, lazy, HOT+R, TrajectoryHOT and the cache, and the "done when"
checks on synthetic hierarchies of mismatched and of equal depth."""

import json
import math

import numpy as np
import pytest

import hotalign
from hotalign import HOT, TrajectoryHOT, evaluate, select_slack
from hotalign.cache import Memory
from hotalign.datasets import make_depth_mismatch, make_hierarchy
from hotalign.marginals import marginal_layer_plan


@pytest.fixture(scope="module")
def mismatch():
    X, Y, truth = make_depth_mismatch(n_stimuli=240, deep_depth=6, shallow_depth=3, width=12,
                                      random_state=0)
    return X, Y, truth


def test_select_slack_curve(mismatch):
    X, Y, _ = mismatch
    curve = select_slack(X, Y, grid=[math.inf, 0, 0.5, 0.5], n_splits=3, random_state=1)
    np.testing.assert_array_equal(curve.grid, [0.0, 0.5, math.inf])  # sorted, unique
    assert curve.scores.shape == (3, 3)
    np.testing.assert_allclose(curve.mean, curve.scores.mean(axis=0))
    assert curve.chosen == curve.grid[np.argmax(curve.mean)]
    again = select_slack(X, Y, grid=[0, 0.5, math.inf], n_splits=3, random_state=1)
    np.testing.assert_array_equal(again.scores, curve.scores)
    d = curve.to_dict()
    assert d["grid"] == [0.0, 0.5, "inf"]
    json.dumps(d, allow_nan=False)
    # The curve is the scores of fixed-slack plans on the folds' uniform costs.
    folds = np.array_split(np.random.default_rng(1).permutation(240), 3)
    held = np.sort(folds[0])
    rest = np.setdiff1d(np.arange(240), held)
    fit = HOT().fit([A[rest] for A in X], [B[rest] for B in Y])
    plan = marginal_layer_plan(fit.layer_costs_, "slack", 0.5).plan
    score = fit.layer_scores([A[held] for A in X], [B[held] for B in Y], 3 * plan).mean()
    assert curve.scores[0, 1] == pytest.approx(score, rel=1e-12)


def test_auto_fit_records_the_curve_and_the_chosen_slack(mismatch):
    X, Y, _ = mismatch
    hot = HOT(layer_marginals="auto", slack=[0, 0.25, math.inf], random_state=2).fit(X, Y)
    sel = hot.slack_selection_
    curve = select_slack(X, Y, grid=[0, 0.25, math.inf], random_state=2)
    np.testing.assert_array_equal(sel["scores"], curve.scores)
    assert float(sel["chosen"]) == curve.chosen
    record = hot.layer_marginals_
    assert record["rule"] == "slack"
    np.testing.assert_array_equal(record["slack"], [curve.chosen, curve.chosen])
    fixed = HOT(layer_marginals="slack", slack=curve.chosen).fit(X, Y)
    np.testing.assert_array_equal(hot.layer_plan_, fixed.layer_plan_)
    assert hot.distance_ == fixed.distance_


def _garbage_test_rows(X, Y, test, seed):
    rng = np.random.default_rng(seed)
    Xg = [A.copy() for A in X]
    Yg = [B.copy() for B in Y]
    for A in Xg + Yg:
        A[test] = rng.standard_normal((len(test), A.shape[1])) * 1e3 + 7
    return Xg, Yg


def test_auto_never_reads_test_rows(mismatch):
    X, Y, _ = mismatch
    T, n_test = 240, 48
    order = np.random.default_rng(5).permutation(T)  # evaluate's first split
    test = np.sort(order[:n_test])
    est = HOT(layer_marginals="auto", slack=[0, 0.1, 0.5, math.inf])
    clean = evaluate(X, Y, methods=["hot"], n_splits=1, test_size=0.2, random_state=5,
                     estimator=est)
    for seed in (0, 1):
        Xg, Yg = _garbage_test_rows(X, Y, test, seed)
        dirty = evaluate(Xg, Yg, methods=["hot"], n_splits=1, test_size=0.2, random_state=5,
                         estimator=est)
        np.testing.assert_array_equal(dirty.chosen_slack, clean.chosen_slack)
        np.testing.assert_array_equal(dirty.layer_plans, clean.layer_plans)
        assert dirty.mean("hot") != clean.mean("hot")  # the garbage was scored


def test_evaluate_reports_the_chosen_slack(mismatch):
    X, Y, _ = mismatch
    est = HOT(layer_marginals="auto", slack=[0, 0.5, math.inf])
    ev = evaluate(X, Y, methods=["hot", "pairwise_best", "hot_r"], n_splits=2,
                  estimator=est, random_state=0)
    assert ev.chosen_slack.shape == (2,) and ev.rotation_chosen_slack.shape == (2,)
    assert set(ev.chosen_slack) <= {0.0, 0.5, math.inf}
    full = HOT(layer_marginals="auto", slack=[0, 0.5, math.inf]).fit(X, Y)
    d = ev.to_dict(full=full)
    json.dumps(d, allow_nan=False)
    record = d["layer_marginals"]
    assert record["rule"] == "auto" and record["slack"] == [0.0, 0.5, "inf"]
    assert record["chosen_slack"]["splits"] == [
        "inf" if math.isinf(s) else s for s in ev.chosen_slack]
    assert len(record["chosen_slack"]["rotation_splits"]) == 2
    assert record["selection"]["chosen"] == hotalign.slack.slack_to_json(
        float(full.slack_selection_["chosen"]))
    np.testing.assert_allclose(record["column_sums"]["all_rows"], full.layer_plan_.sum(axis=0))
    assert "columns within the bounds" in d["P"]["meaning"]
    # the uniform rule adds nothing to results.json
    plain = evaluate(X, Y, methods=["hot"], n_splits=2, random_state=0)
    assert plain.chosen_slack is None and "layer_marginals" not in plain.to_dict()


@pytest.mark.parametrize("s", [0.25, 1.0, math.inf])
def test_lazy_fit_certifies_the_bounded_plan(s):
    X, Y, _ = make_hierarchy(300, (24,) * 4, (24,) * 9, n_latent=6, noise=0.2, random_state=4)
    full = HOT(layer_marginals="slack", slack=s).fit(X, Y)
    lazy = HOT(layer_marginals="slack", slack=s, lazy=True, lazy_rank=4).fit(X, Y)
    np.testing.assert_allclose(lazy.layer_plan_, full.layer_plan_, atol=1e-15)
    assert lazy.distance_ == pytest.approx(full.distance_, rel=1e-12)
    assert lazy.lazy_certificate_["min_reduced_cost"] >= -1e-12
    assert lazy.layer_marginals_["certificate"]["ok"]
    solved = lazy.solved_pairs_
    assert solved[lazy.layer_plan_ > 0].all()
    np.testing.assert_allclose(lazy.score(X, Y), full.score(X, Y), rtol=1e-12)


def test_lazy_auto_selects_on_full_fold_fits(mismatch):
    X, Y, _ = mismatch
    grid = [0, 0.5, math.inf]
    lazy = HOT(layer_marginals="auto", slack=grid, lazy=True, lazy_rank=2).fit(X, Y)
    full = HOT(layer_marginals="auto", slack=grid).fit(X, Y)
    assert float(lazy.slack_selection_["chosen"]) == float(full.slack_selection_["chosen"])
    np.testing.assert_allclose(lazy.layer_plan_, full.layer_plan_, atol=1e-15)
    assert lazy.lazy_certificate_ is not None


def test_lazy_uniform_records_its_duals():
    X, Y, _ = make_hierarchy(200, (16,) * 3, (16,) * 5, n_latent=4, random_state=0)
    lazy = HOT(lazy=True, lazy_rank=4).fit(X, Y)
    record = lazy.layer_marginals_
    assert record["rule"] == "uniform" and record["certificate"]["ok"]
    np.testing.assert_array_equal(lazy.layer_plan_, HOT().fit(X, Y).layer_plan_)


def test_rotation_with_slack(mismatch):
    X, Y, _ = mismatch
    rot = HOT(rotation=True, max_rounds=3, layer_marginals="slack", slack=0.5).fit(X, Y)
    record = rot.layer_marginals_
    assert record["certificate"]["ok"]
    col = rot.layer_plan_.sum(axis=0)
    assert (col >= 0.5 / 6 - 1e-12).all() and (col <= 1.5 / 6 + 1e-12).all()
    expected = marginal_layer_plan(rot.layer_costs_, "slack", 0.5).plan
    np.testing.assert_array_equal(rot.layer_plan_, expected)
    assert np.isfinite(rot.score(X, Y))


def test_trajectory_with_slack():
    rng = np.random.default_rng(0)
    A = [[rng.standard_normal((40, 6)) for _ in range(2)] for _ in range(3)]
    B = [[rng.standard_normal((40, 6)) for _ in range(4)] for _ in range(2)]
    full = TrajectoryHOT(layer_marginals="slack", slack=1.0).fit(A, B)
    lazy = TrajectoryHOT(layer_marginals="slack", slack=1.0, lazy=True, lazy_rank=2).fit(A, B)
    for k in range(3):
        for kp in range(2):
            r = marginal_layer_plan(full.layer_costs_[k, kp], "slack", 1.0)
            np.testing.assert_array_equal(full.layer_plans_[k, kp], r.plan)
            assert full.checkpoint_costs_[k, kp] == pytest.approx(r.objective, rel=1e-12)
    np.testing.assert_allclose(lazy.checkpoint_plan_, full.checkpoint_plan_, atol=1e-15)
    assert lazy.distance_ == pytest.approx(full.distance_, rel=1e-12)
    uniform = TrajectoryHOT().fit(A, B)
    assert (full.checkpoint_costs_ <= uniform.checkpoint_costs_ + 1e-12).all()
    with pytest.raises(ValueError, match="layer_marginals='auto' is not supported"):
        TrajectoryHOT(layer_marginals="auto").fit(A, B)


def test_cache_restores_a_relaxed_fit(tmp_path, mismatch):
    X, Y, _ = mismatch
    first = HOT(layer_marginals="auto", slack=[0, 0.5], memory=tmp_path).fit(X, Y)
    plan, chosen = first.layer_plan_.copy(), float(first.slack_selection_["chosen"])
    memory = Memory(tmp_path)
    again = HOT(layer_marginals="auto", slack=[0, 0.5], memory=memory).fit(X, Y)
    assert memory.fits.hits == 1  # restored, not refitted
    np.testing.assert_array_equal(again.layer_plan_, plan)
    assert float(again.slack_selection_["chosen"]) == chosen
    # layer_marginals_ is derived: the restored fit re-solves the LP and certifies its plan
    assert "_layer_marginals" not in vars(again)
    assert again.layer_marginals_["certificate"]["ok"] is True
    for key in ("lower", "upper", "column_sums", "row_duals", "column_duals"):
        np.testing.assert_array_equal(again.layer_marginals_[key], first.layer_marginals_[key])
    assert again.marginal_rule_ == first.marginal_rule_ == ("slack", (chosen, chosen))
    assert not hasattr(HOT(), "layer_marginals_")
    other = HOT(layer_marginals="slack", slack=0.5, memory=tmp_path).fit(X, Y)
    assert other.slack_selection_ is None


def test_select_slack_errors(mismatch):
    X, Y, _ = mismatch
    with pytest.raises(ValueError, match="n_splits"):
        select_slack(X, Y, n_splits=1)
    with pytest.raises(ValueError, match="fewer than 3 rows"):
        select_slack([A[:8] for A in X], [B[:8] for B in Y], n_splits=3)
    with pytest.raises(ValueError, match=r"grid\[1\] must be >= 0"):
        select_slack(X, Y, grid=[0, -1])
    with pytest.raises(ValueError, match="estimator must be a hotalign.HOT"):
        select_slack(X, Y, estimator="HOT")


# -- "done when" --------------------------------------------------------------------------------
def _scores(X, Y, seed, n_splits=5):
    base = evaluate(X, Y, methods=["hot", "pairwise_best"], n_splits=n_splits,
                    random_state=seed)
    auto = evaluate(X, Y, methods=["hot"], n_splits=n_splits, random_state=seed,
                    estimator=HOT(layer_marginals="auto"))
    return base.mean("hot"), base.mean("pairwise_best"), auto.mean("hot"), auto


MISMATCHED = [
    dict(random_state=0),                                    # contiguous groups, all used
    dict(groups=[[0], [4], [8], [11]], random_state=5),      # layers of Y that match nothing
    dict(deep_depth=8, shallow_depth=3, random_state=2),
]


@pytest.mark.slow
@pytest.mark.parametrize("kwargs", MISMATCHED)
def test_auto_matches_the_better_end_on_mismatched_depth(kwargs):
    X, Y, _ = make_depth_mismatch(n_stimuli=600, width=32, **kwargs)
    hot, pairwise, auto, ev = _scores(X, Y, seed=0)
    assert auto >= max(hot, pairwise) - 0.002, (hot, pairwise, auto, ev.chosen_slack)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_auto_keeps_uniform_hot_on_equal_depth(seed):
    X, Y, _ = make_hierarchy(600, (32,) * 5, (48,) * 5, random_state=seed)
    hot, _, auto, ev = _scores(X, Y, seed=seed)
    assert auto >= hot - 0.002, (hot, auto, ev.chosen_slack)
    X, Y, _ = make_depth_mismatch(n_stimuli=600, deep_depth=5, shallow_depth=5, width=32,
                                  random_state=seed)
    hot, _, auto, ev = _scores(X, Y, seed=seed)
    assert abs(auto - hot) <= 0.002, (hot, auto, ev.chosen_slack)


def test_auto_with_layer_handles_and_lazy_rotation(mismatch):
    X, Y, _ = mismatch
    grid = [0, 0.5, math.inf]
    kw = dict(methods=["hot"], n_splits=2, random_state=0)
    held = evaluate(X, Y, estimator=HOT(layer_marginals="auto", slack=grid,
                                        max_layers_in_memory=2), **kw)
    plain = evaluate(X, Y, estimator=HOT(layer_marginals="auto", slack=grid), **kw)
    np.testing.assert_array_equal(held.split_scores["hot"], plain.split_scores["hot"])
    np.testing.assert_array_equal(held.chosen_slack, plain.chosen_slack)
    rot = HOT(layer_marginals="auto", slack=grid, lazy=True, rotation=True, max_rounds=2)
    rot.fit(X, Y)
    assert rot.layer_marginals_["certificate"]["ok"]
    assert rot.lazy_certificate_["min_reduced_cost"] >= -1e-12
