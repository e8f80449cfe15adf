"""HDF5 files (through h5py): every dataset, read by HDF5 selections when asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..layer import Layer
from .limits import (MAX_DEFLATE_RATIO, Limits, declared_bytes, over_budget, shape_text,
                     size_text)
from .system import (_LAYER_KINDS, ORDER_KEY, STIMULUS_KEY, InputError, System, _check_ids,
                     _file_digest, _layer, _ordered, _parse_order)

__all__ = ["load"]


def dataset_problem(obj, allow_external=False) -> str | None:
    """Why the h5py dataset ``obj`` is not read (None when it can be): its data lie in other
    files (external storage, a virtual dataset) and ``allow_external`` is False, or it declares
    more data than HDF5 has stored for it (chunks never written read as fill values; a
    compressed dataset may expand at most as far as deflate can)."""
    dcpl = obj.id.get_create_plist()
    if obj.is_virtual or dcpl.get_external_count() > 0:
        if allow_external:
            return None
        what = "a virtual dataset" if obj.is_virtual else "stored in external files"
        return (f"is {what}: its data are read from other files, which is refused unless "
                "you opt in (--hdf5-external, allow_external=True)")
    if obj.shape is None:  # an empty dataspace holds nothing
        return None
    declared = declared_bytes(obj.shape, obj.dtype.itemsize)
    stored = obj.id.get_storage_size()
    cap = stored if dcpl.get_nfilters() == 0 else stored * MAX_DEFLATE_RATIO
    if declared > cap:
        return (f"declares {shape_text(obj.shape, obj.dtype)} ({size_text(declared)}) but "
                f"only {size_text(stored)} are stored (chunks never written would be read "
                "as fill values)")
    return None


def load(path: Path, limits: Limits | None = None) -> System:
    """An HDF5 file: one layer per dataset, at any depth. Each dataset's declared size is
    checked against the storage HDF5 allocated for it, and external or virtual datasets are
    refused unless ``limits.allow_external``."""
    limits = limits or Limits.of()
    try:
        import h5py
    except ImportError:  # pragma: no cover - optional dependency
        raise InputError(f"{path}: reading HDF5 needs h5py (pip install 'hotalign[io]')") from None
    try:
        with h5py.File(path, "r") as f:
            found = {}

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    problem = dataset_problem(obj, limits.allow_external)
                    if problem:
                        raise InputError(f"{path}: dataset {name!r} {problem}")
                    found[name] = (obj.shape, obj.dtype)

            f.visititems(visit)
            ids = None
            if STIMULUS_KEY in found:
                shape, dtype = found.pop(STIMULUS_KEY)
                need = declared_bytes(shape or (), dtype.itemsize)
                if need > limits.max_memory:
                    raise InputError(over_budget(path, STIMULUS_KEY, shape, dtype, need,
                                                 limits.max_memory))
                ids = _check_ids(np.asarray(f[STIMULUS_KEY][()]), str(path))
            order = f.attrs.get(ORDER_KEY)
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: not a valid HDF5 file, or truncated ({exc})") from None
    if not found:
        raise InputError(f"{path}: HDF5 file holds no datasets (empty groups only)")
    for key, (_shape, dtype) in found.items():
        if dtype.kind not in _LAYER_KINDS:
            raise InputError(f"{path}: dataset {key!r} has dtype {dtype}; layers must be float "
                             "or integer arrays")

    order = None if order is None else _parse_order(order, f"{path} (attribute {ORDER_KEY})")
    keys = _ordered(list(found), order, f"{path} (attribute {ORDER_KEY})")
    return System(str(path), keys, [_h5_layer(path, k, *found[k]) for k in keys], ids,
                  _file_digest(path))


def _h5_layer(path, key, shape, dtype) -> Layer:
    """One HDF5 dataset as a ``(T, n)`` layer, read only when (and as far as) needed: rows are
    an HDF5 selection (h5py wants them sorted and distinct, which :class:`Layer` ensures).
    Datasets of more than two dimensions are flattened to ``(T, n)`` as the other readers do."""

    def read(rows):
        import h5py

        with h5py.File(path, "r") as f:
            return np.asarray(f[key][() if rows is None else rows])

    return _layer(str(path), key, shape, dtype, read, on_demand=True)
