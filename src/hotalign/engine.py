"""The pair engine: every layer-pair computation of hotalign goes through :func:`solve_pairs`.

A *pair* is (l, m): layer l of one system against layer m of the other, both standardised (see
:mod:`hotalign.systems`). What a pair computes is its *kind* (:mod:`hotalign.kinds`): plain
pairs build the correlation-distance tile and solve it exactly; HOT+R pairs
(``kind=Rotation(...)``) run the alternation of :mod:`hotalign.rotation`. The engine never
looks inside a kind. Whatever runs them, one call:

- takes any subset of the L x M pairs (``pairs=``), so a cache can ask only for what it lacks
  and a memory budget can run a grid block by block;
- hands each pair to ``on_pair(l, m, result)`` on the calling thread as soon as it is finished,
  so a cache stores it at once and a killed run loses only the pairs in flight;
- runs on a *backend*: :class:`LocalBackend` (the kind's local runner: the C++ thread pool
  with the GIL released, or a thread pool over the numba loop for HOT+R) by default, or
  :class:`hotalign.distributed.DaskBackend` for a cluster. Pass ``backend=`` or set one for a
  block of code with :func:`use_backend`.

Results never depend on the backend or the number of threads: each pair is computed by the same
code on the same inputs.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Sequence

from ._validation import check_int, resolve_threads
from .kinds import Rotation, pair_kind
from .results import GridResult, raise_for_status

__all__ = ["LocalBackend", "fit_rotation_grid", "solve_pairs", "use_backend"]

_BACKEND = contextvars.ContextVar("hotalign_backend", default=None)
_PROGRESS = contextvars.ContextVar("hotalign_progress", default=None)


@contextlib.contextmanager
def use_backend(backend=None, *, progress=None):
    """Run every layer-pair grid of this context (thread or task) on ``backend`` (None: the
    local pools), and report ``progress(n_done, n_total)`` of each grid that has no progress
    callable of its own. Other threads keep theirs.

    Examples
    --------
    >>> import hotalign
    >>> from hotalign.engine import LocalBackend, use_backend
    >>> X, Y, _ = hotalign.datasets.make_hierarchy(200, (8, 8), (8, 8), random_state=0)
    >>> seen = []
    >>> with use_backend(LocalBackend(), progress=lambda done, total: seen.append(total)):
    ...     _ = hotalign.HOT().fit(X, Y)
    >>> seen[-1]
    4
    """
    tokens = _BACKEND.set(backend), _PROGRESS.set(progress)
    try:
        yield backend
    finally:
        _BACKEND.reset(tokens[0])
        _PROGRESS.reset(tokens[1])


def current_backend():
    """The backend :func:`solve_pairs` uses when none is passed."""
    return _BACKEND.get() or LocalBackend()


def current_progress(progress=None):
    """``progress``, or the one set by :func:`use_backend` when it is None."""
    return progress if progress is not None else _PROGRESS.get()


def solve_pairs(Zx, Zy, pairs=None, on_pair=None, backend=None, *, n_threads=None,
                keep_plans=True, a=None, b=None, max_iter=None, rotation=None,
                progress=None, kind=None) -> GridResult:
    """Solve layer pairs of two standardised systems.

    Parameters
    ----------
    Zx, Zy : list of ndarray, shapes (T, n_l) and (T, n_m)
        Standardised layers (centred unit-norm columns, e.g. from :mod:`hotalign.systems`),
        C-contiguous, all float32 or all float64 (HOT+R: float64).
    pairs : sequence of (l, m), optional
        The pairs to solve (default: all L x M). Cells not asked for stay unsolved in the
        result (cost NaN, status ``"unsolved"``, plan None).
    on_pair : callable, optional
        ``on_pair(l, m, result)`` on the calling thread as each pair finishes; ``result`` is a
        :class:`~hotalign.results.TransportResult` (plain, ``keep_plans``), a
        :class:`~hotalign.results.PairRotation` (HOT+R) or a
        :class:`~hotalign.results.PairCost` (plain, ``keep_plans=False``).
    backend : LocalBackend or DaskBackend, optional
        Where the pairs run (default: the one set by :func:`use_backend`, else local).
    n_threads : int, optional
        Local worker threads (default: all available CPUs).
    keep_plans : bool
        Keep every pair's sparse plan in the result.
    a, b : list of (ndarray or None), optional
        Unit marginals per layer (None: uniform). Plain pairs only.
    max_iter : int, optional
        Network simplex pivot limit per pair; a pair that reaches it raises
        :class:`~hotalign.transport.MaxIterError`.
    rotation : hotalign.kinds.Rotation, optional
        Solve HOT+R pairs instead of plain ones (the same as ``kind=rotation``).
    progress : callable, optional
        ``progress(n_done, n_total)`` on the calling thread while the pairs run.
    kind : hotalign.kinds.PairKind, optional
        What each pair computes (default :data:`hotalign.kinds.PLAIN`).

    Returns
    -------
    GridResult
        ``costs`` (L, M), ``statuses``, ``n_iter``, ``plans[l][m]`` and, for HOT+R,
        ``rotations[l][m]`` (:class:`~hotalign.results.PairRotation`).
    """
    L, M = len(Zx), len(Zy)
    max_iter = check_int(max_iter, "max_iter", minimum=1, maximum=2**63 - 1, allow_none=True)
    todo = _pair_list(pairs, L, M)
    kind = pair_kind(kind, rotation)
    kind.check_marginals(a, b)
    backend = backend if backend is not None else current_backend()
    grid = GridResult.empty(L, M, keep_plans=keep_plans, rotation=kind.keeps_results)
    n_total, n_done = len(todo), 0

    def finished(l, m, result):
        nonlocal n_done
        raise_for_status(result, max_iter, f"layer pair ({l}, {m})")
        grid.set(l, m, result)
        n_done += 1
        if on_pair is not None:
            on_pair(l, m, result)
        if progress is not None:
            progress(n_done, n_total)

    if todo:
        backend.run(Zx, Zy, todo, finished, n_threads=resolve_threads(n_threads),
                    keep_plans=keep_plans, a=a, b=b, max_iter=max_iter, kind=kind)
    return grid


def _pair_list(pairs, L, M) -> list[tuple[int, int]]:
    if pairs is None:
        return [(l, m) for l in range(L) for m in range(M)]
    out = []
    for p in pairs:
        l, m = (int(v) for v in p)
        if not (0 <= l < L and 0 <= m < M):
            raise ValueError(f"pairs: ({l}, {m}) is outside the {L} x {M} grid")
        out.append((l, m))
    return out


class LocalBackend:
    """This machine: each pair kind's local runner (plain pairs on the C++ thread pool with the
    GIL released, HOT+R pairs on a pool of threads running the numba loop). BLAS is limited to
    one thread meanwhile, so the pool and BLAS never oversubscribe the cores.

    Called from the main thread, the C++ grid runs in a helper thread while the main thread
    polls it in short intervals, so Ctrl-C (KeyboardInterrupt) cancels the remaining pairs and
    returns within about the time of the pairs already running, and finished pairs reach
    ``on_pair`` as they finish. From any other thread (which never receives signals) the grid
    runs in that thread.
    """

    def run(self, Zx, Zy, todo: Sequence[tuple[int, int]], finished: Callable, *, n_threads,
            keep_plans, a, b, max_iter, kind):
        kind.run_local(Zx, Zy, todo, finished, n_threads=n_threads, keep_plans=keep_plans,
                       a=a, b=b, max_iter=max_iter)


def fit_rotation_grid(Zx, Zy, *, max_rounds=10, tol=1e-6, n_threads=1, warm_start=True):
    """HOT+R for every layer pair, on the pair engine's local pool.

    Parameters
    ----------
    Zx, Zy : list of ndarray, shapes (T, n_l) and (T, n_m)
        Standardised layers (float64, centred unit-norm columns on the training rows).
    max_rounds, tol, warm_start
        As in :func:`hotalign.rotation.align_pair`.
    n_threads : int
        Worker threads; the numba loop releases the GIL.

    Returns
    -------
    list of list of PairRotation
        ``out[l][m]``. Results do not depend on ``n_threads``.
    """
    grid = solve_pairs(Zx, Zy, backend=LocalBackend(), n_threads=n_threads,
                       kind=Rotation(int(max_rounds), float(tol), bool(warm_start)))
    return grid.rotations
