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

Keys. A fit's key is the SHA-256 of

- a format tag and ``hotalign.__version__`` (a new version never reuses an old result);
- the estimator's class and every parameter that can change a result (all of ``get_params()``
  except ``n_threads``: results do not depend on the number of threads);
- the *content* of the training rows handed to ``fit``: dtype, shape and bytes of every layer of
  X and of Y, in order.

A pair's key is the SHA-256 of a format tag, the version, the content keys (BLAKE2b of dtype,
shape and bytes) of the two *standardised* layers it solves, computed once per layer and grid,
those of its two unit marginals (or "uniform") and the pivot limit ``max_iter``. The
standardised layers already depend on the rows, the dtype and the constant-unit policy, so
these are all the inputs of a pair's solve.

Because keys hash the data actually solved, a different input file, layer selection, split,
seed, dtype or marginal gives a different key; a stale hit would need a hash collision.

Atomicity. An entry is a ``.npz`` (no pickles: arrays plus a JSON description of the stored
objects) written to a temporary file in the same folder and moved into place
with ``os.replace``, which is atomic on POSIX and Windows. A run killed at any moment (SIGINT or
SIGKILL) leaves either no entry or a complete one (stray ``*.tmp`` files are ignored and swept).
An entry that still fails to load (e.g. truncated by disk damage) counts as a miss and is
rewritten. Each entry also records its own key, checked on load.
"""

from __future__ import annotations

import hashlib
import importlib
import io as _io
import json
import os
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import fields, is_dataclass
from pathlib import Path

import numpy as np

__all__ = ["FitCache", "PairCache", "cached", "pair_backend"]

_FORMAT = "hotalign-fit-cache-1"
_PAIR_FORMAT = "hotalign-pair-cache-1"
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


class _Entries:
    """``<key>.npz`` entries under ``directory``: atomic writes; a damaged entry is a miss.

    ``read=False`` (a run without ``--resume``) only writes. ``hits`` and ``misses`` are counted
    by the subclasses.
    """

    def __init__(self, directory, read=True):
        self.directory = Path(directory)
        self.read = read
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def load_state(self, key):
        """The objects stored under ``key`` (a dict), or None."""
        if not self.read:
            return None
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
                meta = json.loads(bytes(npz["__meta__"]).decode())
                if meta.get("key") != key:
                    return None
                arrays = [npz[f"a{i}"] for i in range(meta["n_arrays"])]
            state = {k: _decode(v, arrays) for k, v in meta["state"].items()}
        except (OSError, ValueError, KeyError, TypeError, EOFError, ImportError, AttributeError,
                zipfile.BadZipFile):
            return None  # unreadable entry: a miss, rewritten by store_state()
        return state

    def store_state(self, key, state: dict) -> bool:
        """Write ``state`` under ``key`` atomically; False if it holds an object this format
        cannot (then nothing is written). Safe to call from several threads."""
        arrays = []
        try:
            state = {k: _encode(v, arrays) for k, v in state.items()}
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
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
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

    def sweep(self) -> int:
        """Remove temporary files left by killed runs; returns how many."""
        n = 0
        if self.directory.is_dir():
            for p in self.directory.glob(".*.tmp"):
                try:
                    p.unlink()
                    n += 1
                except OSError:  # pragma: no cover - raced with another process
                    pass
        return n

    def __len__(self):
        return len(list(self.directory.glob("*.npz"))) if self.directory.is_dir() else 0


class FitCache(_Entries):
    """Fitted estimators stored under ``directory``, keyed by inputs, parameters and version.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder of the entries (created on first write).
    read : bool
        Look entries up (``--resume``); when False entries are only written.
    """

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

    def load(self, key, template):
        """A fitted copy of ``template`` from the entry ``key``, or None."""
        state = self.load_state(key)
        if state is None:
            return None
        model = _clone(template)
        vars(model).update(state)
        return model

    def store(self, key, model) -> bool:
        """Write the fitted state of ``model`` under ``key`` atomically; False if it has an
        attribute this format cannot hold (then nothing is written)."""
        params = set(model.get_params())
        return self.store_state(key, {k: v for k, v in vars(model).items() if k not in params})


class PairCache(_Entries):
    """Solved layer pairs stored under ``directory``, keyed by the solve's inputs and version.

    Use it through :func:`pair_backend`. Parameters as for :class:`FitCache`; ``hits`` and
    ``misses`` count layer pairs.
    """

    def key(self, x_key, y_key, a_key=None, b_key=None, max_iter=None) -> str:
        """The entry key of one pair from the :func:`content_key` of its standardised layers
        and of its marginals (None: uniform), and its pivot limit (None or 0: none)."""
        parts = (_PAIR_FORMAT, _version(), x_key, y_key, a_key or "uniform", b_key or "uniform",
                 str(int(max_iter or 0)))
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def load(self, key):
        """The :class:`~hotalign.results.TransportResult` stored under ``key``, or None."""
        from .results import TransportResult

        plan = (self.load_state(key) or {}).get("plan")
        return plan if isinstance(plan, TransportResult) else None

    def store(self, key, plan) -> bool:
        return self.store_state(key, {"plan": plan})


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
                    plans[l][m] = cache.load(key)
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
    state = cache.load_state(key)
    if state is not None:
        cache.hits += 1
        vars(self).update(state)
        return self
    cache.misses += 1
    base.fit(self, X, Y)
    cache.store(key, self)
    return self


# -- a pickle-free encoding of fitted attributes ------------------------------------------------


def _encode(obj, arrays):
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
        return {"t": "l" if isinstance(obj, list) else "u", "v": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("dict with non-string keys")
        return {"t": "d", "v": {k: _encode(v, arrays) for k, v in obj.items()}}
    cls = type(obj)
    if cls.__module__.split(".")[0] == "hotalign":
        if is_dataclass(obj):
            state = {f.name: getattr(obj, f.name) for f in fields(obj)}
            kind = "dc"
        elif hasattr(obj, "__dict__"):
            state = vars(obj)
            kind = "o"
        else:
            raise TypeError(f"cannot encode {cls.__name__}")
        return {"t": kind, "c": f"{cls.__module__}:{cls.__qualname__}",
                "v": {k: _encode(v, arrays) for k, v in state.items()}}
    raise TypeError(f"cannot encode {cls.__name__}")


def _decode(node, arrays):
    t = node["t"]
    if t == "a":
        return arrays[node["i"]]
    if t == "s":
        return arrays[node["i"]][()]
    if t == "v":
        return node["v"]
    if t in ("l", "u"):
        out = [_decode(v, arrays) for v in node["v"]]
        return out if t == "l" else tuple(out)
    if t == "d":
        return {k: _decode(v, arrays) for k, v in node["v"].items()}
    if t in ("dc", "o"):
        module, qualname = node["c"].split(":")
        if module.split(".")[0] != "hotalign":
            raise TypeError(f"refusing to build {module}.{qualname}")
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        state = {k: _decode(v, arrays) for k, v in node["v"].items()}
        if t == "dc":
            return cls(**state)
        obj = cls.__new__(cls)
        vars(obj).update(state)
        return obj
    raise TypeError(f"unknown node type {t!r}")
