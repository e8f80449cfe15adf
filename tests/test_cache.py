"""Tests of ``hotalign.cache``: hits reproduce results exactly, and a stale entry is never used.

Fit-level entries (``FitCache``, through ``HOT(memory=...)``) first, then layer-pair entries
(``PairCache``, through :func:`hotalign.grid.solve_systems` and the pair engine).
"""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import hotalign
from hotalign import HOT, evaluate
from hotalign.cache import CacheWarning, InvalidEntry, Memory, PairCache
from hotalign.cache.codec import _decode, _encode
from hotalign.cache.store import _HOST
from hotalign.costs import ZScore
from hotalign.datasets import make_hierarchy
from hotalign.engine import LocalBackend, solve_pairs
from hotalign.grid import solve_systems
from hotalign.systems import StandardizedSystem


@pytest.fixture(scope="module")
def data():
    X, Y, _ = make_hierarchy(150, (8, 9), (10, 8, 7), random_state=3)
    X[0][:, 2] = 1.5  # a constant unit: the excluded-unit bookkeeping must survive the cache
    return X, Y


def _same_evaluation(a, b):
    for m in a.methods:
        np.testing.assert_array_equal(a.split_scores[m], b.split_scores[m])
        np.testing.assert_array_equal(a.layer_scores[m], b.layer_scores[m])
    np.testing.assert_array_equal(a.layer_plans, b.layer_plans)
    np.testing.assert_array_equal(a.layer_costs, b.layer_costs)
    np.testing.assert_array_equal(a.distances, b.distances)


def test_round_trip_is_exact(tmp_path, data):
    X, Y = data
    est = HOT(memory=Memory(tmp_path))
    first = evaluate(X, Y, n_splits=3, estimator=est)
    assert (est.memory.fits.hits, est.memory.fits.misses, len(est.memory.fits)) == (0, 3, 3)
    again = evaluate(X, Y, n_splits=3, estimator=est)
    assert (est.memory.fits.hits, est.memory.fits.misses) == (3, 3)
    _same_evaluation(first, again)
    _same_evaluation(first, evaluate(X, Y, n_splits=3))  # and equal to an uncached run
    assert first.params["estimator"] == repr(est)


def test_loaded_model_predicts_identically(tmp_path, data):
    X, Y = data
    memory = Memory(tmp_path)
    cache = memory.fits
    fresh = HOT().set_params(memory=memory).fit(X, Y)
    loaded = HOT().set_params(memory=memory).fit(X, Y)
    assert cache.hits == 1 and loaded is not fresh and isinstance(loaded, HOT)
    for a, b in zip(fresh.predict(Y), loaded.predict(Y)):
        np.testing.assert_array_equal(a, b)
    assert loaded.n_constant_units_ == fresh.n_constant_units_ == 1
    np.testing.assert_array_equal(loaded.constant_units_["X"][0], [2])
    p, q = fresh.unit_plans_[1][2], loaded.unit_plans_[1][2]
    assert (q.shape, q.status, q.method, q.cost) == (p.shape, p.status, p.method, p.cost)


@pytest.mark.parametrize("change", ["dtype", "constant_units", "input", "rows", "version"])
def test_changed_parameter_or_input_is_a_miss(tmp_path, data, change, monkeypatch):
    X, Y = data
    memory = Memory(tmp_path)
    cache = memory.fits
    HOT().set_params(memory=memory).fit(X, Y)
    est, X2 = HOT(), list(X)
    if change == "dtype":
        est = HOT(dtype="float32")
    elif change == "constant_units":
        est = HOT(constant_units="cost_one")
    elif change == "input":
        X2[1] = X[1].copy()
        X2[1][7, 3] += 1e-9  # one value, barely changed
    elif change == "rows":
        X2, Y = [A[:-1] for A in X], [B[:-1] for B in Y]
    else:
        monkeypatch.setattr(hotalign._version, "__version__", "0.0.0-other")
    est.set_params(memory=memory).fit(X2, Y)
    assert (cache.hits, cache.misses, len(cache)) == (0, 2, 2)


def test_rotation_fits_are_cached_too(tmp_path, data):
    X, Y = data
    est = HOT(memory=Memory(tmp_path))
    methods = ("hot", "hot_r", "pairwise_best_r")
    first = evaluate(X, Y, n_splits=2, methods=methods, estimator=est)
    assert (est.memory.fits.misses, len(est.memory.fits)) == (4, 4)  # plain and +R fit per split
    again = evaluate(X, Y, n_splits=2, methods=methods, estimator=est)
    assert est.memory.fits.hits == 4
    _same_evaluation(first, again)


