"""Tests of HOT+R (``hotalign.rotation`` and ``HOT(rotation=True)``).

The oracle is a plain NumPy + POT alternation written from docs/method.md ("Rotation-augmented HOT"):
dense costs ``1 - (X R)^T Y``, dense ``ot.emd`` plans, a full n x n SVD every round.
"""

import numpy as np
import ot
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference_hot import ReferenceHOT, standardize
from scipy.linalg import expm

from hotalign import HOT, evaluate
from hotalign.costs import zscore
from hotalign.datasets import make_hierarchy
from hotalign.engine import fit_rotation_grid
from hotalign.rotation import align_pair


def plain_alternation(X, Y, max_rounds=10, tol=1e-6):
    """Returns the final dense plan Q, the rotation R and the trace of J after each half step."""
    n, m = X.shape[1], Y.shape[1]
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    R = np.eye(n)
    trace = []
    for rnd in range(max_rounds):
        K = 1.0 - (X @ R).T @ Y
        Q = ot.emd(a, b, K, numItermax=10_000_000)
        trace.append(2.0 * np.sum(K * Q))
        U, _, Vt = np.linalg.svd(X.T @ (Y @ Q.T))
        R = U @ Vt
        trace.append(2.0 - 2.0 * np.sum(Q * ((X @ R).T @ Y)))
        if rnd > 0:
            prev, cur = trace[-3], trace[-1]
            if prev <= 0.0 or prev - cur < tol * prev:
                break
        elif trace[-1] <= 0.0:
            break
    return Q, R, np.array(trace)


def _layers(rng, T, n, m):
    return zscore(rng.standard_normal((T, n))), zscore(rng.standard_normal((T, m)))


def _orth_err(R):
    return np.abs(R.T @ R - np.eye(R.shape[0])).max()


# -- properties ---------------------------------------------------------------------------------
@given(T=st.integers(3, 30), n=st.integers(1, 9), m=st.integers(1, 9),
       seed=st.integers(0, 2**32 - 1), shortcut=st.booleans())
def test_objective_never_increases_and_rotation_orthogonal(T, n, m, seed, shortcut):
    rng = np.random.default_rng(seed)
    X, Y = _layers(rng, T, n, m)
    res = align_pair(X, Y, max_rounds=6, tol=0.0, _shortcut=shortcut)
    J = res.objective
    assert J.shape == (2 * res.n_rounds,)
    assert np.all(np.diff(J) <= 1e-12)
    assert _orth_err(res.rotation) < 1e-10
    assert res.cost == pytest.approx(J[-1] / 2, abs=0)
    # The Frobenius reconstruction error is bounded by J.
    assert res.reconstruction_error <= J[-1] + 1e-10
    W = n * res.plan.to_dense()
    direct = np.sum((X @ res.rotation - Y @ W.T) ** 2) / n
    assert res.reconstruction_error == pytest.approx(direct, abs=1e-10)


SHAPES = [(40, 8, 8), (40, 8, 12), (40, 12, 8), (10, 12, 8), (10, 12, 12), (60, 20, 30),
          (25, 16, 5)]


@pytest.mark.parametrize("T,n,m", SHAPES)
@pytest.mark.parametrize("warm,shortcut", [(True, True), (False, False)])
def test_matches_plain_alternation(T, n, m, warm, shortcut):
    rng = np.random.default_rng(T * 1000 + n * 10 + m)
    X, Y = _layers(rng, T, n, m)
    Q_ref, R_ref, J_ref = plain_alternation(X, Y, max_rounds=8, tol=1e-9)
    res = align_pair(X, Y, max_rounds=8, tol=1e-9, warm_start=warm, _shortcut=shortcut)
    assert res.objective.shape == J_ref.shape
    np.testing.assert_allclose(res.objective, J_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.plan.to_dense(), Q_ref, rtol=0, atol=1e-10)
    # The rotated costs do not depend on the completion; with r == n the rotations are equal.
    np.testing.assert_allclose((X @ res.rotation).T @ Y, (X @ R_ref).T @ Y, rtol=0, atol=1e-9)
    if n <= min(T, m):
        np.testing.assert_allclose(res.rotation, R_ref, rtol=0, atol=1e-9)
    else:
        # The completion is the Procrustes solution closest to the identity.
        assert np.trace(res.rotation) >= np.trace(R_ref) - 1e-9


def test_completion_is_closest_to_identity(rng):
    X, Y = _layers(rng, 6, 10, 10)          # n > T: rank(X) <= 5
    res = align_pair(X, Y, max_rounds=4)
    Q = res.plan.to_dense()
    M = X.T @ Y @ Q.T
    # Every Procrustes solution R' = R0 + C' with C' an isometry between the complements; the
    # closest to I is the polar factor of M + (I - A A^T)(I - B B^T).
    U, s, Vt = np.linalg.svd(M)
    r = int(np.sum(s > 1e-10 * s[0]))
    A, B = U[:, :r], Vt[:r].T
    n = M.shape[0]
    Mc = M + (np.eye(n) - A @ A.T) @ (np.eye(n) - B @ B.T)
    Uc, _, Vct = np.linalg.svd(Mc)
    np.testing.assert_allclose(res.rotation, Uc @ Vct, rtol=0, atol=1e-8)


