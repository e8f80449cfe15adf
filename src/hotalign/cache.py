"""A resumable on-disk cache of fitted estimators, one entry per train/test split.

Design
------
The unit of caching is one *fit*: the estimator's fitted state (unit plans of every layer pair,
layer costs C, layer plan P, z-scoring statistics, rotations for HOT+R, ...) after ``fit(X, Y)``
on the training rows of one split. :func:`hotalign.evaluate` fits once per split, so a resumed run
recomputes only the splits whose entry is missing (at most the one that was running when the
run stopped) and scores all splits from the cached fits; scoring is cheap next to fitting.

Keys. An entry's key is the SHA-256 of

- a format tag and ``hotalign.__version__`` (a new version never reuses an old result);
- the estimator's class and every parameter that can change a result (all of ``get_params()``
  except ``n_threads``: results do not depend on the number of threads);
- the *content* of the training rows handed to ``fit``: dtype, shape and bytes of every layer of
  X and of Y, in order.

Because the key hashes the data actually fitted, a different input file, layer selection, split,
seed or test size gives a different key; a stale hit would need a SHA-256 collision.

Atomicity. An entry is a ``.npz`` (no pickles: arrays plus a JSON description of the fitted
attributes) written to a temporary file in the same folder, flushed, fsync'ed and moved into
place with ``os.replace``, which is atomic on POSIX and Windows. A run killed at any moment leaves
either no entry or a complete one (stray ``*.tmp`` files are ignored and swept). An entry that
still fails to load (e.g. disk damage) counts as a miss and is rewritten. Each entry also records
its own key, checked on load.
"""

from __future__ import annotations

import hashlib
import importlib
import io as _io
import json
import os
import zipfile
from dataclasses import fields, is_dataclass
from pathlib import Path

import numpy as np

__all__ = ["FitCache", "cached"]

_FORMAT = "hotalign-fit-cache-1"
#: Parameters that never change a result (left out of the key).
RESULT_NEUTRAL_PARAMS = frozenset({"n_threads"})


def _version():
    from . import __version__

    return __version__


def _clone(estimator):
    cls = getattr(type(estimator), "_cache_base", type(estimator))
    return cls(**estimator.get_params())


class FitCache:
    """Fitted estimators stored under ``directory``, keyed by inputs, parameters and version.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder of the entries (created on first write).
    read : bool
        Look entries up (``--resume``); when False entries are only written.
    """

    def __init__(self, directory, read=True):
        self.directory = Path(directory)
        self.read = read
        self.hits = 0
        self.misses = 0

    def key(self, estimator, X, Y) -> str:
        """The entry key of ``estimator.fit(X, Y)`` (see the module notes)."""
        h = hashlib.sha256()
        cls = getattr(type(estimator), "_cache_base", type(estimator))
        h.update(f"{_FORMAT}|{_version()}|{cls.__module__}.{cls.__qualname__}|".encode())
        params = {k: repr(v) for k, v in estimator.get_params().items()
                  if k not in RESULT_NEUTRAL_PARAMS}
        h.update(json.dumps(params, sort_keys=True).encode())
        for tag, layers in (("X", X), ("Y", Y)):
            h.update(f"|{tag}|{len(layers)}".encode())
            for A in layers:
                A = np.ascontiguousarray(A)
                h.update(f"|{A.dtype.str}|{A.shape}|".encode())
                h.update(A.data)
        return h.hexdigest()

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def load(self, key, template):
        """A fitted copy of ``template`` from the entry ``key``, or None."""
        state = self.load_state(key)
        if state is None:
            return None
        model = _clone(template)
        vars(model).update(state)
        return model

    def load_state(self, key):
        """The fitted attributes stored under ``key`` (a dict), or None."""
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
            return None  # unreadable entry: a miss, rewritten by store()
        return state

    def store(self, key, model) -> bool:
        """Write the fitted state of ``model`` under ``key`` atomically; False if it has an
        attribute this format cannot hold (then nothing is written)."""
        params = set(model.get_params())
        arrays = []
        try:
            state = {k: _encode(v, arrays) for k, v in vars(model).items() if k not in params}
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
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(buf.getbuffer())
                f.flush()
                os.fsync(f.fileno())
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
