"""A system of layers (:class:`System`), layer selection, and the checks every reader shares.

The readers of :mod:`hotalign.io` (one module per format, chosen by :mod:`hotalign.io.readers`)
build a :class:`System` from the helpers here: layer handles whose read errors name the file,
the recorded layer order, the stimulus ids and the content digest.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validation import REAL_KINDS, as_array, as_sequence, describe
from ..layer import Layer
from .limits import declared_bytes, over_budget

__all__ = ["InputError", "System", "check_stimuli", "natural_key", "select_layers"]

STIMULUS_KEY = "stimulus_ids"
ORDER_KEY = "layer_order"
_LAYER_KINDS = REAL_KINDS  # the API's rule: bool, int, float; complex, object, strings refused


class InputError(ValueError):
    """Bad input data: the message names the file (or argument) and the problem."""


def natural_key(name: str):
    """Sort key putting ``layer_2`` before ``layer_10``."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", name)
            if t != ""]


@dataclass(eq=False)
class System:
    """An ordered list of named layers, read lazily.

    Attributes
    ----------
    source : str
        The file or folder it came from, or ``"<python>"``.
    names : list of str
        Layer names, in order.
    handles : list of hotalign.layer.Layer
        One handle per layer: its shape and dtype (known without reading the data) and
        ``read(rows=None)``.
    stimulus_ids : ndarray or None
        Optional ids of the T stimuli.
    digest : str
        SHA-256 of the input's content (file bytes, or array bytes for Python inputs).
    """

    source: str
    names: list
    handles: list = field(repr=False)
    stimulus_ids: np.ndarray | None = None
    digest: str = ""

    @property
    def shapes(self) -> list:
        """``(T, n)`` of every layer (known without reading the data)."""
        return [h.shape for h in self.handles]

    def __len__(self):
        return len(self.names)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        return _as_2d(self.handles[k].read(), self.source, self.names[k])

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def layers(self) -> list:
        """The layers for a fit, read as late as possible: the handle where reading some rows
        costs less than reading the layer (HDF5 datasets, thingsvision chunks, bfloat16
        tensors), memory-mapped arrays where the format allows, arrays otherwise."""
        return [h if h.on_demand else self[k] for k, h in enumerate(self.handles)]

    @property
    def n_stimuli(self) -> int:
        return int(self.shapes[0][0])

    def select(self, spec) -> System:
        """A system with only the layers named by ``spec`` (see :func:`select_layers`)."""
        idx = select_layers(self.names, spec, self.source)
        return System(self.source, [self.names[i] for i in idx], [self.handles[i] for i in idx],
                      self.stimulus_ids, self.digest)


def _layer(source, name, shape, dtype, reader, *, on_demand) -> Layer:
    """The handle of layer ``name`` of ``source``: ``reader`` as :class:`Layer` wants it, with
    read errors (corrupt or truncated files) reported as :class:`InputError` naming both.

    A handle read row by row (``on_demand``) checks every read against its ``max_bytes`` (the
    memory budget, set by :func:`hotalign.io.load_system`): a read of more rows than the budget
    holds is refused before anything is allocated."""
    handle = None

    def read(rows):
        budget = getattr(handle, "max_bytes", None)
        if on_demand and budget is not None:
            raw = handle.raw_shape
            part = (raw[0] if rows is None else len(rows), *raw[1:])
            need = declared_bytes(part, handle.dtype.itemsize)
            if need > budget:
                raise InputError(over_budget(source, name, part, handle.dtype, need, budget,
                                             "would read"))
        try:
            return reader(rows)
        except InputError:
            raise
        except MemoryError:
            raise InputError(f"{source}: cannot read layer {name!r}: out of memory (shape "
                             f"{tuple(shape)} {np.dtype(dtype)}); lower --max-memory") from None
        except (OSError, ValueError, KeyError, RuntimeError, zipfile.BadZipFile,
                EOFError) as exc:
            raise InputError(f"{source}: cannot read layer {name!r}: {exc}") from None

    handle = Layer(shape, dtype, read, on_demand=on_demand, name=f"{source}:{name}")
    return handle


