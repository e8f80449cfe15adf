"""Pair kinds: what one layer pair of a grid computes, as an object.

A *pair kind* is everything that differs between a plain HOT pair and a HOT+R pair (and would
differ for a third kind: another unit cost, a learned shift). The pair engine
(:func:`hotalign.engine.solve_pairs`), the grid, the pair cache, the lazy grid and the estimator
call the kind instead of branching on a flag. A kind owns:

- how its pairs run on this machine (:meth:`PairKind.run_local`; a Dask worker runs the same
  method on a one-pair grid, so results never depend on the backend);
- its result type (what ``on_pair`` receives and the pair cache stores) and the transport plan
  inside it (:meth:`PairKind.plan_of`);
- its cache tag (part of every pair key; :meth:`PairKind.cache_tag`);
- its lazy bound (:meth:`PairKind.lazy_bounds`);
- the fitted attributes it adds to :class:`hotalign.HOT` (:meth:`PairKind.fitted`) and their
  check in a stored fit (:meth:`PairKind.check_fitted_state`).

:data:`PLAIN` (:class:`Plain`) is the default; :class:`Rotation` carries HOT+R's options. A new
kind is a class with the members of :class:`PairKind`, passed as ``kind=`` to the engine or the
grid: no engine code changes.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from . import _core
from ._blas import gemm_pointers, single_threaded_blas
from .results import PairCost, PairRotation, TransportResult, result_from_core

__all__ = ["PLAIN", "PairKind", "Plain", "Rotation", "pair_kind"]

#: The fitted attributes HOT+R adds to :class:`hotalign.HOT` (None for other kinds).
ROTATION_ATTRIBUTES = ("rotations_", "objective_traces_", "reconstruction_errors_", "n_rounds_")


class PairKind(Protocol):
    """What a pair kind provides (see the module notes).

    Besides the methods below, a kind has four class attributes: ``result_type`` (the type of
    one solved pair's result when plans are kept), ``dtype`` (the precision the kind forces on
    the standardised layers, or None for the caller's), ``keeps_results`` (whether a grid keeps
    each pair's whole result in ``GridResult.rotations``) and ``budgeted`` (whether the kind
    runs under a memory budget, layers standardised block by block).
    """

    result_type: type
    dtype: object
    keeps_results: bool
    budgeted: bool

    def check_marginals(self, a, b) -> None:
        """Raise ValueError for marginals the kind cannot use."""

    def run_local(self, Zx, Zy, todo: Sequence[tuple[int, int]], finished: Callable, *,
                  n_threads: int, keep_plans: bool, a, b, max_iter) -> None:
        """Solve the pairs ``todo`` on this machine; ``finished(l, m, result)`` on the calling
        thread for each."""

    def cache_tag(self) -> str:
        """The kind's part of a pair-cache key (its options included)."""

    def plan_of(self, result) -> TransportResult:
        """The transport plan inside one pair's result."""

    def lazy_bounds(self, Sx, Sy, costs, solve, *, rank, n_threads):
        """``(bounds, skipped)``: certified lower bounds of every layer cost of the kind."""

    def fitted(self, Sx, Sy, grid) -> dict:
        """The fitted attributes the kind adds to HOT, from a solved grid."""

    def check_fitted_state(self, state, L, M, widths_x, solved, *, array, nested, fail):
        """Check the kind's fitted attributes in a stored fit (``fail(msg)`` on a mismatch)."""


class Plain:
    """Plain HOT pairs: the correlation-distance tile solved exactly, on the C++ thread pool."""

    result_type = TransportResult
    dtype = None
    keeps_results = False
    budgeted = True

    def check_marginals(self, a, b):
        return None

    def run_local(self, Zx, Zy, todo, finished, *, n_threads, keep_plans, a, b, max_iter):
        L, M = len(Zx), len(Zy)
        dgemm, sgemm = gemm_pointers()
        f32 = Zx[0].dtype == np.float32
        flat = None if len(todo) == L * M else np.array([l * M + m for l, m in todo], np.int64)
        on_main = threading.current_thread() is threading.main_thread()
        job = _core.GridJob(list(Zx), list(Zy), list(a or []), list(b or []), int(n_threads),
                            bool(keep_plans), 0 if max_iter is None else int(max_iter),
                            sgemm if f32 else dgemm, flat, on_main)

        def deliver(items):
            for k, cost, status, n_iter, plan in items:
                l, m = todo[k]
                finished(l, m, _item(plan, cost, status, n_iter, Zx[l].shape[1], Zy[m].shape[1]))

        with single_threaded_blas():
            if not on_main:
                job.run()
            else:  # a helper thread runs the grid; this one delivers and takes Ctrl-C
                errors = []

                def target():
                    try:
                        job.run()
                    except BaseException as exc:  # re-raised on the calling thread below
                        errors.append(exc)

                worker = threading.Thread(target=target, name="hotalign-grid", daemon=True)
                worker.start()
                try:
                    while worker.is_alive():
                        worker.join(0.05)
                        deliver(job.take_finished())
                except BaseException:
                    job.cancel()
                    worker.join()
                    raise
                if errors:
                    raise errors[0]
                deliver(job.take_finished())
                return
        costs, statuses, n_iter, plans, _cancelled = job.result()
        for k, (l, m) in enumerate(todo):
            plan = plans[k] if plans is not None else None
            finished(l, m, _item(plan, costs[k], statuses[k], n_iter[k], Zx[l].shape[1],
                                 Zy[m].shape[1]))

    def cache_tag(self):
        return "plain"

    def plan_of(self, result):
        return result

    def lazy_bounds(self, Sx, Sy, costs, solve, *, rank, n_threads):
        from .lazy import probed_projection_bounds

        return probed_projection_bounds(Sx, Sy, costs, solve, rank=rank, n_threads=n_threads)

    def fitted(self, Sx, Sy, grid):
        return {}

    def check_fitted_state(self, state, L, M, widths_x, solved, *, array, nested, fail):
        if any(state[name] is not None for name in ROTATION_ATTRIBUTES):
            fail("rotation results in a fit without rotation")

    def __repr__(self):
        return "Plain()"


