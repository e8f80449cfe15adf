"""Tests of the Dask backend on a real ``LocalCluster`` (2 worker processes): results identical
to the local thread pool, each layer scattered once."""

import numpy as np
import pytest
from dask.distributed import Client, LocalCluster

from hotalign import HOT, distributed, evaluate, solve_grid
from hotalign.datasets import make_hierarchy
from hotalign.engine import solve_pairs


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address="127.0.0.1:0", host="127.0.0.1")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    X, Y, _ = make_hierarchy(240, (14, 20, 14), (21, 21, 30, 21), random_state=5)
    X[1][:, 4] = 0.0  # a constant unit (excluded by HOT)
    return X, Y


def _same_grid(a, b):
    np.testing.assert_array_equal(a.costs, b.costs)
    np.testing.assert_array_equal(a.statuses, b.statuses)
    np.testing.assert_array_equal(a.n_iter, b.n_iter)
    for row_a, row_b in zip(a.plans, b.plans):
        for p, q in zip(row_a, row_b):
            for field in ("rows", "cols", "weights", "u", "v"):
                np.testing.assert_array_equal(getattr(p, field), getattr(q, field))
            assert (p.shape, p.method, p.cost) == (q.shape, q.method, q.cost)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_solve_grid_identical_to_thread_pool(client, data, dtype):
    X, Y = data
    seen = []
    got = distributed.solve_grid(X, Y, client=client, dtype=dtype,
                                 progress=lambda d, t: seen.append((d, t)))
    _same_grid(got, solve_grid(X, Y, dtype=dtype, n_threads=2))
    assert seen[-1] == (12, 12) and len(seen) == 12


def test_each_layer_scattered_once(client, data, monkeypatch):
    X, Y = data
    scattered = []
    real = client.scatter

    def spy(data, **kwargs):
        scattered.append(len(data))
        return real(data, **kwargs)

    monkeypatch.setattr(client, "scatter", spy)
    distributed.solve_grid(X, Y, client=client)
    assert scattered == [3, 4]  # L + M layers sent once, not once per pair (L x M = 12)


def test_keep_plans_false(client, data):
    X, Y = data
    got = distributed.solve_grid(X, Y, client=client, keep_plans=False)
    assert got.plans is None
    np.testing.assert_array_equal(got.costs, solve_grid(X, Y, keep_plans=False).costs)


def test_evaluate_through_backend_identical(client, data):
    X, Y = data
    pairs = []
    with distributed.grid_backend(client=client, progress=lambda d, t: pairs.append(t)) as c:
        assert c is client
        ev = evaluate(X, Y, n_splits=2, random_state=1)
        hot = HOT().fit(X, Y)
    ref = evaluate(X, Y, n_splits=2, random_state=1)
    for m in ev.methods:
        np.testing.assert_array_equal(ev.split_scores[m], ref.split_scores[m])
    np.testing.assert_array_equal(ev.layer_costs, ref.layer_costs)
    local = HOT().fit(X, Y)
    np.testing.assert_array_equal(hot.layer_plan_, local.layer_plan_)
    assert hot.n_constant_units_ == local.n_constant_units_ == 1
    assert len(pairs) >= 3 and set(pairs) == {12}  # three grids (two splits, one fit)


def test_backend_is_scoped_to_the_context(client, data, monkeypatch):
    X, Y = data
    calls = []
    monkeypatch.setattr(distributed.DaskBackend, "run",
                        lambda *a, **k: calls.append(1) or pytest.fail("not reset"))
    with distributed.grid_backend(client=client):
        pass
    HOT().fit(X, Y)  # runs on the local pool again
    assert calls == []


def test_local_scheduler_string(data):
    X, Y = data
    with distributed.grid_backend("local", n_workers=1) as c:
        assert isinstance(c, Client)
        got = HOT().fit(X, Y)
    assert c.status == "closed"
    np.testing.assert_array_equal(got.layer_costs_, HOT().fit(X, Y).layer_costs_)


def test_worker_error_reaches_the_caller(client):
    # standardised layers go straight to the workers; the worker's ValueError is re-raised here
    with pytest.raises(ValueError, match="must have 5 rows"):
        solve_pairs([np.zeros((5, 2))], [np.zeros((6, 2))],
                    backend=distributed.DaskBackend(client))


def test_cli_scheduler_address_identical(client, data, tmp_path):
    import json

    from hotalign.cli import main

    X, Y = data
    np.savez(tmp_path / "x.npz", **{f"l{k}": A for k, A in enumerate(X)})
    np.savez(tmp_path / "y.npz", **{f"l{k}": A for k, A in enumerate(Y)})
    base = ["align", str(tmp_path / "x.npz"), str(tmp_path / "y.npz"), "--splits", "2",
            "--quiet"]
    assert main(base + ["--out", str(tmp_path / "dask"), "--scheduler",
                        client.scheduler.address]) == 0
    assert main(base + ["--out", str(tmp_path / "pool")]) == 0
    a = json.loads((tmp_path / "dask" / "results.json").read_text())
    b = json.loads((tmp_path / "pool" / "results.json").read_text())
    for key in ("scores", "distance", "C", "P", "constant_units"):
        assert a[key] == b[key], key
    assert a["parameters"]["scheduler"] == client.scheduler.address


def test_hot_r_on_the_cluster_is_identical(client, data):
    """HOT+R pairs run through the same pair engine: on the cluster, one task per pair."""
    X, Y = data
    X, Y = X[:2], Y[:2]
    local = HOT(rotation=True, max_rounds=3, n_threads=2).fit(X, Y)
    seen = []
    with distributed.grid_backend(client=client, progress=lambda d, t: seen.append((d, t))):
        remote = HOT(rotation=True, max_rounds=3).fit(X, Y)
    assert seen[-1] == (4, 4)
    np.testing.assert_array_equal(remote.layer_costs_, local.layer_costs_)
    np.testing.assert_array_equal(remote.reconstruction_errors_, local.reconstruction_errors_)
    for l in range(2):
        for m in range(2):
            np.testing.assert_array_equal(remote.rotations_[l][m], local.rotations_[l][m])
            np.testing.assert_array_equal(remote.objective_traces_[l][m],
                                          local.objective_traces_[l][m])
            np.testing.assert_array_equal(remote.unit_plans_[l][m].weights,
                                          local.unit_plans_[l][m].weights)


def test_dask_backend_takes_a_subset_of_pairs(client, data):
    from hotalign.engine import solve_pairs
    from hotalign.systems import standardize_system

    X, Y = data
    Zx = standardize_system(X, "X").layers()
    Zy = standardize_system(Y, "Y").layers()
    done = []
    got = solve_pairs(Zx, Zy, pairs=[(2, 3), (0, 1)], backend=distributed.DaskBackend(client),
                      on_pair=lambda l, m, r: done.append((l, m)))
    ref = solve_pairs(Zx, Zy)
    assert sorted(done) == [(0, 1), (2, 3)]
    assert got.statuses[1, 1] == "unsolved" and np.isnan(got.costs[1, 1])
    for l, m in done:
        assert got.costs[l, m] == ref.costs[l, m]
