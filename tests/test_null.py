"""The stimulus-permutation null, split intervals and split agreement (hotalign.null)."""

import numpy as np
import pytest
from scipy.stats import t as student

from hotalign import HOT, evaluate
from hotalign.datasets import make_hierarchy
from hotalign.null import permutation_null, split_agreement, split_interval
from hotalign.systems import standardize_system


@pytest.fixture(scope="module")
def data():
    X, Y, _ = make_hierarchy(160, (10, 10, 10), (12, 12, 12, 12), random_state=3)
    return X, Y


def test_null_leaves_the_splits_unchanged_and_is_deterministic(data):
    X, Y = data
    plain = evaluate(X, Y, n_splits=3, random_state=1)
    a = evaluate(X, Y, n_splits=3, random_state=1, n_null=9)
    b = evaluate(X, Y, n_splits=3, random_state=1, n_null=9)
    for m in plain.methods:
        np.testing.assert_array_equal(a.split_scores[m], plain.split_scores[m])
    np.testing.assert_array_equal(a.null["scores"], b.null["scores"])
    np.testing.assert_array_equal(a.null["distances"], b.null["distances"])
    assert a.null["observed_score"] == a.split_scores["hot"][0]
    assert a.null["observed_distance"] == a.distances[0]


def test_null_record_on_planted_structure(data):
    X, Y = data
    d = evaluate(X, Y, n_splits=2, n_null=19, random_state=0).to_dict()
    null = d["null"]
    assert null["n_permutations"] == 19 and null["split"] == 0
    for key, better in (("hot_score", "higher"), ("distance", "lower")):
        rec = null[key]
        assert rec["direction"].startswith(better)
        lo, hi = rec["range_95"]
        assert lo <= rec["mean"] <= hi and len(rec["values"]) == 19
        assert rec["p_value"] == pytest.approx(1 / 20)  # planted: beyond every permutation
    assert null["hot_score"]["observed"] > null["hot_score"]["range_95"][1]
    assert abs(null["hot_score"]["mean"]) < 0.1  # permuted stimuli reconstruct nothing
    assert set(null["layers"]) == set(d["scores"]["hot"]["layers"])


def test_shared_standardisation_equals_refitting_permuted_rows(data):
    """Permuting rows of standardised Y == standardising permuted Y (training statistics do
    not depend on row order): each permutation equals a fresh fit on permuted raw rows."""
    X, Y = data
    rng = np.random.default_rng(5)
    order = rng.permutation(160)
    test, train = np.sort(order[:32]), np.sort(order[32:])
    Xtr, Ytr = [A[train] for A in X], [B[train] for B in Y]
    Xte, Yte = [A[test] for A in X], [B[test] for B in Y]
    Sx, Sy = (standardize_system(A, n) for A, n in ((Xtr, "X"), (Ytr, "Y")))
    null = permutation_null(HOT(), Sx, Sy, Xte, Yte, 3, np.random.default_rng(7))
    draws = np.random.default_rng(7)
    for k in range(3):
        p_train, p_test = draws.permutation(train.size), draws.permutation(test.size)
        ref = HOT().fit(Xtr, [B[p_train] for B in Ytr])
        assert null["distances"][k] == pytest.approx(ref.distance_, abs=1e-12)
        assert null["scores"][k] == pytest.approx(
            ref.score(Xte, [B[p_test] for B in Yte]), abs=1e-12)


def test_split_interval():
    v = np.array([0.5, 0.6, 0.55, 0.58])
    rec = split_interval(v)
    half = student.ppf(0.975, 3) * v.std(ddof=1) / 2
    assert rec["t"] == pytest.approx([v.mean() - half, v.mean() + half])
    assert rec["percentile"] == pytest.approx(np.percentile(v, [2.5, 97.5]))
    assert split_interval([0.4])["t"] is None


def test_split_agreement():
    P = np.zeros((4, 2, 2))
    P[:, 0, 0] = P[:, 1, 1] = 0.5  # stable diagonal ...
    P[3] = [[0.0, 0.5], [0.5, 0.0]]  # ... except one split
    rec = split_agreement(P)
    assert rec["n_splits"] == 4
    assert rec["support_count"] == [[3, 1], [1, 3]]
    assert rec["support_fraction"] == [[0.75, 0.25], [0.25, 0.75]]
    assert rec["row_argmax_fraction"] == [[0.75, 0.25], [0.25, 0.75]]


def test_evaluation_records_intervals_and_agreement(data):
    X, Y = data
    d = evaluate(X, Y, n_splits=3).to_dict()
    assert set(d["scores"]["hot"]["interval_95"]) == {"percentile", "t"}
    assert set(d["distance"]["interval_95"]) == {"percentile", "t"}
    assert np.array(d["split_agreement"]["support_count"]).shape == (3, 4)
    assert "null" not in d


@pytest.mark.parametrize("bad, match", [(-1, "n_null"), (1.5, "n_null")])
def test_bad_n_null(data, bad, match):
    with pytest.raises(ValueError, match=match):
        evaluate(*data, n_splits=2, n_null=bad)


def test_null_needs_hot(data):
    with pytest.raises(ValueError, match="needs the 'hot' method"):
        evaluate(*data, n_splits=2, n_null=3, methods=["pairwise_best"])


def test_align_null_option(tmp_path, data, capsys):
    from hotalign.cli import main

    X, Y = data
    np.savez(tmp_path / "x.npz", **{f"l{k}": A for k, A in enumerate(X)})
    np.savez(tmp_path / "y.npz", **{f"m{k}": B for k, B in enumerate(Y)})
    args = ["align", str(tmp_path / "x.npz"), str(tmp_path / "y.npz"), "--splits", "2",
            "--no-cache", "--figure-format", "svg"]
    assert main([*args, "--out", str(tmp_path / "bad"), "--null", "-1"]) == 2
    assert "--null must be >= 0" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "ok"), "--null", "4"]) == 0
    assert "null (4 stimulus permutations): HOT score" in capsys.readouterr().out
    import json

    res = json.loads((tmp_path / "ok" / "results.json").read_text())
    assert res["parameters"]["null"] == 4 and res["null"]["n_permutations"] == 4
    assert res["evaluation"]["n_null"] == 4


def test_plan_figure_agreement_needs_n_splits():
    from hotalign import plotting

    with pytest.raises(ValueError, match="agreement must have the shape of P"):
        plotting.plot_layer_plan(np.eye(2) / 2, agreement=[[1, 0], [0, 1]])
