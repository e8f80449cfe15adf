"""Cache entry files: atomic, link-safe writes; reads that never run code; the folder lock;
usage and pruning."""

from __future__ import annotations

import contextlib
import io as _io
import json
import os
import re
import socket
import stat
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .._files import atomic_write
from .. import _version
from ..io.limits import Limits, size_text
from ..io.npy import read_header
from ..io.npz import member_problem
from .codec import InvalidEntry, _array, _decode, _encode, _fail, _int

__all__ = ["CacheWarning", "OutLocked", "locked", "prune", "usage"]


class CacheWarning(UserWarning):
    """An entry of a cache did not validate and is recomputed (said once per cache)."""


class _Entries:
    """``<key>.npz`` entries under ``directory``: atomic writes; an entry that cannot be read or
    does not validate is a miss.

    ``read=False`` (a run without ``--resume``) only writes. ``hits`` and ``misses`` are counted
    by the subclasses; ``invalid`` counts the entries that existed but were rejected (unreadable,
    unknown type, missing or wrong-typed field, wrong shape, key mismatch). The first rejection
    is said once: through ``report(message)`` when given (the CLI prints it), else as a
    :class:`CacheWarning`.
    """

    #: ``resolve(key)``: the plan of the pair entry ``key`` (or None) for a reference node.
    resolve = None
    #: ``refer(obj)``: the pair-entry key to store instead of ``obj`` (or None: store it).
    refer = None
    #: Whether ``directory`` may be a symbolic link (the folder a user names may; a subfolder
    #: of a cache may not: a planted link would send reads and writes elsewhere).
    link_ok = True

    def __init__(self, directory, read=True, report=None):
        self.directory = Path(directory)
        self.read = read
        self.report = report
        self.hits = 0
        self.misses = 0
        self.invalid = 0
        self._refused = None

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def usable(self) -> bool:
        """False when ``directory`` is a link this cache must not follow (then nothing is read,
        written or swept there, and it is said once)."""
        if self._refused is None:
            self._refused = not self.link_ok and self.directory.is_symlink()
            if self._refused:
                message = (f"cache folder {self.directory} is a symbolic link; not following "
                           "it (its entries are recomputed and not stored)")
                if self.report is not None:
                    self.report(message)
                else:
                    warnings.warn(message, CacheWarning, stacklevel=4)
        return not self._refused

    def reject(self, path, reason: str) -> None:
        """Count an invalid entry; say so the first time."""
        self.invalid += 1
        if self.invalid > 1:
            return
        message = (f"cache entry {path} is not valid ({reason}); recomputing it (further "
                   f"invalid entries of {self.directory} are recomputed without a message)")
        if self.report is not None:
            self.report(message)
        else:
            warnings.warn(message, CacheWarning, stacklevel=4)

    def load_state(self, key, validate=None):
        """The objects stored under ``key`` (a dict), or None for a miss.

        ``validate(state)`` may raise :class:`InvalidEntry` to reject the entry. Nothing in the
        file is executed: arrays are read with ``allow_pickle=False`` and objects are rebuilt only
        from the registered types (see ``_decode``).
        """
        if not self.read or not self.usable():
            return None
        path = self.path(key)
        if not path.is_file() and not path.is_symlink():
            return None
        try:
            if path.is_symlink():
                _fail("it is a symbolic link")
            _check_sizes(path)
            with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
                if "__meta__" not in npz.files:
                    _fail("no description")
                meta = json.loads(bytes(_array(npz["__meta__"], "description", np.uint8,
                                               (None,))).decode())
                if not isinstance(meta, dict) or meta.get("key") != key:
                    _fail("the entry was stored under another key")
                n_arrays = _int(meta.get("n_arrays"), "n_arrays")
                if set(npz.files) != {"__meta__", *(f"a{i}" for i in range(n_arrays))}:
                    _fail("unexpected members")
                arrays = [npz[f"a{i}"] for i in range(n_arrays)]
            if not isinstance(meta.get("state"), dict):
                _fail("no state")
            state = {k: _decode(v, arrays, self.resolve) for k, v in meta["state"].items()}
            if validate is not None:
                validate(state)
        except InvalidEntry as exc:
            self.reject(path, str(exc))
            return None
        except (OSError, ValueError, KeyError, TypeError, EOFError, UnicodeDecodeError,
                RecursionError, MemoryError, NotImplementedError, zipfile.BadZipFile) as exc:
            self.reject(path, f"unreadable: {type(exc).__name__}")
            return None
        with contextlib.suppress(OSError):  # last use, for prune(older_than=...)
            os.utime(path)
        return state

    def store_state(self, key, state: dict) -> bool:
        """Write ``state`` under ``key`` atomically; False if it holds an object this format
        cannot (then nothing is written). Safe to call from several threads and processes."""
        if not self.usable():
            return False
        arrays = []
        try:
            state = {k: _encode(v, arrays, self.refer) for k, v in state.items()}
        except TypeError:
            return False
        meta = json.dumps({"key": key, "version": _version.__version__, "n_arrays": len(arrays),
                           "state": state})
        payload = {f"a{i}": a for i, a in enumerate(arrays)}
        payload["__meta__"] = np.frombuffer(meta.encode(), dtype=np.uint8)
        buf = _io.BytesIO()
        np.savez(buf, **payload)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(key)
        # No fsync: the rename is atomic for the process (a kill at any moment leaves the old
        # state or the whole entry), and an entry damaged by a machine crash reads as a miss.
        # Syncing every layer pair would cost more than small pairs take to solve. The
        # temporary file names its host and process (for sweep) before its random part.
        atomic_write(path, buf.getbuffer(), sync=False,
                     prefix=f".{path.name}.{_HOST}.{os.getpid()}.")
        return True

    def sweep(self, max_age: float = 86400.0) -> int:
        """Remove *stale* temporary files; returns how many.

        A temporary file is stale when the process that writes it (named in the file name) is
        no longer running on this host, or when it is older than ``max_age`` seconds. Files of
        live writers (another run on the same folder, or another thread of this one) are kept.
        """
        n = 0
        if not self.directory.is_dir() or not self.usable():
            return 0
        now = time.time()
        for p in self.directory.glob(".*.tmp"):
            try:
                if _stale_temporary(p.name) or now - p.stat().st_mtime > max_age:
                    p.unlink()
                    n += 1
            except OSError:  # raced with its writer (renamed or removed)
                pass
        return n

    def __len__(self):
        return len(list(self.directory.glob("*.npz"))) if self.directory.is_dir() else 0


