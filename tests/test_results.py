"""TransportResult: dense plan, marginals, certificate, repr, nnz."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import hotalign
from hotalign import TransportResult


def _result(**overrides):
    fields = dict(
        rows=np.array([0, 1, 1], dtype=np.int64),
        cols=np.array([1, 0, 2], dtype=np.int64),
        weights=np.array([0.5, 0.25, 0.25]),
        cost=0.75,
        u=np.array([0.0, 1.0]),
        v=np.array([0.0, 1.0, 2.0]),
        status="optimal",
        n_iter=4,
        shape=(2, 3),
    )
    fields.update(overrides)
    return TransportResult(**fields)


def test_nnz():
    assert _result().nnz == 3
    empty = _result(
        rows=np.array([], dtype=np.int64),
        cols=np.array([], dtype=np.int64),
        weights=np.array([]),
    )
    assert empty.nnz == 0
    assert isinstance(_result().nnz, int)


def test_to_dense():
    P = _result().to_dense()
    assert P.shape == (2, 3) and P.dtype == np.float64
    np.testing.assert_array_equal(P, [[0.0, 0.5, 0.0], [0.25, 0.0, 0.25]])
    P32 = _result().to_dense(dtype=np.float32)
    assert P32.dtype == np.float32
    np.testing.assert_array_equal(P32, P.astype(np.float32))


def test_to_dense_returns_a_fresh_array():
    res = _result()
    P = res.to_dense()
    P[:] = 7.0
    assert res.to_dense().sum() == 1.0


def test_marginals():
    r, c = _result().marginals()
    np.testing.assert_array_equal(r, [0.5, 0.5])
    np.testing.assert_array_equal(c, [0.25, 0.5, 0.25])


def test_marginals_keep_zero_rows_and_columns():
    res = _result(
        rows=np.array([1], dtype=np.int64),
        cols=np.array([1], dtype=np.int64),
        weights=np.array([1.0]),
        shape=(3, 4),
        u=np.zeros(3),
        v=np.zeros(4),
    )
    r, c = res.marginals()
    np.testing.assert_array_equal(r, [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(c, [0.0, 1.0, 0.0, 0.0])


def test_default_method_and_fields():
    res = _result()
    assert res.method == "network_simplex"
    names = [f.name for f in dataclasses.fields(TransportResult)]
    assert names == ["rows", "cols", "weights", "cost", "u", "v", "status", "n_iter", "shape",
                     "method"]


def test_frozen():
    res = _result()
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.cost = 1.0


def test_repr():
    text = repr(_result(cost=0.75, n_iter=4))
    assert text.startswith("TransportResult(")
    for part in ("shape=(2, 3)", "nnz=3", "cost=0.75", "status='optimal'",
                 "method='network_simplex'", "n_iter=4"):
        assert part in text
    # arrays are not dumped into the repr
    assert "array" not in text
    big = hotalign.solve_transport(np.random.default_rng(0).random((200, 300)))
    assert len(repr(big)) < 200


@pytest.mark.parametrize("shape", [(6, 6), (5, 9), (9, 5)])
@pytest.mark.parametrize("uniform", [True, False])
def test_certificate_of_solved_problem_is_tiny(rng, shape, uniform):
    M = rng.random(shape)
    a = None if uniform else rng.random(shape[0]) + 0.1
    b = None if uniform else rng.random(shape[1]) + 0.1
    if not uniform:
        a, b = a / a.sum(), b / b.sum()
    res = hotalign.solve_transport(M, a, b)
    cert = res.certificate(M, a, b)
    assert set(cert) == {"marginal_error", "dual_infeasibility", "slackness", "duality_gap"}
    for key, value in cert.items():
        assert isinstance(value, float), key
        assert 0.0 <= value <= 1e-13, (key, value)


def test_certificate_with_empty_marginals_means_uniform(rng):
    M = rng.random((4, 7))
    res = hotalign.solve_transport(M)
    assert res.certificate(M) == res.certificate(M, [], [])
    assert res.certificate(M)["marginal_error"] <= 1e-15


def test_certificate_with_float32_costs(rng):
    M = rng.random((5, 8)).astype(np.float32)
    res = hotalign.solve_transport(M)
    assert max(res.certificate(M).values()) <= 1e-13


def test_certificate_detects_wrong_marginals(rng):
    M = rng.random((3, 4))
    res = hotalign.solve_transport(M)
    a = np.array([0.5, 0.25, 0.25])
    cert = res.certificate(M, a, None)
    assert cert["marginal_error"] == pytest.approx(0.5 - 1 / 3)


def test_certificate_detects_infeasible_duals(rng):
    M = rng.random((4, 4))
    res = hotalign.solve_transport(M, method="network_simplex")
    bad = dataclasses.replace(res, u=res.u + 0.1)
    cert = bad.certificate(M)
    scale = np.abs(M).max()
    assert cert["dual_infeasibility"] == pytest.approx(0.1 / scale, rel=1e-9)
    assert cert["slackness"] == pytest.approx(0.1 / scale, rel=1e-9)
    assert cert["duality_gap"] == pytest.approx(0.1 / scale, rel=1e-9)


def test_certificate_detects_suboptimal_plan():
    M = np.array([[0.0, 1.0], [1.0, 0.0]])
    wrong = _result(
        rows=np.array([0, 1], dtype=np.int64),
        cols=np.array([1, 0], dtype=np.int64),
        weights=np.array([0.5, 0.5]),
        cost=1.0,
        u=np.zeros(2),
        v=np.zeros(2),
        shape=(2, 2),
    )
    cert = wrong.certificate(M)
    assert cert["marginal_error"] == 0.0
    assert cert["slackness"] == 1.0
    assert cert["duality_gap"] == 1.0


def test_certificate_of_zero_matrix():
    M = np.zeros((3, 3))
    res = hotalign.solve_transport(M)
    assert max(res.certificate(M).values()) == 0.0


def test_solver_results_have_documented_types(rng):
    M = rng.random((4, 6))
    for res in (hotalign.solve_transport(M), hotalign.solve_transport(np.ones((3, 3)))):
        assert isinstance(res, TransportResult)
        assert res.rows.dtype == np.int64 and res.cols.dtype == np.int64
        assert res.weights.dtype == np.float64
        assert res.u.dtype == np.float64 and res.v.dtype == np.float64
        assert isinstance(res.cost, float)
        assert isinstance(res.n_iter, int)
        assert res.status == "optimal"
        assert res.method in ("network_simplex", "assignment")
        assert res.shape == (res.u.shape[0], res.v.shape[0])


@pytest.mark.parametrize("field", ["u", "v"])
def test_certificate_reports_nan_as_failure(rng, field):
    M = rng.random((4, 5))
    res = hotalign.solve_transport(M, method="network_simplex")
    broken = getattr(res, field).copy()
    broken[1] = np.nan
    cert = dataclasses.replace(res, **{field: broken}).certificate(M)
    assert cert["dual_infeasibility"] == np.inf
    assert cert["duality_gap"] == np.inf
    assert max(cert.values()) == np.inf  # whatever the order of the measures


def test_certificate_reports_nan_cost_as_failure(rng):
    M = rng.random((3, 3))
    res = hotalign.solve_transport(M)
    cert = dataclasses.replace(res, cost=float("nan")).certificate(M)
    assert cert["duality_gap"] == np.inf
    assert cert["dual_infeasibility"] <= 1e-15


def test_certificate_of_costs_near_the_float64_limit(rng):
    # measured on M / max|M|, so nothing overflows and an exact result certifies to ~1e-15
    M = rng.uniform(-1, 1, (7, 9)) * np.finfo(np.float64).max
    res = hotalign.solve_transport(M)
    assert max(res.certificate(M).values()) <= 1e-14
