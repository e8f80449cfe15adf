"""A resumable on-disk cache: fitted estimators (one entry per fit) and solved layer pairs.

Design
------
Two kinds of entries, both in a folder of ``<key>.npz`` files, held together by a
:class:`Memory` (``HOT(memory=...)``, ``TrajectoryHOT(memory=...)``):

- :class:`FitCache`, one entry per *fit*: the estimator's fitted state (unit plans of every
  layer pair, layer costs C, layer plan P, z-scoring statistics, rotations for HOT+R, ...) after
  ``fit(X, Y)``. :func:`hotalign.evaluate` fits once per split, so a resumed run skips every
  split whose fit was stored (scoring from the cached fit is cheap).
- :class:`PairCache`, one entry per *layer pair* (plain or HOT+R): the pair's result, written
  as soon as the pair is solved. :func:`hotalign.grid.solve_systems` loads the pairs it finds
  and sends only the missing ones to the pair engine (:mod:`hotalign.engine`), so a run killed
  in the middle of a grid loses only the pairs in flight; this serves every grid of
  ``HOT.fit`` (plain, budgeted and HOT+R), ``TrajectoryHOT.fit`` and ``evaluate``.

Keys. A fit's key is the BLAKE2b (32 bytes) of

- a format tag and ``hotalign.__version__`` (a new version never reuses an old result);
- the estimator's class and every parameter that can change a result (all of ``get_params()``
  except ``n_threads`` and ``max_layers_in_memory``: results do not depend on them);
- the *content* of the training rows handed to ``fit``: dtype, shape and bytes of every layer of
  X and of Y, in order.

A pair's key is the SHA-256 of a format tag, the version, the content keys (BLAKE2b of dtype,
shape and bytes) of the two *standardised* layers it solves, computed once per layer and grid,
those of its two unit marginals (or "uniform"), the pivot limit ``max_iter`` and, for HOT+R,
the rotation options. The
standardised layers already depend on the rows, the dtype and the constant-unit policy, so
these are all the inputs of a pair's solve.

Because keys hash the data actually solved, a different input file, layer selection, split,
seed, dtype or marginal gives a different key; a stale hit would need a hash collision.

Plans are stored once. A :class:`FitCache` given the run's :class:`PairCache` (``pairs=``)
stores each unit plan that came from a pair entry as a reference to that entry (its key), not
as a second copy; loading the fit loads the referenced pair entries (validated as any pair
entry) and a fit whose pair entries are gone is a miss. Plans that did not come from a pair
entry are stored in the fit entry itself: those of layer pairs with excluded constant units
(re-indexed to the original units).

Size. A cache grows with the number of layer pairs (a 28 x 28 grid of 3072-unit layers holds
gigabytes over a few splits). :func:`usage` measures a cache folder, :func:`prune` removes the
entries not used for a given time (a hit refreshes an entry's modification time), and the CLI
prints the size at the end of a run: ``hotalign cache info DIR`` and ``hotalign cache prune DIR
--older-than 7d``.

Untrusted entries. A cache folder may come from someone else, so reading an entry never runs
code. An entry is a ``.npz`` of plain arrays read with ``allow_pickle=False`` and a JSON tree of
plain values. The only objects it can describe are three registered types,
:class:`~hotalign.results.TransportResult` and :class:`~hotalign.costs.ZScore`, named by a
fixed tag that is looked up in a dict (no name from the file is ever imported or resolved).
Each object, and a fit's whole state, is validated on load: field names, types, dtypes and
shapes against the layers being fitted. An entry that does not validate (unknown type, missing
or wrong-typed field, wrong shape, another key) is a miss: it is recomputed and rewritten, and
the first one is reported (``report=`` or a :class:`CacheWarning`).

Atomicity and concurrency. An entry is written to a temporary file in the same folder and moved
into place with ``os.replace``, which is atomic on POSIX and Windows. A run killed at any
moment (SIGINT or SIGKILL) leaves either no entry or a complete one. Temporary files name their
host and process; :meth:`~_Entries.sweep` removes only those whose writer is gone (or that are a
day old), never another live run's. The CLI also holds :func:`locked` on ``--out`` for the whole
run, so a second run on the same folder stops at once with a clear message.
"""

from __future__ import annotations

