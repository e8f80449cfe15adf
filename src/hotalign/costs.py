"""Z-scoring with training statistics, and correlation-distance costs between units.

A *layer* is a ``(T, n)`` array: row t is the response of all n units to stimulus t. Units are
standardised per column with the mean and spread of the training rows only; held-out rows reuse
those statistics. A standardised column is centred and has unit Euclidean norm on the training
rows, so the correlation of two units is the dot product of their standardised columns and the
correlation distance is ``1 - Zx.T @ Zy``.
"""

from __future__ import annotations

import threading

import numpy as np

from . import _core
from ._blas import blas_threads, gemm_pointers
from ._validation import as_array, as_layer, check_choice, describe

__all__ = ["CONSTANT_UNIT_POLICIES", "ZScore", "correlation_cost", "zscore"]

#: How units that are constant on the training rows are handled.
#: ``"exclude"``: dropped from the transport and from scoring (and counted);
#: ``"cost_one"``: kept, with correlation 0 (cost 1) against every unit;
#: ``"raise"``: a ValueError naming the layer and the units.
CONSTANT_UNIT_POLICIES = ("exclude", "cost_one", "raise")

_DTYPES = {"float64": np.float64, "float32": np.float32}


def as_float_dtype(dtype, name: str = "dtype"):
    """Return np.float32 or np.float64 for a dtype-like; anything else raises ValueError."""
    try:
        key = np.dtype(dtype).name
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be float32 or float64, got {describe(dtype)}") from None
    if key not in _DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {describe(dtype)}")
    return _DTYPES[key]


class ZScore:
    """Per-column standardisation with statistics of the rows it was fitted on.

    ``fit`` reads the data once (C++ core: double accumulators, NaN/inf detected in the same
    pass). ``transform`` maps rows x to ``(x - mean_) * scale_ * sqrt(n_rows_ / T')`` for T'
    rows: on the training rows each column is centred with unit norm, so the correlation of two
    units is the dot product of their columns; on held-out rows the same statistics are reused
    (the factor only keeps the scale comparable; it is the same for every column).
    The attributes below exist after ``fit``.

    Attributes
    ----------
    mean_ : ndarray, shape (n,)
        Column means of ``x * prescale_`` on the training rows (float64).
    scale_ : ndarray, shape (n,)
        ``1 / ||x * prescale_ - mean_||`` over the training rows; 0 for constant columns.
    prescale_ : ndarray, shape (n,)
        Power of two applied to each column first: 1, except for columns whose squares would
        overflow or underflow in double (largest magnitude above ~1e154 or below ~4e-121,
        subnormals included), which are scaled to a largest magnitude in [1, 2). Correlation
        does not depend on the scale, so layers of any magnitude give the same costs.
    constant_ : ndarray of bool, shape (n,)
        Columns constant on the training rows: ``||x - mean|| <= 1e-12 sqrt(T) max|x|`` (a
        relative rule: it flags the same columns at any scale).
    n_rows_ : int
        Number of training rows.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    >>> z = ZScore().fit(X)
    >>> z.constant_
    array([False,  True])
    >>> float(z.transform(X)[:, 0] @ z.transform(X)[:, 0])
    1.0
    """

    #: The attributes ``fit`` sets (what :mod:`hotalign.cache` stores and validates).
    FITTED_ATTRIBUTES = ("mean_", "scale_", "prescale_", "constant_", "n_rows_")

    def fit(self, X, name: str = "X"):
        """Compute column statistics of ``X`` (shape ``(T, n)``, T >= 2); returns self."""
        X = _as_kernel_input(as_layer(X, name, check_finite=False))
        try:
            mean, scale, constant, rows, prescale = _core.column_stats(X)
        except ValueError as exc:
            raise ValueError(f"{name} contains NaN or infinity ({exc})") from None
        self.mean_ = mean
        self.scale_ = scale
        self.prescale_ = prescale
        self.constant_ = np.zeros(mean.shape[0], dtype=bool)
        self.constant_[constant] = True
        self.n_rows_ = int(rows)
        return self

    def transform(self, X, dtype=np.float64, columns=None, name: str = "X") -> np.ndarray:
        """Standardise ``X`` (shape ``(T', n)``) with the fitted statistics.

        Parameters
        ----------
        X : array_like, shape (T', n)
            Rows to standardise (training or held-out).
        dtype : float32 or float64
            Output dtype (computed in double, rounded once).
        columns : array_like of int, optional
            Keep only these columns (e.g. the non-constant units); only they are read and
            standardised.
        name : str
            Name used in error messages.

        Returns
        -------
        ndarray, shape (T', n) or (T', len(columns)), C-contiguous
            Constant columns come out as zeros.
        """
        dtype = as_float_dtype(dtype)
        if not hasattr(self, "mean_"):
            raise ValueError("this ZScore is not fitted yet: call fit(X) first")
        X = _as_kernel_input(as_layer(X, name, min_rows=1, check_finite=False))
        n = self.mean_.shape[0]
        if X.shape[1] != n:
            raise ValueError(f"{name} must have {n} columns to match the fitted statistics, "
                             f"got {X.shape[1]}")
        # A ZScore stored before prescale_ existed has none: all ones.
        mean, scale, prescale = self.mean_, self.scale_, getattr(self, "prescale_", None)
        columns = None if columns is None else _check_columns(columns, n)
        select = columns is not None and len(columns) != n
        if select and len(columns):
            # Standardise only the columns asked for (the kernel works column by column, so the
            # values are those of the whole layer's): the raw columns are gathered, never a
            # standardised copy of every unit.
            X = _as_kernel_input(X.take(columns, axis=1))
            mean, scale = mean[columns], scale[columns]
            prescale = None if prescale is None else prescale[columns]
        try:
            Z = _core.standardize(X, mean, scale, self.n_rows_, dtype == np.float32, 1,
                                  prescale)
        except ValueError as exc:
            raise ValueError(f"{name} contains NaN or infinity ({exc})") from None
        return Z[:, :0].copy() if select and not len(columns) else Z


