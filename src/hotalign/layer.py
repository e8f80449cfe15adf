"""The layer handle: a ``(T, n)`` layer whose data are read only when needed.

One type, :class:`Layer`, stands for every layer that is not (yet) an array in memory: an HDF5
dataset, thingsvision's ``.npy`` chunks, a bfloat16 tensor of a ``.safetensors`` file, a
memory-mapped member of an ``.npz``, or some rows of another layer (a split's training rows).
A handle has

- ``shape`` and ``dtype``, known without reading the data (layers of more than two dimensions
  are flattened to ``(T, n)``, as the readers of :mod:`hotalign.io` do);
- ``read(rows=None)``: the whole layer, or only the rows asked for, as an ndarray;
- ``np.asarray(handle)`` (the whole layer) and ``handle[rows]`` (``read(rows)``), so code written
  for arrays accepts it.

The layer checks (:func:`hotalign._validation.check_layers`) validate handles by shape and dtype
alone, and the estimators read one layer at a time as they standardise it. A format's reader
only supplies a function ``reader(rows)`` that returns the whole stored array (``rows`` None) or
the listed rows (a sorted array of distinct row indices): slices, negative, repeated or unsorted
indices are normalised here, once for every format.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Layer"]


class Layer:
    """A ``(T, n)`` layer read on demand.

    Parameters
    ----------
    shape : tuple of int
        Shape of the stored array, ``(T, ...)``; the layer's ``shape`` is ``(T, prod(...))``.
    dtype : dtype
        Element type of what ``reader`` returns.
    reader : callable
        ``reader(rows)``: the stored array (``rows`` None) or its rows ``rows`` (a sorted 1-D
        int64 array of distinct indices), as an array of ``len(rows)`` rows.
    on_demand : bool
        True when reading some rows costs less than reading the whole layer (HDF5 datasets,
        chunked or bfloat16 files, row subsets): :meth:`hotalign.io.System.layers` then hands
        out the handle instead of the array.
    name : str, optional
        What the layer is, for ``repr`` and messages.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.arange(12.0).reshape(6, 2)
    >>> train = Layer.of(A).take([0, 2, 4])
    >>> train.shape, train.read([2]).tolist()
    ((3, 2), [[8.0, 9.0]])
    """

    ndim = 2

    def __init__(self, shape, dtype, reader, *, on_demand=True, name=None):
        self.raw_shape = tuple(int(s) for s in shape)
        raw = self.raw_shape
        self.shape = (raw[0], math.prod(raw[1:])) if len(raw) >= 2 else raw
        self.dtype = np.dtype(dtype)
        self.on_demand = bool(on_demand)
        self.name = name
        self._reader = reader

    @classmethod
    def of(cls, A, name=None) -> Layer:
        """``A`` itself if it is a handle, else a handle over the array (or memory map) ``A``
        (``on_demand=False``: the array is already at hand)."""
        if isinstance(A, Layer):
            return A
        if not hasattr(A, "shape") or not hasattr(A, "dtype"):
            A = np.asarray(A)
        return cls(A.shape, A.dtype, lambda rows: A if rows is None else A[rows],
                   on_demand=False, name=name)

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        what = f" {self.name}" if self.name else ""
        return f"<Layer{what} shape={self.shape} dtype={self.dtype}>"

    def rows(self, rows) -> np.ndarray:
        """``rows`` (a slice, or a 1-D sequence of int or bool) as an int64 index array into
        ``0 .. T-1``; IndexError for anything else."""
        T = self.shape[0]
        if isinstance(rows, slice):
            return np.arange(T, dtype=np.int64)[rows]
        idx = np.asarray(rows)
        if idx.dtype == bool:
            if idx.shape != (T,):
                raise IndexError(f"boolean row mask of shape {idx.shape} for {T} rows")
            return np.flatnonzero(idx).astype(np.int64)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise IndexError(f"rows must be a slice or a 1-D array of integers, got "
                             f"{idx.dtype} of shape {idx.shape}")
        idx = idx.astype(np.int64)
        idx = np.where(idx < 0, idx + T, idx)
        if idx.size and (idx.min() < 0 or idx.max() >= T):
            raise IndexError(f"row index out of range for {T} rows")
        return idx

    def read(self, rows=None) -> np.ndarray:
        """The layer (``rows`` None) or the rows ``rows`` of it, ``(len(rows), n)``, in the
        order given (repeats allowed)."""
        if rows is None:
            return _flat(np.asanyarray(self._reader(None)), self.shape)
        idx = self.rows(rows)
        if idx.size == 0:
            return np.empty((0,) + self.shape[1:], self.dtype)
        if idx.size == 1 or np.all(idx[1:] > idx[:-1]):
            return _flat(np.asanyarray(self._reader(idx)), (idx.size, self.shape[1]))
        unique, inverse = np.unique(idx, return_inverse=True)
        return _flat(np.asarray(self._reader(unique)), (unique.size, self.shape[1]))[inverse]

    def take(self, rows) -> Layer:
        """A handle over the rows ``rows`` of this layer, read only when it is (no copy now)."""
        idx = self.rows(rows)
        return Layer((idx.size, self.shape[1]), self.dtype,
                     lambda r: self.read(idx if r is None else idx[r]), on_demand=True,
                     name=None if self.name is None else f"{self.name}[{idx.size} rows]")

    def __array__(self, dtype=None, copy=None):
        A = self.read()
        return A if dtype is None else A.astype(dtype, copy=False)

    def __getitem__(self, key):
        if isinstance(key, slice) or (not isinstance(key, tuple) and np.ndim(key) == 1):
            return self.read(key)
        return np.asarray(self)[key]


def _flat(A, shape):
    """``A`` as the 2-D layer ``shape`` (the stored array may have more dimensions)."""
    if len(shape) < 2 or (A.ndim == 2 and A.shape[1] == shape[1]):
        return A
    return A.reshape(A.shape[0], shape[1])
