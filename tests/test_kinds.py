"""Pair kinds (:mod:`hotalign.kinds`): a kind is all the engine needs to know about a pair."""

import subprocess
import sys

import numpy as np
import pytest

import hotalign
from hotalign import HOT
from hotalign.cache import Memory
from hotalign.costs import zscore
from hotalign.datasets import make_hierarchy
from hotalign.engine import solve_pairs
from hotalign.evaluation import Evaluation
from hotalign.grid import solve_systems
from hotalign.hierarchy import reconstruct, reconstruct_layer
from hotalign.kinds import PLAIN, Plain, Rotation, pair_kind
from hotalign.results import MaxIterError, TransportResult, raise_for_status
from hotalign.systems import StandardizedSystem
from hotalign.transport import solve_transport


class DenseKind:
    """A third kind, defined outside the package: the dense correlation-distance tile solved
    one pair at a time on the calling thread, its cost shifted by ``shift``."""

    result_type = TransportResult
    dtype = None
    keeps_results = False
    budgeted = True

    def __init__(self, shift=0.0):
        self.shift = shift
        self.calls = 0

    def check_marginals(self, a, b):
        if a is not None or b is not None:
            raise ValueError("DenseKind pairs use uniform marginals")

    def run_local(self, Zx, Zy, todo, finished, *, n_threads, keep_plans, a, b, max_iter):
        for l, m in todo:
            self.calls += 1
            K = 1.0 - np.asarray(Zx[l], np.float64).T @ np.asarray(Zy[m], np.float64)
            finished(l, m, solve_transport(K + self.shift))

    def cache_tag(self):
        return f"dense:{self.shift!r}"

    def plan_of(self, result):
        return result


@pytest.fixture(scope="module")
def layers():
    X, Y, _ = make_hierarchy(80, (6, 9), (9, 6, 7), random_state=3)
    return [zscore(A) for A in X], [zscore(B) for B in Y]


def test_a_third_kind_runs_on_the_engine_unchanged(layers):
    Zx, Zy = layers
    plain = solve_pairs(Zx, Zy)
    dense = solve_pairs(Zx, Zy, kind=DenseKind())
    np.testing.assert_allclose(dense.costs, plain.costs, rtol=0, atol=1e-12)
    shifted = solve_pairs(Zx, Zy, kind=DenseKind(shift=0.5), pairs=[(1, 2)])
    assert shifted.costs[1, 2] == pytest.approx(plain.costs[1, 2] + 0.5, abs=1e-12)
    assert np.isnan(shifted.costs[0, 0]) and shifted.statuses[0, 0] == "unsolved"
    with pytest.raises(ValueError, match="DenseKind pairs use uniform marginals"):
        solve_pairs(Zx, Zy, kind=DenseKind(), a=[None, None])


def test_a_third_kind_is_cached_under_its_own_tag(layers, tmp_path):
    Zx, Zy = layers
    Sx, Sy = StandardizedSystem.from_standardized(Zx), StandardizedSystem.from_standardized(Zy)
    cache = Memory(tmp_path).pairs
    kind = DenseKind(shift=0.25)
    first = solve_systems(Sx, Sy, kind=kind, cache=cache)
    assert kind.calls == 6
    again = solve_systems(Sx, Sy, kind=kind, cache=cache)  # every pair from the cache
    assert kind.calls == 6
    np.testing.assert_array_equal(again.costs, first.costs)
    other = DenseKind(shift=0.5)  # another tag: nothing shared
    solve_systems(Sx, Sy, kind=other, cache=cache)
    assert other.calls == 6
    plain = solve_systems(Sx, Sy, cache=cache)  # nor with plain pairs
    np.testing.assert_allclose(plain.costs + 0.25, first.costs, rtol=0, atol=1e-12)


def test_cache_tags_are_the_stored_format():
    # part of every pair key on disk: changing them would orphan existing caches
    assert PLAIN.cache_tag() == "plain"
    assert Rotation().cache_tag() == "rotation:10:1e-06:True"
    assert Rotation(3, 0.5, False).cache_tag() == "rotation:3:0.5:False"


def test_pair_kind_resolution():
    assert pair_kind() is PLAIN and isinstance(PLAIN, Plain)
    r = Rotation(max_rounds=2)
    assert pair_kind(rotation=r) is r and pair_kind(kind=r) is r
    with pytest.raises(ValueError, match="not both"):
        pair_kind(kind=r, rotation=r)
    with pytest.raises(ValueError, match="kind must be a pair kind.*run_local"):
        pair_kind(kind=object())


def test_rotation_kind_matches_the_estimator(layers):
    Zx, Zy = layers
    grid = solve_pairs(Zx, Zy, kind=Rotation(max_rounds=3), n_threads=2)
    assert grid.rotations is not None
    for l in range(2):
        for m in range(3):
            pair = grid.rotations[l][m]
            assert pair.cost == grid.costs[l, m]
            assert pair.plan is grid.plans[l][m]
    with pytest.raises(ValueError, match="uniform marginals"):
        solve_pairs(Zx, Zy, kind=Rotation(), a=[None, None])