import contextlib
import hashlib
import io as _io
import json
import os
import re
import socket
import threading
import time
import warnings
import weakref
import zipfile
from pathlib import Path

import numpy as np

from .kinds import PLAIN, Rotation, pair_kind
from .systems import hash_array, content_key

__all__ = ["CacheWarning", "FitCache", "InvalidEntry", "Memory", "OutLocked", "PairCache",
           "locked", "prune", "usage"]

_FORMAT = "hotalign-fit-cache-3"
_PAIR_FORMAT = "hotalign-pair-cache-3"
#: Parameters that never change a result (left out of the key).
RESULT_NEUTRAL_PARAMS = frozenset({"n_threads", "max_layers_in_memory", "memory"})


def _version():
    from . import __version__

    return __version__


def _clone(estimator):
    return type(estimator)(**estimator.get_params())


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

    def __init__(self, directory, read=True, report=None):
        self.directory = Path(directory)
        self.read = read
        self.report = report
        self.hits = 0
        self.misses = 0
        self.invalid = 0

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

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
        if not self.read:
            return None
        path = self.path(key)
        if not path.is_file():
            return None
        try:
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
                RecursionError, zipfile.BadZipFile) as exc:
            self.reject(path, f"unreadable: {type(exc).__name__}")
            return None
        with contextlib.suppress(OSError):  # last use, for prune(older_than=...)
            os.utime(path)
        return state

    def store_state(self, key, state: dict) -> bool:
        """Write ``state`` under ``key`` atomically; False if it holds an object this format
        cannot (then nothing is written). Safe to call from several threads and processes."""
        arrays = []
        try:
            state = {k: _encode(v, arrays, self.refer) for k, v in state.items()}
        except TypeError:
            return False
        meta = json.dumps({"key": key, "version": _version(), "n_arrays": len(arrays),
                           "state": state})
        payload = {f"a{i}": a for i, a in enumerate(arrays)}
        payload["__meta__"] = np.frombuffer(meta.encode(), dtype=np.uint8)
        buf = _io.BytesIO()
        np.savez(buf, **payload)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(key)
        tmp = path.with_name(f".{path.name}.{_HOST}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            # No fsync: the rename is atomic for the process (a kill at any moment leaves the
            # old state or the whole entry), and an entry damaged by a machine crash reads as
            # a miss. Syncing every layer pair would cost more than small pairs take to solve.
            with open(tmp, "wb") as f:
                f.write(buf.getbuffer())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return True

    def sweep(self, max_age: float = 86400.0) -> int:
        """Remove *stale* temporary files; returns how many.

        A temporary file is stale when the process that writes it (named in the file name) is
        no longer running on this host, or when it is older than ``max_age`` seconds. Files of
        live writers (another run on the same folder, or another thread of this one) are kept.
        """
        n = 0
        if not self.directory.is_dir():
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


_HOST = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"
_TEMPORARY = re.compile(r"\.[0-9a-f]+\.npz\.(?:(?P<host>[A-Za-z0-9_-]+)\.)?(?P<pid>\d+)\.\d+\.tmp")


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
    the operating system when its holder exits, even if it is killed).
    """
    directory = Path(directory)
    path = directory / ".hotalign.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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
        if not folder.is_dir():
            continue
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


def prune(directory, older_than=None, *, now=None) -> dict:
    """Remove the entries of a cache folder not used for ``older_than`` seconds (all entries
    when None), and its stale temporary files.

    Only cache entries (``<64 hex digits>.npz`` in ``DIR`` and ``DIR/pairs``) are ever removed.
    A fit whose referenced layer-pair entries were pruned becomes a miss (recomputed).

    Returns
    -------
    dict
        ``entries`` removed, ``bytes`` freed.
    """
    if older_than is not None and older_than < 0:
        raise ValueError(f"older_than must be >= 0 seconds, got {older_than}")
    now = time.time() if now is None else now
    removed = {"entries": 0, "bytes": 0}
    for kind, path in list(_cache_files(directory)):
        try:
            st = path.stat()
            if kind == "temporary":
                if not (_stale_temporary(path.name) or now - st.st_mtime > 86400.0):
                    continue
            elif older_than is not None and now - st.st_mtime < older_than:
                continue
            path.unlink()
        except OSError:  # removed meanwhile
            continue
        removed["entries"] += kind != "temporary"
        removed["bytes"] += st.st_size
    return removed


class FitCache(_Entries):
    """Fitted estimators stored under ``directory``, keyed by inputs, parameters and version.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder of the entries (created on first write).
    read : bool
        Look entries up (``--resume``); when False entries are only written.
    report : callable, optional
        ``report(message)`` for the first invalid entry (default: a :class:`CacheWarning`).
    pairs : PairCache, optional
        The pair cache that serves the fits' grids: unit plans that came from its entries are
        stored as references to them, so every plan is on disk once.
    """

    def __init__(self, directory, read=True, report=None, pairs=None):
        super().__init__(directory, read, report)
        self.pairs = pairs
        if pairs is not None:
            self.refer = pairs.key_of
            self.resolve = pairs.resolve

    def key(self, estimator, X, Y) -> str:
        """The entry key of ``estimator.fit(X, Y)`` (see the module notes)."""
        h = hashlib.blake2b(digest_size=32)  # about 1.7x the speed of SHA-256 here
        cls = type(estimator)
        h.update(f"{_FORMAT}|{_version()}|{cls.__module__}.{cls.__qualname__}|".encode())
        params = {k: repr(v) for k, v in estimator.get_params().items()
                  if k not in RESULT_NEUTRAL_PARAMS}
        h.update(json.dumps(params, sort_keys=True).encode())
        for tag, layers in (("X", X), ("Y", Y)):
            h.update(f"|{tag}|{len(layers)}".encode())
            for A in layers:
                hash_array(h, A)
        return h.hexdigest()

    def load(self, key, template, X, Y):
        """A fitted copy of ``template`` from the entry ``key`` (the fit of ``template`` on
        ``X, Y``), or None when there is no valid entry."""
        state = self.load_state(key, _fit_validator(template, X, Y))
        if state is None:
            return None
        model = _clone(template)
        vars(model).update(state)
        return model

    def restore(self, estimator, X, Y):
        """Fill ``estimator``'s fitted state from its entry for ``fit(X, Y)``.

        Returns ``(key, restored)``. Any fitted state ``estimator`` held before is dropped
        first, so an entry that does not validate can never leave an earlier fit's attributes
        in place. Counts a hit or a miss.
        """
        key = self.key(estimator, X, Y)
        for name in estimator.FITTED_ATTRIBUTES:
            estimator.__dict__.pop(name, None)
        state = self.load_state(key, _fit_validator(estimator, X, Y))
        if state is None:
            self.misses += 1
            return key, False
        self.hits += 1
        vars(estimator).update(state)
        return key, True

    def store(self, key, model) -> bool:
        """Write the fitted state of ``model`` under ``key`` atomically; False if it has an
        attribute this format cannot hold (then nothing is written)."""
        return self.store_state(key, {k: getattr(model, k) for k in model.FITTED_ATTRIBUTES})


class PairCache(_Entries):
    """Solved layer pairs stored under ``directory``, keyed by the solve's inputs and version.

    :func:`hotalign.grid.solve_systems` uses it (``HOT(memory=...)``, ``TrajectoryHOT``,
    :func:`hotalign.evaluate`, the CLI's ``--resume``): the pairs found are loaded, only the
    missing ones go to the pair engine, and each is stored as soon as it is finished.
    Parameters as for :class:`FitCache`; ``hits`` and ``misses`` count layer pairs.

    Examples
    --------
    >>> import tempfile, hotalign
    >>> from hotalign.cache import Memory
    >>> X, Y, _ = hotalign.datasets.make_hierarchy(200, (8, 8), (8, 8, 8), random_state=0)
    >>> memory = Memory(tempfile.mkdtemp())
    >>> a = hotalign.HOT(memory=memory).fit(X, Y)
    >>> b = hotalign.HOT(memory=memory).fit(X[::-1], Y)  # same layers, another order
    >>> memory.pairs.misses, memory.pairs.hits, a.distance_ == b.distance_
    (6, 6, True)
    """

    def __init__(self, directory, read=True, report=None):
        super().__init__(directory, read, report)
        self._keys = weakref.WeakKeyDictionary()  # plan -> reference to its entry on disk
        self._keys_lock = threading.Lock()

    def _remember(self, result, key):
        """Remember which entry holds ``result``'s plan (a TransportResult, or the plan of a
        PairRotation), so a fit entry can refer to it instead of storing a second copy."""
        from .results import PairRotation

        plan, ref = (result.plan, {"k": key, "p": "plan"}) if isinstance(
            result, PairRotation) else (result, {"k": key})
        with self._keys_lock:
            self._keys[plan] = ref

    def key_of(self, plan):
        """The reference (``{"k": key}``, plus ``"p": "plan"`` for the plan of a HOT+R entry)
        to the entry this cache loaded ``plan`` from or stored it under (the same object, still
        on disk), else None."""
        from .results import TransportResult

        if not isinstance(plan, TransportResult):
            return None
        with self._keys_lock:
            ref = self._keys.get(plan)
        return ref if ref is not None and self.path(ref["k"]).is_file() else None

    def resolve(self, node):
        """The plan a reference node of a fit entry names (validated like any pair entry), or
        None."""
        kind = _PART_KINDS.get(node.get("p"))
        if kind is None:
            _fail("a reference to an unknown part of a layer-pair entry")
        result = self.load(node.get("k"), kind=kind)
        return None if result is None else kind.plan_of(result)

    def key(self, x_key, y_key, a_key=None, b_key=None, max_iter=None, kind=None) -> str:
        """The entry key of one pair from the :func:`content_key` of its standardised layers
        and of its marginals (None: uniform), its pivot limit (None or 0: none) and its pair
        kind's :meth:`~hotalign.kinds.PairKind.cache_tag` (None: plain)."""
        parts = (_PAIR_FORMAT, _version(), x_key, y_key, a_key or "uniform", b_key or "uniform",
                 str(int(max_iter or 0)), pair_kind(kind).cache_tag())
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def load(self, key, shape=None, kind=None):
        """The result stored under ``key`` (of the pair kind's ``result_type``; None: plain),
        or None when there is no valid entry (``shape``: the plan's ``(n, m)``)."""
        kind = pair_kind(kind)

        def validate(state):
            item = state.get("plan")
            if set(state) != {"plan"} or not isinstance(item, kind.result_type):
                _fail("not a layer-pair entry of this kind")
            plan = kind.plan_of(item)
            if shape is not None and plan.shape != tuple(shape):
                _fail(f"plan of shape {plan.shape}, expected {tuple(shape)}")

        if not isinstance(key, str) or not _PAIR_KEY.fullmatch(key):
            _fail("a layer-pair key must be 64 hexadecimal digits")
        state = self.load_state(key, validate)
        if state is None:
            return None
        self._remember(state["plan"], key)
        return state["plan"]

    def store(self, key, result) -> bool:
        """Write ``result`` (a TransportResult or PairRotation) under ``key`` atomically; False
        if it cannot be stored."""
        stored = self.store_state(key, {"plan": result})
        if stored:
            self._remember(result, key)
        return stored

    def plan_block(self, x_keys, y_keys, a, b, widths_x, widths_y, max_iter, kind, on_pair,
                   pairs=None):
        """Load the cached pairs of a block and plan the rest.

        Pair (i, j) is layer ``x_keys[i]`` against ``y_keys[j]`` (content keys of standardised
        layers), with marginals ``a[i]`` / ``b[j]`` (lists, or None for uniform); ``pairs``
        limits the block to those (i, j) (default: all). Hits are handed to
        ``on_pair(i, j, result)`` at once. Returns ``(todo, on_solved)``: the pairs to solve
        (one per distinct key) and the ``on_pair`` for the engine, which stores each pair as it
        finishes and hands it on for every pair sharing its key.
        """
        ak = [None] * len(x_keys) if a is None else [
            None if w is None else content_key(w) for w in a]
        bk = [None] * len(y_keys) if b is None else [
            None if w is None else content_key(w) for w in b]
        missing = {}  # key -> the pairs (i, j) it solves (identical layers share one solve)
        keys = {}
        if pairs is None:
            pairs = [(i, j) for i in range(len(x_keys)) for j in range(len(y_keys))]
        for i, j in pairs:
            key = self.key(x_keys[i], y_keys[j], ak[i], bk[j], max_iter, kind)
            keys[i, j] = key
            hit = None if key in missing else self.load(key, (widths_x[i], widths_y[j]), kind)
            if hit is None:
                missing.setdefault(key, []).append((i, j))
            else:
                self.hits += 1
                on_pair(i, j, hit)
        self.misses += sum(len(p) for p in missing.values())

        def on_solved(i, j, result):
            key = keys[i, j]
            self.store(key, result)
            for pair in missing[key]:
                on_pair(*pair, result)

        return [shared[0] for shared in missing.values()], on_solved


