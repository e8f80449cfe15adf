"""The layer-pair grid on a Dask cluster (optional: ``pip install 'hotalign[distributed]'``).

Each standardised layer is sent to the cluster once with ``Client.scatter``; every layer pair
(l, m) is one task that receives the two scattered layers by reference, builds the cost tile and
solves it on the worker (the same C++ kernels as the local thread pool, so the results are
identical), and returns only the pair's cost and sparse plan (at most n_l + n_m - 1 cells).
Workers fetch a layer from the scheduler-assigned holder the first time one of their tasks needs
it and keep it for the rest of the grid, so no layer crosses the network once per pair.

Use :func:`solve_grid` directly, or :func:`grid_backend` to route the grid inside every
:class:`hotalign.HOT` fit (and so :func:`hotalign.evaluate`) through a cluster::

    with hotalign.distributed.grid_backend("local"):          # a LocalCluster
        ev = hotalign.evaluate(X, Y)
    with hotalign.distributed.grid_backend("tcp://host:8786"):  # an existing scheduler
        hot = hotalign.HOT().fit(X, Y)
"""

from __future__ import annotations

import contextlib

import numpy as np

from . import grid as _grid
from .grid import GridResult

__all__ = ["SchedulerUnreachable", "connect", "grid_backend", "solve_grid",
           "solve_pairs_dask"]



def _solve_one(zx, zy, a, b, keep_plans, max_iter):
    """One layer pair on a worker: the 1 x 1 grid of the local solver."""
    res = _grid.solve_pairs([zx], [zy], n_threads=1, keep_plans=keep_plans,
                            a=None if a is None else [a], b=None if b is None else [b],
                            max_iter=max_iter)
    plan = res.plans[0][0] if keep_plans else None
    return float(res.costs[0, 0]), str(res.statuses[0, 0]), int(res.n_iter[0, 0]), plan


#: Seconds to wait for a scheduler at an address before giving up.
CONNECT_TIMEOUT = 5.0


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler answered at the address given (the message names it)."""


def connect(scheduler="local", n_workers=None, *, timeout=CONNECT_TIMEOUT):
    """A ``(client, cluster)`` for ``scheduler``: ``"local"`` starts a
    ``dask.distributed.LocalCluster`` of ``n_workers`` single-threaded worker processes
    (default: the CPUs available), anything else is a scheduler address. ``cluster`` is None
    for an address; close both when done (or use :func:`grid_backend`).

    A malformed address raises ValueError; a scheduler that does not answer within
    ``timeout`` seconds (or answers with something other than Dask's protocol) raises
    :class:`SchedulerUnreachable`. Both name the address.
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - optional dependency
        raise ImportError("the Dask backend needs dask.distributed: "
                          "pip install 'hotalign[distributed]'") from None
    if scheduler == "local":
        n = _grid.default_threads() if n_workers is None else int(n_workers)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address="127.0.0.1:0", host="127.0.0.1")
        return Client(cluster), cluster
    if not isinstance(scheduler, str):
        raise ValueError(f"scheduler must be 'local' or an address string such as "
                         f"'tcp://host:8786', got {type(scheduler).__name__}")
    try:
        return Client(scheduler, timeout=timeout), None
    except ValueError as exc:  # malformed address: dask says why
        raise ValueError(f"scheduler address {scheduler!r} is malformed: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - timeouts, refusals, a non-Dask peer
        raise SchedulerUnreachable(
            f"no Dask scheduler answered at {scheduler!r} within {timeout:g} s "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None


def solve_pairs_dask(Zx, Zy, client, *, keep_plans=True, a=None, b=None, max_iter=None,
                     progress=None, n_threads=None) -> GridResult:
    """:func:`hotalign.grid.solve_pairs` on a Dask cluster: one task per layer pair.

    Parameters are those of ``solve_pairs`` plus ``client`` (a ``dask.distributed.Client``);
    ``n_threads`` is ignored (each task is single-threaded; parallelism comes from workers).
    """
    from dask.distributed import as_completed

    L, M = len(Zx), len(Zy)
    fx = client.scatter(list(Zx), hash=False)
    fy = client.scatter(list(Zy), hash=False)
    futures = {}
    for l in range(L):
        for m in range(M):
            fut = client.submit(_solve_one, fx[l], fy[m], None if a is None else a[l],
                                None if b is None else b[m], keep_plans, max_iter, pure=False)
            futures[(l, m)] = fut
    where = {fut.key: lm for lm, fut in futures.items()}
    costs = np.empty((L, M))
    statuses = np.empty((L, M), dtype=object)
    n_iter = np.empty((L, M), dtype=np.int64)
    plans = [[None] * M for _ in range(L)] if keep_plans else None
    done = 0
    try:
        for fut in as_completed(list(futures.values())):
            l, m = where[fut.key]
            costs[l, m], statuses[l, m], n_iter[l, m], plan = fut.result()
            if keep_plans:
                plans[l][m] = plan
            done += 1
            if progress is not None:
                progress(done, L * M)
    finally:
        client.cancel(fx + fy)
    return GridResult(costs=costs, plans=plans, statuses=statuses.astype(str), n_iter=n_iter)


def solve_grid(X, Y, *, scheduler="local", client=None, **kwargs) -> GridResult:
    """:func:`hotalign.solve_grid` with its pairs run as tasks on a Dask cluster.

    Parameters
    ----------
    X, Y : list of array_like, shapes (T, n_l) and (T, n_m)
    scheduler : str
        ``"local"`` (a temporary LocalCluster) or a scheduler address; ignored if ``client``.
    client : dask.distributed.Client, optional
    **kwargs
        Any keyword of :func:`hotalign.solve_grid` (marginals, dtype, constant_units, ...).

    Returns
    -------
    GridResult
        Identical to ``hotalign.solve_grid(X, Y, **kwargs)``.
    """
    with _client(scheduler, client) as c, _grid.pair_backend(_backend(c, None)):
        return _grid.solve_grid(X, Y, **kwargs)


@contextlib.contextmanager
def _client(scheduler, client=None, n_workers=None):
    if client is not None:
        yield client
        return
    client, cluster = connect(scheduler, n_workers)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# -- routing the estimator's grid --------------------------------------------------------------


def _backend(client, progress):
    """A :func:`hotalign.grid.pair_backend` that sends each grid to ``client`` (or keeps it on
    the local pool when ``client`` is None) and reports ``progress``."""

    def run(Zx, Zy, **kwargs):
        if progress is not None and kwargs.get("progress") is None:
            kwargs["progress"] = progress
        if client is None:
            return _grid.solve_pairs(Zx, Zy, **kwargs)
        return solve_pairs_dask(Zx, Zy, client, **kwargs)

    return run


@contextlib.contextmanager
def grid_backend(scheduler=None, *, client=None, n_workers=None, progress=None):
    """Run the layer-pair grid of every HOT fit in this context on a Dask cluster.

    Parameters
    ----------
    scheduler : str or None
        ``"local"`` (start a LocalCluster of ``n_workers`` processes), a scheduler address, or
        None for the local thread pool (useful with ``progress`` alone).
    client : dask.distributed.Client, optional
        Use this client instead (not closed on exit).
    progress : callable, optional
        ``progress(pairs_done, n_pairs)`` during every grid.

    Yields
    ------
    client : dask.distributed.Client or None
    """
    if scheduler is None and client is None:
        with _grid.pair_backend(_backend(None, progress)):
            yield None
        return
    with _client(scheduler, client, n_workers) as c, _grid.pair_backend(_backend(c, progress)):
        yield c
