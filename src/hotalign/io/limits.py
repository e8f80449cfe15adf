"""What an input file may make the readers do: the memory budget, declared sizes checked against
what a file can hold, and links that leave an input folder.

Every reader compares a layer's *declared* size (shape x itemsize, from a header) with what the
file can hold before anything is allocated or read: the member size of a zip (and a bound on
its compression ratio), the length of a file and the bytes it has on disk, the storage HDF5 has
allocated. A layer that must be read whole is also compared with the memory budget
(``max_memory``: by default half of the memory available when the input is opened), and a
layer read row by row is read only in pieces within it.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Limits", "available_memory", "default_budget", "parse_size", "reader_defaults",
           "size_text"]

#: The most a deflate stream can expand (about 1032 to 1 for a run of one byte), with room.
MAX_DEFLATE_RATIO = 1100
#: A file whose data are mostly holes (sparse) is refused above this declared size: its zeros
#: were never written, and reading (or hashing) them costs as much as real data.
SPARSE_MIN_BYTES = 1 << 26
#: At least this fraction of the declared data must be allocated on disk.
SPARSE_MIN_FRACTION = 1 / 16
#: The fraction of available memory a reader may use when no budget is given.
DEFAULT_FRACTION = 0.5


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable`` of ``/proc/meminfo``,
    else the free physical pages), or None when the system does not say."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def default_budget() -> int:
    """Half of :func:`available_memory` (8 GiB when the system does not say)."""
    free = available_memory()
    return int(free * DEFAULT_FRACTION) if free else 8 << 30


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text) -> int:
    """A size in bytes from ``"4G"``, ``"512MiB"``, ``"1.5g"``, ``"2000000"`` (binary units).

    Raises ValueError naming the text when it is not a positive size.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
        if value > 0 and value == value:
            return int(value)
        raise ValueError(f"max_memory must be a positive number of bytes, got {text!r}")
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.I)
    if m is None or float(m[1]) <= 0:
        raise ValueError(f"max_memory: expected a size such as 4G, 512M or 2000000 (bytes), "
                         f"got {str(text)!r:.40}")
    return int(float(m[1]) * _UNITS[m[2].lower()])


def size_text(n: int) -> str:
    """``n`` bytes for a message: ``5.96 GiB``, ``298 GiB``, ``512 B``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Limits:
    """What the readers may do with one input.

    Attributes
    ----------
    max_memory : int
        Bytes a layer read whole (or one read of some rows) may take.
    allow_external : bool
        Follow HDF5 external storage and virtual datasets (data in other files).
    """

    max_memory: int
    allow_external: bool = False

    @classmethod
    def of(cls, max_memory=None, allow_external=None) -> Limits:
        """Limits from the readers' options: ``max_memory`` bytes (or a size string such as
        ``"4G"``) and ``allow_external``; None takes the value of the enclosing
        :func:`reader_defaults` (the CLI's ``--max-memory`` and ``--hdf5-external``), else
        :func:`default_budget` and False."""
        if max_memory is None:
            max_memory = _DEFAULTS["max_memory"]
        if allow_external is None:
            allow_external = _DEFAULTS["allow_external"]
        budget = default_budget() if max_memory is None else parse_size(max_memory)
        return cls(budget, bool(allow_external))


_DEFAULTS = {"max_memory": None, "allow_external": False}


@contextlib.contextmanager
def reader_defaults(max_memory=None, allow_external=False):
    """Within the block, readers opened without their own options use these (the CLI sets the
    options of a run here, so every input a subcommand reads, and its cache, obeys them)."""
    if max_memory is not None:
        parse_size(max_memory)
    old = dict(_DEFAULTS)
    _DEFAULTS.update(max_memory=max_memory, allow_external=bool(allow_external))
    try:
        yield
    finally:
        _DEFAULTS.update(old)


def declared_bytes(shape, itemsize) -> int:
    """Bytes of an array of ``shape`` (Python ints: no overflow)."""
    n = int(itemsize)
    for s in shape:
        n *= int(s)
    return n


def shape_text(shape, dtype) -> str:
    return f"{' x '.join(str(int(s)) for s in shape) or 'scalar'} {dtype}"


def over_budget(source, layer, shape, dtype, nbytes, budget, what="declares") -> str:
    """The message for a layer whose read would take more than the budget."""
    return (f"{source}: layer {layer!r} {what} {shape_text(shape, dtype)} ({size_text(nbytes)}), "
            f"over the memory budget of {size_text(budget)}; raise it with --max-memory "
            "(max_memory=) if the machine has the memory")


def file_holds(path: Path, end: int, what: str) -> str | None:
    """Why the file ``path`` cannot hold data ending at byte ``end`` (None when it can): it is
    shorter, or sparse (most of it never written: holes that read as zeros, yet cost as much
    to read and hash as real data)."""
    st = os.stat(path)
    if end > st.st_size:
        return (f"{what} ends at byte {end} ({size_text(end)}) but the file has "
                f"{st.st_size} bytes (truncated, or a header that lies)")
    blocks = getattr(st, "st_blocks", None)
    span = max(end, st.st_size)
    if blocks is not None and span >= SPARSE_MIN_BYTES and \
            blocks * 512 < span * SPARSE_MIN_FRACTION:
        return (f"{what}: the file has {size_text(span)} but only {size_text(blocks * 512)} "
                "are stored on disk (a sparse file: its data were never written)")
    return None


def inside(root: Path, path: Path) -> bool:
    """Whether ``path`` (after links) stays inside the folder ``root`` (after links)."""
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True