def _apply_budget(system: System, budget: int) -> None:
    """Give every handle of ``system`` the memory budget; a layer read whole (not row by row)
    whose declared size exceeds it is refused now, before it is read."""
    for name, h in zip(system.names, system.handles):
        h.max_bytes = budget
        if not h.on_demand:
            need = declared_bytes(h.raw_shape, h.dtype.itemsize)
            if need > budget:
                raise InputError(over_budget(system.source, name, h.raw_shape, h.dtype, need,
                                             budget))


def _array_layer(source, name, arr) -> Layer:
    """The handle of an array (or memory map) that is already open."""
    return _layer(source, name, arr.shape, arr.dtype,
                  lambda rows: arr if rows is None else arr[rows], on_demand=False)


def select_layers(names, spec, source="input") -> list[int]:
    """Indices of the layers a selection names, in the selection's order.

    ``spec`` is None (all layers), or a comma-separated string (or list) of items, each a layer
    name, a glob pattern (``block*``, expanded in the system's order) or an index range ``a:b`` /
    index ``k`` into the system's order (negative indices count from the end).
    """
    if spec is None:
        return list(range(len(names)))
    if isinstance(spec, str):
        items = [s.strip() for s in spec.split(",")]
    else:
        items = as_sequence(spec, "layers", "a selection string such as 'block*,2:8' or a list "
                                            "of layer names and indices", numbers_ok=True)
        bad = [s for s in items if not isinstance(s, (str, int, np.integer))
               or isinstance(s, (bool, np.bool_))]
        if bad:
            raise InputError(f"{source}: layers: {describe(bad[0])} is not a layer name or "
                             "index")
    items = [s for s in items if s != ""]
    if not items:
        raise InputError(f"{source}: --layers selects no layer")
    out = []
    for item in items:
        item = str(item)
        if item in names:
            out.append(names.index(item))
        elif re.fullmatch(r"-?\d*:-?\d*", item):
            a, b = item.split(":")
            out.extend(range(len(names))[slice(int(a) if a else None, int(b) if b else None)])
        elif re.fullmatch(r"-?\d+", item):
            k = int(item)
            if not -len(names) <= k < len(names):
                raise InputError(f"{source}: layer index {k} out of range ({len(names)} layers)")
            out.append(k % len(names))
        else:
            hits = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, item)]
            if not hits:
                raise InputError(f"{source}: no layer matches {item!r} (layers: "
                                 f"{', '.join(names[:8])}{' ...' if len(names) > 8 else ''})")
            out.extend(hits)
    if not out:
        raise InputError(f"{source}: --layers {spec!r} selects no layer")
    return out


def _to_numpy(value, where):
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch-like tensor, duck-typed
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":  # NumPy has no bfloat16
            value = value.float()
        value = value.numpy()
    try:
        return as_array(value, where)
    except (TypeError, ValueError) as exc:  # masked, ragged: an InputError like any bad input
        raise InputError(str(exc)) from None


