"""A resumable on-disk cache: fitted estimators (one entry per fit) and solved layer pairs.

Design
------
Two kinds of entries, both in a folder of ``<key>.npz`` files:

- :class:`FitCache`, one entry per *fit*: the estimator's fitted state (unit plans of every
  layer pair, layer costs C, layer plan P, z-scoring statistics, rotations for HOT+R, ...) after
  ``fit(X, Y)``. :func:`hotalign.evaluate` fits once per split, so a resumed run skips every
  split whose fit was stored (scoring from the cached fit is cheap). :func:`cached` wraps an
  estimator.
- :class:`PairCache`, one entry per *layer pair*: the sparse plan of one ``solve_pairs`` pair,
  written as soon as the pair is solved. A run killed in the middle of a grid loses only the
  pairs in flight; the resumed fit loads the others and solves only the missing ones.
  :func:`pair_backend` makes it a :func:`hotalign.grid.pair_backend`, so it serves every grid
  of ``HOT.fit`` (not the rotation fits of HOT+R, which have no pair grid),
  ``TrajectoryHOT.fit`` and ``evaluate``.

Keys. A fit's key is the BLAKE2b (32 bytes) of

- a format tag and ``hotalign.__version__`` (a new version never reuses an old result);
- the estimator's class and every parameter that can change a result (all of ``get_params()``
  except ``n_threads`` and ``max_layers_in_memory``: results do not depend on them);
- the *content* of the training rows handed to ``fit``: dtype, shape and bytes of every layer of
  X and of Y, in order.

A pair's key is the SHA-256 of a format tag, the version, the content keys (BLAKE2b of dtype,
shape and bytes) of the two *standardised* layers it solves, computed once per layer and grid,
those of its two unit marginals (or "uniform") and the pivot limit ``max_iter``. The
standardised layers already depend on the rows, the dtype and the constant-unit policy, so
these are all the inputs of a pair's solve.

Because keys hash the data actually solved, a different input file, layer selection, split,
seed, dtype or marginal gives a different key; a stale hit would need a hash collision.

Plans are stored once. A :class:`FitCache` given the run's :class:`PairCache` (``pairs=``)
stores each unit plan that came from a pair entry as a reference to that entry (its key), not
as a second copy; loading the fit loads the referenced pair entries (validated as any pair
entry) and a fit whose pair entries are gone is a miss. Plans that did not come from a pair
entry are stored in the fit entry itself: those of HOT+R fits (no pair grid) and those of layer
pairs with excluded constant units (re-indexed to the original units).

Size. A cache grows with the number of layer pairs (a 28 x 28 grid of 3072-unit layers holds
gigabytes over a few splits). :func:`usage` measures a cache folder, :func:`prune` removes the
entries not used for a given time (a hit refreshes an entry's modification time), and the CLI
prints the size at the end of a run: ``hotalign cache info DIR`` and ``hotalign cache prune DIR
--older-than 7d``.

Untrusted entries. A cache folder may come from someone else, so reading an entry never runs
code. An entry is a ``.npz`` of plain arrays read with ``allow_pickle=False`` and a JSON tree of
plain values. The only objects it can describe are two registered types,
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
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

__all__ = ["CacheWarning", "FitCache", "InvalidEntry", "OutLocked", "PairCache", "cached",
           "locked", "pair_backend", "prune", "usage"]

_FORMAT = "hotalign-fit-cache-2"
_PAIR_FORMAT = "hotalign-pair-cache-2"
#: Parameters that never change a result (left out of the key).
RESULT_NEUTRAL_PARAMS = frozenset({"n_threads", "max_layers_in_memory"})


def _version():
    from . import __version__

    return __version__


def _clone(estimator):
    cls = getattr(type(estimator), "_cache_base", type(estimator))
    return cls(**estimator.get_params())


def _hash_array(h, A):
    """Feed the dtype, shape and bytes of ``A`` to the hash ``h``."""
    A = np.ascontiguousarray(A)
    h.update(f"|{A.dtype.str}|{A.shape}|".encode())
    h.update(A.data)


def content_key(A) -> str:
    """A content key of one array: BLAKE2b of its dtype, shape and bytes."""
    h = hashlib.blake2b(digest_size=20)
    _hash_array(h, A)
    return h.hexdigest()


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
            self.resolve = pairs.load

    def key(self, estimator, X, Y) -> str:
        """The entry key of ``estimator.fit(X, Y)`` (see the module notes)."""
        h = hashlib.blake2b(digest_size=32)  # about 1.7x the speed of SHA-256 here
        cls = getattr(type(estimator), "_cache_base", type(estimator))
        h.update(f"{_FORMAT}|{_version()}|{cls.__module__}.{cls.__qualname__}|".encode())
        params = {k: repr(v) for k, v in estimator.get_params().items()
                  if k not in RESULT_NEUTRAL_PARAMS}
        h.update(json.dumps(params, sort_keys=True).encode())
        for tag, layers in (("X", X), ("Y", Y)):
            h.update(f"|{tag}|{len(layers)}".encode())
            for A in layers:
                _hash_array(h, A)
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

    def store(self, key, model) -> bool:
        """Write the fitted state of ``model`` under ``key`` atomically; False if it has an
        attribute this format cannot hold (then nothing is written)."""
        return self.store_state(key, {k: getattr(model, k) for k in model.FITTED_ATTRIBUTES})


class PairCache(_Entries):
    """Solved layer pairs stored under ``directory``, keyed by the solve's inputs and version.

    Use it through :func:`pair_backend`. Parameters as for :class:`FitCache`; ``hits`` and
    ``misses`` count layer pairs.
    """

    def __init__(self, directory, read=True, report=None):
        super().__init__(directory, read, report)
        self._keys = weakref.WeakKeyDictionary()  # plan -> the key of its entry on disk
        self._keys_lock = threading.Lock()

    def _remember(self, plan, key):
        with self._keys_lock:
            self._keys[plan] = key

    def key_of(self, plan):
        """The key of the entry this cache loaded ``plan`` from or stored it under (the same
        object, still on disk), else None."""
        from .results import TransportResult

        if not isinstance(plan, TransportResult):
            return None
        with self._keys_lock:
            key = self._keys.get(plan)
        return key if key is not None and self.path(key).is_file() else None

    def key(self, x_key, y_key, a_key=None, b_key=None, max_iter=None) -> str:
        """The entry key of one pair from the :func:`content_key` of its standardised layers
        and of its marginals (None: uniform), and its pivot limit (None or 0: none)."""
        parts = (_PAIR_FORMAT, _version(), x_key, y_key, a_key or "uniform", b_key or "uniform",
                 str(int(max_iter or 0)))
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def load(self, key, shape=None):
        """The :class:`~hotalign.results.TransportResult` stored under ``key``, or None when
        there is no valid entry (``shape``: the plan's expected ``(n, m)``)."""
        from .results import TransportResult

        def validate(state):
            plan = state.get("plan")
            if set(state) != {"plan"} or not isinstance(plan, TransportResult):
                _fail("not a layer-pair entry")
            if shape is not None and plan.shape != tuple(shape):
                _fail(f"plan of shape {plan.shape}, expected {tuple(shape)}")

        if not isinstance(key, str) or not _PAIR_KEY.fullmatch(key):
            _fail("a layer-pair key must be 64 hexadecimal digits")
        state = self.load_state(key, validate)
        if state is None:
            return None
        self._remember(state["plan"], key)
        return state["plan"]

    def store(self, key, plan) -> bool:
        """Write ``plan`` under ``key`` atomically; False if it cannot be stored."""
        stored = self.store_state(key, {"plan": plan})
        if stored:
            self._remember(plan, key)
        return stored


_PAIR_KEY = re.compile(r"[0-9a-f]{64}")


def pair_backend(cache: PairCache, inner=None, *, progress=None):
    """A :func:`hotalign.grid.pair_backend` that solves only the layer pairs ``cache`` lacks.

    For every ``solve_pairs(Zx, Zy, ...)`` call each layer (and marginal) is hashed once, the
    pairs found in ``cache`` are loaded and the others solved and stored, each as soon as it is
    solved. The result is identical to an uncached ``solve_pairs`` (same solver, same inputs).

    Parameters
    ----------
    cache : PairCache
    inner : callable, optional
        A backend (``inner(Zx, Zy, **kwargs)``, e.g. a Dask one) to solve the missing pairs,
        called once per layer of ``Zx`` that has missing pairs, on those pairs only; entries are
        then stored per call. Default: a pool of ``n_threads`` threads, each solving one pair
        at a time with the local :func:`hotalign.grid.solve_pairs` (GIL released), so entries
        are stored per pair.
    progress : callable, optional
        ``progress(pairs_done, n_pairs)`` when the call itself gives none; cache hits count as
        done.

    Examples
    --------
    >>> import tempfile, hotalign
    >>> from hotalign.cache import PairCache, pair_backend
    >>> from hotalign.grid import pair_backend as route
    >>> X, Y, _ = hotalign.datasets.make_hierarchy(200, (8, 8), (8, 8, 8), random_state=0)
    >>> cache = PairCache(tempfile.mkdtemp())
    >>> with route(pair_backend(cache)):
    ...     a = hotalign.HOT().fit(X, Y)
    ...     b = hotalign.HOT().fit(X, Y)  # every pair from the cache
    >>> cache.misses, cache.hits, a.distance_ == b.distance_
    (6, 6, True)
    """

    default_progress = progress

    def run(Zx, Zy, *, n_threads=None, keep_plans=True, a=None, b=None, max_iter=None,
            progress=None):
        from .grid import GridResult

        report = default_progress if progress is None else progress
        L, M = len(Zx), len(Zy)
        a = [None] * L if a is None else list(a)
        b = [None] * M if b is None else list(b)
        xk, yk = [content_key(Z) for Z in Zx], [content_key(Z) for Z in Zy]
        ak = [None if w is None else content_key(w) for w in a]
        bk = [None if w is None else content_key(w) for w in b]
        plans = [[None] * M for _ in range(L)]
        missing = {}  # key -> the pairs (l, m) it solves (identical layers share one solve)
        for l in range(L):
            for m in range(M):
                key = cache.key(xk[l], yk[m], ak[l], bk[m], max_iter)
                if key not in missing:
                    plans[l][m] = cache.load(key, (Zx[l].shape[1], Zy[m].shape[1]))
                if plans[l][m] is None:
                    missing.setdefault(key, []).append((l, m))
        n_missing = sum(len(pairs) for pairs in missing.values())
        cache.hits += L * M - n_missing
        cache.misses += n_missing
        done = L * M - n_missing

        def count(n_more):  # progress on the calling thread
            if report is not None:
                report(done + n_more, L * M)

        def solved(key, plan):
            nonlocal done
            for l, m in missing[key]:
                plans[l][m] = plan
            done += len(missing[key])
            count(0)

        count(0)
        if inner is None:
            _solve_on_threads(cache, Zx, Zy, a, b, missing, solved, n_threads, max_iter)
        else:
            _solve_by_rows(inner, cache, Zx, Zy, a, b, missing, solved, count, n_threads,
                           max_iter)
        return GridResult(
            costs=np.array([[p.cost for p in row] for row in plans], dtype=np.float64),
            plans=plans if keep_plans else None,
            statuses=np.array([[p.status for p in row] for row in plans]),
            n_iter=np.array([[p.n_iter for p in row] for row in plans], dtype=np.int64),
        )

    return run


def _solve_on_threads(cache, Zx, Zy, a, b, missing, solved, n_threads, max_iter):
    """The missing pairs on a pool of ``n_threads`` threads, one local 1 x 1 grid each; every
    pair is stored by its thread as soon as it is solved."""
    from ._blas import single_threaded_blas
    from .grid import default_threads, solve_pairs

    if not missing:
        return

    def solve(key):
        l, m = missing[key][0]
        plan = solve_pairs([Zx[l]], [Zy[m]], n_threads=1, keep_plans=True, a=[a[l]], b=[b[m]],
                           max_iter=max_iter).plans[0][0]
        cache.store(key, plan)
        return key, plan

    workers = min(default_threads() if n_threads is None else n_threads, len(missing))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="hotalign-pair")
    # One BLAS limit around the whole pool, so the per-pair limits nested in it stay at one.
    with single_threaded_blas():
        try:
            for future in as_completed([pool.submit(solve, key) for key in missing]):
                solved(*future.result())
        finally:  # Ctrl-C or an error: drop the queued pairs, let the running ones finish
            pool.shutdown(wait=True, cancel_futures=True)


