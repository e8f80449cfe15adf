"""``.npz`` files: one member per layer, memory-mapped in place when stored uncompressed."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np

from ..layer import Layer
from .npy import read_header
from .limits import MAX_DEFLATE_RATIO, Limits, declared_bytes, over_budget, size_text
from .system import (STIMULUS_KEY, InputError, System, _check_ids, _file_digest, _layer,
                     natural_key)

__all__ = ["load"]


def load(path: Path, limits: Limits | None = None) -> System:
    """An ``.npz`` file: one layer per member, in natural order. Each member's declared size is
    checked against the member's stored size (and a compressed member's against the most
    deflate can expand) before anything is read."""
    limits = limits or Limits.of()
    try:
        zf = zipfile.ZipFile(path)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a valid .npz (zip) file, or truncated ({exc})") from None
    members = {}
    ids = None
    archive = path.stat().st_size
    try:
        for info in infos:
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[:-4]
            with zf.open(info) as f:
                shape, fortran, dtype = read_header(f)
                header_len = f.tell() if hasattr(f, "tell") else None
            if dtype.hasobject:
                raise InputError(f"{path}: member {key!r} is an object (pickled) array, which is "
                                 "not loaded (allow_pickle=False)")
            nbytes = declared_bytes(shape, dtype.itemsize)
            problem = member_problem(info, nbytes, header_len, archive)
            if problem:
                raise InputError(f"{path}: member {key!r} {problem}")
            if key == STIMULUS_KEY:
                if nbytes > limits.max_memory:
                    raise InputError(over_budget(path, key, shape, dtype, nbytes,
                                                 limits.max_memory))
                ids = _check_ids(_read_npz_member(path, key), str(path))
                continue
            members[key] = (shape, fortran, dtype, info, header_len, nbytes)
    except InputError:
        raise
    except (ValueError, zipfile.BadZipFile, OSError, EOFError, KeyError, NotImplementedError,
            RuntimeError) as exc:
        raise InputError(f"{path}: corrupt or truncated .npz ({exc})") from None
    finally:
        zf.close()
    if not members:
        raise InputError(f"{path}: .npz holds no layer arrays")
    keys = sorted(members, key=natural_key)
    size = path.stat().st_size
    handles = [_npz_layer(path, k, *members[k], size) for k in keys]
    return System(str(path), keys, handles, ids, _file_digest(path))


def member_problem(info: zipfile.ZipInfo, nbytes: int, header_len, archive_size=None
                   ) -> str | None:
    """Why a zip member whose ``.npy`` header declares ``nbytes`` of data cannot hold them (None
    when it can): more than the member's size, or a size that its compressed bytes could not
    expand to (a zip bomb or a lying directory)."""
    header = header_len or 0
    if archive_size is not None and info.compress_size > archive_size:
        return (f"claims {size_text(info.compress_size)} of stored bytes but the file has "
                f"{size_text(archive_size)} (truncated)")
    if nbytes + header > info.file_size:
        return (f"declares {size_text(nbytes)} of data but the member holds "
                f"{size_text(max(info.file_size - header, 0))} (truncated, or a header that lies)")
    if info.compress_type != zipfile.ZIP_STORED and \
            info.file_size > MAX_DEFLATE_RATIO * max(info.compress_size, 1) + 4096:
        return (f"claims to expand {size_text(info.compress_size)} to "
                f"{size_text(info.file_size)}, more than compression can (a zip bomb?)")
    return None


def _npz_layer(path, key, shape, fortran, dtype, info, header_len, nbytes, size) -> Layer:
    """A member of an ``.npz``: memory-mapped in place when stored uncompressed, else read
    (decompressed) whole when asked for."""
    reader = _npz_reader(path, key, shape, fortran, dtype, info, header_len, nbytes, size)

    def read(rows):
        A = reader()
        return A if rows is None else A[rows]

    return _layer(str(path), key, shape, dtype, read, on_demand=False)


def _npz_reader(path, key, shape, fortran, dtype, info, header_len, nbytes, size):
    if info.compress_type == zipfile.ZIP_STORED and header_len is not None and nbytes > 0:
        # Uncompressed member: memory-map it in place (offset = local header + npy header).
        with open(path, "rb") as f:
            f.seek(info.header_offset)
            local = f.read(30)
        if len(local) == 30 and local[:4] == b"PK\x03\x04":
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            offset = info.header_offset + 30 + name_len + extra_len + header_len
            if offset + nbytes > size:
                raise InputError(f"{path}: member {key!r} is truncated")
            order = "F" if fortran else "C"
            return lambda: np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                                     order=order)
    return lambda: _read_npz_member(path, key)


def _read_npz_member(path, key):
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            return npz[key]
    except ValueError as exc:
        raise InputError(f"{path}: member {key!r} cannot be read ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise InputError(f"{path}: member {key!r} is corrupt or truncated ({exc})") from None
