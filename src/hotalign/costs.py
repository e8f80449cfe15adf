"""Z-scoring with training statistics, and correlation-distance costs between units.

A *layer* is a ``(T, n)`` array: row t is the response of all n units to stimulus t. Units are
standardised per column with the mean and spread of the training rows only; held-out rows reuse
those statistics. A standardised column is centred and has unit Euclidean norm on the training
rows, so the correlation of two units is the dot product of their standardised columns and the
correlation distance is ``1 - Zx.T @ Zy``.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_choice

__all__ = ["CONSTANT_UNIT_POLICIES", "ZScore", "correlation_cost", "zscore"]

#: How units that are constant on the training rows are handled.
#: ``"exclude"``: dropped from the transport and from scoring (and counted);
#: ``"cost_one"``: kept, with correlation 0 (cost 1) against every unit;
#: ``"raise"``: a ValueError naming the layer and the units.
CONSTANT_UNIT_POLICIES = ("exclude", "cost_one", "raise")

#: A column whose centred norm is at most this times ``sqrt(T) * max|x|`` counts as constant.
CONSTANT_RTOL = 1e-12

_DTYPES = {"float64": np.float64, "float32": np.float32}


def as_float_dtype(dtype, name: str = "dtype"):
    """Return np.float32 or np.float64 for a dtype-like; anything else raises ValueError."""
    try:
        key = np.dtype(dtype).name
    except TypeError:
        raise ValueError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if key not in _DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {dtype!r}")
    return _DTYPES[key]


def as_layer(X, name: str = "X", *, min_rows: int = 2) -> np.ndarray:
    """Validate one layer: a finite 2-D real array with at least ``min_rows`` rows and 1 unit."""
    arr = np.asarray(X)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (stimuli x units), got {arr.ndim}-D shape {arr.shape}"
        )
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows (stimuli), got {arr.shape[0]}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name} has no units (shape {arr.shape})")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


class ZScore:
    """Per-column standardisation with statistics of the rows it was fitted on.

    Attributes (after ``fit``)
    -------------------------
    mean_ : ndarray, shape (n,)
        Column means of the training rows (float64).
    scale_ : ndarray, shape (n,)
        ``1 / ||x - mean||`` over the training rows; 0 for constant columns.
    constant_ : ndarray of bool, shape (n,)
        Columns constant on the training rows (centred norm <= ``CONSTANT_RTOL`` relative).
    n_rows_ : int
        Number of training rows.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    >>> z = ZScore().fit(X)
    >>> z.constant_
    array([False,  True])
    >>> z.transform(X)[:, 0] @ z.transform(X)[:, 0]
    1.0
    """

    def fit(self, X, name: str = "X"):
        """Compute column statistics of ``X`` (shape ``(T, n)``, T >= 2); returns self."""
        X = as_layer(X, name)
        X = np.asarray(X, dtype=np.float64)
        mean = X.mean(axis=0)
        norm = np.linalg.norm(X - mean, axis=0)
        magnitude = np.abs(X).max(axis=0) * np.sqrt(X.shape[0])
        constant = norm <= CONSTANT_RTOL * magnitude
        with np.errstate(divide="ignore"):
            scale = np.where(constant, 0.0, 1.0 / np.where(constant, 1.0, norm))
        self.mean_ = mean
        self.scale_ = scale
        self.constant_ = constant
        self.n_rows_ = X.shape[0]
        return self

    def transform(self, X, dtype=np.float64, columns=None) -> np.ndarray:
        """Standardise ``X`` (shape ``(T', n)``) with the fitted statistics.

        Parameters
        ----------
        X : array_like, shape (T', n)
            Rows to standardise (training or held-out).
        dtype : float32 or float64
            Output dtype.
        columns : array_like of int, optional
            Keep only these columns (e.g. the non-constant units).

        Returns
        -------
        ndarray, shape (T', n) or (T', len(columns)), C-contiguous
            Constant columns come out as zeros.
        """
        dtype = as_float_dtype(dtype)
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.mean_.shape[0]:
            raise ValueError(
                f"X must have shape (T, {self.mean_.shape[0]}) to match the fitted statistics, "
                f"got {X.shape}"
            )
        mean, scale = self.mean_, self.scale_
        if columns is not None:
            X, mean, scale = X[:, columns], mean[columns], scale[columns]
        Z = (np.asarray(X, dtype=np.float64) - mean) * scale
        return np.ascontiguousarray(Z, dtype=dtype)


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
        Only if ``X_test`` is given: held-out rows standardised with the training statistics.
    """
    scaler = ZScore().fit(X_train, "X_train")
    Z_train = scaler.transform(X_train, dtype)
    if X_test is None:
        return Z_train
    X_test = as_layer(X_test, "X_test", min_rows=1)
    return Z_train, scaler.transform(X_test, dtype)


def correlation_cost(X, Y, *, dtype=np.float64, out=None):
    """Correlation distance ``1 - pearson(X[:, i], Y[:, j])`` between all pairs of units.

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
    X = as_layer(X, "X")
    Y = as_layer(Y, "Y")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"X and Y must have the same number of rows (stimuli): {X.shape[0]} != {Y.shape[0]}"
        )
    Zx = ZScore().fit(X, "X").transform(X, dtype)
    Zy = ZScore().fit(Y, "Y").transform(Y, dtype)
    return standardized_cost(Zx, Zy, out=out)


def standardized_cost(Zx, Zy, out=None):
    """``1 - Zx.T @ Zy`` clipped to [0, 2], for standardised layers of one dtype."""
    n, m = Zx.shape[1], Zy.shape[1]
    if out is not None:
        if out.shape != (n, m) or out.dtype != Zx.dtype or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous ({n}, {m}) array of {Zx.dtype}")
    K = np.matmul(Zx.T, Zy, out=out)
    np.subtract(1.0, K, out=K)
    np.clip(K, 0.0, 2.0, out=K)
    return K


def check_constant_policy(value):
    """Validate a ``constant_units`` policy name."""
    return check_choice(value, "constant_units", CONSTANT_UNIT_POLICIES)
