"""HDF5 files (through h5py): every dataset, read by HDF5 selections when asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..layer import Layer
from .system import (_LAYER_KINDS, ORDER_KEY, STIMULUS_KEY, InputError, System, _check_ids,
                     _file_digest, _layer, _ordered, _parse_order)

__all__ = ["load"]


def load(path: Path) -> System:
    """An HDF5 file: one layer per dataset, at any depth."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - optional dependency
        raise InputError(f"{path}: reading HDF5 needs h5py (pip install 'hotalign[io]')") from None
    try:
        with h5py.File(path, "r") as f:
            found = {}

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    found[name] = (obj.shape, obj.dtype)

            f.visititems(visit)
            ids = None
            if STIMULUS_KEY in found:
                ids = _check_ids(np.asarray(f[STIMULUS_KEY][()]), str(path))
                del found[STIMULUS_KEY]
            order = f.attrs.get(ORDER_KEY)
    except OSError as exc:
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
