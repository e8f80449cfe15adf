"""Many exact solves at once: the L x M grid of layer pairs.

Every pair (l, m) needs the correlation-distance cost between the units of layer l of one system
and layer m of the other, and an exact transport solve on it. Each layer is standardised once
(not once per pair); each pair's cost tile is built, solved and freed on a worker thread, with
the GIL released inside the GEMM and the solver, so no L x M collection of dense costs or plans
is ever held. BLAS is limited to one thread while the pool runs (threadpoolctl), so the pool and
BLAS never oversubscribe the cores. Results do not depend on the number of threads.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from dataclasses import dataclass

import numpy as np

from . import _core
from ._blas import gemm_pointers, single_threaded_blas
from ._validation import (MASS_RTOL, as_marginal, as_sequence, check_bool, check_callable,
                          check_choice, check_int, check_n_threads)
from .costs import ZScore, as_float_dtype, as_layer
from .results import TransportResult

__all__ = ["GridResult", "LazyLayer", "RowSubset", "pair_backend", "solve_grid"]

# A backend that takes over solve_pairs in the current context (thread / task); see
# pair_backend. A ContextVar, so other threads keep the local pool.
_BACKEND = contextvars.ContextVar("hotalign_pair_backend", default=None)


@contextlib.contextmanager
def pair_backend(backend):
    """Route every :func:`solve_pairs` call in this context through ``backend``.

    ``backend(Zx, Zy, **kwargs)`` receives the arguments of :func:`solve_pairs` and returns a
    :class:`GridResult`; calls it makes to :func:`solve_pairs` itself run locally. Used by
    :func:`hotalign.distributed.grid_backend` to send the grids of ``HOT.fit``,
    ``TrajectoryHOT.fit`` and ``evaluate`` to a Dask cluster.
    """
    token = _BACKEND.set(backend)
    try:
        yield backend
    finally:
        _BACKEND.reset(token)


@dataclass(frozen=True, eq=False)
class GridResult:
    """Costs and plans of every layer pair.

    Attributes
    ----------
    costs : ndarray, shape (L, M)
        ``costs[l, m] = <K_lm, Q_lm>``, the transport cost of pair (l, m).
    plans : list of list of TransportResult, or None
        ``plans[l][m]`` is the sparse optimal plan of pair (l, m) with its dual potentials
        (None when ``keep_plans=False``).
    statuses : ndarray of str, shape (L, M)
        Solver status of each pair.
    n_iter : ndarray of int, shape (L, M)
        Pivots or augmentations of each pair.
    """

    costs: np.ndarray
    plans: list | None
    statuses: np.ndarray
    n_iter: np.ndarray


def default_threads() -> int:
    """Number of worker threads: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


class LazyLayer:
    """A ``(T, n)`` layer whose data are read only when needed.

    Subclasses provide ``shape`` and ``dtype`` without reading the data, ``__array__`` (the
    whole layer) and ``__getitem__`` (rows, e.g. a split's training rows). :func:`check_layers`
    validates them by shape and dtype alone, and the estimators read one layer at a time as
    they standardise it.
    """

    ndim = 2

    def __getitem__(self, key):
        return np.asarray(self)[key]


class RowSubset(LazyLayer):
    """Rows ``rows`` of a ``(T, n)`` layer, read only when converted with ``np.asarray``.

    :func:`hotalign.evaluate` hands these to an estimator with a memory budget
    (``HOT(max_layers_in_memory=k)``), so a split's training rows are gathered one layer at a
    time as the layer is standardised, instead of copying every layer up front. With
    memory-mapped inputs this keeps only the layers the current pairs need in memory.
    """

    def __init__(self, base, rows):
        self.base = base
        self.rows = np.asarray(rows)

    @property
    def shape(self):
        return (self.rows.shape[0], self.base.shape[1])

    @property
    def dtype(self):
        return np.asarray(self.base[:0]).dtype

    def __array__(self, dtype=None, copy=None):
        A = np.asarray(self.base[self.rows])
        return A if dtype is None else A.astype(dtype, copy=False)


def _check_lazy(A, name, min_rows):
    """Shape and dtype checks of a LazyLayer, without reading its data."""
    if len(A.shape) != 2 or getattr(getattr(A, "base", None), "ndim", 2) != 2:
        raise ValueError(f"{name} must be a 2-D array (stimuli x units), got shape "
                         f"{getattr(getattr(A, 'base', A), 'shape', A.shape)}")
    if A.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {A.dtype}")
    if A.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows (stimuli), got {A.shape[0]}")
    if A.shape[1] < 1:
        raise ValueError(f"{name} has no units (shape {A.shape})")
    return A


