"""Tests of ``hotalign.evaluate``: the split protocol against the reference implementation."""

import json

import numpy as np
import pytest
from reference_hot import (
    ReferenceHOT,
    pairwise_best_weights,
    perm_p_weights,
    single_best_weights,
)

import hotalign
from hotalign import HOT, evaluate
from hotalign.datasets import make_hierarchy

LABELS = {"hot": "HOT", "perm_p": "Perm-P", "single_best": "Single-Best OT",
          "pairwise_best": "Pairwise-Best OT"}


def reference_evaluate(X, Y, n_splits, test_size, random_state):
    """The protocol with the reference HOT, drawing splits and Perm-P seeds as evaluate does:
    one generator seeded by ``random_state``; per split a permutation of the T rows (the first
    ``round(test_size * T)`` held out), then one integer seeding Perm-P's row permutation."""
    rng = np.random.default_rng(random_state)
    T, L = X[0].shape[0], len(X)
    n_test = int(round(test_size * T))
    out = {m: [] for m in LABELS}
    layers = {m: [] for m in LABELS}
    plans, costs, dists, weights = [], [], [], []
    for _ in range(n_splits):
        order = rng.permutation(T)
        test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
        ref = ReferenceHOT().fit([A[train] for A in X], [B[train] for B in Y])
        perm = np.random.default_rng(rng.integers(2**63)).permutation(L)
        w = {
            "hot": L * ref.P,
            "perm_p": perm_p_weights(ref.P, perm),
            "single_best": single_best_weights(ref.P),
            "pairwise_best": pairwise_best_weights(ref.C),
        }
        for m, wm in w.items():
            s, _ = ref.layer_scores([A[test] for A in X], [B[test] for B in Y], wm)
            layers[m].append(s)
            out[m].append(s.mean())
        plans.append(ref.P)
        costs.append(ref.C)
        dists.append(ref.distance)
        weights.append(w)
    return ({m: np.array(v) for m, v in out.items()}, {m: np.array(v) for m, v in layers.items()},
            np.array(plans), np.array(costs), np.array(dists), weights)


@pytest.fixture(scope="module")
def data():
    X, Y, _ = make_hierarchy(240, (16, 12, 20, 8), (12, 24, 16, 10, 20), random_state=5)
    return X, Y


@pytest.mark.parametrize("test_size,random_state", [(0.2, 0), (0.3, 11)])
def test_matches_reference(data, test_size, random_state):
    X, Y = data
    ev = evaluate(X, Y, n_splits=3, test_size=test_size, random_state=random_state)
    scores, layers, plans, costs, dists, _ = reference_evaluate(X, Y, 3, test_size, random_state)
    assert ev.methods == tuple(LABELS)
    for m in LABELS:
        np.testing.assert_allclose(ev.split_scores[m], scores[m], rtol=0, atol=1e-10)
        np.testing.assert_allclose(ev.layer_scores[m], layers[m], rtol=0, atol=1e-10)
        assert ev.mean(m) == pytest.approx(scores[m].mean(), abs=1e-10)
        assert ev.std(m) == pytest.approx(scores[m].std(), abs=1e-10)
        np.testing.assert_array_equal(ev.n_left_out[m], 0)
    np.testing.assert_allclose(ev.layer_plans, plans, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ev.layer_costs, costs, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ev.distances, dists, rtol=0, atol=1e-10)
    # HOT beats its layer-shuffled control on structured data.
    assert ev.mean("hot") > ev.mean("perm_p")


def test_baseline_weights(rng):
    # Both X layers are noisy copies of Y[0]: Pairwise-Best sends both to Y[0], while the
    # layer plan (L == M, a permutation) must send one of them to Y[1].
    A, B, _ = make_hierarchy(200, (16,), (16,), random_state=8)
    base, other = A[0], B[0]
    X = [base + 0.3 * rng.standard_normal(base.shape),
         base + 0.4 * rng.standard_normal(base.shape)]
    Y = [base, other]
    ev = evaluate(X, Y, n_splits=2, test_size=0.25, random_state=2)
    _, layers, _, _, _, weights = reference_evaluate(X, Y, 2, 0.25, 2)
    for w in weights:
        np.testing.assert_array_equal(w["pairwise_best"], [[1, 0], [1, 0]])
        assert not np.array_equal(w["single_best"], w["pairwise_best"])
        np.testing.assert_allclose(w["single_best"], w["hot"], atol=1e-15)  # L P: a permutation
    for m in LABELS:
        np.testing.assert_allclose(ev.layer_scores[m], layers[m], rtol=0, atol=1e-10)
    assert not np.allclose(ev.layer_scores["single_best"], ev.layer_scores["pairwise_best"])
    np.testing.assert_array_equal(ev.layer_scores["single_best"], ev.layer_scores["hot"])


def test_perm_p_is_seeded(data):
    X, Y = data
    a = evaluate(X, Y, methods=["perm_p"], n_splits=2, random_state=3)
    b = evaluate(X, Y, methods=["perm_p"], n_splits=2, random_state=3)
    c = evaluate(X, Y, methods=["perm_p"], n_splits=2, random_state=4)
    np.testing.assert_array_equal(a.split_scores["perm_p"], b.split_scores["perm_p"])
    np.testing.assert_array_equal(a.layer_plans, b.layer_plans)
    assert not np.array_equal(a.split_scores["perm_p"], c.split_scores["perm_p"])


