"""Shared argument checks. Each raises ValueError (or TypeError) naming the argument.

Validation happens here, before any C++ call, never with ``assert``. Checks that need a pass
over a large array (NaN/inf in a cost matrix) are left to the C++ core, which scans the data
anyway and raises ``ValueError`` naming the argument, so no array is read twice.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Set

import numpy as np

from .layer import Layer

#: Relative tolerance on the difference of the total masses of two float64 marginals.
MASS_RTOL = 1e-9

#: dtype kinds accepted as data (layers, costs, marginals, weights): bool, int, uint, float.
REAL_KINDS = "biuf"

#: Rows (stimuli) a system needs to be fitted: correlations over 3 rows are the fewest that
#: are not all +-1 (HOT, solve_grid and TrajectoryHOT all use this rule).
MIN_FIT_ROWS = 3

#: Largest thread count accepted (the C++ core counts threads in a C ``int``; it never starts
#: more threads than it has tasks).
MAX_THREADS = 2**31 - 1


def as_array(x, name: str) -> np.ndarray:
    """``np.asarray(x)`` with errors that name the argument.

    numpy.ma masked arrays are refused (TypeError): their masks would be silently ignored.
    Ragged nested sequences (rows of different lengths) raise ValueError saying so, instead of
    numpy's "inhomogeneous shape".
    """
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a numpy.ma masked array; masks are not supported (they would be "
            f"ignored): pass a plain array, e.g. without the masked rows or units"
        )
    try:
        return np.asarray(x)
    except ValueError as exc:
        if "inhomogeneous" in str(exc) or "sequence" in str(exc):
            raise ValueError(
                f"{name} is a ragged nested sequence (its rows have different lengths); it "
                "must be a rectangular array"
            ) from None
        raise ValueError(f"{name} cannot be read as an array: {exc}") from None
    except TypeError as exc:
        raise ValueError(f"{name} cannot be read as an array: {exc}") from None


def as_sequence(value, name: str, what: str, *, numbers_ok: bool = False) -> list:
    """``list(value)`` for an ordered collection (a list of layers, of checkpoints, ...).

    Strings, bytes, mappings (a dict's keys would be taken), sets (unordered), scalars, 0-D
    and 2-D arrays and (unless ``numbers_ok``: a list of widths, of indices) 1-D numeric
    arrays raise ValueError naming the argument and saying what ``what`` it must be.
    """
    if isinstance(value, np.ndarray) and value.ndim == 1 and numbers_ok:
        return value.tolist()
    if isinstance(value, (str, bytes, Mapping, Set)) or (
            isinstance(value, np.ndarray) and (value.ndim in (0, 2) or (
                value.ndim == 1 and value.dtype.kind in "biufc"))):
        kind = (f"a {value.ndim}-D array" if isinstance(value, np.ndarray)
                else f"a {type(value).__name__}")
        raise ValueError(f"{name} must be {what}, got {kind}")
    try:
        return list(value)
    except TypeError:
        raise ValueError(f"{name} must be {what}, got {type(value).__name__}") from None


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
    arr = as_array(M, name)
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
    arr = as_array(x, name)
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


def check_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None,
              allow_none: bool = False):
    """Return ``value`` as int; None passes when ``allow_none``. Booleans are rejected."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {describe(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_n_threads(value, name: str = "n_threads"):
    """A thread count: None (all CPUs) or an integer in [1, MAX_THREADS]."""
    return check_int(value, name, minimum=1, maximum=MAX_THREADS, allow_none=True)


def check_random_state(value, name: str = "random_state"):
    """A seed for ``numpy.random.default_rng``: None, an integer >= 0, a Generator, a
    BitGenerator or a SeedSequence. Returned unchanged."""
    if value is None or isinstance(value, (np.random.Generator, np.random.BitGenerator,
                                           np.random.SeedSequence)):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be None, an integer >= 0 or a numpy.random.Generator, "
                         f"got {describe(value)}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_callable(value, name: str, *, allow_none: bool = True):
    """A callable (or None when ``allow_none``), returned unchanged."""
    if (value is None and allow_none) or callable(value):
        return value
    raise ValueError(f"{name} must be a callable{' or None' if allow_none else ''}, got "
                     f"{describe(value)}")


def check_names(value, name: str, choices, what: str = "name") -> tuple:
    """A non-empty list of names (each a ``what``), each one of ``choices``; as a tuple.

    A single string is refused (it is not a list of names: ``methods="hot"`` would otherwise
    be read letter by letter).
    """
    if isinstance(value, str):
        raise ValueError(f"{name} must be a list of {what}s, not a single string: use "
                         f"[{value!r}]; choose from {list(choices)}")
    names = tuple(as_sequence(value, name, f"a list of {what}s"))
    if not names:
        raise ValueError(f"{name} must name at least one {what}")
    for item in names:
        if not isinstance(item, str) or item not in choices:
            raise ValueError(f"{name}: unknown {what} {describe(item)}; choose from "
                             f"{list(choices)}")
    return names


def check_bool(value, name: str) -> bool:
    """A bool (Python or NumPy), returned as bool: the one bool rule of the package (no 0/1,
    no strings, no arrays)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {describe(value)} ({name} must "
                         f"be a bool, not {type(value).__name__})")
    return bool(value)


def check_float(value, name: str, *, low: float | None = None, high: float | None = None,
                open_low: bool = False, open_high: bool = False, finite: bool = True) -> float:
    """A real number within [low, high] (ends excluded when ``open_*``), as float; finite
    unless ``finite=False`` (then only NaN is refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {describe(value)}")
    try:
        x = float(value)
    except OverflowError:
        x = float("inf")
    if np.isnan(x) or (finite and not np.isfinite(x)):
        raise ValueError(f"{name} must be a {'finite ' if finite else ''}number, got "
                         f"{describe(value)}")
    if low is not None and (x <= low if open_low else x < low):
        raise ValueError(f"{name} must be {'>' if open_low else '>='} {low}, got {describe(value)}")
    if high is not None and (x >= high if open_high else x > high):
        raise ValueError(f"{name} must be {'<' if open_high else '<='} {high}, got "
                         f"{describe(value)}")
    return x


def describe(value, limit: int = 80) -> str:
    """``repr(value)`` on one line, cut to ``limit`` characters (never a dump of a large
    object, never a line break in an error message)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else f"{text[:limit]}... ({type(value).__name__})"


def check_choice(value, name: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``; else ValueError listing them."""
    try:
        ok = bool(value in choices)
    except (TypeError, ValueError):  # unhashable value; an array compared elementwise
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {describe(value)}")
    return value


def resolve_threads(n_threads, name: str = "n_threads") -> int:
    """The worker-thread count: ``n_threads`` (an int >= 1) or, for None, every CPU this
    process may use."""
    n_threads = check_n_threads(n_threads, name)
    if n_threads is not None:
        return n_threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def check_real_kind(arr, name: str):
    """``arr`` if its dtype is real numeric (:data:`REAL_KINDS`), else ValueError naming it."""
    if arr.dtype.kind not in REAL_KINDS:
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr


def _check_layer_shape(shape, name, min_rows):
    if len(shape) != 2:
        raise ValueError(
            f"{name} must be a 2-D array (stimuli x units), got {len(shape)}-D shape {shape}")
    if shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows (stimuli), got {shape[0]}")
    if shape[1] < 1:
        raise ValueError(f"{name} has no units (shape {shape})")


def as_layer(X, name: str = "X", *, min_rows: int = 2, check_finite: bool = True) -> np.ndarray:
    """Validate one layer: a finite 2-D real array with at least ``min_rows`` rows and 1 unit.

    With ``check_finite=False`` the NaN/inf scan is left to the C++ kernels, which detect it in
    the pass they make anyway. Masked arrays and ragged nested lists are refused (naming
    ``name``).
    """
    arr = check_real_kind(as_array(X, name), name)
    _check_layer_shape(tuple(arr.shape), name, min_rows)
    if check_finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def check_lazy_layer(A, name, min_rows):
    """Shape and dtype checks of a layer handle (:class:`hotalign.layer.Layer`), without
    reading its data."""
    _check_layer_shape(tuple(A.raw_shape if len(A.raw_shape) < 2 else A.shape), name, min_rows)
    check_real_kind(A, name)
    return A


def check_layers(layers, name: str, *, min_rows: int = MIN_FIT_ROWS,
                 check_finite: bool = True) -> list:
    """Validate a system: a non-empty list of 2-D real layers with the same number of rows.

    ``check_finite=False`` leaves the NaN/inf scan to the C++ statistics or standardisation
    pass that follows (it reports the layer by name), so the data is not read twice. Layer
    handles (:class:`hotalign.layer.Layer`: row subsets, HDF5 datasets, chunked files) are
    checked by shape and dtype only and stay unread.
    """

    if isinstance(layers, np.ndarray) and layers.ndim == 2:
        raise ValueError(f"{name} must be a list of layers (2-D arrays), got a single array")
    layers = as_sequence(layers, name, "a list of layers (2-D arrays, one per layer)")
    if not layers:
        raise ValueError(f"{name} is empty: it needs at least one layer")
    out = [check_lazy_layer(A, f"{name}[{k}]", min_rows) if isinstance(A, Layer)
           else as_layer(A, f"{name}[{k}]", min_rows=min_rows, check_finite=check_finite)
           for k, A in enumerate(layers)]
    T = out[0].shape[0]
    for k, A in enumerate(out):
        if A.shape[0] != T:
            raise ValueError(
                f"{name}[{k}] has {A.shape[0]} rows but {name}[0] has {T}: every layer must "
                "hold the same stimuli"
            )
    return out


def check_same_stimuli(n_x: int, n_y: int, x_name: str = "X", y_name: str = "Y",
                       what: str = "rows (T)"):
    """The one "same stimuli" rule: two systems (or checkpoints, or held-out parts) must have
    the same number of rows; ValueError naming both otherwise."""
    if n_x != n_y:
        raise ValueError(f"{x_name} and {y_name} must hold the same stimuli: {x_name} has "
                         f"{n_x} {what}, {y_name} has {n_y}")


def check_splits(T: int, n_splits, test_size) -> tuple[int, int]:
    """``(n_splits, n_test)`` of random train/test splits of ``T`` rows (the protocol of
    :func:`hotalign.evaluate`): ``1 <= n_splits <= T``, ``0 < test_size < 1``, and at least 3
    held-out and 3 training rows."""
    n_splits = check_int(n_splits, "n_splits", minimum=1)
    if n_splits > T:
        raise ValueError(f"n_splits must be at most the number of rows T={T}, got {n_splits}")
    check_float(test_size, "test_size", low=0.0, high=1.0, open_low=True, open_high=True)
    n_test = int(round(float(test_size) * T))
    if n_test < 3 or T - n_test < 3:
        raise ValueError(f"test_size={test_size} leaves {n_test} held-out and {T - n_test} "
                         f"training rows of T={T}; both need at least 3")
    return n_splits, n_test