def _from_arrays(arrays: dict, name: str, sort: bool) -> System:
    ids = arrays.pop(STIMULUS_KEY, None)
    if ids is not None:
        ids = _check_ids(_to_numpy(ids, f"{name}: {STIMULUS_KEY}"), name)
    keys = sorted(arrays, key=natural_key) if sort else list(arrays)
    if not keys:
        raise InputError(f"{name}: no layers")
    mats = {}
    h = hashlib.sha256()
    for k in keys:
        arr = _as_2d(_to_numpy(arrays[k], f"{name}: layer {k!r}"), name, k)
        mats[k] = arr
        h.update(f"{k}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(np.ascontiguousarray(arr).data)
    if ids is not None:
        h.update(b"ids|" + np.ascontiguousarray(ids).astype(str).tobytes())
    return System(name, keys, [_array_layer(name, k, mats[k]) for k in keys], ids, h.hexdigest())


def _as_2d(arr, source, layer):
    if arr.dtype.kind not in _LAYER_KINDS:
        what = "an object (pickled) array" if arr.dtype.kind == "O" else f"dtype {arr.dtype}"
        raise InputError(f"{source}: layer {layer!r} is {what}; layers must be float or integer "
                         "arrays")
    if arr.ndim < 2:
        raise InputError(f"{source}: layer {layer!r} must have at least 2 dimensions (stimuli x "
                         f"units), got shape {arr.shape}")
    if arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{source}: layer {layer!r} is empty (shape {arr.shape})")
    return arr


def _check_ids(ids, source):
    if ids.dtype.kind == "O":
        raise InputError(f"{source}: stimulus_ids is an object (pickled) array")
    if ids.dtype.kind == "S":
        ids = ids.astype(str)
    return np.asarray(ids).reshape(-1)


def _check_lengths(system: System):
    for k, h in enumerate(system.handles):
        shape = h.raw_shape
        if len(shape) < 2 or shape[0] == 0 or int(np.prod(shape[1:])) == 0:
            raise InputError(f"{system.source}: layer {system.names[k]!r} is empty or not 2-D "
                             f"(shape {tuple(shape)})")
    T = system.shapes[0][0]
    for k, shape in enumerate(system.shapes):
        if shape[0] != T:
            raise InputError(
                f"{system.source}: layer {system.names[k]!r} has {shape[0]} rows (stimuli) but "
                f"{system.names[0]!r} has {T}; every layer must hold the same stimuli"
            )
    if system.stimulus_ids is not None and system.stimulus_ids.shape[0] != T:
        raise InputError(f"{system.source}: stimulus_ids lists {system.stimulus_ids.shape[0]} "
                         f"stimuli but the layers have {T} rows")


def _file_digest(path: Path, h=None):
    own = h is None
    h = hashlib.sha256() if own else h
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest() if own else h


def _parse_order(value, source):
    """A recorded layer order: a list of names, or a JSON list in a string."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise InputError(f"{source}: {ORDER_KEY} is not a JSON list of layer names") from None
    if isinstance(value, dict):
        value = value.get("order")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise InputError(f"{source}: the recorded layer order is not a list of layer names")
    return [v.decode() if isinstance(v, bytes) else str(v) for v in value]


def _ordered(keys, order, source):
    """``keys`` in the recorded ``order`` (which must name each exactly once), or in natural
    order when nothing was recorded."""
    if order is None:
        return sorted(keys, key=natural_key)
    missing = [k for k in order if k not in keys]
    unlisted = [k for k in keys if k not in order]
    if missing or unlisted or len(set(order)) != len(order):
        what = (f"lists {missing[0]!r}, which is not there" if missing else
                f"does not list {unlisted[0]!r}" if unlisted else "lists a layer twice")
        raise InputError(f"{source}: the recorded layer order {what}")
    return list(order)


def check_stimuli(x: System, y: System) -> None:
    """Both systems must hold the same T stimuli in the same order.

    Raises InputError naming the first mismatch when both carry ``stimulus_ids`` that differ in
    set or order, or when the numbers of rows differ.
    """
    if x.n_stimuli != y.n_stimuli:
        raise InputError(f"{y.source}: has {y.n_stimuli} stimuli (rows) but {x.source} has "
                         f"{x.n_stimuli}; both systems must hold the same stimuli")
    if x.stimulus_ids is None or y.stimulus_ids is None:
        return
    a, b = x.stimulus_ids.astype(str), y.stimulus_ids.astype(str)
    diff = np.flatnonzero(a != b)
    if diff.size:
        k = int(diff[0])
        kind = "order" if set(a.tolist()) == set(b.tolist()) else "set"
        raise InputError(f"{y.source}: stimulus_ids differ from {x.source} in {kind}; first "
                         f"mismatch at row {k}: {str(b[k])!r} vs {str(a[k])!r}")
