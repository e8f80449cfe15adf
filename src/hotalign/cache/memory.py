"""The caches a fit uses: whole fits (:class:`FitCache`), layer pairs (:class:`PairCache`),
and the :class:`Memory` that holds both."""

from __future__ import annotations

import os
import re
import threading
import weakref
from pathlib import Path

from .._digest import content_key
from ..kinds import PLAIN, Rotation, pair_kind
from ..results import PairRotation, TransportResult
from .codec import _fail
from .keys import fit_key, pair_key
from .store import _Entries

__all__ = ["FitCache", "Memory", "PairCache", "as_memory"]


def _clone(estimator):
    return type(estimator)(**estimator.get_params())


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
        return fit_key(estimator, X, Y)

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
        plan, ref = (result.plan, {"k": key, "p": "plan"}) if isinstance(
            result, PairRotation) else (result, {"k": key})
        with self._keys_lock:
            self._keys[plan] = ref

    def key_of(self, plan):
        """The reference (``{"k": key}``, plus ``"p": "plan"`` for the plan of a HOT+R entry)
        to the entry this cache loaded ``plan`` from or stored it under (the same object, still
        on disk), else None."""
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
        return pair_key(x_key, y_key, a_key, b_key, max_iter, kind)

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
        self.pairs.link_ok = False  # DIR/pairs: a planted link must not send entries elsewhere
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
            estimator, "check_fitted_state"):
        raise TypeError(f"the fit cache supports HOT estimators, got {type(estimator).__name__}")
    return lambda state: estimator.check_fitted_state(state, X, Y)