def _solve_by_rows(inner, cache, Zx, Zy, a, b, missing, solved, count, n_threads, max_iter):
    """The missing pairs through the backend ``inner``: one call per layer of Zx with missing
    pairs (its layer is sent once per call), its pairs stored when the call returns."""
    rows = {}
    for key, ((l, m), *_) in missing.items():
        rows.setdefault(l, []).append((m, key))
    for l, cols in rows.items():
        grid = inner([Zx[l]], [Zy[m] for m, _ in cols], n_threads=n_threads, keep_plans=True,
                     a=[a[l]], b=[b[m] for m, _ in cols], max_iter=max_iter,
                     progress=lambda k, _total: count(k))
        for (_, key), plan in zip(cols, grid.plans[0]):
            cache.store(key, plan)
            solved(key, plan)


def cached(estimator, cache: FitCache):
    """A copy of ``estimator`` whose ``fit`` goes through ``cache``.

    The copy is an instance of a subclass of the estimator's class (made for this cache), so it
    is a real ``HOT``: ``fit`` returns ``self``, fitted from the cache when an entry exists, else
    fitted and stored; clones made with ``type(est)(**est.get_params())`` (as
    :func:`hotalign.evaluate` does to switch ``rotation``) share the cache. Pass it as
    ``estimator=`` to :func:`hotalign.evaluate` to make an evaluation resumable.

    Examples
    --------
    >>> import tempfile, hotalign
    >>> from hotalign.cache import FitCache, cached
    >>> X, Y, _ = hotalign.datasets.make_hierarchy(200, (8, 8), (8, 8), random_state=0)
    >>> est = cached(hotalign.HOT(), FitCache(tempfile.mkdtemp()))
    >>> a = hotalign.evaluate(X, Y, n_splits=2, estimator=est)
    >>> b = hotalign.evaluate(X, Y, n_splits=2, estimator=est)  # both fits from the cache
    >>> est.fit_cache.hits, a.mean() == b.mean()
    (2, True)
    """
    base = getattr(type(estimator), "_cache_base", type(estimator))
    _fit_validator(estimator, None, None)  # a supported estimator
    cls = type(base.__name__, (base,), {
        "__module__": base.__module__,
        "__qualname__": base.__qualname__,
        "__doc__": base.__doc__,
        "_cache_base": base,
        "fit_cache": cache,
        "fit": _cached_fit,
    })
    return cls(**estimator.get_params())