def check_layers(layers, name: str, *, min_rows: int = 2,
                 check_finite: bool = True) -> list[np.ndarray]:
    """Validate a system: a non-empty list of 2-D finite arrays with the same number of rows.

    ``check_finite=False`` leaves the NaN/inf scan to the C++ statistics or standardisation
    pass that follows (it reports the layer by name), so the data is not read twice.
    :class:`LazyLayer` layers (row subsets, HDF5 datasets) are checked by shape and dtype only
    and stay unread.
    """
    if isinstance(layers, np.ndarray) and layers.ndim == 2:
        raise ValueError(f"{name} must be a list of layers (2-D arrays), got a single array")
    layers = as_sequence(layers, name, "a list of layers (2-D arrays, one per layer)")
    if not layers:
        raise ValueError(f"{name} is empty: it needs at least one layer")
    out = [_check_lazy(A, f"{name}[{k}]", min_rows) if isinstance(A, LazyLayer)
           else as_layer(A, f"{name}[{k}]", min_rows=min_rows, check_finite=check_finite)
           for k, A in enumerate(layers)]
    T = out[0].shape[0]
    for k, A in enumerate(out):
        if A.shape[0] != T:
            raise ValueError(
                f"{name}[{k}] has {A.shape[0]} rows but {name}[0] has {T}: every layer must "
                "hold the same stimuli"
            )
    return out


def solve_pairs(Zx, Zy, *, n_threads=None, keep_plans=True, a=None, b=None, max_iter=None,
                progress=None) -> GridResult:
    """Solve every pair of standardised layers on the C++ thread pool.

    Parameters
    ----------
    Zx, Zy : list of ndarray, shapes (T, n_l) and (T, n_m)
        Standardised layers (see :class:`hotalign.costs.ZScore`), C-contiguous, all float32 or
        all float64.
    n_threads : int, optional
        Worker threads (default: all CPUs available).
    keep_plans : bool
        Keep every pair's sparse plan.
    a, b : list of (ndarray or None), optional
        Unit marginals per layer (None: uniform).
    max_iter : int, optional
        Network simplex pivot limit per pair.
    progress : callable, optional
        Called as ``progress(n_done, n_total)`` on the calling thread while the grid runs.

    Notes
    -----
    Called from the main thread, the grid runs in a helper thread with the GIL released while
    the main thread waits in short intervals, so Ctrl-C (KeyboardInterrupt) cancels the
    remaining pairs and returns control within about the time of the pairs already running.
    Called from any other thread (which never receives signals), it runs in that thread.
    BLAS is limited to one thread meanwhile. Inside :func:`pair_backend` the call goes to that
    backend instead.
    """
    backend = _BACKEND.get()
    if backend is not None:
        token = _BACKEND.set(None)  # the backend's own solve_pairs calls run locally
        try:
            return backend(Zx, Zy, n_threads=n_threads, keep_plans=keep_plans, a=a, b=b,
                           max_iter=max_iter, progress=progress)
        finally:
            _BACKEND.reset(token)
    n_threads = check_n_threads(n_threads)
    n_threads = default_threads() if n_threads is None else n_threads
    max_iter = check_int(max_iter, "max_iter", minimum=1, maximum=2**63 - 1, allow_none=True)
    dgemm, sgemm = gemm_pointers()
    f32 = Zx[0].dtype == np.float32
    job = _core.GridJob(list(Zx), list(Zy), list(a or []), list(b or []), int(n_threads),
                        bool(keep_plans), 0 if max_iter is None else int(max_iter),
                        sgemm if f32 else dgemm)
    errors = []

    def target():
        try:
            job.run()
        except BaseException as exc:  # re-raised on the calling thread below
            errors.append(exc)

    with single_threaded_blas():
        if threading.current_thread() is not threading.main_thread():
            target()  # signals reach only the main thread: no need to keep this one free
            if progress is not None:
                progress(job.n_done(), job.n_total())
        else:
            worker = threading.Thread(target=target, name="hotalign-grid", daemon=True)
            worker.start()
            try:
                reported = -1
                while worker.is_alive():
                    worker.join(0.05)
                    if progress is not None and job.n_done() != reported:
                        reported = job.n_done()
                        progress(reported, job.n_total())
                # A grid that finished before the first check has not been reported yet.
                if progress is not None and job.n_done() != reported:
                    progress(job.n_done(), job.n_total())
            except BaseException:
                job.cancel()
                worker.join()
                raise
    if errors:
        raise errors[0]
    costs, statuses, n_iter, raw_plans, _cancelled = job.result()
    names = np.array([_core.STATUS_NAMES[int(s)] for s in statuses.ravel()]).reshape(statuses.shape)
    if np.any(names == "max_iter"):
        raise RuntimeError(f"max_iter={max_iter} pivots were not enough for some layer pairs")
    plans = None
    if keep_plans:
        plans = [[_as_result(raw, Zx[l].shape[1], Zy[m].shape[1]) for m, raw in enumerate(row)]
                 for l, row in enumerate(raw_plans)]
    return GridResult(costs=costs, plans=plans, statuses=names, n_iter=n_iter)


def _as_result(raw, n, m) -> TransportResult:
    rows, cols, weights, u, v, cost, status, n_iter, method = raw
    return TransportResult(rows=rows, cols=cols, weights=weights, cost=float(cost), u=u, v=v,
                           status=_core.STATUS_NAMES[status], n_iter=int(n_iter), shape=(n, m),
                           method=_core.METHOD_NAMES[method])