def test_thread_count_is_not_part_of_the_key(tmp_path, data):
    X, Y = data
    memory = Memory(tmp_path)
    cache = memory.fits
    assert cache.key(HOT(n_threads=1), X, Y) == cache.key(HOT(n_threads=2), X, Y)
    assert cache.key(HOT(), X, Y) != cache.key(HOT(), Y, X)


def test_read_false_only_writes(tmp_path, data):
    X, Y = data
    memory = Memory(tmp_path, read=False)
    cache = memory.fits
    HOT().set_params(memory=memory).fit(X, Y)
    HOT().set_params(memory=memory).fit(X, Y)
    assert (cache.hits, len(cache)) == (0, 1)


def test_corrupt_entry_is_a_miss_and_rewritten(tmp_path, data):
    X, Y = data
    memory = Memory(tmp_path)
    cache = memory.fits
    est = HOT().set_params(memory=memory)
    est.fit(X, Y)
    (entry,) = tmp_path.glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:200])
    with pytest.warns(CacheWarning, match="unreadable"):
        est.fit(X, Y)
    assert (cache.hits, cache.invalid) == (0, 1)
    est.fit(X, Y)
    assert cache.hits == 1


def test_entry_under_another_key_is_rejected(tmp_path, data):
    X, Y = data
    memory = Memory(tmp_path)
    cache = memory.fits
    est = HOT().set_params(memory=memory)
    est.fit(X, Y)
    (entry,) = tmp_path.glob("*.npz")
    other = cache.key(HOT(dtype="float32"), X, Y)
    entry.rename(cache.path(other))  # a file whose recorded key does not match its name
    with pytest.warns(CacheWarning, match="another key"):
        assert cache.load(other, HOT(), X, Y) is None


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_stale_temporary_files_are_swept(tmp_path, data):
    X, Y = data
    memory = Memory(tmp_path)
    cache = memory.fits
    key = "0" * 64
    dead = tmp_path / f".{key}.npz.{_dead_pid()}.1.tmp"  # old name form, writer gone
    dead_here = tmp_path / f".{key}.npz.{_HOST}.{_dead_pid()}.2.tmp"
    live = tmp_path / f".{key}.npz.{_HOST}.{os.getpid()}.3.tmp"  # a writer still running
    elsewhere = tmp_path / f".{key}.npz.otherhost.{_dead_pid()}.4.tmp"  # not ours to judge
    for p in (dead, dead_here, live, elsewhere):
        p.write_bytes(b"partial")
    assert len(cache) == 0
    HOT().set_params(memory=memory).fit(X, Y)
    assert cache.sweep() == 2 and len(cache) == 1
    assert sorted(tmp_path.glob("*.tmp")) == sorted([live, elsewhere])
    old = time.time() - 2 * 86400
    os.utime(elsewhere, (old, old))  # a day old: stale whoever wrote it
    assert cache.sweep() == 1 and list(tmp_path.glob("*.tmp")) == [live]


def test_decode_refuses_foreign_classes():
    for node in ({"t": "o", "c": "os:PathLike", "v": {}},
                 {"t": "dc", "c": "hotalign.cache:os.system", "v": {}},
                 {"t": "o", "c": "TransportResult.__init__", "v": {}}):
        with pytest.raises(InvalidEntry):
            _decode(node, [])


def test_encode_refuses_unknown_objects():
    with pytest.raises(TypeError):
        _encode(object(), [])
    with pytest.raises(TypeError):
        _encode(np.array([None]), [])
    arrays = []
    node = _encode({"a": (1, [2.5, None]), "b": np.float32(3)}, arrays)
    assert _decode(node, arrays) == {"a": (1, [2.5, None]), "b": np.float32(3)}


def test_memory_parameter_is_checked():
    with pytest.raises(ValueError, match="memory must be"):
        HOT(memory=3).fit(*make_hierarchy(50, (4,), (4,), random_state=0)[:2])


# -- layer-pair entries ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def layers(data):
    """Standardised layers (3 x 2 pairs) as HOT hands them to solve_pairs."""
    X, Y = data
    return ([ZScore().fit(A).transform(A, np.float64) for A in Y],
            [ZScore().fit(A).transform(A, np.float64) for A in X])


def _cached_pairs(cache, Zx, Zy, backend=None, a=None, b=None, **kwargs):
    """The pairs of standardised layers through the pair cache, as HOT runs them."""
    return solve_systems(StandardizedSystem.from_standardized(Zx, "X", a),
                         StandardizedSystem.from_standardized(Zy, "Y", b), cache=cache,
                         backend=backend, **kwargs)


