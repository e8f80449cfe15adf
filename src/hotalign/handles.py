"""Layer handles: ``(T, n)`` layers whose data are read only when needed.

A handle has ``shape`` and ``dtype`` (known without reading the data), ``np.asarray(handle)``
(the whole layer) and ``handle[rows]`` (some rows, e.g. a split's training rows). The layer
checks (:func:`hotalign._validation.check_layers`) validate handles by shape and dtype alone,
and the estimators read one layer at a time as they standardise it. The readers of
:mod:`hotalign.io` (HDF5 datasets, thingsvision chunks, bfloat16 safetensors) subclass
:class:`LazyLayer`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LazyLayer", "RowSubset"]


class LazyLayer:
    """A ``(T, n)`` layer whose data are read only when needed.

    Subclasses provide ``shape`` and ``dtype`` without reading the data, ``__array__`` (the
    whole layer) and ``__getitem__`` (rows, e.g. a split's training rows). :func:`check_layers`
    validates them by shape and dtype alone, and the estimators read one layer at a time as
    they standardise it.
    """

    ndim = 2

    def __getitem__(self, key):
        return np.asarray(self)[key]


class RowSubset(LazyLayer):
    """Rows ``rows`` of a ``(T, n)`` layer, read only when converted with ``np.asarray``.

    :func:`hotalign.evaluate` hands these to an estimator with a memory budget
    (``HOT(max_layers_in_memory=k)``), so a split's training rows are gathered one layer at a
    time as the layer is standardised, instead of copying every layer up front. With
    memory-mapped inputs this keeps only the layers the current pairs need in memory.
    """

    def __init__(self, base, rows):
        self.base = base
        self.rows = np.asarray(rows)

    @property
    def shape(self):
        return (self.rows.shape[0], self.base.shape[1])

    @property
    def dtype(self):
        return np.asarray(self.base[:0]).dtype

    def __array__(self, dtype=None, copy=None):
        A = np.asarray(self.base[self.rows])
        return A if dtype is None else A.astype(dtype, copy=False)
