"""Many exact solves at once: the L x M grid of layer pairs (level 1 of HOT).

Every pair (l, m) needs the correlation-distance cost between the units of layer l of one system
and layer m of the other, and an exact transport solve on it. Each layer is standardised once
(:mod:`hotalign.systems`), not once per pair; the pairs then run on the pair engine
(:mod:`hotalign.engine`): each pair's cost tile is built, solved and freed on a worker thread,
with the GIL released inside the GEMM and the solver, so no L x M collection of dense costs or
plans is ever held. BLAS is limited to one thread while the pool runs (threadpoolctl), so the
pool and BLAS never oversubscribe the cores. Results do not depend on the number of threads.

:func:`solve_systems` is the one level-1 sequence of the package: standardised systems in, every
pair solved (through a pair cache when given, block by block under a memory budget, plain or
HOT+R), plans mapped back to the original unit indices. :func:`solve_grid`, ``HOT.fit``,
``TrajectoryHOT.fit`` and :func:`hotalign.evaluate` all go through it.
"""

from __future__ import annotations

import numpy as np

from ._validation import (
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_layers,
    check_n_threads,
    check_same_stimuli,
    resolve_threads,
)
from .costs import as_float_dtype
from .engine import current_progress, solve_pairs
from .kinds import pair_kind
from .results import GridResult
from .systems import layer_marginals, standardize_system, to_original_units

__all__ = ["solve_grid", "solve_systems"]


def default_threads() -> int:
    """Number of worker threads: the CPUs this process may use
    (:func:`hotalign._validation.resolve_threads` of None)."""
    return resolve_threads(None)


def solve_grid(X, Y, *, a=None, b=None, n_threads=None, dtype=np.float64, keep_plans=True,
               constant_units="exclude", max_iter=None, progress=None):
    """Correlation-distance transport between every layer of X and every layer of Y.

    Parameters
    ----------
    X : list of array_like, shapes (T, n_l), l = 0..L-1
        Layers of the first system (stimuli x units).
    Y : list of array_like, shapes (T, n_m), m = 0..M-1
        Layers of the second system, same stimuli in the same row order.
    a, b : list of (array_like or None), optional
        Unit marginals of each layer of X (shape (n_l,)) and of Y (shape (n_m,)), each with
        total 1 (None or omitted: uniform).
    n_threads : int, optional
        Worker threads (>= 1; default all available CPUs).
    dtype : float32 or float64
        Precision of the standardised layers and cost tiles (solves run in double).
    keep_plans : bool
        Keep each pair's sparse plan (at most n_l + n_m - 1 cells).
    constant_units : {"exclude", "cost_one", "raise"}
        Units constant over the T rows have no correlation: ``"exclude"`` leaves them out of
        the transport (their plan rows/columns are empty; a given marginal is restricted to the
        other units and renormalised), ``"cost_one"`` gives them cost 1 against every unit,
        ``"raise"`` refuses them. Either way no cost is ever NaN.
    max_iter : int, optional
        Network simplex pivot limit per pair; a pair that reaches it raises
        :class:`~hotalign.transport.MaxIterError` (its feasible plan in ``err.result``).
    progress : callable, optional
        ``progress(n_done, n_total)`` after each pair.

    Returns
    -------
    GridResult
        ``costs`` (L, M), ``plans[l][m]`` (TransportResult over the original unit indices),
        ``statuses``, ``n_iter``.

    Notes
    -----
    Units are standardised with all T rows. The estimator :class:`hotalign.HOT` adds
    train/test splits, the layer plan and reconstruction.

    Examples
    --------
    >>> import hotalign
    >>> X, Y, _ = hotalign.datasets.make_hierarchy(300, (16, 16), (16, 16, 16))
    >>> hotalign.solve_grid(X, Y).costs.shape
    (2, 3)
    """
    X = check_layers(X, "X", check_finite=False)  # the statistics pass finds NaN/inf
    Y = check_layers(Y, "Y", check_finite=False)
    check_same_stimuli(X[0].shape[0], Y[0].shape[0], what="rows")
    dtype = as_float_dtype(dtype)
    n_threads = check_n_threads(n_threads)
    max_iter = check_int(max_iter, "max_iter", minimum=1, maximum=2**63 - 1, allow_none=True)
    keep_plans = check_bool(keep_plans, "keep_plans")
    progress = check_callable(progress, "progress")
    policy = check_choice(constant_units, "constant_units", ("exclude", "cost_one", "raise"))
    a = layer_marginals(a, X, "a")
    b = layer_marginals(b, Y, "b")
    Sx = standardize_system(X, "X", policy=policy, dtype=dtype, marginals=a)
    Sy = standardize_system(Y, "Y", policy=policy, dtype=dtype, marginals=b)
    return solve_systems(Sx, Sy, n_threads=n_threads, keep_plans=keep_plans, max_iter=max_iter,
                         progress=progress)


