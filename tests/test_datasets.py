"""Tests of the synthetic data generators."""

import numpy as np
import pytest

from hotalign.datasets import make_activation_pair, make_hierarchy

SHAPES = [((64, 64, 64, 64), (96,) * 6), ((8, 12, 16), (10, 4)), ((5,), (7, 9, 11)), ((6,), (6,))]


def _corr(a, b):
    return np.corrcoef(a, b)[0, 1]


@pytest.mark.parametrize("x_widths,y_widths", SHAPES)
def test_shapes(x_widths, y_widths):
    X, Y, truth = make_hierarchy(50, x_widths, y_widths, random_state=0)
    assert [A.shape for A in X] == [(50, w) for w in x_widths]
    assert [B.shape for B in Y] == [(50, w) for w in y_widths]
    assert all(A.dtype == np.float64 and np.isfinite(A).all() for A in X + Y)
    assert all((A.std(axis=0) > 0).all() for A in X + Y)


def test_default_shapes():
    X, Y, truth = make_hierarchy(random_state=0)
    assert [A.shape for A in X] == [(1000, 64)] * 4
    assert [B.shape for B in Y] == [(1000, 96)] * 6
    assert truth["layer_map"].tolist() == [0, 2, 3, 5]


def test_deterministic():
    a = make_hierarchy(60, (8, 12), (10, 6, 4), random_state=7)
    b = make_hierarchy(60, (8, 12), (10, 6, 4), random_state=7)
    c = make_hierarchy(60, (8, 12), (10, 6, 4), random_state=8)
    for A, B in zip(a[0] + a[1], b[0] + b[1]):
        np.testing.assert_array_equal(A, B)
    for key in ("layer_map", "x_position", "y_position"):
        np.testing.assert_array_equal(a[2][key], b[2][key])
    for A, B in zip(a[2]["x_units"] + a[2]["y_units"], b[2]["x_units"] + b[2]["y_units"]):
        np.testing.assert_array_equal(A, B)
    assert not np.array_equal(a[0][0], c[0][0])
    # A Generator is accepted as well and consumed.
    g = np.random.default_rng(7)
    d = make_hierarchy(60, (8, 12), (10, 6, 4), random_state=g)
    np.testing.assert_array_equal(d[0][1], a[0][1])


@pytest.mark.parametrize("x_widths,y_widths", SHAPES)
def test_truth_layout(x_widths, y_widths):
    _, _, truth = make_hierarchy(40, x_widths, y_widths, random_state=1)
    L, M = len(x_widths), len(y_widths)
    S = min(L, M)
    pool = max(max(x_widths), max(y_widths))
    assert set(truth) == {"layer_map", "x_position", "y_position", "x_units", "y_units"}
    assert truth["layer_map"].shape == (L,) and truth["layer_map"].dtype == np.int64
    assert ((truth["layer_map"] >= 0) & (truth["layer_map"] < M)).all()
    for pos, depth in ((truth["x_position"], L), (truth["y_position"], M)):
        assert pos.shape == (depth,)
        expected = np.zeros(1) if depth == 1 else np.linspace(0, S - 1, depth)
        np.testing.assert_allclose(pos, expected, atol=1e-12)
    for units, widths, pos in ((truth["x_units"], x_widths, truth["x_position"]),
                               (truth["y_units"], y_widths, truth["y_position"])):
        assert len(units) == len(widths)
        for u, w, p in zip(units, widths, pos):
            assert u.shape == (w, 2) and u.dtype == np.int64
            stages = u[:, 0]
            assert set(stages) <= {int(np.floor(p + 1e-9)), min(int(np.floor(p + 1e-9)) + 1, S - 1)}
            assert ((u[:, 1] >= 0) & (u[:, 1] < pool)).all()
            assert len(set(u[:, 1].tolist())) == w  # distinct pool units within a layer


@pytest.mark.parametrize("x_widths,y_widths", SHAPES)
def test_planted_layer_map(x_widths, y_widths):
    _, _, truth = make_hierarchy(40, x_widths, y_widths, random_state=2)
    expected = [int(np.argmin(np.abs(truth["y_position"] - p))) for p in truth["x_position"]]
    assert truth["layer_map"].tolist() == expected
    if len(x_widths) == len(y_widths):
        assert truth["layer_map"].tolist() == list(range(len(x_widths)))
    # Monotone: deeper X layers map to Y layers at least as deep.
    assert (np.diff(truth["layer_map"]) >= 0).all()


def test_planted_partners_correlate():
    X, Y, truth = make_hierarchy(600, (16, 16), (16, 16), noise=0.3, n_heavy_tailed=0,
                                 random_state=3)
    partner, other = [], []
    for l, xu in enumerate(truth["x_units"]):
        for m, yu in enumerate(truth["y_units"]):
            for i, key in enumerate(map(tuple, xu)):
                for j, key2 in enumerate(map(tuple, yu)):
                    (partner if key == key2 else other).append(_corr(X[l][:, i], Y[m][:, j]))
    assert len(partner) == 32  # L == M, equal widths = pool size: every unit has its partner
    assert min(partner) > 0.8
    assert np.mean(partner) > np.mean(other) + 0.3


def test_heavy_tailed_units():
    X, _, _ = make_hierarchy(500, (10,), (10,), n_heavy_tailed=3, random_state=0)
    positive = (X[0] > 0).all(axis=0)  # exp() units are strictly positive
    assert positive.sum() >= 3


def test_no_layers_is_an_error():
    with pytest.raises(ValueError, match="x_widths and y_widths"):
        make_hierarchy(20, (), (4,))


def test_activation_pair():
    X, Y, perm = make_activation_pair(300, 12, 16, n_latent=8, noise=0.2, random_state=0)
    assert X.shape == (300, 12) and Y.shape == (300, 16)
    assert perm.shape == (16,) and perm.dtype == np.int64
    assert sorted(perm.tolist()) == list(range(16))
    for j, p in enumerate(perm):
        if p < 12:
            assert _corr(X[:, p], Y[:, j]) > 0.9
    X2, Y2, perm2 = make_activation_pair(300, 12, 16, n_latent=8, noise=0.2, random_state=0)
    np.testing.assert_array_equal(Y, Y2)
    np.testing.assert_array_equal(perm, perm2)


def test_activation_pair_exact_copy():
    X, Y, perm = make_activation_pair(50, 8, n_latent=4, noise=0.0, random_state=1)
    assert Y.shape == (50, 8)
    np.testing.assert_array_equal(Y, X[:, perm])