def _check_sizes(path: Path) -> None:
    """Refuse (as :class:`InvalidEntry`) an entry whose members declare more data than they
    hold, or more than the memory budget in all, before any member is read. Entries are
    written uncompressed, so a compressed member (a zip bomb) is refused too."""
    size = path.stat().st_size
    total = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                _fail(f"member {info.filename!r} is compressed (entries are stored as written)")
            with zf.open(info) as f:
                shape, _fortran, dtype = read_header(f)
                header = f.tell()
            nbytes = int(dtype.itemsize)
            for d in shape:
                nbytes *= int(d)
            problem = member_problem(info, nbytes, header, size)
            if problem:
                _fail(f"member {info.filename!r} {problem}")
            total += nbytes
    budget = Limits.of().max_memory
    if total > budget:
        _fail(f"its arrays declare {size_text(total)}, over the memory budget of "
              f"{size_text(budget)}")


_HOST = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"


_TEMPORARY = re.compile(
    r"\.[0-9a-f]+\.npz\.(?:(?P<host>[A-Za-z0-9_-]+)\.)?(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp")


def _stale_temporary(name: str) -> bool:
    """Whether the temporary file ``name`` belongs to a writer that is no longer running."""
    match = _TEMPORARY.fullmatch(name)
    if match is None or match["host"] not in (None, _HOST) or os.name != "posix":
        return False  # not ours to judge: only the age rule applies
    pid = int(match["pid"])
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process (or not a process id)
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False


class OutLocked(ValueError):
    """Another run holds the lock of an output folder."""


@contextlib.contextmanager
def locked(directory, what="--out"):
    """Hold an exclusive lock on ``directory`` (the file ``.hotalign.lock`` in it) while the
    block runs, so that two runs never share one output folder and cache.

    Raises :class:`OutLocked` at once when another process holds it (the lock is released by
    the operating system when its holder exits, even if it is killed), and when the lock path
    is a link or not a plain file: the lock is never opened through a link.
    """
    directory = Path(directory)
    path = directory / ".hotalign.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        if path.is_symlink():
            raise OutLocked(f"{what} {directory}: {path.name} is a symbolic link; refusing to "
                            "follow it (remove it, or choose another folder)") from None
        raise OutLocked(f"{what} {directory}: cannot open {path.name} ({exc.strerror})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        raise OutLocked(f"{what} {directory}: {path.name} is not a plain file of its own (a "
                        "hard link or a special file); remove it, or choose another folder")
    try:
        try:
            _lock_fd(fd)
        except OSError:
            os.lseek(fd, 0, os.SEEK_SET)
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            raise OutLocked(
                f"{what} {directory} is in use by another hotalign run (pid {holder}); wait "
                f"for it to finish or choose another {what}") from None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, str(os.getpid()).encode())
        yield path
    finally:
        os.close(fd)  # releases the lock