def _check_columns(columns, n: int) -> np.ndarray:
    """``columns`` of :meth:`ZScore.transform`: a 1-D array of integer indices in [0, n)."""
    cols = as_array(columns, "columns")
    if cols.ndim == 1 and cols.size == 0:
        return cols.astype(np.intp)
    if cols.ndim != 1 or (cols.size and cols.dtype.kind not in "iu"):
        raise ValueError(f"columns must be a 1-D array of integer column indices, got "
                         f"{describe(columns)}")
    if cols.size and (cols.min() < 0 or cols.max() >= n):
        raise ValueError(f"columns must be column indices in [0, {n}), got values from "
                         f"{cols.min()} to {cols.max()}")
    return cols


def _as_kernel_input(X: np.ndarray) -> np.ndarray:
    """float32/float64 with contiguous rows as the C++ kernels read it (copy only if needed)."""
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    if X.dtype != dtype or (X.shape[1] > 1 and X.strides[1] != X.itemsize) or X.strides[0] < 0:
        X = np.ascontiguousarray(X, dtype=dtype)
    return X


def zscore(X_train, X_test=None, *, dtype=np.float64):
    """Standardise columns with training statistics; optionally apply them to held-out rows.

    Parameters
    ----------
    X_train : array_like, shape (T, n)
    X_test : array_like, shape (T', n), optional
    dtype : float32 or float64

    Returns
    -------
    Z_train : ndarray, shape (T, n)
        Centred, unit-norm columns (constant columns are zero).
    Z_test : ndarray, shape (T', n)
        Only if ``X_test`` is given: held-out rows standardised with the training statistics
        (see :class:`ZScore` for the scale).
    """
    scaler = ZScore().fit(X_train, "X_train")
    Z_train = scaler.transform(X_train, dtype, name="X_train")
    if X_test is None:
        return Z_train
    return Z_train, scaler.transform(X_test, dtype, name="X_test")


def correlation_cost(X, Y, *, dtype=np.float64, out=None):
    """Correlation distance ``1 - pearson(X[:, i], Y[:, j])`` between all pairs of units.

    Computed by the C++ core: one pass of column statistics per input, a standardised copy in
    the working dtype, one BLAS GEMM (scipy's) written straight into the result and an in-place
    epilogue. Peak extra memory: the two standardised copies in ``dtype``.

    Parameters
    ----------
    X : array_like, shape (T, n)
        Activations of n units over T stimuli.
    Y : array_like, shape (T, m)
        Activations of m units over the same T stimuli, rows in the same order.
    dtype : float32 or float64
        Precision of the computation and of the result.
    out : ndarray, shape (n, m), optional
        C-contiguous array of ``dtype`` to write into.

    Returns
    -------
    ndarray, shape (n, m)
        Values in [0, 2]. A unit constant over the T rows has correlation 0 (cost 1) with every
        unit, never NaN.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0]])
    >>> np.round(correlation_cost(X, X), 12)
    array([[0., 1.],
           [1., 0.]])
    """
    dtype = as_float_dtype(dtype)
    X = as_layer(X, "X", check_finite=False)
    Y = as_layer(Y, "Y", check_finite=False)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"X and Y must have the same number of rows (stimuli): {X.shape[0]} != {Y.shape[0]}"
        )
    X = _as_kernel_input(X).astype(dtype, copy=False)
    Y = _as_kernel_input(Y).astype(dtype, copy=False)
    shape = (X.shape[1], Y.shape[1])
    if out is None:
        out = np.empty(shape, dtype=dtype)
    elif not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype \
            or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out must be a writeable C-contiguous {shape} array of {np.dtype(dtype)}")
    dgemm, sgemm = gemm_pointers()
    f32 = dtype == np.float32
    nbytes = _core.correlation_cost_workspace_bytes(X.shape[0], X.shape[1], Y.shape[1], f32)
    # The O(T (n + m)) statistics/standardisation passes use as many threads as the GEMM.
    _core.correlation_cost(X, Y, out, sgemm if f32 else dgemm, _workspace(nbytes),
                           blas_threads())
    return out


#: Largest scratch buffer kept between calls (per thread); larger ones are allocated per call.
WORKSPACE_CACHE_BYTES = 256 * 2**20
_local = threading.local()


def _workspace(nbytes: int):
    """A per-thread scratch buffer of at least ``nbytes``, reused across calls.

    Fresh memory costs a page fault per 4 KiB on first touch, a visible share of a small GEMM
    (about 4 ms of a 12 ms one at T=2000, n=384); reusing the standardised copies' buffer avoids
    it. Buffers above ``WORKSPACE_CACHE_BYTES`` are not kept.
    """
    if nbytes > WORKSPACE_CACHE_BYTES:
        return None
    buf = getattr(_local, "workspace", None)
    if buf is None or buf.nbytes < nbytes:
        buf = np.empty(nbytes + 64, dtype=np.uint8)
        _local.workspace = buf
    return buf


def check_constant_policy(value):
    """Validate a ``constant_units`` policy name."""
    return check_choice(value, "constant_units", CONSTANT_UNIT_POLICIES)