#: The pair kind of each part a fit entry's reference may name (``"p"``): the whole entry
#: (a plain plan), or the plan of a HOT+R entry (any Rotation's: the options are in the key).
_PART_KINDS = {None: PLAIN, "plan": Rotation()}

_PAIR_KEY = re.compile(r"[0-9a-f]{64}")


class Memory:
    """Where a fit keeps its results on disk (scikit-learn's ``memory=`` idiom).

    ``HOT(memory=...)`` and ``TrajectoryHOT(memory=...)`` take a folder or a ``Memory``: whole
    fits go to :attr:`fits` (``DIR``) and layer pairs to :attr:`pairs` (``DIR/pairs``). The
    parameter never changes a result (it is not part of any key), and clones share it.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder of the entries (created on first write).
    read : bool
        Look entries up (a resumed run); when False entries are only written.
    report : callable, optional
        ``report(message)`` for the first invalid entry of each cache (else a CacheWarning).
    """

    def __init__(self, directory, read=True, report=None):
        self.directory = Path(directory)
        self.pairs = PairCache(self.directory / "pairs", read=read, report=report)
        self.fits = FitCache(self.directory, read=read, report=report, pairs=self.pairs)

    def sweep(self) -> int:
        """Remove stale temporary files of both caches; returns how many."""
        return self.fits.sweep() + self.pairs.sweep()

    def __repr__(self):
        return f"Memory({str(self.directory)!r})"