def _lock_fd(fd):
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


_ENTRY = re.compile(r"[0-9a-f]{64}\.npz")


def _cache_files(directory):
    """``(kind, path)`` of the files of a cache folder: ``"fits"`` (``DIR/<key>.npz``),
    ``"layer_pairs"`` (``DIR/pairs/<key>.npz``) and ``"temporary"`` (``.*.tmp`` in either).
    Other files are never listed, so :func:`prune` cannot remove anything but cache entries."""
    directory = Path(directory)
    for kind, folder in (("fits", directory), ("layer_pairs", directory / "pairs")):
        if not folder.is_dir() or (kind == "layer_pairs" and folder.is_symlink()):
            continue  # a linked pairs folder is not the cache's: never listed nor pruned
        for path in folder.iterdir():
            if _ENTRY.fullmatch(path.name) and path.is_file():
                yield kind, path
            elif path.name.startswith(".") and path.name.endswith(".tmp") and path.is_file():
                yield "temporary", path


def usage(directory) -> dict:
    """What a cache folder holds (``DIR`` for fits, ``DIR/pairs`` for layer pairs).

    Returns
    -------
    dict
        ``directory``; ``bytes`` and ``entries`` in all; per kind (``fits``, ``layer_pairs``,
        ``temporary``) a dict of ``entries`` and ``bytes``; ``oldest`` and ``newest``: the
        least and most recent use of an entry (POSIX time: a hit refreshes it), None when empty.
    """
    kinds = {k: {"entries": 0, "bytes": 0} for k in ("fits", "layer_pairs", "temporary")}
    times = []
    for kind, path in _cache_files(directory):
        try:
            st = path.stat()
        except OSError:  # removed meanwhile
            continue
        kinds[kind]["entries"] += 1
        kinds[kind]["bytes"] += st.st_size
        if kind != "temporary":
            times.append(st.st_mtime)
    return {"directory": str(directory),
            "entries": kinds["fits"]["entries"] + kinds["layer_pairs"]["entries"],
            "bytes": sum(k["bytes"] for k in kinds.values()), **kinds,
            "oldest": min(times, default=None), "newest": max(times, default=None)}


def prune(directory, older_than=None, *, max_bytes=None, now=None) -> dict:
    """Remove the entries of a cache folder not used for ``older_than`` seconds (all entries
    when both ``older_than`` and ``max_bytes`` are None), and its stale temporary files.

    With ``max_bytes``, the least recently used entries (oldest modification time: a hit
    refreshes it) are then removed until the entries hold at most ``max_bytes`` bytes.

    Only cache entries (``<64 hex digits>.npz`` in ``DIR`` and ``DIR/pairs``) are ever removed.
    A fit whose referenced layer-pair entries were pruned becomes a miss (recomputed), so
    ``--resume`` of a run needs its fit entries and the layer-pair entries they refer to.

    Returns
    -------
    dict
        ``entries`` removed, ``bytes`` freed.
    """
    if older_than is not None and older_than < 0:
        raise ValueError(f"older_than must be >= 0 seconds, got {older_than}")
    if max_bytes is not None and not max_bytes >= 0:
        raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
    now = time.time() if now is None else now
    every = older_than is None and max_bytes is None
    removed = {"entries": 0, "bytes": 0}
    kept = []
    for kind, path in list(_cache_files(directory)):
        try:
            st = path.stat()
            if kind == "temporary":
                if not (_stale_temporary(path.name) or now - st.st_mtime > 86400.0):
                    continue
            elif not every and (older_than is None or now - st.st_mtime < older_than):
                kept.append((st.st_mtime, kind == "fits", path, st.st_size))
                continue
            path.unlink()
        except OSError:  # removed meanwhile
            continue
        removed["entries"] += kind != "temporary"
        removed["bytes"] += st.st_size
    if max_bytes is not None:
        total = sum(e[3] for e in kept)
        # Oldest first; at equal times a fit before the layer pairs (a fit whose pairs are gone
        # is a miss, while pairs without their fit are still reused).
        for _, _, path, size in sorted(kept, key=lambda e: (e[0], not e[1])):
            if total <= max_bytes:
                break
            try:
                path.unlink()
            except OSError:
                continue
            total -= size
            removed["entries"] += 1
            removed["bytes"] += size
    return removed
