"""The pair engine on a Dask cluster (optional: ``pip install 'hotalign[distributed]'``).

:class:`DaskBackend` is a backend of :func:`hotalign.engine.solve_pairs`: each standardised layer
a grid needs is sent to the cluster once with ``Client.scatter``; every layer pair (l, m) is one
task that receives the two scattered layers by reference, runs the pair on the worker (the same
pair kind's local runner as the local pools, so results are identical) and returns
only the pair's result (a sparse plan of at most n_l + n_m - 1 cells). Finished pairs reach the
caller as they finish, so a pair cache stores them at once. Workers fetch a layer from the
scheduler-assigned holder the first time one of their tasks needs it and keep it for the rest of
the grid, so no layer crosses the network once per pair.

Pass the backend explicitly, or set it for a block of code::

    from hotalign.engine import use_backend
    with connected("local") as client, use_backend(DaskBackend(client)):
        ev = hotalign.evaluate(X, Y)              # every grid of every fit on the cluster

:func:`grid_backend` does both in one context manager.
"""

from __future__ import annotations

import contextlib

from . import grid as _grid
from ._validation import resolve_threads
from .engine import LocalBackend, use_backend
from .engine import solve_pairs as _solve_pairs
from .results import GridResult

__all__ = ["DaskBackend", "SchedulerUnreachable", "connect", "connected", "grid_backend",
           "solve_grid"]


def _solve_one(zx, zy, a, b, keep_plans, max_iter, kind):
    """One layer pair on a worker: the kind's local runner on a 1 x 1 grid, one thread; the
    pair's result as the local engine hands it to ``on_pair``."""
    out = []
    _solve_pairs([zx], [zy], on_pair=lambda l, m, result: out.append(result),
                 backend=LocalBackend(), n_threads=1, keep_plans=keep_plans,
                 a=None if a is None else [a], b=None if b is None else [b],
                 max_iter=max_iter, kind=kind)
    return out[0]


class DaskBackend:
    """Run layer pairs as tasks on the cluster of ``client`` (a ``dask.distributed.Client``).

    Each task is single-threaded; parallelism comes from the workers. Only the layers the
    requested pairs need are scattered, each once per grid.
    """

    def __init__(self, client):
        self.client = client

    def run(self, Zx, Zy, todo, finished, *, n_threads, keep_plans, a, b, max_iter, kind):
        from dask.distributed import as_completed

        client = self.client
        rows = sorted({l for l, _ in todo})
        cols = sorted({m for _, m in todo})
        fx = dict(zip(rows, client.scatter([Zx[l] for l in rows], hash=False)))
        fy = dict(zip(cols, client.scatter([Zy[m] for m in cols], hash=False)))
        where = {}
        try:
            for l, m in todo:
                fut = client.submit(_solve_one, fx[l], fy[m], None if a is None else a[l],
                                    None if b is None else b[m], keep_plans, max_iter, kind,
                                    pure=False)
                where[fut.key] = (fut, (l, m))
            for fut in as_completed([f for f, _ in where.values()]):
                finished(*where[fut.key][1], fut.result())
        finally:
            client.cancel(list(fx.values()) + list(fy.values()))

    def __repr__(self):
        return f"DaskBackend({self.client!r})"


#: Seconds to wait for a scheduler at an address before giving up.
CONNECT_TIMEOUT = 5.0


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler answered at the address given (the message names it)."""


def connect(scheduler="local", n_workers=None, *, timeout=CONNECT_TIMEOUT):
    """A ``(client, cluster)`` for ``scheduler``: ``"local"`` starts a
    ``dask.distributed.LocalCluster`` of ``n_workers`` single-threaded worker processes
    (default: the CPUs available), anything else is a scheduler address. ``cluster`` is None
    for an address; close both when done (or use :func:`connected`).

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
        n = resolve_threads(None) if n_workers is None else int(n_workers)
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


@contextlib.contextmanager
def connected(scheduler="local", client=None, n_workers=None):
    """A client for ``scheduler`` (see :func:`connect`), closed on exit; ``client`` is used as
    it is (and not closed) when given."""
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
    with connected(scheduler, client) as c, use_backend(DaskBackend(c)):
        return _grid.solve_grid(X, Y, **kwargs)


@contextlib.contextmanager
def grid_backend(scheduler=None, *, client=None, n_workers=None, progress=None):
    """Run the layer-pair grids of every fit in this context on a Dask cluster.

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
        with use_backend(None, progress=progress):
            yield None
        return
    with connected(scheduler, client, n_workers) as c, \
            use_backend(DaskBackend(c), progress=progress):
        yield c