def solve_systems(Sx, Sy, *, pairs=None, n_threads=None, keep_plans=True, max_iter=None,
                  rotation=None, max_layers_in_memory=None, cache=None, progress=None,
                  backend=None, out=None, kind=None) -> GridResult:
    """Level 1 of HOT: every layer pair of two standardised systems, solved exactly.

    Parameters
    ----------
    Sx, Sy : StandardizedSystem
        From :func:`hotalign.systems.standardize_system`.
    pairs : collection of (l, m), optional
        Solve only these pairs (default: all); the others stay unsolved in the result (cost
        NaN, status ``"unsolved"``, plan None).
    n_threads : int, optional
        Local worker threads (default: all available CPUs).
    keep_plans : bool
        Keep each pair's sparse plan.
    max_iter : int, optional
        Network simplex pivot limit per pair (:class:`~hotalign.transport.MaxIterError`).
    rotation : hotalign.kinds.Rotation, optional
        Solve HOT+R pairs (float64 systems, uniform marginals); the same as ``kind=rotation``.
    max_layers_in_memory : int, optional
        Hold at most this many standardised layers at once (>= 2): X is taken in blocks of
        half of them, Y in blocks of the rest, and a system built with ``hold=False``
        standardises a layer when its block needs it. Every pair is solved by the same code on
        the same inputs as in one grid, so results are identical.
    cache : hotalign.cache.PairCache, optional
        Pairs found there are loaded; only the others are solved, and each is stored as soon as
        it is finished. Identical pairs (same standardised layers and marginals) are solved
        once.
    progress : callable, optional
        ``progress(n_done, n_total)`` over all pairs (cache hits count as done).
    backend : optional
        The pair engine's backend (see :func:`hotalign.engine.solve_pairs`).
    out : GridResult, optional
        A result to fill in (e.g. one with some pairs solved already); default a new one.
    kind : hotalign.kinds.PairKind, optional
        What each pair computes (default plain HOT pairs).

    Returns
    -------
    GridResult
        ``costs`` (L, M); ``plans[l][m]`` over the original unit indices (excluded constant
        units carry no mass and NaN potentials); ``rotations[l][m]`` for HOT+R (over the kept
        units).
    """
    L, M = len(Sx), len(Sy)
    kind = pair_kind(kind, rotation)
    if out is None:
        out = GridResult.empty(L, M, keep_plans=keep_plans, rotation=kind.keeps_results)
    wanted = None if pairs is None else {(int(l), int(m)) for l, m in pairs}
    n_total = L * M if wanted is None else len(wanted)
    progress = current_progress(progress)
    n_done = 0

    def record(l, m, result):
        nonlocal n_done
        out.set(l, m, result)
        if out.plans is not None:
            out.plans[l][m] = to_original_units(out.plans[l][m], Sx.kept[l], Sy.kept[m],
                                                Sx.widths[l], Sy.widths[m])
        n_done += 1
        if progress is not None:
            progress(n_done, n_total)

    for rows, cols in _blocks(L, M, max_layers_in_memory):
        todo = [(i, j) for i in range(len(rows)) for j in range(len(cols))
                if wanted is None or (rows[i], cols[j]) in wanted]
        if not todo:
            continue
        Zx, Zy = Sx.layers(rows), Sy.layers(cols)
        a = None if Sx.marginals is None else [Sx.marginal(l) for l in rows]
        b = None if Sy.marginals is None else [Sy.marginal(m) for m in cols]
        on_pair = lambda i, j, r: record(rows[i], cols[j], r)  # noqa: E731
        if cache is not None:
            todo, on_pair = cache.plan_block(
                [Sx.content_key(l, Z) for l, Z in zip(rows, Zx)],
                [Sy.content_key(m, Z) for m, Z in zip(cols, Zy)],
                a, b, [Z.shape[1] for Z in Zx], [Z.shape[1] for Z in Zy], max_iter, kind,
                on_pair, todo)
        if todo:
            solve_pairs(Zx, Zy, pairs=todo, on_pair=on_pair, backend=backend,
                        n_threads=resolve_threads(n_threads),
                        keep_plans=keep_plans or cache is not None, a=a, b=b,
                        max_iter=max_iter, kind=kind)
        del Zx, Zy
    return out


def _blocks(L, M, budget):
    """(rows, cols) blocks of the grid holding at most ``budget`` layers at once (None: one)."""
    if budget is None or budget >= L + M:
        return [(list(range(L)), list(range(M)))]
    bx = max(1, min(L, budget // 2))
    by = max(1, budget - bx)
    return [(list(range(l0, min(L, l0 + bx))), list(range(m0, min(M, m0 + by))))
            for l0 in range(0, L, bx) for m0 in range(0, M, by)]
