"""single_threaded_blas(): re-entrant and thread-safe (issue 14, item 2).

The BLAS thread limit is process-wide. The first tests replace the threadpoolctl controller
with a model of exactly that (one shared thread count; a limiter remembers the count it found
and puts it back), so the interleavings are deterministic whatever OpenBLAS build is loaded;
the last one uses the real BLAS.
"""

import threading

import pytest
from threadpoolctl import threadpool_limits

import hotalign._blas as blas
from hotalign._blas import blas_threads, single_threaded_blas


class _ProcessWideLimit:
    """threadpoolctl's controller reduced to one process-wide thread count."""

    def __init__(self, threads):
        self.threads = threads
        self.lock = threading.Lock()

    def limit(self, limits, user_api):
        return _Limiter(self, limits)


class _Limiter:
    def __init__(self, state, limits):
        with state.lock:
            self.state, self.original = state, state.threads
            state.threads = limits

    def restore_original_limits(self):
        with self.state.lock:
            self.state.threads = self.original

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.restore_original_limits()


@pytest.fixture
def process_limit(monkeypatch):
    state = _ProcessWideLimit(4)
    monkeypatch.setattr(blas, "_controller", lambda: state)
    return state


def _overlapping_holders(n, state):
    """n threads enter in order 0..n-1 and leave in the same order, each leaving while the
    later ones still hold the limit: the interleaving after which the unguarded version left
    the limit at 1 for good. Returns the thread count each holder saw inside."""
    entered = [threading.Event() for _ in range(n)]
    left = [threading.Event() for _ in range(n)]
    seen = [None] * n

    def hold(k):
        if k > 0:
            entered[k - 1].wait()
        with single_threaded_blas():
            seen[k] = state.threads
            entered[k].set()
            if k > 0:
                left[k - 1].wait()
            if k < n - 1:
                entered[n - 1].wait()
        left[k].set()

    threads = [threading.Thread(target=hold, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return seen


def test_overlapping_holders_restore_the_original_limit(process_limit):
    assert _overlapping_holders(4, process_limit) == [1, 1, 1, 1]
    assert process_limit.threads == 4


def test_nested_holders(process_limit):
    with single_threaded_blas():
        with single_threaded_blas():
            assert process_limit.threads == 1
        assert process_limit.threads == 1
    assert process_limit.threads == 4


def test_many_concurrent_holders(process_limit):
    barrier = threading.Barrier(8)
    inside = []

    def work():
        barrier.wait()
        for _ in range(200):
            with single_threaded_blas():
                inside.append(process_limit.threads)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(inside) == {1}
    assert process_limit.threads == 4


def test_holder_that_raises_still_restores(process_limit):
    with pytest.raises(RuntimeError):
        with single_threaded_blas():
            raise RuntimeError("boom")
    assert process_limit.threads == 4


def test_real_blas_limited_and_restored():
    blas._controller()  # scipy's BLAS loaded and seen by threadpoolctl
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == 2
        with single_threaded_blas():
            with single_threaded_blas():
                assert blas_threads() == 1
            assert blas_threads() == 1
        assert blas_threads() == 2
