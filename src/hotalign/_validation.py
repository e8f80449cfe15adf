"""Shared argument checks. Each raises ValueError (or TypeError) naming the argument.

Validation happens here, before any C++ call, never with ``assert``. Checks that need a pass
over a large array (NaN/inf in a cost matrix) are left to the C++ core, which scans the data
anyway and raises ``ValueError`` naming the argument, so no array is read twice.
"""

from __future__ import annotations

import numbers

import numpy as np

#: Relative tolerance on the difference of the total masses of two float64 marginals.
MASS_RTOL = 1e-9


class MarginalMismatchError(ValueError, AssertionError):
    """The marginals do not match ``M`` (length) or each other (total mass).

    A ``ValueError`` like every bad-input error of hotalign, and also an ``AssertionError``, which
    is what POT's ``ot.emd`` raises for the same mistakes (so code written against POT that
    catches it keeps working).
    """


def mass_rtol(dtypes, n: int, m: int) -> float:
    """Relative tolerance on the totals of two marginals given in ``dtypes``.

    ``MASS_RTOL`` for float64 marginals; for lower precisions (float32, float16) the rounding of
    the entries themselves, ``4 * eps * sqrt(max(n, m))``, so that e.g. float32 uniform marginals
    of 1000 and 800 entries, whose totals differ only by rounding, are accepted.
    """
    eps = max((np.finfo(dt).eps for dt in dtypes if np.issubdtype(dt, np.floating)),
              default=0.0)
    return max(MASS_RTOL, 4.0 * float(eps) * float(np.sqrt(max(n, m, 1))))


def as_cost_matrix(M, name: str = "M", *, allow_float32: bool = True,
                   allow_fortran: bool = False) -> np.ndarray:
    """Return ``M`` as a C-contiguous 2-D float64 (or float32) array, copying only if needed.

    Integer, boolean and float16 inputs are converted to float64. Complex, object and string
    arrays, arrays that are not 2-D and empty arrays raise ``ValueError``. With
    ``allow_fortran`` a Fortran-contiguous array of the right dtype is returned as it is (the
    caller solves its transpose, which is C-contiguous, instead of copying).
    """
    arr = np.asarray(M)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got {arr.ndim}-D with shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    dtype = np.float32 if (allow_float32 and arr.dtype == np.float32) else np.float64
    if allow_fortran and arr.dtype == dtype and arr.flags.f_contiguous:
        return arr
    return np.ascontiguousarray(arr, dtype=dtype)


def as_marginal(x, size: int, name: str) -> np.ndarray | None:
    """Return a marginal as a 1-D float64 array of ``size`` entries, or None for uniform.

    ``None`` and empty sequences mean uniform (POT's convention). Entries must be finite and
    nonnegative with a positive total.
    """
    if x is None:
        return None
    arr = np.asarray(x)
    if arr.size == 0:
        return None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.shape[0] != size:
        raise MarginalMismatchError(
            f"{name} must have {size} entries to match M, got {arr.shape[0]}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    if np.any(arr < 0):
        raise ValueError(f"{name} has negative mass (min {arr.min():g})")
    if not arr.sum() > 0:
        raise ValueError(f"{name} has zero total mass")
    return arr


def check_equal_mass(a: np.ndarray | None, b: np.ndarray | None, n: int, m: int,
                     rtol: float = MASS_RTOL) -> None:
    """Raise MarginalMismatchError when the totals of ``a`` and ``b`` differ beyond ``rtol``."""
    sa = 1.0 if a is None else float(a.sum())
    sb = 1.0 if b is None else float(b.sum())
    if abs(sa - sb) > rtol * max(sa, sb):
        raise MarginalMismatchError(
            f"a and b must have the same total mass: sum(a) = {sa!r}, sum(b) = {sb!r} "
            f"(relative difference {abs(sa - sb) / max(sa, sb):.3g} > {rtol:g})"
        )


def match_mass(a: np.ndarray | None, b: np.ndarray | None, m: int) -> np.ndarray | None:
    """``b`` rescaled to the total of ``a`` (uniform ``None`` has total 1), as POT does.

    Returns ``b`` itself when the totals already agree to ``MASS_RTOL`` (the core rescales
    within that tolerance), else a rescaled copy (``b = None`` becomes an explicit array).
    """
    sa = 1.0 if a is None else float(a.sum())
    sb = 1.0 if b is None else float(b.sum())
    if abs(sa - sb) <= MASS_RTOL * max(sa, sb):
        return b
    base = np.full(m, 1.0 / m) if b is None else b
    return base * (sa / sb)


def check_int(value, name: str, *, minimum: int | None = None, allow_none: bool = False):
    """Return ``value`` as int; None passes when ``allow_none``. Booleans are rejected."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_choice(value, name: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``; else ValueError listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value
