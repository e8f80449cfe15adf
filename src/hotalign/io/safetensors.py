"""``.safetensors`` files: the header is parsed here, tensors are memory-mapped (bfloat16
decoded to float32 for the rows asked for)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

from ..layer import Layer
from .limits import Limits, file_holds
from .system import (ORDER_KEY, STIMULUS_KEY, InputError, System, _array_layer, _check_ids,
                     _file_digest, _layer, _ordered, _parse_order)

__all__ = ["load"]


_ST_DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "I8": "i1", "I16": "<i2", "I32": "<i4",
              "I64": "<i8", "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8"}


def _is_count(x) -> bool:
    """A JSON integer >= 0 (not a bool, not a float such as 10.0 or 10.5)."""
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def load(path: Path, limits: Limits | None = None) -> System:
    """A ``.safetensors`` file: one layer per tensor. Tensors must lie in distinct byte ranges
    of the file (as the safetensors library requires)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise InputError(f"{path}: truncated safetensors file (no header length)")
        (n,) = struct.unpack("<Q", head)
        if n == 0 or n > min(size - 8, 100_000_000):
            raise InputError(f"{path}: corrupt safetensors header (declared length {n} bytes, "
                             f"file has {size})")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: corrupt safetensors header ({exc})") from None
    except RecursionError:
        raise InputError(f"{path}: corrupt safetensors header (JSON nested too deeply)"
                         ) from None
    metadata = header.pop("__metadata__", None)
    order = None
    if isinstance(metadata, dict) and ORDER_KEY in metadata:
        order = _parse_order(metadata[ORDER_KEY], f"{path} (__metadata__)")
    base = 8 + n
    entries = {}
    spans = []
    for key, spec in header.items():
        try:
            dt, shape, (start, stop) = spec["dtype"], spec["shape"], spec["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{path}: corrupt safetensors header entry {key!r}") from None
        if not isinstance(dt, str) or (dt not in _ST_DTYPES and dt != "BF16"):
            raise InputError(f"{path}: tensor {key!r} has unsupported dtype {dt!r:.40} "
                             f"(supported: {', '.join(_ST_DTYPES)}, BF16)")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise InputError(f"{path}: corrupt safetensors header: tensor {key!r} shape "
                             f"{shape!r:.60} is not a list of nonnegative integers")
        if not (_is_count(start) and _is_count(stop)):
            raise InputError(f"{path}: corrupt safetensors header: tensor {key!r} data_offsets "
                             f"{spec['data_offsets']!r:.60} are not nonnegative integers")
        shape = tuple(shape)
        dtype = np.dtype("<u2" if dt == "BF16" else _ST_DTYPES[dt])  # BF16: decoded on read
        if stop - start != math.prod(shape) * dtype.itemsize:
            raise InputError(f"{path}: corrupt safetensors header: tensor {key!r} offsets do not "
                             "match its shape")
        if base + stop > size:
            raise InputError(f"{path}: truncated safetensors file (tensor {key!r} ends at byte "
                             f"{base + stop}, file has {size})")
        entries[key] = (dtype, shape, base + start, dt == "BF16")
        spans.append((start, stop, key))
    _check_spans(path, spans)
    problem = file_holds(path, base + max((stop for _, stop, _ in spans), default=0),
                         "the tensor data")
    if problem:
        raise InputError(f"{path}: {problem}")

    def tensor(key, dtype, shape, offset, bf16) -> Layer:
        if int(np.prod(shape)) == 0:
            return _array_layer(str(path), key, np.empty(shape, np.float32 if bf16 else dtype))
        if bf16:
            return _bf16_layer(path, key, offset, shape)
        return _array_layer(str(path), key, np.memmap(path, dtype=dtype, mode="r",
                                                      offset=offset, shape=shape))

    ids = None
    if STIMULUS_KEY in entries:
        ids = _check_ids(np.array(tensor(STIMULUS_KEY, *entries.pop(STIMULUS_KEY)).read()),
                         str(path))
    if not entries:
        raise InputError(f"{path}: safetensors file holds no layer tensors")
    keys = _ordered(list(entries), order, f"{path} (__metadata__ {ORDER_KEY})")
    return System(str(path), keys, [tensor(k, *entries[k]) for k in keys], ids,
                  _file_digest(path))


def _check_spans(path, spans):
    """Refuse tensors that share or overlap a byte range (one stored block read as many
    layers)."""
    spans = sorted((a, b, k) for a, b, k in spans if b > a)
    for (a0, b0, k0), (a1, b1, k1) in zip(spans, spans[1:]):
        if a1 < b0:
            raise InputError(f"{path}: corrupt safetensors header: tensors {k0!r} and {k1!r} "
                             f"overlap (bytes {a0}-{b0} and {a1}-{b1}); each tensor must have "
                             "its own bytes")


def _bf16_to_float32(raw):
    """bfloat16 bit patterns (uint16) to float32: bfloat16 is the top half of a float32."""
    return (np.asarray(raw, dtype=np.uint32) << 16).view(np.float32)


def _bf16_layer(path, key, offset, shape) -> Layer:
    """A bfloat16 tensor of a ``.safetensors`` file as a float32 ``(T, n)`` layer, decoded from
    the memory-mapped bytes only for the rows asked for (NumPy has no bfloat16 type)."""
    flat = (int(shape[0]), int(np.prod(shape[1:], dtype=np.int64))) if len(shape) >= 2 else \
        tuple(shape)

    def read(rows):
        raw = np.memmap(path, dtype="<u2", mode="r", offset=int(offset), shape=flat)
        return _bf16_to_float32(raw if rows is None else raw[rows])

    return _layer(str(path), key, shape, np.float32, read, on_demand=len(shape) >= 2)