def _cached_fit(self, X, Y):
    cache = self.fit_cache
    base = self._cache_base
    X, Y = list(X), list(Y)
    key = cache.key(self, X, Y)
    for name in base.FITTED_ATTRIBUTES:  # never keep a previous fit's state
        self.__dict__.pop(name, None)
    state = cache.load_state(key, _fit_validator(self, X, Y))
    if state is not None:
        cache.hits += 1
        vars(self).update(state)
        return self
    cache.misses += 1
    base.fit(self, X, Y)
    cache.store(key, self)
    return self


def _fit_validator(estimator, X, Y):
    """The check of a stored fit of ``estimator`` on ``X, Y``; TypeError for an estimator the
    fit cache does not support."""
    from .estimator import HOT

    if not isinstance(estimator, HOT):
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

    def plan(p, l, m):
        if not isinstance(p, TransportResult) or p.shape != (wx[l], wy[m]):
            _fail(f"unit_plans_[{l}][{m}] does not match the layers")

    _nested(state["unit_plans_"], "unit_plans_", L, M, plan)
    _array(state["layer_costs_"], "layer_costs_", np.float64, (L, M))
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
    rotation = ("rotations_", "objective_traces_", "reconstruction_errors_", "n_rounds_")
    if not est.rotation:
        if any(state[name] is not None for name in rotation):
            _fail("rotation results in a fit without rotation")
        return
    _nested(state["rotations_"], "rotations_", L, M,
            lambda R, l, m: _array(R, f"rotations_[{l}][{m}]", np.float64, (wx[l], wx[l])))
    _nested(state["objective_traces_"], "objective_traces_", L, M,
            lambda t, l, m: _array(t, f"objective_traces_[{l}][{m}]", np.float64, (None,)))
    _array(state["reconstruction_errors_"], "reconstruction_errors_", np.float64, (L, M))
    _array(state["n_rounds_"], "n_rounds_", np.int64, (L, M))


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


def _registered():
    """The allow-list: tag -> (class, fields(obj), validating constructor(fields))."""
    from .costs import ZScore
    from .results import TransportResult

    return {
        "TransportResult": (TransportResult, lambda obj: _TR_FIELDS, _build_transport_result),
        "ZScore": (ZScore, _zscore_fields, _build_zscore),
    }


def _encode(obj, arrays, refer=None):
    """The JSON node of ``obj``; arrays are appended to ``arrays``. ``refer(obj)`` may name a
    pair entry to store instead of a registered object (a reference node)."""
    if refer is not None and not isinstance(obj, (np.ndarray, np.generic, list, tuple, dict)):
        key = refer(obj)
        if key is not None:
            return {"t": "r", "k": key}
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
        plan = resolve(node.get("k"))  # validates the key and the entry
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
