"""Tests of ``hotalign.cache``: hits reproduce results exactly, and a stale entry is never used."""

import numpy as np
import pytest

import hotalign
from hotalign import HOT, evaluate
from hotalign.cache import FitCache, _decode, _encode, cached
from hotalign.datasets import make_hierarchy


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
    est = cached(HOT(), FitCache(tmp_path))
    first = evaluate(X, Y, n_splits=3, estimator=est)
    assert (est.fit_cache.hits, est.fit_cache.misses, len(est.fit_cache)) == (0, 3, 3)
    again = evaluate(X, Y, n_splits=3, estimator=est)
    assert (est.fit_cache.hits, est.fit_cache.misses) == (3, 3)
    _same_evaluation(first, again)
    _same_evaluation(first, evaluate(X, Y, n_splits=3))  # and equal to an uncached run
    assert first.params["estimator"] == repr(HOT())


def test_loaded_model_predicts_identically(tmp_path, data):
    X, Y = data
    cache = FitCache(tmp_path)
    fresh = cached(HOT(), cache).fit(X, Y)
    loaded = cached(HOT(), cache).fit(X, Y)
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
    cache = FitCache(tmp_path)
    cached(HOT(), cache).fit(X, Y)
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
        monkeypatch.setattr(hotalign, "__version__", "0.0.0-other")
    cached(est, cache).fit(X2, Y)
    assert (cache.hits, cache.misses, len(cache)) == (0, 2, 2)


def test_rotation_fits_are_cached_too(tmp_path, data):
    X, Y = data
    est = cached(HOT(), FitCache(tmp_path))
    methods = ("hot", "hot_r", "pairwise_best_r")
    first = evaluate(X, Y, n_splits=2, methods=methods, estimator=est)
    assert (est.fit_cache.misses, len(est.fit_cache)) == (4, 4)  # plain and +R fit per split
    again = evaluate(X, Y, n_splits=2, methods=methods, estimator=est)
    assert est.fit_cache.hits == 4
    _same_evaluation(first, again)


def test_thread_count_is_not_part_of_the_key(tmp_path, data):
    X, Y = data
    cache = FitCache(tmp_path)
    assert cache.key(HOT(n_threads=1), X, Y) == cache.key(HOT(n_threads=2), X, Y)
    assert cache.key(HOT(), X, Y) != cache.key(HOT(), Y, X)


def test_read_false_only_writes(tmp_path, data):
    X, Y = data
    cache = FitCache(tmp_path, read=False)
    cached(HOT(), cache).fit(X, Y)
    cached(HOT(), cache).fit(X, Y)
    assert (cache.hits, len(cache)) == (0, 1)


def test_corrupt_entry_is_a_miss_and_rewritten(tmp_path, data):
    X, Y = data
    cache = FitCache(tmp_path)
    est = cached(HOT(), cache)
    est.fit(X, Y)
    (entry,) = tmp_path.glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:200])
    est.fit(X, Y)
    assert cache.hits == 0
    est.fit(X, Y)
    assert cache.hits == 1


def test_entry_under_another_key_is_rejected(tmp_path, data):
    X, Y = data
    cache = FitCache(tmp_path)
    est = cached(HOT(), cache)
    est.fit(X, Y)
    (entry,) = tmp_path.glob("*.npz")
    other = cache.key(HOT(dtype="float32"), X, Y)
    entry.rename(cache.path(other))  # a file whose recorded key does not match its name
    assert cache.load(other, HOT()) is None


def test_temporary_files_are_ignored_and_swept(tmp_path, data):
    X, Y = data
    cache = FitCache(tmp_path)
    (tmp_path / f".{'0' * 64}.npz.123.tmp").write_bytes(b"partial")
    assert len(cache) == 0
    cached(HOT(), cache).fit(X, Y)
    assert cache.sweep() == 1 and len(cache) == 1
    assert not list(tmp_path.glob("*.tmp"))


def test_decode_refuses_foreign_classes():
    node = {"t": "o", "c": "os:PathLike", "v": {}}
    with pytest.raises(TypeError, match="refusing to build os.PathLike"):
        _decode(node, [])


def test_encode_refuses_unknown_objects():
    with pytest.raises(TypeError):
        _encode(object(), [])
    with pytest.raises(TypeError):
        _encode(np.array([None]), [])
    arrays = []
    node = _encode({"a": (1, [2.5, None]), "b": np.float32(3)}, arrays)
    assert _decode(node, arrays) == {"a": (1, [2.5, None]), "b": np.float32(3)}