def test_planted_rotation_recovered(rng):
    T, n = 80, 12
    X = np.linalg.qr(rng.standard_normal((T, n)) - 0.0)[0]
    X = np.linalg.qr(X - X.mean(axis=0))[0]            # centred, orthonormal columns
    S = rng.standard_normal((n, n)) * 0.02
    R0 = expm(S - S.T)                                  # a rotation near I
    sigma = rng.permutation(n)
    Y = (X @ R0)[:, sigma]                              # Y = X R0 Pi
    np.testing.assert_allclose(zscore(X), X, atol=1e-12)
    res = align_pair(X, Y, max_rounds=10)
    assert res.objective[-1] < 1e-12
    assert res.objective[0] > 1e-3                      # plain HOT does not fit exactly
    Q = res.plan.to_dense()
    expected = np.zeros((n, n))
    expected[sigma, np.arange(n)] = 1.0 / n
    np.testing.assert_allclose(Q, expected, atol=1e-14)
    np.testing.assert_allclose(res.rotation, R0, atol=1e-8)


def test_square_alternation_is_stationary_after_one_round(rng):
    X, Y = _layers(rng, 50, 10, 10)
    res = align_pair(X, Y, max_rounds=5, tol=1e-12)
    assert res.n_rounds == 2
    # J = 2 - 2 ||X^T Y||_* / n, the global optimum over rotations and permutations.
    nuc = np.linalg.svd(X.T @ Y, compute_uv=False).sum()
    assert res.objective[-1] == pytest.approx(2 - 2 * nuc / 10, abs=1e-12)


# -- the estimator --------------------------------------------------------------------------------
def _split(x_widths, y_widths, T=200, n_train=160, seed=3):
    X, Y, _ = make_hierarchy(T, x_widths, y_widths, random_state=seed)
    return ([A[:n_train] for A in X], [B[:n_train] for B in Y],
            [A[n_train:] for A in X], [B[n_train:] for B in Y])


@pytest.mark.parametrize("x_widths,y_widths", [((12, 12), (12, 12, 12)), ((10, 16), (12, 8, 20))])
def test_round_zero_is_plain_hot(x_widths, y_widths):
    X, Y, _, _ = _split(x_widths, y_widths)
    plain = HOT().fit(X, Y)
    one = HOT(rotation=True, max_rounds=1).fit(X, Y)
    for l in range(len(X)):
        for m in range(len(Y)):
            assert one.objective_traces_[l][m][0] / 2 == pytest.approx(plain.layer_costs_[l, m],
                                                                        abs=1e-12)
            np.testing.assert_allclose(one.unit_plans_[l][m].to_dense(),
                                       plain.unit_plans_[l][m].to_dense(), atol=1e-14)


@pytest.mark.parametrize("x_widths,y_widths", [((12, 12), (12, 12, 12)), ((10, 16), (12, 8, 20)),
                                               ((30, 8), (6, 40))])
def test_estimator_against_plain_alternation(x_widths, y_widths):
    X, Y, Xte, Yte = _split(x_widths, y_widths)
    plain = HOT().fit(X, Y)
    hot = HOT(rotation=True, max_rounds=6, tol=1e-9).fit(X, Y)
    assert np.all(hot.layer_costs_ <= plain.layer_costs_ + 1e-12)
    ref = ReferenceHOT().fit(X, Y)
    L, M = len(X), len(Y)
    Zx = [standardize(A)[0] for A in X]
    Zy = [standardize(B)[0] for B in Y]
    C = np.empty((L, M))
    Rs = [[None] * M for _ in range(L)]
    Qs = [[None] * M for _ in range(L)]
    for l in range(L):
        for m in range(M):
            Q, R, J = plain_alternation(Zx[l], Zy[m], max_rounds=6, tol=1e-9)
            np.testing.assert_allclose(hot.objective_traces_[l][m], J, atol=1e-10)
            np.testing.assert_allclose(hot.unit_plans_[l][m].to_dense(), Q, atol=1e-12)
            assert _orth_err(hot.rotations_[l][m]) < 1e-10
            assert hot.n_rounds_[l, m] == J.size // 2
            assert hot.reconstruction_errors_[l, m] <= J[-1] + 1e-10
            C[l, m] = J[-1] / 2
            Rs[l][m], Qs[l][m] = hot.rotations_[l][m], Q
    np.testing.assert_allclose(hot.layer_costs_, C, atol=1e-10)
    P = ot.emd(np.full(L, 1 / L), np.full(M, 1 / M), C)
    np.testing.assert_allclose(hot.layer_plan_, P, atol=1e-12)
    assert hot.distance_ == pytest.approx(np.sum(C * P), abs=1e-10)
    # Reconstruction sum_m L P[l, m] Y_m W^T R^T on held-out rows.
    Zy_te = [standardize(tr, te)[1] * np.sqrt(len(tr)) for tr, te in zip(ref._train_y, Yte)]
    Xhat = hot.predict(Yte)
    for l in range(L):
        expect = sum(L * P[l, m] * Zy_te[m] @ (x_widths[l] * Qs[l][m]).T @ Rs[l][m].T
                     for m in range(M))
        np.testing.assert_allclose(Xhat[l], expect, atol=1e-10)
    assert np.isfinite(hot.score(Xte, Yte))


