"""A pickle-free encoding of cache entries with an allow-list of types, and the checks that
validate what is decoded."""

from __future__ import annotations

import numpy as np

from ..costs import ZScore
from ..results import PairRotation, TransportResult


# -- a pickle-free encoding with an allow-list of types ----------------------------------------
#
# An entry holds arrays (read with ``allow_pickle=False``) and a JSON tree of plain values that
# refers to them. The only objects it can describe are the types registered in ``_TYPES`` below,
# named by a fixed tag: the decoder looks the tag up in that dict and never resolves a name
# found in a file (no import, no getattr). Every object is rebuilt by a validating constructor
# that checks the field names, types, dtypes and shapes; any mismatch raises ``InvalidEntry``,
# which the cache treats as a miss.


class InvalidEntry(ValueError):
    """A cache entry that does not validate (unknown type, missing or wrong-typed field, wrong
    shape, key mismatch): it is a miss, recomputed and rewritten."""


def _fail(what):
    raise InvalidEntry(what)


def _int(x, what, minimum=0):
    """A Python int from an int or a 0-d integer array (never a bool)."""
    if isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind in "iu":
        x = x.item()
    if isinstance(x, np.integer):
        x = int(x)
    if not isinstance(x, int) or isinstance(x, bool) or x < minimum:
        _fail(f"{what} must be an integer >= {minimum}")
    return x


def _real(x, what):
    """A float or a float64 scalar (the types the solvers produce)."""
    if isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype == np.float64:
        x = x[()]
    if not isinstance(x, (float, np.float64)):
        _fail(f"{what} must be a float")
    return x


def _array(x, what, dtype, shape):
    """``x`` if it is an ndarray of exactly ``dtype`` and ``shape`` (None: any length)."""
    if not isinstance(x, np.ndarray) or x.dtype != np.dtype(dtype):
        _fail(f"{what} must be an array of {np.dtype(dtype)}")
    if x.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, x.shape)):
        _fail(f"{what} has shape {x.shape}, expected {tuple(shape)}")
    return x


def _finite(x, what, nonnegative=False):
    """``x`` (an array or a float) if every value is finite (and >= 0 with ``nonnegative``)."""
    values = np.asarray(x)
    if not np.isfinite(values).all():
        _fail(f"{what} holds NaN or inf")
    if nonnegative and values.size and values.min() < 0:
        _fail(f"{what} holds negative values")
    return x


def _fields(state, names, what):
    if not isinstance(state, dict) or set(state) != set(names):
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        _fail(f"{what} must have the fields {sorted(names)}, got {got}")


def _nested(x, what, L, M, item):
    """An L x M list of lists, each item checked by ``item(value, l, m)``."""
    if not isinstance(x, list) or len(x) != L or any(
            not isinstance(row, list) or len(row) != M for row in x):
        _fail(f"{what} must be a {L} x {M} list of lists")
    for l, row in enumerate(x):
        for m, v in enumerate(row):
            item(v, l, m)
    return x


_TR_FIELDS = ("rows", "cols", "weights", "cost", "u", "v", "status", "n_iter", "shape",
              "method")


def _build_transport_result(f):
    _fields(f, _TR_FIELDS, "TransportResult")
    shape = f["shape"]
    if not isinstance(shape, tuple) or len(shape) != 2:
        _fail("TransportResult.shape must be a pair")
    n, m = (_int(s, "TransportResult.shape") for s in shape)
    rows = _array(f["rows"], "TransportResult.rows", np.int64, (None,))
    nnz = rows.shape[0]
    cols = _array(f["cols"], "TransportResult.cols", np.int64, (nnz,))
    weights = _finite(_array(f["weights"], "TransportResult.weights", np.float64, (nnz,)),
                      "TransportResult.weights", nonnegative=True)
    if nnz and (rows.min() < 0 or rows.max() >= n or cols.min() < 0 or cols.max() >= m):
        _fail("TransportResult.rows/cols index outside the plan")
    status, method = f["status"], f["method"]
    if status not in ("optimal", "max_iter"):
        _fail("TransportResult.status must be 'optimal' or 'max_iter'")
    if method not in ("network_simplex", "assignment"):
        _fail("TransportResult.method must be 'network_simplex' or 'assignment'")
    return TransportResult(
        rows=rows, cols=cols, weights=weights, cost=_real(f["cost"], "TransportResult.cost"),
        u=_array(f["u"], "TransportResult.u", np.float64, (n,)),
        v=_array(f["v"], "TransportResult.v", np.float64, (m,)), status=status,
        n_iter=_int(f["n_iter"], "TransportResult.n_iter"), shape=(n, m), method=method)


def _zscore_fields(obj):
    return ZScore.FITTED_ATTRIBUTES