def test_plain_fits_never_import_the_rotation_module():
    code = ("import sys, hotalign; X, Y, _ = hotalign.datasets.make_hierarchy(60, (5,), (5,));"
            "hotalign.HOT().fit(X, Y); print('hotalign.rotation' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_fitted_attributes_come_from_the_kind():
    X, Y, _ = make_hierarchy(60, (5, 6), (6,), random_state=1)
    plain = HOT().fit(X, Y)
    assert plain.rotations_ is None and plain.n_rounds_ is None
    rot = HOT(rotation=True, max_rounds=2).fit(X, Y)
    assert rot.n_rounds_.shape == (2, 1) and rot.rotations_[1][0].shape == (6, 6)
    assert isinstance(rot._pair_kind(), Rotation) and plain._pair_kind() is PLAIN


def test_raise_for_status_maps_every_status():
    raise_for_status(0)
    with pytest.raises(ValueError, match=r"^step failed \(infeasible\): totals differ$"):
        raise_for_status(1, what="step", detail="totals differ")
    with pytest.raises(ValueError, match=r"failed \(error\)"):
        raise_for_status(-1, what="step")
    with pytest.raises(RuntimeError, match=r"failed \(unbounded\)"):
        raise_for_status(2, what="step")
    res = solve_transport(np.array([[0.0, 1.0], [1.0, 0.0]]))
    raise_for_status(res, 5)
    capped = TransportResult(rows=res.rows, cols=res.cols, weights=res.weights, cost=res.cost,
                             u=res.u, v=res.v, status="max_iter", n_iter=5, shape=res.shape)
    with pytest.raises(MaxIterError, match="max_iter=5 pivots") as err:
        raise_for_status(capped, 5, "a pair")
    assert err.value.result is capped


def test_rotation_costs_in_to_dict_average_the_splits_that_solved_them():
    # a lazy split leaves a pair unsolved (NaN): the mean is over the other splits, as for C
    costs = np.array([[[0.2, np.nan]], [[0.4, 0.3]]])  # 2 splits, L=1, M=2
    plans = np.array([[[0.5, 0.5]], [[0.5, 0.5]]])
    ev = Evaluation(("hot_r",), {"hot_r": np.zeros(2)}, {"hot_r": np.zeros((2, 1))}, plans,
                    costs, np.zeros(2), {"hot_r": np.zeros((2, 1), np.int64)},
                    rotation_layer_plans=plans, rotation_layer_costs=costs,
                    rotation_distances=np.zeros(2))
    out = ev.to_dict()
    assert out["rotation"]["C"]["mean_over_splits"][0] == pytest.approx([0.3, 0.3])
    assert out["C"]["mean_over_splits"] == out["rotation"]["C"]["mean_over_splits"]
    costs[:, 0, 1] = np.nan  # solved by no split: null in results.json
    assert np.isnan(ev.to_dict()["rotation"]["C"]["mean_over_splits"][0][1])


def test_evaluate_standardises_each_split_once(monkeypatch):
    import hotalign.estimator as est

    calls = []
    real = est.standardize_system
    monkeypatch.setattr(est, "standardize_system",
                        lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    X, Y, _ = make_hierarchy(60, (5, 6), (6,), random_state=2)
    ev = hotalign.evaluate(X, Y, methods=["hot", "hot_r"], n_splits=2)
    assert calls == ["X", "Y"] * 2  # one standardisation per system and split, not two
    assert ev.rotation_layer_costs.shape == (2, 2, 1)
    calls.clear()
    hotalign.evaluate(X, Y, methods=["hot", "hot_r"], n_splits=2,
                      estimator=HOT(dtype="float32"))  # HOT+R works in float64: one each
    assert calls == ["X", "Y", "X", "Y"] * 2


def test_one_reconstruction_serves_every_weighting(monkeypatch):
    import hotalign.hierarchy as hierarchy

    X, Y, _ = make_hierarchy(60, (5, 6), (6, 4), random_state=4)
    fit = HOT().fit(X, Y)
    Zy = [zscore(B) for B in Y]
    weightings = [2 * fit.layer_plan_, np.ones((2, 2)), np.array([[0.0, 1.0], [0.0, 0.0]])]
    calls = []
    real = hierarchy._pair_term
    monkeypatch.setattr(hierarchy, "_pair_term", lambda *a: calls.append(1) or real(*a))
    got = [reconstruct_layer(Zy, fit.unit_plans_, weightings, l) for l in range(2)]
    assert len(calls) == 4  # each of the 2 x 2 pair terms once for the three weightings
    for l in range(2):
        for w, Xhat in zip(weightings, got[l]):
            np.testing.assert_array_equal(Xhat, reconstruct(Zy, fit.unit_plans_, w)[l])
    scores = fit.layer_scores_by_weighting([A[:20] for A in X], [B[:20] for B in Y],
                                           {"a": weightings[0], "b": weightings[1]})
    assert scores["b"].tolist() == fit.layer_scores([A[:20] for A in X], [B[:20] for B in Y],
                                                    weightings[1]).tolist()