def as_memory(memory):
    """``memory`` as a :class:`Memory` (None stays None; a path becomes one)."""
    if memory is None or isinstance(memory, Memory):
        return memory
    if isinstance(memory, (str, os.PathLike)):
        return Memory(memory)
    raise ValueError(f"memory must be None, a folder path or a hotalign.cache.Memory, got "
                     f"{type(memory).__name__}")


def _fit_validator(estimator, X, Y):
    """The check of a stored fit of ``estimator`` on ``X, Y``; TypeError for an estimator the
    fit cache does not support."""
    if getattr(type(estimator), "FITTED_ATTRIBUTES", None) is None or not hasattr(
            estimator, "rotation"):
        raise TypeError(f"the fit cache supports HOT estimators, got {type(estimator).__name__}")
    return lambda state: _check_hot_state(state, estimator, X, Y)


def _check_hot_state(state, est, X, Y):
    """Raise :class:`InvalidEntry` unless ``state`` is a complete fitted state of the HOT
    estimator ``est`` on layers ``X`` and ``Y`` (names, types, dtypes and shapes)."""
    from .costs import ZScore
    from .results import TransportResult

    _fields(state, type(est).FITTED_ATTRIBUTES, "HOT state")
    L, M = len(X), len(Y)
    wx, wy = [A.shape[1] for A in X], [A.shape[1] for A in Y]
    T = X[0].shape[0] if L else 0
    for name, widths in (("x_scalers_", wx), ("y_scalers_", wy)):
        scalers = state[name]
        if not isinstance(scalers, list) or len(scalers) != len(widths) or any(
                not isinstance(z, ZScore) or z.mean_.shape != (w,) or z.n_rows_ != T
                for z, w in zip(scalers, widths)):
            _fail(f"{name} does not match the layers")

    solved = _array(state["solved_pairs_"], "solved_pairs_", np.bool_, (L, M))
    if _int(state["n_pairs_solved_"], "n_pairs_solved_") != int(solved.sum()):
        _fail("n_pairs_solved_ does not match solved_pairs_")

    def plan(p, l, m):
        if not solved[l, m] and p is None:
            return
        if not isinstance(p, TransportResult) or p.shape != (wx[l], wy[m]):
            _fail(f"unit_plans_[{l}][{m}] does not match the layers")

    _nested(state["unit_plans_"], "unit_plans_", L, M, plan)
    costs = _array(state["layer_costs_"], "layer_costs_", np.float64, (L, M))
    if not np.array_equal(np.isfinite(costs), solved):
        _fail("layer_costs_ must be finite exactly on the solved pairs")
    lazy = bool(getattr(est, "lazy", False))
    if lazy:
        _array(state["layer_cost_bounds_"], "layer_cost_bounds_", np.float64, (L, M))
        certificate = state["lazy_certificate_"]
        optional = ("bounds_skipped",) if isinstance(certificate, dict) and \
            "bounds_skipped" in certificate else ()  # entries of earlier versions lack it
        _fields(certificate, ("rounds", "min_reduced_cost", "support_solved") + optional,
                "lazy_certificate_")
        if optional and not isinstance(certificate["bounds_skipped"], bool):
            _fail("lazy_certificate_.bounds_skipped must be a bool")
        _int(certificate["rounds"], "lazy_certificate_.rounds", minimum=1)
        _real(certificate["min_reduced_cost"], "lazy_certificate_.min_reduced_cost")
        if certificate["support_solved"] is not True:
            _fail("lazy_certificate_.support_solved must be True")
    elif state["layer_cost_bounds_"] is not None or state["lazy_certificate_"] is not None \
            or not solved.all():
        _fail("lazy results in a fit without lazy=True")
    _array(state["layer_plan_"], "layer_plan_", np.float64, (L, M))
    _real(state["distance_"], "distance_")
    constant = state["constant_units_"]
    _fields(constant, ("X", "Y"), "constant_units_")
    for tag, widths in (("X", wx), ("Y", wy)):
        units = constant[tag]
        if not isinstance(units, list) or len(units) != len(widths):
            _fail(f"constant_units_[{tag!r}] does not match the layers")
        for k, (u, w) in enumerate(zip(units, widths)):
            _array(u, f"constant_units_[{tag!r}][{k}]", np.int64, (None,))
            if u.size and (u.min() < 0 or u.max() >= w):
                _fail(f"constant_units_[{tag!r}][{k}] names units outside the layer")
    _int(state["n_constant_units_"], "n_constant_units_")
    if (_int(state["n_layers_x_"], "n_layers_x_"), _int(state["n_layers_y_"], "n_layers_y_")) \
            != (L, M):
        _fail("n_layers_x_ / n_layers_y_ do not match the layers")
    est._pair_kind().check_fitted_state(state, L, M, wx, solved, array=_array, nested=_nested,
                                        fail=_fail)


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
    from .results import TransportResult

    _fields(f, _TR_FIELDS, "TransportResult")
    shape = f["shape"]
    if not isinstance(shape, tuple) or len(shape) != 2:
        _fail("TransportResult.shape must be a pair")
    n, m = (_int(s, "TransportResult.shape") for s in shape)
    rows = _array(f["rows"], "TransportResult.rows", np.int64, (None,))
    nnz = rows.shape[0]
    cols = _array(f["cols"], "TransportResult.cols", np.int64, (nnz,))
    weights = _array(f["weights"], "TransportResult.weights", np.float64, (nnz,))
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
    from .costs import ZScore

    return ZScore.FITTED_ATTRIBUTES


def _build_zscore(f):
    from .costs import ZScore

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
    from .results import PairRotation, TransportResult

    _fields(f, _PR_FIELDS, "PairRotation")
    plan = f["plan"]
    if not isinstance(plan, TransportResult):
        _fail("PairRotation.plan must be a TransportResult")
    n = plan.shape[0]
    return PairRotation(
        plan=plan, rotation=_array(f["rotation"], "PairRotation.rotation", np.float64, (n, n)),
        objective=_array(f["objective"], "PairRotation.objective", np.float64, (None,)),
        n_rounds=_int(f["n_rounds"], "PairRotation.n_rounds", minimum=1),
        cost=_real(f["cost"], "PairRotation.cost"),
        reconstruction_error=_real(f["reconstruction_error"], "PairRotation.reconstruction_error"),
        n_iter=_int(f["n_iter"], "PairRotation.n_iter"))


def _registered():
    """The allow-list: tag -> (class, fields(obj), validating constructor(fields))."""
    from .costs import ZScore
    from .results import PairRotation, TransportResult

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