def test_rotation_improves_fit_of_rotated_copy(rng):
    A = rng.standard_normal((240, 16))
    X = [np.linalg.qr(A - A.mean(axis=0))[0] * np.sqrt(240)]     # whitened units
    Rm = np.linalg.qr(rng.standard_normal((16, 16)))[0]
    Y = [X[0] @ Rm]
    tr, te = slice(0, 200), slice(200, 240)
    plain = HOT().fit([A[tr] for A in X], [B[tr] for B in Y])
    rot = HOT(rotation=True).fit([A[tr] for A in X], [B[tr] for B in Y])
    Xte, Yte = [A[te] for A in X], [B[te] for B in Y]
    assert rot.score(Xte, Yte) > plain.score(Xte, Yte) + 0.1
    assert rot.score(Xte, Yte) > 0.95


def test_threads_do_not_change_results():
    X, Y, _, _ = _split((10, 16, 9), (12, 8, 20))
    a = HOT(rotation=True, n_threads=1).fit(X, Y)
    b = HOT(rotation=True, n_threads=2).fit(X, Y)
    np.testing.assert_array_equal(a.layer_costs_, b.layer_costs_)
    for l in range(3):
        for m in range(3):
            np.testing.assert_array_equal(a.rotations_[l][m], b.rotations_[l][m])


def test_constant_units_excluded_keep_identity(rng):
    X, Y, _, _ = _split((10, 12), (12, 8))
    X[0] = X[0].copy()
    X[0][:, 3] = 2.5
    hot = HOT(rotation=True).fit(X, Y)
    for m in range(2):
        R = hot.rotations_[0][m]
        assert _orth_err(R) < 1e-10
        assert R[3, 3] == 1.0 and np.count_nonzero(R[3]) == 1 and np.count_nonzero(R[:, 3]) == 1
    assert hot.n_constant_units_ == 1


def test_fit_rotation_grid_shapes(rng):
    Zx = [zscore(rng.standard_normal((20, n))) for n in (4, 30)]
    Zy = [zscore(rng.standard_normal((20, m))) for m in (6, 3, 30)]
    out = fit_rotation_grid(Zx, Zy, max_rounds=3, n_threads=2)
    assert len(out) == 2 and all(len(row) == 3 for row in out)
    assert out[1][2].rotation.shape == (30, 30)
    assert _orth_err(out[1][2].rotation) < 1e-10


# -- "+R" baselines ----------------------------------------------------------------------------
def test_evaluate_rotation_methods():
    X, Y, _ = make_hierarchy(150, (12, 10), (12, 9, 14), random_state=2)
    methods = ["hot", "pairwise_best", "hot_r", "perm_p_r", "single_best_r", "pairwise_best_r"]
    ev = evaluate(X, Y, methods=methods, n_splits=2, random_state=1)
    plain = evaluate(X, Y, methods=["hot", "pairwise_best"], n_splits=2, random_state=1)
    for m in ("hot", "pairwise_best"):
        np.testing.assert_array_equal(ev.split_scores[m], plain.split_scores[m])
    np.testing.assert_array_equal(ev.layer_plans, plain.layer_plans)
    assert ev.rotation_layer_plans.shape == (2, 2, 3)
    assert "| HOT+R |" in ev.table() and "| Pairwise-Best OT+R |" in ev.table()
    # hot_r is HOT(rotation=True) fitted and scored on the same split.
    rng = np.random.default_rng(1)
    order = rng.permutation(150)
    test, train = np.sort(order[:30]), np.sort(order[30:])
    rot = HOT(rotation=True).fit([A[train] for A in X], [B[train] for B in Y])
    assert ev.split_scores["hot_r"][0] == pytest.approx(
        rot.score([A[test] for A in X], [B[test] for B in Y]), abs=1e-12)
    np.testing.assert_allclose(ev.rotation_layer_costs[0], rot.layer_costs_, atol=0)
    assert "rotation" in ev.to_dict()
    only_r = evaluate(X, Y, methods=["hot_r"], n_splits=2, random_state=1)
    np.testing.assert_array_equal(only_r.split_scores["hot_r"], ev.split_scores["hot_r"])
    np.testing.assert_array_equal(only_r.layer_plans, ev.rotation_layer_plans)


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    ({"max_rounds": 0}, "max_rounds"),
    ({"max_rounds": 2.5}, "max_rounds"),
    ({"tol": -1e-3}, "tol"),
    ({"tol": float("nan")}, "tol"),
    ({"tol": "small"}, "tol"),
    ({"rotation": "yes"}, "rotation"),
])
def test_bad_parameters(kwargs, match):
    X, Y, _, _ = _split((6,), (6,), T=40, n_train=30)
    with pytest.raises(ValueError, match=match):
        HOT(rotation=True, **kwargs).fit(X, Y) if "rotation" not in kwargs else \
            HOT(**kwargs).fit(X, Y)
