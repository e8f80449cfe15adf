"""Tests of the HOT estimator against the NumPy + POT reference in ``reference_hot.py``."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference_hot import ReferenceHOT
from sklearn.base import clone

import hotalign
from hotalign import HOT
from hotalign.datasets import make_hierarchy

# (x_widths, y_widths): L == M with equal widths (assignment path), L < M, L > M, widths that
# differ per layer and between systems, single layers.
SHAPES = [
    ((16, 16, 16), (16, 16, 16)),
    ((12, 20), (16, 24, 8)),
    ((32, 24, 16, 8), (20, 20, 30, 40, 10, 8)),
    ((8,), (10, 12)),
    ((24, 24, 9), (24,)),
]


def _data(x_widths, y_widths, T=300, n_train=240, **kw):
    X, Y, truth = make_hierarchy(T, x_widths, y_widths, random_state=kw.pop("random_state", 1),
                                 **kw)
    tr = slice(0, n_train)
    te = slice(n_train, T)
    return ([A[tr] for A in X], [B[tr] for B in Y], [A[te] for A in X], [B[te] for B in Y],
            truth)


def _dense(hot):
    return [[q.to_dense() for q in row] for row in hot.unit_plans_]


# -- equivalence with the reference -------------------------------------------------------------
@pytest.mark.parametrize("x_widths,y_widths", SHAPES)
def test_matches_reference(x_widths, y_widths):
    Xtr, Ytr, Xte, Yte, _ = _data(x_widths, y_widths)
    hot = HOT().fit(Xtr, Ytr)
    ref = ReferenceHOT().fit(Xtr, Ytr)
    np.testing.assert_allclose(hot.layer_costs_, ref.C, rtol=0, atol=1e-10)
    # Continuous data: every optimum is unique, so the plans themselves agree.
    np.testing.assert_allclose(hot.layer_plan_, ref.P, rtol=0, atol=1e-12)
    assert np.array_equal(hot.layer_plan_ > 1e-12, ref.P > 1e-12)
    for l in range(len(Xtr)):
        for m in range(len(Ytr)):
            np.testing.assert_allclose(_dense(hot)[l][m], ref.Q[l][m], rtol=0, atol=1e-12)
            assert hot.unit_plans_[l][m].cost == pytest.approx(ref.C[l, m], abs=1e-10)
    assert hot.distance_ == pytest.approx(ref.distance, abs=1e-10)
    np.testing.assert_allclose(hot.layer_scores(Xte, Yte), ref.layer_scores(Xte, Yte)[0],
                               rtol=0, atol=1e-10)
    assert hot.score(Xte, Yte) == pytest.approx(ref.score(Xte, Yte), abs=1e-10)
    Xhat = hot.predict(Yte)
    for A, B in zip(Xhat, ref.predict(Yte)):
        np.testing.assert_allclose(A, B, rtol=0, atol=1e-10)


def test_tied_optima_costs_agree(rng):
    # Duplicated units and a duplicated layer: many optimal plans. Only costs are comparable.
    base = rng.standard_normal((60, 4))
    A = base[:, [0, 0, 1, 2, 2, 3]]
    B = base[:, [3, 2, 1, 1, 0, 0]]
    X = [A, A.copy()]
    Y = [B, B.copy(), rng.standard_normal((60, 6))]
    hot = HOT().fit(X, Y)
    ref = ReferenceHOT().fit(X, Y)
    np.testing.assert_allclose(hot.layer_costs_, ref.C, rtol=0, atol=1e-10)
    assert hot.distance_ == pytest.approx(ref.distance, abs=1e-10)
    for l in range(2):
        for m in range(3):
            # The package's plan is optimal for the reference's cost matrix.
            assert np.sum(ref.K[l][m] * _dense(hot)[l][m]) == pytest.approx(ref.C[l, m], abs=1e-10)
    assert np.sum(ref.C * hot.layer_plan_) == pytest.approx(ref.distance, abs=1e-10)


# -- recovery of planted structure --------------------------------------------------------------
@pytest.mark.parametrize(
    "x_widths,y_widths",
    [((16, 16, 16), (16, 16, 16)), ((16, 16), (16, 16, 16)), ((24,) * 4, (24,) * 7),
     ((20, 12, 16), (8, 20, 24, 10, 20))],
)
@pytest.mark.parametrize("seed", [0, 3])
def test_recovers_planted_layer_map(x_widths, y_widths, seed):
    X, Y, truth = make_hierarchy(400, x_widths, y_widths, noise=0.1, random_state=seed)
    hot = HOT().fit(X, Y)
    np.testing.assert_array_equal(hot.layer_plan_.argmax(axis=1), truth["layer_map"])


@pytest.mark.parametrize(
    "x_widths,y_widths",
    [((16, 16, 16), (16, 16, 16)), ((16, 16), (16, 16, 16)), ((24,) * 4, (24,) * 7)],
)
def test_recovers_planted_unit_permutations(x_widths, y_widths):
    X, Y, truth = make_hierarchy(400, x_widths, y_widths, noise=0.1, random_state=2)
    hot = HOT().fit(X, Y)
    checked = 0
    for l, xu in enumerate(truth["x_units"]):
        for m, yu in enumerate(truth["y_units"]):
            pure = len(set(xu[:, 0])) == 1 and len(set(yu[:, 0])) == 1
            if not (pure and xu[0, 0] == yu[0, 0] and len(xu) == len(yu)):
                continue
            Q = hot.unit_plans_[l][m].to_dense()
            n = len(xu)
            # A permutation / n, and each unit sent to its planted partner.
            np.testing.assert_allclose(np.sort(Q, axis=1)[:, -1], 1.0 / n, rtol=1e-12)
            np.testing.assert_array_equal(yu[Q.argmax(axis=1)], xu)
            checked += 1
    assert checked == min(len(x_widths), len(y_widths))


def test_identical_systems():
    X, _, _ = make_hierarchy(300, (12, 16, 20), (12,), random_state=4)
    Xtr, Xte = [A[:240] for A in X], [A[240:] for A in X]
    hot = HOT().fit(Xtr, [A.copy() for A in Xtr])
    np.testing.assert_allclose(hot.layer_plan_, np.eye(3) / 3, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.diag(hot.layer_costs_), 0.0, atol=1e-12)
    assert hot.distance_ == pytest.approx(0.0, abs=1e-12)
    for l in range(3):
        np.testing.assert_allclose(hot.unit_plans_[l][l].to_dense(), np.eye(X[l].shape[1])
                                   / X[l].shape[1], atol=1e-15)
    assert hot.score(Xte, Xte) > 0.999


# -- invariances ------------------------------------------------------------------------------
@pytest.mark.parametrize("system,layer", [("X", 0), ("X", 2), ("Y", 1), ("Y", 3)])
def test_permuting_units_permutes_plans(system, layer, rng):
    Xtr, Ytr, Xte, Yte, _ = _data((12, 20, 16), (16, 24, 8, 12))
    hot = HOT().fit(Xtr, Ytr)
    score = hot.score(Xte, Yte)
    tr, te = (Xtr, Xte) if system == "X" else (Ytr, Yte)
    perm = rng.permutation(tr[layer].shape[1])
    tr, te = list(tr), list(te)
    tr[layer], te[layer] = tr[layer][:, perm], te[layer][:, perm]
    if system == "X":
        hot2 = HOT().fit(tr, Ytr)
        score2 = hot2.score(te, Yte)
    else:
        hot2 = HOT().fit(Xtr, tr)
        score2 = hot2.score(Xte, te)
    np.testing.assert_allclose(hot2.layer_costs_, hot.layer_costs_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(hot2.layer_plan_, hot.layer_plan_, rtol=0, atol=1e-15)
    assert score2 == pytest.approx(score, abs=1e-12)
    Q, Q2 = _dense(hot), _dense(hot2)
    for l in range(3):
        for m in range(4):
            expected = Q[l][m]
            if system == "X" and l == layer:
                expected = expected[perm]
            if system == "Y" and m == layer:
                expected = expected[:, perm]
            np.testing.assert_allclose(Q2[l][m], expected, rtol=0, atol=1e-15)


def test_swapping_systems_transposes():
    Xtr, Ytr, _, _, _ = _data((12, 20, 16), (16, 24, 8, 12))
    hot = HOT().fit(Xtr, Ytr)
    tob = HOT().fit(Ytr, Xtr)
    np.testing.assert_allclose(tob.layer_costs_, hot.layer_costs_.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tob.layer_plan_, hot.layer_plan_.T, rtol=0, atol=1e-15)
    assert tob.distance_ == pytest.approx(hot.distance_, abs=1e-12)
    for l in range(3):
        for m in range(4):
            np.testing.assert_allclose(tob.unit_plans_[m][l].to_dense(),
                                       hot.unit_plans_[l][m].to_dense().T, rtol=0, atol=1e-15)


# -- properties (hypothesis) --------------------------------------------------------------------
widths = st.lists(st.integers(1, 9), min_size=1, max_size=5)


@given(x_widths=widths, y_widths=widths, seed=st.integers(0, 2**32 - 1))
def test_plan_marginals(x_widths, y_widths, seed):
    X, Y, _ = make_hierarchy(30, x_widths, y_widths, n_latent=4, random_state=seed)
    hot = HOT(n_threads=1).fit(X, Y)
    L, M = len(X), len(Y)
    P = hot.layer_plan_
    assert P.shape == (L, M)
    assert (P >= 0).all()
    np.testing.assert_allclose(P.sum(axis=1), 1.0 / L, rtol=1e-12)
    np.testing.assert_allclose(P.sum(axis=0), 1.0 / M, rtol=1e-12)
    assert hot.distance_ == pytest.approx(np.sum(P * hot.layer_costs_), abs=1e-12)
    for l in range(L):
        for m in range(M):
            q = hot.unit_plans_[l][m]
            assert q.shape == (x_widths[l], y_widths[m])
            r, c = q.marginals()
            np.testing.assert_allclose(r, 1.0 / x_widths[l], rtol=1e-12)
            np.testing.assert_allclose(c, 1.0 / y_widths[m], rtol=1e-12)


@given(depth=st.integers(1, 6), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_equal_depths_give_permutation(depth, seed, data):
    x_widths = data.draw(st.lists(st.integers(2, 9), min_size=depth, max_size=depth))
    y_widths = data.draw(st.lists(st.integers(2, 9), min_size=depth, max_size=depth))
    X, Y, _ = make_hierarchy(30, x_widths, y_widths, n_latent=4, random_state=seed)
    P = HOT(n_threads=1).fit(X, Y).layer_plan_ * depth
    assert np.all((np.abs(P) < 1e-12) | (np.abs(P - 1.0) < 1e-12))
    np.testing.assert_array_equal(np.round(P).sum(axis=0), 1)
    np.testing.assert_array_equal(np.round(P).sum(axis=1), 1)


# -- scikit-learn protocol ----------------------------------------------------------------------
def test_init_stores_only_parameters():
    hot = HOT(constant_units="cost_one", n_threads=2, dtype="float32")
    assert vars(hot) == {"rotation": False, "max_rounds": 10, "tol": 1e-6,
                         "constant_units": "cost_one", "n_threads": 2, "dtype": "float32",
                         "max_layers_in_memory": None, "memory": None, "lazy": False,
                         "lazy_rank": 32, "layer_marginals": "uniform", "slack": None,
                         "slack_splits": 3, "random_state": 0}
    assert not [k for k in vars(hot) if k.endswith("_")]


def test_get_params_and_clone():
    hot = HOT(constant_units="raise", n_threads=2, dtype="float32")
    assert hot.get_params() == {"constant_units": "raise", "n_threads": 2, "dtype": "float32",
                                "rotation": False, "max_rounds": 10, "tol": 1e-6,
                                "max_layers_in_memory": None, "memory": None, "lazy": False,
                                "lazy_rank": 32, "layer_marginals": "uniform", "slack": None,
                                "slack_splits": 3, "random_state": 0}
    assert HOT().get_params() == {"constant_units": "exclude", "n_threads": None,
                                  "dtype": "float64", "rotation": False, "max_rounds": 10,
                                  "tol": 1e-6, "max_layers_in_memory": None, "memory": None,
                                  "lazy": False, "lazy_rank": 32,
                                  "layer_marginals": "uniform", "slack": None,
                                  "slack_splits": 3, "random_state": 0}
    X, Y, _, _, _ = _data((8,), (10,))
    hot.set_params(constant_units="exclude").fit(X, Y)
    twin = clone(hot)
    assert twin is not hot
    assert twin.get_params() == hot.get_params()
    assert not hasattr(twin, "layer_plan_")
    assert repr(twin) == ("HOT(constant_units='exclude', dtype='float32', "
                          "layer_marginals='uniform', lazy=False, lazy_rank=32, "
                          "max_layers_in_memory=None, "
                          "max_rounds=10, memory=None, n_threads=2, random_state=0, "
                          "rotation=False, slack=None, slack_splits=3, tol=1e-06)")


def test_set_params():
    hot = HOT()
    assert hot.set_params(n_threads=1, dtype="float32") is hot
    assert hot.n_threads == 1 and hot.dtype == "float32"
    with pytest.raises(ValueError, match="invalid parameter 'rotations'"):
        hot.set_params(rotations=True)


def test_fit_returns_self_and_sets_fitted_attributes():
    X, Y, _, _, _ = _data((8, 6), (10, 12, 4))
    hot = HOT()
    assert hot.fit(X, Y) is hot
    for name in ("layer_plan_", "layer_costs_", "unit_plans_", "distance_", "constant_units_",
                 "n_constant_units_", "x_scalers_", "y_scalers_", "n_layers_x_", "n_layers_y_"):
        assert hasattr(hot, name), name
    assert (hot.n_layers_x_, hot.n_layers_y_) == (2, 3)
    assert hot.n_constant_units_ == 0


def test_refit_replaces_state():
    X, Y, _, _, _ = _data((8, 6), (10, 12, 4))
    hot = HOT().fit(X, Y)
    hot.fit(Y, X)
    assert hot.layer_plan_.shape == (3, 2)
    assert (hot.n_layers_x_, hot.n_layers_y_) == (3, 2)


# -- precision and threads ----------------------------------------------------------------------
@pytest.mark.parametrize("x_widths,y_widths", SHAPES[:3])
def test_float32(x_widths, y_widths):
    Xtr, Ytr, Xte, Yte, _ = _data(x_widths, y_widths)
    h64 = HOT().fit(Xtr, Ytr)
    h32 = HOT(dtype="float32").fit(Xtr, Ytr)
    np.testing.assert_allclose(h32.layer_costs_, h64.layer_costs_, rtol=0, atol=1e-5)
    np.testing.assert_allclose(h32.layer_plan_, h64.layer_plan_, rtol=0, atol=1e-12)
    assert h32.score(Xte, Yte) == pytest.approx(h64.score(Xte, Yte), abs=1e-4)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_threads_bit_identical(dtype):
    Xtr, Ytr, _, _, _ = _data((32, 24, 16, 8), (20, 20, 30, 40, 10, 8))
    h1 = HOT(n_threads=1, dtype=dtype).fit(Xtr, Ytr)
    h2 = HOT(n_threads=2, dtype=dtype).fit(Xtr, Ytr)
    np.testing.assert_array_equal(h1.layer_costs_, h2.layer_costs_)
    np.testing.assert_array_equal(h1.layer_plan_, h2.layer_plan_)
    for row1, row2 in zip(h1.unit_plans_, h2.unit_plans_):
        for q1, q2 in zip(row1, row2):
            np.testing.assert_array_equal(q1.rows, q2.rows)
            np.testing.assert_array_equal(q1.cols, q2.cols)
            np.testing.assert_array_equal(q1.weights, q2.weights)
            assert q1.cost == q2.cost


# -- constant units ---------------------------------------------------------------------------
def _constant_data():
    Xtr, Ytr, Xte, Yte, _ = _data((12, 16), (16, 12, 20), T=200, n_train=160)
    Xtr[0] = Xtr[0].copy()
    Ytr[1] = Ytr[1].copy()
    Xtr[0][:, 3] = 2.5  # constant on the training rows only
    Ytr[1][:, 5] = -1.0
    return Xtr, Ytr, Xte, Yte


def test_constant_units_exclude():
    Xtr, Ytr, Xte, Yte = _constant_data()
    hot = HOT(constant_units="exclude").fit(Xtr, Ytr)
    assert [c.tolist() for c in hot.constant_units_["X"]] == [[3], []]
    assert [c.tolist() for c in hot.constant_units_["Y"]] == [[], [5], []]
    assert hot.n_constant_units_ == 2
    for m in range(3):
        Q = hot.unit_plans_[0][m].to_dense()
        assert Q.shape == (12, Ytr[m].shape[1])
        np.testing.assert_array_equal(Q[3], 0.0)
        np.testing.assert_allclose(np.delete(Q, 3, axis=0).sum(axis=1), 1.0 / 11, rtol=1e-12)
    for l in range(2):
        Q = hot.unit_plans_[l][1].to_dense()
        np.testing.assert_array_equal(Q[:, 5], 0.0)
        np.testing.assert_allclose(np.delete(Q, 5, axis=1).sum(axis=0), 1.0 / 11, rtol=1e-12)
    ref = ReferenceHOT(constant_units="exclude").fit(Xtr, Ytr)
    np.testing.assert_allclose(hot.layer_costs_, ref.C, rtol=0, atol=1e-10)
    np.testing.assert_allclose(hot.layer_plan_, ref.P, rtol=0, atol=1e-12)
    scores, counts = hot.layer_scores(Xte, Yte, return_counts=True)
    assert np.isfinite(scores).all()
    np.testing.assert_array_equal(counts, [1, 0])  # the excluded unit of X[0] is not scored
    np.testing.assert_allclose(scores, ref.layer_scores(Xte, Yte)[0], rtol=0, atol=1e-10)
    assert np.isfinite(hot.score(Xte, Yte))


def test_constant_units_cost_one():
    Xtr, Ytr, Xte, Yte = _constant_data()
    hot = HOT(constant_units="cost_one").fit(Xtr, Ytr)
    assert hot.n_constant_units_ == 2
    ref = ReferenceHOT(constant_units="cost_one").fit(Xtr, Ytr)
    np.testing.assert_allclose(ref.K[0][0][3], 1.0)  # the reference's cost-1 row
    np.testing.assert_allclose(hot.layer_costs_, ref.C, rtol=0, atol=1e-10)
    np.testing.assert_allclose(hot.layer_plan_, ref.P, rtol=0, atol=1e-12)
    for m in range(3):  # the constant unit is kept with full mass
        np.testing.assert_allclose(hot.unit_plans_[0][m].to_dense()[3].sum(), 1.0 / 12)
    np.testing.assert_allclose(hot.unit_plans_[1][1].to_dense()[:, 5].sum(), 1.0 / 12)
    assert np.isfinite(hot.score(Xte, Yte))


def test_constant_units_raise():
    Xtr, Ytr, _, _ = _constant_data()
    with pytest.raises(ValueError, match=r"X\[0\] has units constant.*\[3\]"):
        HOT(constant_units="raise").fit(Xtr, Ytr)
    Xok = [A + np.arange(A.shape[0])[:, None] * 1e-3 for A in Xtr]
    with pytest.raises(ValueError, match=r"Y\[1\] has units constant.*\[5\]"):
        HOT(constant_units="raise").fit(Xok, Ytr)


def test_every_unit_constant_is_an_error():
    Xtr, Ytr, _, _ = _constant_data()
    Ytr[2] = np.ones_like(Ytr[2])
    with pytest.raises(ValueError, match=r"Y\[2\]: every unit is constant"):
        HOT().fit(Xtr, Ytr)


def test_unit_constant_on_held_out_rows_is_left_out():
    Xtr, Ytr, Xte, Yte, _ = _data((12, 16), (16, 12, 20), T=200, n_train=160)
    Xte[1] = Xte[1].copy()
    Xte[1][:, 7] = 4.0
    Yte[0] = Yte[0].copy()
    Yte[0][:, 2] = 0.3  # a constant Y unit on held-out rows only feeds zeros, no NaN
    hot = HOT().fit(Xtr, Ytr)
    scores, counts = hot.layer_scores(Xte, Yte, return_counts=True)
    assert np.isfinite(scores).all()
    np.testing.assert_array_equal(counts, [0, 1])
    assert hot.n_constant_units_ == 0
    ref = ReferenceHOT().fit(Xtr, Ytr)
    ref_scores, ref_counts = ref.layer_scores(Xte, Yte)
    np.testing.assert_array_equal(ref_counts, [0, 1])
    np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=1e-10)
    assert np.isfinite(hot.score(Xte, Yte))


# -- bad input: one test each ---------------------------------------------------------------
@pytest.fixture
def small():
    X, Y, _ = make_hierarchy(40, (6, 5), (7, 4, 6), n_latent=4, random_state=0)
    return X, Y


def test_different_T(small):
    X, Y = small
    with pytest.raises(ValueError, match=r"X and Y must hold the same stimuli.*40.*39"):
        HOT().fit(X, [B[:39] for B in Y])


def test_layers_with_different_T(small):
    X, Y = small
    with pytest.raises(ValueError, match=r"Y\[2\] has 39 rows"):
        HOT().fit(X, Y[:2] + [Y[2][:39]])


def test_too_few_rows():
    X = [np.arange(4.0).reshape(2, 2)]
    with pytest.raises(ValueError, match=r"X\[0\] needs at least 3 rows"):
        HOT().fit(X, [A + 1 for A in X])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_layer(small, bad):
    X, Y = small
    Y = [B.copy() for B in Y]
    Y[1][4, 2] = bad
    with pytest.raises(ValueError, match=r"Y\[1\] contains NaN or infinity"):
        HOT().fit(X, Y)


def test_empty_system(small):
    X, _ = small
    with pytest.raises(ValueError, match="Y is empty"):
        HOT().fit(X, [])


def test_one_dimensional_layer(small):
    X, Y = small
    with pytest.raises(ValueError, match=r"X\[1\] must be a 2-D array"):
        HOT().fit([X[0], X[1][:, 0]], Y)


def test_single_array_instead_of_list(small):
    X, Y = small
    with pytest.raises(ValueError, match="X must be a list of layers"):
        HOT().fit(X[0], Y)


def test_n_threads_zero(small):
    with pytest.raises(ValueError, match="n_threads must be >= 1"):
        HOT(n_threads=0).fit(*small)


def test_dtype_float16(small):
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        HOT(dtype="float16").fit(*small)


def test_constant_units_bogus(small):
    with pytest.raises(ValueError, match="constant_units must be one of"):
        HOT(constant_units="bogus").fit(*small)


@pytest.mark.parametrize("call", ["predict", "score", "layer_scores"])
def test_not_fitted(small, call):
    X, Y = small
    args = (Y,) if call == "predict" else (X, Y)
    with pytest.raises(ValueError, match="not fitted yet: call fit"):
        getattr(HOT(), call)(*args)


def test_score_wrong_number_of_layers(small):
    X, Y = small
    hot = HOT().fit(X, Y)
    with pytest.raises(ValueError, match="X must have 2 layers as in fit, got 1"):
        hot.score(X[:1], Y)
    with pytest.raises(ValueError, match="Y must have 3 layers as in fit, got 2"):
        hot.score(X, Y[:2])


def test_score_wrong_number_of_units(small):
    X, Y = small
    hot = HOT().fit(X, Y)
    with pytest.raises(ValueError, match=r"X\[1\] must have 5 units as in fit, got 4"):
        hot.score([X[0], X[1][:, :4]], Y)
    with pytest.raises(ValueError, match=r"Y\[0\] must have 7 units as in fit, got 6"):
        hot.score(X, [Y[0][:, :6], Y[1], Y[2]])


def test_score_different_row_counts(small):
    X, Y = small
    hot = HOT().fit(X, Y)
    with pytest.raises(ValueError,
                       match="X and Y must hold the same stimuli: X has 20 held-out rows"):
        hot.score([A[:20] for A in X], [B[:21] for B in Y])


def test_score_bad_Y(small):
    X, Y = small
    hot = HOT().fit(X, Y)
    with pytest.raises(ValueError, match="Y is empty"):
        hot.score(X, [])
    with pytest.raises(ValueError, match="Y must be a list of layers"):
        hot.score(X, Y[0])


def test_predict_bad_layer_weights(small):
    X, Y = small
    hot = HOT().fit(X, Y)
    with pytest.raises(ValueError, match=r"layer_weights must have shape \(2, 3\)"):
        hot.predict(Y, layer_weights=np.ones((3, 2)))


def test_nan_in_held_out_rows_is_reported_by_layer(rng):
    # fit reads only the training rows; NaN/inf in held-out rows are caught when scoring
    X, Y, _ = make_hierarchy(60, (5, 6), (7,), random_state=3)
    hot = HOT().fit([A[:40] for A in X], [B[:40] for B in Y])
    Xte = [A[40:].copy() for A in X]
    Yte = [B[40:].copy() for B in Y]
    Yte[0][2, 3] = np.nan
    with pytest.raises(ValueError, match=r"Y\[0\] contains NaN"):
        hot.score(Xte, Yte)
    Yte[0][2, 3] = 0.0
    Xte[1][0, 0] = np.inf
    with pytest.raises(ValueError, match=r"X\[1\] contains NaN"):
        hot.score(Xte, Yte)


# -- memory budget: the grid block by block, training rows read layer by layer ----------------


@pytest.mark.parametrize("budget", [2, 3, 4, 7, 100])
def test_memory_budget_gives_identical_results(budget):
    X, Y, _ = make_hierarchy(200, (12, 20, 16, 9), (14, 10, 16, 18, 11), random_state=4)
    ref = HOT().fit(X, Y)
    hot = HOT(max_layers_in_memory=budget).fit(X, Y)
    np.testing.assert_array_equal(hot.layer_costs_, ref.layer_costs_)
    np.testing.assert_array_equal(hot.layer_plan_, ref.layer_plan_)
    for l in range(4):
        for m in range(5):
            a, b = hot.unit_plans_[l][m], ref.unit_plans_[l][m]
            np.testing.assert_array_equal(a.cols, b.cols)
            np.testing.assert_array_equal(a.weights, b.weights)
            np.testing.assert_array_equal(a.u, b.u)
    Xte, Yte, _ = make_hierarchy(200, (12, 20, 16, 9), (14, 10, 16, 18, 11), random_state=4)
    assert hot.score(Xte, Yte) == ref.score(Xte, Yte)


def test_memory_budget_bounds_peak_memory():
    import tracemalloc

    X, Y, _ = make_hierarchy(400, (150,) * 6, (150,) * 6, random_state=5)

    def peak(estimator):
        tracemalloc.start()
        try:
            hotalign.evaluate(X, Y, n_splits=1, estimator=estimator)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    layer = 320 * 150 * 8  # one standardised training layer, float64
    unlimited = peak(HOT())
    budgeted = peak(HOT(max_layers_in_memory=2))
    assert unlimited > 20 * layer  # the training copies and 12 standardised layers
    assert budgeted < 8 * layer, (budgeted / layer, unlimited / layer)


def test_evaluate_with_memory_budget_equals_unlimited():
    X, Y, _ = make_hierarchy(150, (10, 12, 9), (11, 8), random_state=6)
    a = hotalign.evaluate(X, Y, n_splits=2)
    b = hotalign.evaluate(X, Y, n_splits=2, estimator=HOT(max_layers_in_memory=2))
    for m in a.methods:
        np.testing.assert_array_equal(a.split_scores[m], b.split_scores[m])


@pytest.mark.parametrize("bad", [0, 1, -3, 2.5, "4", True])
def test_bad_memory_budget(bad):
    X, Y, _ = make_hierarchy(60, (5,), (6,), random_state=0)
    with pytest.raises(ValueError, match="max_layers_in_memory"):
        HOT(max_layers_in_memory=bad).fit(X, Y)


def test_row_subset_reads_rows_on_demand():
    from hotalign._validation import check_layers
    from hotalign.layer import Layer

    A = np.arange(20.0).reshape(10, 2)
    view = Layer.of(A).take([1, 3, 5])
    assert view.shape == (3, 2) and view.dtype == np.float64 and view.ndim == 2
    np.testing.assert_array_equal(np.asarray(view), A[[1, 3, 5]])
    np.testing.assert_array_equal(view[[2, 0]], A[[5, 1]])
    np.testing.assert_array_equal(view.take([0, 2]).read(), A[[1, 5]])  # subsets compose
    assert check_layers([view], "X")[0] is view  # validated without being read
    with pytest.raises(ValueError, match=r"X\[0\] needs at least 3 rows"):
        check_layers([Layer.of(A).take([0, 1])], "X", min_rows=3)
    with pytest.raises(IndexError, match="out of range"):
        view.read([3])