def _build_zscore(f):
    _fields(f, ZScore.FITTED_ATTRIBUTES, "ZScore")
    mean = _array(f["mean_"], "ZScore.mean_", np.float64, (None,))
    n = mean.shape[0]
    z = ZScore()
    for name in ZScore.FITTED_ATTRIBUTES:
        value = f[name]
        if name == "n_rows_":
            value = _int(value, "ZScore.n_rows_", minimum=1)
        else:
            dtype = np.bool_ if name == "constant_" else np.float64
            value = _array(value, f"ZScore.{name}", dtype, (n,))
        setattr(z, name, value)
    return z


_PR_FIELDS = ("plan", "rotation", "objective", "n_rounds", "cost", "reconstruction_error",
              "n_iter")


def _build_pair_rotation(f):
    _fields(f, _PR_FIELDS, "PairRotation")
    plan = f["plan"]
    if not isinstance(plan, TransportResult):
        _fail("PairRotation.plan must be a TransportResult")
    n = plan.shape[0]
    return PairRotation(
        plan=plan, rotation=_finite(_array(f["rotation"], "PairRotation.rotation", np.float64,
                                           (n, n)), "PairRotation.rotation"),
        objective=_array(f["objective"], "PairRotation.objective", np.float64, (None,)),
        n_rounds=_int(f["n_rounds"], "PairRotation.n_rounds", minimum=1),
        cost=_real(f["cost"], "PairRotation.cost"),
        reconstruction_error=_real(f["reconstruction_error"], "PairRotation.reconstruction_error"),
        n_iter=_int(f["n_iter"], "PairRotation.n_iter"))


def _registered():
    """The allow-list: tag -> (class, fields(obj), validating constructor(fields))."""
    return {
        "TransportResult": (TransportResult, lambda obj: _TR_FIELDS, _build_transport_result),
        "ZScore": (ZScore, _zscore_fields, _build_zscore),
        "PairRotation": (PairRotation, lambda obj: _PR_FIELDS, _build_pair_rotation),
    }


def _encode(obj, arrays, refer=None):
    """The JSON node of ``obj``; arrays are appended to ``arrays``. ``refer(obj)`` may name a
    pair entry to store instead of a registered object (a reference node)."""
    if refer is not None and not isinstance(obj, (np.ndarray, np.generic, list, tuple, dict)):
        ref = refer(obj)
        if ref is not None:
            return {"t": "r", **ref}
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("object array")
        arrays.append(obj)
        return {"t": "a", "i": len(arrays) - 1}
    if isinstance(obj, np.generic):
        return _encode(np.asarray(obj), arrays) | {"t": "s"}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"t": "v", "v": obj}
    if isinstance(obj, (list, tuple)):
        return {"t": "l" if isinstance(obj, list) else "u",
                "v": [_encode(v, arrays, refer) for v in obj]}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("dict with non-string keys")
        return {"t": "d", "v": {k: _encode(v, arrays, refer) for k, v in obj.items()}}
    for tag, (cls, names, _) in _registered().items():
        if type(obj) is cls:
            return {"t": "o", "c": tag,
                    "v": {k: _encode(getattr(obj, k), arrays, refer) for k in names(obj)}}
    raise TypeError(f"cannot encode {type(obj).__name__}")


_PLAIN = (type(None), bool, int, float, str)


def _decode(node, arrays, resolve=None):
    """Rebuild a value from its JSON node; raises :class:`InvalidEntry` on anything else than
    plain values, arrays of the entry, the registered types and (with ``resolve``, the loader
    of a :class:`PairCache`) references to layer-pair entries."""
    if not isinstance(node, dict) or not isinstance(node.get("t"), str):
        _fail("malformed node")
    t = node["t"]
    if t in ("a", "s"):
        i = node.get("i")
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(arrays):
            _fail("array reference out of range")
        if t == "a":
            return arrays[i]
        if arrays[i].ndim != 0:
            _fail("scalar node refers to an array")
        return arrays[i][()]
    if t == "v":
        v = node.get("v")
        if not isinstance(v, _PLAIN):
            _fail("plain value of another type")
        return v
    if t in ("l", "u"):
        if not isinstance(node.get("v"), list):
            _fail("list node without a list")
        out = [_decode(v, arrays, resolve) for v in node["v"]]
        return out if t == "l" else tuple(out)
    if t == "d":
        if not isinstance(node.get("v"), dict):
            _fail("dict node without a dict")
        return {k: _decode(v, arrays, resolve) for k, v in node["v"].items()}
    if t == "r":
        if resolve is None:
            _fail("a reference to a layer-pair entry, but no pair cache")
        plan = resolve(node)  # validates the key and the entry
        if plan is None:
            _fail("a referenced layer-pair entry is missing or invalid")
        return plan
    if t == "o":
        entry = _registered().get(node.get("c")) if isinstance(node.get("c"), str) else None
        if entry is None:
            _fail(f"unknown type {node.get('c')!r}")
        if not isinstance(node.get("v"), dict):
            _fail("object node without fields")
        return entry[2]({k: _decode(v, arrays, resolve) for k, v in node["v"].items()})
    _fail(f"unknown node type {t!r}")
