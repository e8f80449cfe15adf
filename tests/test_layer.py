"""The one layer handle (:class:`hotalign.layer.Layer`): rows read as asked, on any reader."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hotalign
from hotalign.layer import Layer


class CountingReader:
    """A reader over an array that records the rows it was asked for (None: all)."""

    def __init__(self, A):
        self.A, self.calls = A, []

    def __call__(self, rows):
        assert rows is None or (rows.dtype == np.int64 and np.all(np.diff(rows) > 0))
        self.calls.append(None if rows is None else rows.copy())
        return self.A if rows is None else self.A[rows]


@settings(max_examples=60, deadline=None)
@given(T=st.integers(1, 12), data=st.data())
def test_read_equals_numpy_indexing(T, data):
    A = np.arange(T * 3, dtype=np.float64).reshape(T, 3)
    kind = data.draw(st.sampled_from(["ints", "mask", "slice"]))
    if kind == "ints":
        rows = data.draw(st.lists(st.integers(-T, T - 1), max_size=2 * T))
    elif kind == "mask":
        rows = np.array(data.draw(st.lists(st.booleans(), min_size=T, max_size=T)))
    else:
        rows = slice(data.draw(st.integers(-T, T)), data.draw(st.integers(-T, T)),
                     data.draw(st.sampled_from([1, 2, -1])))
    reader = CountingReader(A)
    layer = Layer(A.shape, A.dtype, reader)
    np.testing.assert_array_equal(layer.read(rows), A[rows])
    np.testing.assert_array_equal(layer[rows], A[rows])
    # a row subset of a row subset reads the composed rows from the reader, sorted and distinct
    sub = layer.take(rows)
    assert sub.shape == A[rows].shape and sub.on_demand
    np.testing.assert_array_equal(np.asarray(sub), A[rows])
    if len(A[rows]):
        np.testing.assert_array_equal(sub.take([-1, 0]).read(), A[rows][[-1, 0]])


def test_bad_rows_are_refused():
    layer = Layer.of(np.zeros((4, 2)))
    with pytest.raises(IndexError, match="out of range"):
        layer.read([4])
    with pytest.raises(IndexError, match="boolean row mask"):
        layer.read(np.array([True, False]))
    with pytest.raises(IndexError, match="1-D array of integers"):
        layer.read(np.array([0.5]))


def test_shape_flattens_and_array_protocol():
    A = np.arange(24.0).reshape(4, 3, 2)
    layer = Layer(A.shape, A.dtype, lambda rows: A if rows is None else A[rows])
    assert layer.shape == (4, 6) and layer.raw_shape == (4, 3, 2) and len(layer) == 4
    np.testing.assert_array_equal(np.asarray(layer), A.reshape(4, 6))
    np.testing.assert_array_equal(layer[[3, 1]], A.reshape(4, 6)[[3, 1]])
    assert np.asarray(layer, dtype=np.float32).dtype == np.float32
    assert Layer.of(layer) is layer
    assert "shape=(4, 6)" in repr(layer)


def test_hot_on_custom_handles_reads_only_training_rows():
    """A user's own storage as handles: the fit equals the arrays', and evaluate with a memory
    budget asks the readers for the training rows of each split only, never a whole layer."""
    X, Y, _ = hotalign.datasets.make_hierarchy(60, (5, 6), (4, 7), random_state=3)
    readers = [CountingReader(A) for A in X + Y]
    Xh = [Layer(A.shape, A.dtype, r) for A, r in zip(X, readers[:2])]
    Yh = [Layer(B.shape, B.dtype, r) for B, r in zip(Y, readers[2:])]
    full = hotalign.HOT().fit(X, Y)
    np.testing.assert_array_equal(hotalign.HOT().fit(Xh, Yh).layer_costs_, full.layer_costs_)
    for r in readers:
        r.calls.clear()
    est = hotalign.HOT(max_layers_in_memory=2)
    a = hotalign.evaluate(Xh, Yh, n_splits=2, estimator=est, methods=["hot"])
    b = hotalign.evaluate(X, Y, n_splits=2, estimator=est, methods=["hot"])
    np.testing.assert_array_equal(a.split_scores["hot"], b.split_scores["hot"])
    for r in readers:
        assert r.calls and all(rows is not None and rows.size < 60 for rows in r.calls)


def test_handles_are_validated_without_reading():
    def never(rows):
        raise AssertionError("read")

    with pytest.raises(ValueError, match=r"X\[0\] needs at least 3 rows"):
        hotalign.HOT().fit([Layer((2, 4), np.float64, never)], [np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"X\[0\]"):
        hotalign.HOT().fit([Layer((5, 4), np.complex128, never)], [np.zeros((5, 3))])