def _same_grid(g, ref):
    np.testing.assert_array_equal(g.costs, ref.costs)
    np.testing.assert_array_equal(g.statuses, ref.statuses)
    np.testing.assert_array_equal(g.n_iter, ref.n_iter)
    assert g.costs.dtype == ref.costs.dtype and g.n_iter.dtype == ref.n_iter.dtype
    for row, ref_row in zip(g.plans, ref.plans):
        for p, q in zip(row, ref_row):
            for name in ("rows", "cols", "weights", "u", "v"):
                np.testing.assert_array_equal(getattr(p, name), getattr(q, name))
                assert getattr(p, name).dtype == getattr(q, name).dtype
            assert (p.cost, p.status, p.n_iter, p.shape, p.method) == \
                (q.cost, q.status, q.n_iter, q.shape, q.method)


def test_pairs_are_bit_identical_and_reused(tmp_path, layers):
    Zx, Zy = layers
    ref = solve_pairs(Zx, Zy)
    cache = PairCache(tmp_path)
    _same_grid(_cached_pairs(cache, Zx, Zy, n_threads=2), ref)
    assert (cache.hits, cache.misses, len(cache)) == (0, 6, 6)
    seen = []
    again = _cached_pairs(cache, Zx, Zy, progress=lambda done, total: seen.append((done, total)))
    _same_grid(again, ref)
    assert (cache.hits, cache.misses, len(cache)) == (6, 6, 6)
    assert seen == [(k, 6) for k in range(1, 7)]  # hits count as done
    costs_only = _cached_pairs(cache, Zx, Zy, keep_plans=False)  # as TrajectoryHOT asks
    assert costs_only.plans is None and cache.hits == 12
    np.testing.assert_array_equal(costs_only.costs, ref.costs)


class _Spy(LocalBackend):
    """The local backend, recording the pairs each engine call is asked for."""

    def __init__(self):
        self.calls = []

    def run(self, Zx, Zy, todo, finished, **kwargs):
        self.calls.append((len(Zx), len(Zy), list(todo), kwargs["keep_plans"]))
        return super().run(Zx, Zy, todo, finished, **kwargs)


def test_only_missing_pairs_are_solved(tmp_path, layers):
    Zx, Zy = layers
    cache = PairCache(tmp_path)
    _cached_pairs(cache, Zx[:1], Zy)  # the pairs of layer 0 only, as if killed after them
    spy = _Spy()
    seen = []
    grid = _cached_pairs(cache, Zx, Zy, backend=spy, n_threads=1,
                         progress=lambda done, total: seen.append((done, total)))
    assert (cache.hits, cache.misses) == (2, 2 + 4)
    assert spy.calls == [(3, 2, [(1, 0), (1, 1), (2, 0), (2, 1)], True)]  # one engine call
    assert seen == [(k, 6) for k in range(1, 7)]  # hits count as done
    _same_grid(grid, solve_pairs(Zx, Zy))


def test_backend_gets_only_missing_pairs(tmp_path, layers):
    Zx, Zy = layers
    cache = PairCache(tmp_path)
    _cached_pairs(cache, [Zx[1]], [Zy[0]])
    spy = _Spy()  # stands in for the Dask backend
    grid = _cached_pairs(cache, Zx, Zy, backend=spy, keep_plans=False)
    assert [call[2] for call in spy.calls] == [[(0, 0), (0, 1), (1, 1), (2, 0), (2, 1)]]
    assert spy.calls[0][3]  # plans are kept for the cache even when the caller drops them
    assert (cache.hits, cache.misses, len(cache)) == (1, 1 + 5, 6)
    np.testing.assert_array_equal(grid.costs, solve_pairs(Zx, Zy).costs)
    _same_grid(_cached_pairs(cache, Zx, Zy, backend=spy), solve_pairs(Zx, Zy))
    assert len(spy.calls) == 1 and cache.hits == 7


def test_hot_fit_through_pair_cache(tmp_path, data):
    X, Y = data
    memory = Memory(tmp_path)
    first = HOT(memory=memory).fit(X, Y)
    again = HOT(memory=memory).fit(X[::-1], Y)  # another fit, the same layer pairs
    plain = HOT().fit(X, Y)
    assert (memory.pairs.hits, memory.pairs.misses, memory.fits.misses) == (6, 6, 2)
    np.testing.assert_array_equal(first.layer_costs_, plain.layer_costs_)
    np.testing.assert_array_equal(again.layer_costs_, plain.layer_costs_[::-1])
    np.testing.assert_array_equal(first.unit_plans_[0][1].weights,
                                  plain.unit_plans_[0][1].weights)