def test_method_subset_and_order(data):
    X, Y = data
    ev = evaluate(X, Y, methods=["pairwise_best", "hot"], n_splits=2)
    full = evaluate(X, Y, n_splits=2)
    assert ev.methods == ("pairwise_best", "hot")
    assert set(ev.split_scores) == {"pairwise_best", "hot"}
    for m in ev.methods:  # the splits do not depend on which methods are scored
        np.testing.assert_array_equal(ev.split_scores[m], full.split_scores[m])
    table = ev.table()
    assert table.index("Pairwise-Best OT") < table.index("| HOT |")
    assert "Perm-P" not in table and "Single-Best" not in table


def test_results_serialise(data):
    X, Y = data
    ev = evaluate(X, Y, n_splits=2, random_state=1)
    d = json.loads(ev.to_json())
    assert set(d["scores"]) == set(LABELS)
    for m in LABELS:
        assert d["scores"][m]["mean"] == pytest.approx(ev.mean(m), abs=1e-15)
        assert d["scores"][m]["std"] == pytest.approx(ev.std(m), abs=1e-15)
        assert len(d["scores"][m]["splits"]) == 2
        assert len(d["scores"][m]["layers"]) == 4
    assert np.array(d["P"]["mean_over_splits"]).shape == (4, 5)
    assert np.array(d["C"]["mean_over_splits"]).shape == (4, 5)
    assert "all_rows" not in d["C"] and "constant_units" not in d
    assert d["evaluation"]["n_splits"] == 2 and d["evaluation"]["n_stimuli"] == 240
    full = HOT().fit(X, Y)
    names = [f"x{l}" for l in range(4)]
    d = ev.to_dict(names, None, full)
    assert list(d["scores"]["hot"]["layers"]) == names
    np.testing.assert_array_equal(d["C"]["all_rows"], full.layer_costs_)
    assert d["distance"]["all_rows"] == full.distance_ and d["constant_units"]["count"] == 0


def test_table_names_every_method(data):
    X, Y = data
    ev = evaluate(X, Y, n_splits=2)
    table = ev.table()
    assert str(ev) == table
    assert "over 2 splits" in table
    for m, label in LABELS.items():
        assert f"| {label} | {ev.mean(m):.4f} ± {ev.std(m):.4f} |" in table


def test_estimator_and_progress(data):
    X, Y = data
    seen = []
    est = HOT(dtype="float32", n_threads=1)
    ev = evaluate(X, Y, n_splits=3, estimator=est, progress=lambda k, n: seen.append((k, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert ev.params["estimator"] == repr(est)
    ev64 = evaluate(X, Y, n_splits=3)
    np.testing.assert_allclose(ev.layer_plans, ev64.layer_plans, atol=1e-12)
    assert ev.mean() == pytest.approx(ev64.mean(), abs=1e-4)


def test_constant_unit_counted(data):
    X, Y = data
    X = [A.copy() for A in X]
    X[2][:, 4] = 1.5  # constant everywhere: excluded in training and never scored
    ev = evaluate(X, Y, n_splits=2)
    for m in LABELS:
        np.testing.assert_array_equal(ev.n_left_out[m][:, 2], 1)
        assert np.isfinite(ev.split_scores[m]).all()


# -- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize("test_size", [0, 1, -0.1, 1.5, 0.0, 1.0, "0.2", None, True])
def test_bad_test_size(data, test_size):
    with pytest.raises(ValueError, match="test_size"):
        evaluate(*data, test_size=test_size)


def test_test_size_leaves_too_few_rows():
    X, Y, _ = make_hierarchy(20, (4,), (5,), random_state=0)
    with pytest.raises(ValueError, match=r"test_size=0.1 leaves 2 held-out"):
        evaluate(X, Y, test_size=0.1)
    with pytest.raises(ValueError, match=r"test_size=0.9 leaves 18 held-out and 2 training"):
        evaluate(X, Y, test_size=0.9)


@pytest.mark.parametrize("n_splits", [0, -1])
def test_n_splits_too_small(data, n_splits):
    with pytest.raises(ValueError, match="n_splits must be >= 1"):
        evaluate(*data, n_splits=n_splits)


def test_n_splits_above_T(data):
    with pytest.raises(ValueError, match="n_splits must be at most the number of rows T=240"):
        evaluate(*data, n_splits=241)


def test_n_splits_not_int(data):
    with pytest.raises(ValueError, match="n_splits must be an integer"):
        evaluate(*data, n_splits=2.0)


def test_unknown_method(data):
    with pytest.raises(ValueError, match="methods: unknown method 'best'"):
        evaluate(*data, methods=["hot", "best"])


def test_no_methods(data):
    with pytest.raises(ValueError, match="methods must name at least one method"):
        evaluate(*data, methods=[])


def test_bad_systems(data):
    X, Y = data
    with pytest.raises(ValueError, match="X and Y must hold the same stimuli"):
        evaluate(X, [B[:200] for B in Y])


def test_public_names():
    assert hotalign.evaluate is evaluate
    assert isinstance(evaluate(*make_hierarchy(30, (3,), (4,))[:2], n_splits=1),
                      hotalign.Evaluation)