def solve_grid(X, Y, *, a=None, b=None, n_threads=None, dtype=np.float64, keep_plans=True,
               constant_units="exclude", progress=None):
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
    X = check_layers(X, "X", check_finite=False)  # ZScore.fit below finds NaN/inf
    Y = check_layers(Y, "Y", check_finite=False)
    if X[0].shape[0] != Y[0].shape[0]:
        raise ValueError(
            f"X and Y must hold the same stimuli: X has {X[0].shape[0]} rows, Y has "
            f"{Y[0].shape[0]}"
        )
    dtype = as_float_dtype(dtype)
    n_threads = check_n_threads(n_threads)
    keep_plans = check_bool(keep_plans, "keep_plans")
    progress = check_callable(progress, "progress")
    policy = check_choice(constant_units, "constant_units", ("exclude", "cost_one", "raise"))
    a = _layer_marginals(a, X, "a")
    b = _layer_marginals(b, Y, "b")
    sx = [ZScore().fit(A, f"X[{l}]") for l, A in enumerate(X)]
    sy = [ZScore().fit(A, f"Y[{m}]") for m, A in enumerate(Y)]
    kx, ky = kept_units(sx, policy, "X"), kept_units(sy, policy, "Y")
    Zx = [s.transform(A, dtype, columns=k) for s, A, k in zip(sx, X, kx)]
    Zy = [s.transform(A, dtype, columns=k) for s, A, k in zip(sy, Y, ky)]
    a = _restrict(a, kx, "a")
    b = _restrict(b, ky, "b")
    grid = solve_pairs(Zx, Zy, n_threads=n_threads, keep_plans=keep_plans, a=a, b=b,
                       progress=progress)
    if not keep_plans:
        return grid
    plans = [[to_original_units(grid.plans[l][m], kx[l], ky[m], X[l].shape[1], Y[m].shape[1])
              for m in range(len(Y))] for l in range(len(X))]
    return GridResult(costs=grid.costs, plans=plans, statuses=grid.statuses, n_iter=grid.n_iter)


def _restrict(marginals, kept, name):
    """Marginals restricted to the kept units and renormalised to total 1."""
    if marginals is None:
        return None
    out = []
    for k, (w, idx) in enumerate(zip(marginals, kept)):
        if w is None or idx.size == w.size:
            out.append(w)
            continue
        w = w[idx]
        if not w.sum() > 0:
            raise ValueError(f"{name}[{k}] puts all its mass on constant (excluded) units")
        out.append(w / w.sum())
    return out


def _layer_marginals(marginals, layers, name):
    if marginals is None:
        return None
    marginals = list(marginals)
    if len(marginals) != len(layers):
        raise ValueError(f"{name} must give one marginal per layer ({len(layers)}), got "
                         f"{len(marginals)}")
    out = []
    for k, (w, A) in enumerate(zip(marginals, layers)):
        w = as_marginal(w, A.shape[1], f"{name}[{k}]")
        if w is not None and abs(w.sum() - 1.0) > MASS_RTOL:
            raise ValueError(f"{name}[{k}] must sum to 1 like the other system's layers, got "
                             f"{w.sum()!r}")
        out.append(w)
    return out


def kept_units(scalers, policy, name):
    """Indices of the units that enter the transport, per layer, under a constant-unit policy.

    ``"exclude"`` drops units constant on the rows the scalers were fitted on (a layer with no
    unit left is an error), ``"cost_one"`` keeps every unit, ``"raise"`` refuses constant
    units with a ValueError naming the layer.
    """
    kept = []
    for k, s in enumerate(scalers):
        const = np.flatnonzero(s.constant_)
        if const.size and policy == "raise":
            raise ValueError(
                f"{name}[{k}] has units constant on the training rows: {const[:10].tolist()}"
                f"{' ...' if const.size > 10 else ''} (constant_units='raise')"
            )
        if policy == "exclude":
            idx = np.flatnonzero(~s.constant_)
            if idx.size == 0:
                raise ValueError(f"{name}[{k}]: every unit is constant on the training rows")
        else:
            idx = np.arange(s.constant_.size)
        kept.append(idx)
    return kept


def to_original_units(res: TransportResult, kept_x, kept_y, n, m) -> TransportResult:
    """Re-index a plan solved over kept units to the layers' original (n, m) unit indices.

    Excluded units carry no mass and NaN potentials (they are not part of the problem).
    """
    if len(kept_x) == n and len(kept_y) == m:
        return res
    u = np.full(n, np.nan)
    v = np.full(m, np.nan)
    u[kept_x] = res.u
    v[kept_y] = res.v
    return TransportResult(
        rows=kept_x[res.rows],
        cols=kept_y[res.cols],
        weights=res.weights,
        cost=res.cost,
        u=u,
        v=v,
        status=res.status,
        n_iter=res.n_iter,
        shape=(n, m),
        method=res.method,
    )