#: The default pair kind.
PLAIN = Plain()


@dataclass(frozen=True)
class Rotation:
    """The HOT+R pair kind: alternate exact transport and orthogonal Procrustes.

    Attributes
    ----------
    max_rounds : int
        At most this many rounds per pair (>= 1).
    tol : float
        Stop a pair when the relative decrease of J over a round is below ``tol``.
    warm_start : bool
        Warm-start each round's network simplex from the previous potentials.
    """

    max_rounds: int = 10
    tol: float = 1e-6
    warm_start: bool = True

    result_type = PairRotation
    dtype = np.dtype(np.float64)
    keeps_results = True
    budgeted = False

    def check_marginals(self, a, b):
        if a is not None or b is not None:
            raise ValueError("HOT+R pairs use uniform marginals: a and b must be None")

    def run_local(self, Zx, Zy, todo, finished, *, n_threads, keep_plans, a, b, max_iter):
        """The numba loop of :mod:`hotalign.rotation` on a thread pool (it releases the GIL)."""
        from .rotation import align_pair, layer_basis  # numba: imported only when used

        Zx = [np.ascontiguousarray(A, dtype=np.float64) for A in Zx]
        Zy = [np.ascontiguousarray(B, dtype=np.float64) for B in Zy]
        rows = sorted({l for l, _ in todo})
        with single_threaded_blas(), ThreadPoolExecutor(max(1, n_threads)) as pool:
            bases = dict(zip(rows, pool.map(lambda l: layer_basis(Zx[l]), rows)))
            futures = {pool.submit(align_pair, Zx[l], Zy[m], max_rounds=self.max_rounds,
                                   tol=self.tol, basis=bases[l],
                                   warm_start=self.warm_start): (l, m) for l, m in todo}
            try:
                for future in as_completed(futures):
                    l, m = futures[future]
                    finished(l, m, future.result())
            finally:  # Ctrl-C or an error: drop the queued pairs, let the running ones finish
                pool.shutdown(wait=True, cancel_futures=True)

    def cache_tag(self):
        return (f"rotation:{int(self.max_rounds)}:{float(self.tol)!r}:"
                f"{bool(self.warm_start)}")

    def plan_of(self, result):
        return result.plan

    def lazy_bounds(self, Sx, Sy, costs, solve, *, rank, n_threads):
        """The nuclear-norm bounds; the alternation dwarfs them, so no probe."""
        from .lazy import rotation_bounds

        return rotation_bounds(Sx, Sy, rank=rank, n_threads=n_threads), False

    def fitted(self, Sx, Sy, grid):
        pairs = grid.rotations  # None where a lazy fit did not solve the pair
        L, M = len(Sx), len(Sy)
        return {
            "rotations_": [[None if pairs[l][m] is None else
                            _embed_rotation(pairs[l][m].rotation, Sx.kept[l], Sx.widths[l])
                            for m in range(M)] for l in range(L)],
            "objective_traces_": [[None if p is None else p.objective for p in row]
                                  for row in pairs],
            "reconstruction_errors_": np.array(
                [[np.nan if p is None else p.reconstruction_error for p in row]
                 for row in pairs]),
            "n_rounds_": np.array([[0 if p is None else p.n_rounds for p in row]
                                   for row in pairs]),
        }

    def check_fitted_state(self, state, L, M, widths_x, solved, *, array, nested, fail):
        nested(state["rotations_"], "rotations_", L, M,
               lambda R, l, m: None if R is None and not solved[l, m] else
               array(R, f"rotations_[{l}][{m}]", np.float64, (widths_x[l], widths_x[l])))
        nested(state["objective_traces_"], "objective_traces_", L, M,
               lambda t, l, m: None if t is None and not solved[l, m] else
               array(t, f"objective_traces_[{l}][{m}]", np.float64, (None,)))
        array(state["reconstruction_errors_"], "reconstruction_errors_", np.float64, (L, M))
        array(state["n_rounds_"], "n_rounds_", np.int64, (L, M))


def pair_kind(kind=None, rotation=None):
    """The kind of a grid from ``kind=`` or the older ``rotation=`` (a :class:`Rotation`);
    :data:`PLAIN` when neither is given."""
    if kind is not None and rotation is not None:
        raise ValueError("give kind or rotation, not both")
    kind = rotation if kind is None else kind
    if kind is None:
        return PLAIN
    missing = [name for name in ("run_local", "cache_tag", "plan_of", "check_marginals")
               if not callable(getattr(kind, name, None))]
    if missing:
        raise ValueError(f"kind must be a pair kind (hotalign.kinds.PairKind), got "
                         f"{type(kind).__name__} without {', '.join(missing)}")
    return kind


def _item(plan, cost, status, n_iter, n, m):
    """The result of one plain pair from the core's output."""
    if plan is not None:
        return result_from_core(plan, (n, m))
    return PairCost(cost=float(cost), status=_core.STATUS_NAMES[int(status)],
                    n_iter=int(n_iter))


def _embed_rotation(R, kept, n):
    """An (n, n) rotation acting as R on the kept units and as the identity on the others."""
    if len(kept) == n:
        return R
    full = np.eye(n)
    full[np.ix_(kept, kept)] = R
    return full