def test_rotation_pairs_are_cached_and_resumed(tmp_path, data):
    X, Y = data
    memory = Memory(tmp_path)
    first = HOT(rotation=True, max_rounds=3, memory=memory).fit(X, Y)
    assert (memory.pairs.hits, memory.pairs.misses) == (0, 6)
    entries = sorted((tmp_path / "pairs").glob("*.npz"))
    for entry in entries[:2]:  # as if killed after four pairs
        entry.unlink()
    for entry in tmp_path.glob("*.npz"):  # and before the fit was stored
        entry.unlink()
    again = HOT(rotation=True, max_rounds=3, memory=memory).fit(X, Y)
    assert (memory.pairs.hits, memory.pairs.misses) == (4, 8)
    plain = HOT(rotation=True, max_rounds=3).fit(X, Y)
    for model in (first, again):
        np.testing.assert_array_equal(model.layer_costs_, plain.layer_costs_)
        for l in range(2):
            for m in range(3):
                np.testing.assert_array_equal(model.rotations_[l][m], plain.rotations_[l][m])
                np.testing.assert_array_equal(model.objective_traces_[l][m],
                                              plain.objective_traces_[l][m])
    other = HOT(rotation=True, max_rounds=2, memory=memory).fit(X, Y)  # other options: a miss
    assert memory.pairs.hits == 4 and other.n_rounds_.max() <= 2


@pytest.mark.parametrize("change", ["input", "dtype", "marginal", "max_iter", "version"])
def test_pair_of_other_inputs_is_a_miss(tmp_path, layers, change, monkeypatch):
    Zx, Zy = layers
    cache = PairCache(tmp_path)
    _cached_pairs(cache, Zx, Zy)
    kwargs = {}
    if change == "input":
        Zx = [Z.copy() for Z in Zx]
        for Z in Zx:
            Z[5, 1] = np.nextafter(Z[5, 1], 1.0)  # one value, one ulp
    elif change == "dtype":
        Zx, Zy = [Z.astype(np.float32) for Z in Zx], [Z.astype(np.float32) for Z in Zy]
    elif change == "marginal":
        b = [np.full(Z.shape[1], 1.0 / Z.shape[1]) for Z in Zy]  # uniform, but given
        b[0][:2] += [1e-3, -1e-3]
        kwargs["b"] = b
    elif change == "max_iter":
        kwargs["max_iter"] = 10**6
    else:
        monkeypatch.setattr(hotalign._version, "__version__", "0.0.0-other")
    _cached_pairs(cache, Zx, Zy, **kwargs)
    assert (cache.hits, cache.misses, len(cache)) == (0, 12, 12)


def test_identical_layers_share_one_solve(tmp_path, layers):
    Zx, Zy = layers
    cache = PairCache(tmp_path)
    grid = _cached_pairs(cache, [Zx[0], Zx[0].copy()], Zy)
    assert (cache.misses, len(cache)) == (4, 2)
    np.testing.assert_array_equal(grid.costs[0], grid.costs[1])


def test_corrupt_pair_is_a_miss_and_replaced(tmp_path, layers):
    Zx, Zy = layers
    cache = PairCache(tmp_path)
    ref = _cached_pairs(cache, Zx, Zy)
    entry = sorted(tmp_path.glob("*.npz"))[0]
    entry.write_bytes(entry.read_bytes()[:300])  # truncated
    (tmp_path / f".{entry.name}.{_dead_pid()}.1.tmp").write_bytes(b"partial")  # killed run
    with pytest.warns(CacheWarning, match="unreadable"):
        _same_grid(_cached_pairs(cache, Zx, Zy), ref)
    assert (cache.hits, cache.misses, cache.invalid) == (5, 7, 1)
    assert cache.load(entry.stem) is not None  # rewritten whole
    assert cache.sweep() == 1 and len(cache) == 6
    _cached_pairs(cache, Zx, Zy)
    assert cache.hits == 11


def test_pair_cache_read_false_only_writes(tmp_path, layers):
    Zx, Zy = layers
    cache = PairCache(tmp_path, read=False)
    _cached_pairs(cache, Zx, Zy)
    _cached_pairs(cache, Zx, Zy)
    assert (cache.hits, cache.misses, len(cache)) == (0, 12, 6)
