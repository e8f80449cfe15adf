"""Many systems at once: :func:`compare` gives the N x N matrices of HOT distances and held-out
scores of every ordered pair of N systems (docs/getting-started.md: "Many models at once").

What is shared between the pairs:

- each system is standardised once per split (and once on all rows), and every pair it takes
  part in reuses it (:func:`hotalign.systems.standardize_system`);
- the layer pairs of *all* system pairs of a split go to the pair engine in one call
  (:func:`hotalign.grid.solve_systems` on the systems laid end to end), so the local thread pool
  or a Dask cluster sees the whole set at once, a pair cache (``memory=``) resumes a killed run,
  and a memory budget (``max_layers_in_memory=``) bounds the standardised layers held, whatever
  the number of systems;
- the unit transport of layer pair (l, m) of X and Y, with uniform marginals, is the transpose of
  that of (m, l) of Y and X (same cost, transposed plan), so each unordered layer pair is solved
  once and serves both directions.

The diagonal and the asymmetry
------------------------------
``distances[i, j]`` is ``<C, P>`` of system i (as X) against system j (as Y), fitted on all rows,
as ``hotalign align`` reports its full-data distance. Since ``C_ji = C_ij^T`` and the layer plan
of the transposed problem is the transposed plan, ``distances`` is symmetric (to rounding; the
largest difference is recorded as ``distance_asymmetry``). ``scores[i, j]`` is the held-out
reconstruction of system i *from* system j (mean per-unit Pearson correlation, higher is
better), averaged over the splits; it is not symmetric: a wide network may reconstruct a narrow
one well and not the reverse. The diagonal is not fitted: a system against itself has identity
plans at zero cost and reconstructs every unit exactly, so ``distances[i, i] = 0`` and
``scores[i, i] = 1`` by definition. :attr:`Comparison.symmetric_scores` (the mean of both
directions) and :attr:`Comparison.symmetric_distances` are the symmetric summaries to use as a
metric (e.g. for an embedding or clustering).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ._validation import (check_callable, check_choice, check_layers,
                          check_splits,
                          check_random_state)
from .baselines import LABELS, layer_weights
from .cache.memory import as_memory
from .estimator import HOT
from .grid import solve_systems
from .hierarchy import plan_distance
from .layer import Layer
from .results import GridResult, TransportResult
from .systems import StandardizedSystem, standardize_system

__all__ = ["Comparison", "compare"]

#: The methods scored for every ordered pair: HOT and the two baselines that use the same
#: layer-pair costs (docs/method.md: "Baselines").
METHODS = ("hot", "single_best", "pairwise_best")
#: The pair methods :func:`compare` accepts.
PAIR_METHODS = ("HOT",)
#: The keyword arguments of :class:`hotalign.HOT` that :func:`compare` passes on.
HOT_PARAMS = ("constant_units", "dtype", "max_layers_in_memory")


@dataclass(eq=False)
class Comparison:
    """HOT between every ordered pair of N systems (see the module docstring).

    Attributes
    ----------
    names : list of str
        The systems, in the order given.
    distances : ndarray, shape (N, N)
        ``<C, P>`` of system i (X) against system j (Y) on all rows (lower = more alike);
        symmetric, zero diagonal.
    method_scores : dict of str -> ndarray, shape (n_splits, N, N)
        Per split, for ``"hot"``, ``"single_best"`` and ``"pairwise_best"`` (the baselines
        reconstruct with the same unit plans and layer costs as HOT).
    method_distances : dict of str -> ndarray, shape (N, N)
        ``<C, w / L>`` on all rows for each method's layer weights ``w`` (``"hot"``: the
        distances above; ``"pairwise_best"``: the mean over layers of X of the best layer cost).
    layer_costs, layer_plans : dict of (str, str) -> ndarray, shape (L_i, L_j)
        C and P of each ordered pair ``(x, y)`` on all rows.
    layer_names : dict of str -> list of str
    params : dict
        The arguments of the run.
    """

    names: list
    distances: np.ndarray
    method_scores: dict
    method_distances: dict
    layer_costs: dict
    layer_plans: dict
    layer_names: dict
    params: dict = field(default_factory=dict)

    @property
    def scores(self) -> np.ndarray:
        """``(N, N)``: held-out reconstruction of system i from system j with HOT's layer
        weights, mean over splits (higher is better); not symmetric; diagonal 1."""
        return self.mean_scores("hot")

    def mean_scores(self, method="hot") -> np.ndarray:
        """Mean over splits of a method's scores, ``(N, N)`` (rows: reconstructed system)."""
        return self.method_scores[check_choice(method, "method", METHODS)].mean(axis=0)

    @property
    def symmetric_scores(self) -> np.ndarray:
        """``(scores + scores.T) / 2``: how well each pair reconstructs each other."""
        return (self.scores + self.scores.T) / 2

    @property
    def symmetric_distances(self) -> np.ndarray:
        """``(distances + distances.T) / 2`` (equal to ``distances`` up to rounding)."""
        return (self.distances + self.distances.T) / 2

    @property
    def distance_asymmetry(self) -> float:
        """Largest ``|distances[i, j] - distances[j, i]|`` (rounding only)."""
        return float(np.abs(self.distances - self.distances.T).max())

    def pair(self, x, y) -> dict:
        """C, P, distance and scores of the ordered pair ``(x, y)`` (system names)."""
        i, j = self._index(x, "x"), self._index(y, "y")
        return {"x": x, "y": y, "C": self.layer_costs[x, y], "P": self.layer_plans[x, y],
                "distance": float(self.distances[i, j]),
                "scores": {m: float(self.mean_scores(m)[i, j]) for m in METHODS}}

    def _index(self, name, what):
        if name not in self.names:
            raise ValueError(f"{what}: unknown system {name!r}; choose from {self.names}")
        return self.names.index(name)

    def to_dict(self) -> dict:
        """Plain Python types: the schema of ``comparison.json``."""
        pairs = []
        for x in self.names:
            for y in self.names:
                if x == y:
                    continue
                i, j = self.names.index(x), self.names.index(y)
                pairs.append({
                    "x": x, "y": y, "distance": float(self.distances[i, j]),
                    "scores": {m: float(self.mean_scores(m)[i, j]) for m in METHODS},
                    "C": self.layer_costs[x, y].tolist(), "P": self.layer_plans[x, y].tolist()})
        return {
            "names": list(self.names),
            "layers": {n: list(v) for n, v in self.layer_names.items()},
            "parameters": self.params,
            "distances": {
                "meaning": "distances[i][j]: <C, P> of system i (X) against system j (Y) on "
                           "all rows (lower = more alike); symmetric up to rounding, diagonal 0 "
                           "(not fitted)",
                "matrix": self.distances.tolist(),
                "asymmetry": self.distance_asymmetry,
                "symmetric": self.symmetric_distances.tolist()},
            "scores": {
                "meaning": "scores[i][j]: held-out reconstruction of system i from system j, "
                           "mean Pearson correlation of each unit with its reconstruction, mean "
                           "over splits (higher is better); not symmetric, diagonal 1 (not "
                           "fitted); symmetric: mean of both directions",
                "matrix": self.scores.tolist(),
                "std_over_splits": self.method_scores["hot"].std(axis=0).tolist(),
                "splits": self.method_scores["hot"].tolist(),
                "symmetric": self.symmetric_scores.tolist()},
            "baselines": {
                m: {"label": LABELS[m], "scores": self.mean_scores(m).tolist(),
                    "distances": self.method_distances[m].tolist()}
                for m in METHODS if m != "hot"},
            "pairs": pairs,
        }

    def to_json(self, **kwargs) -> str:
        """:meth:`to_dict` as JSON (``kwargs`` go to :func:`json.dumps`)."""
        return json.dumps(self.to_dict(), **kwargs)

    def __repr__(self):
        return f"Comparison(names={self.names}, n_splits={self.params.get('n_splits')})"


def compare(systems, *, method="HOT", n_splits=5, test_size=0.2, random_state=0,
            n_threads=None, backend=None, memory=None, progress=None,
            **hot_params) -> Comparison:
    """HOT distances and held-out scores between every ordered pair of N systems.

    Parameters
    ----------
    systems : mapping of str -> system
        Name -> any input :func:`hotalign.io.load_system` opens (a list of ``(T, n_l)`` arrays,
        a dict of them, a :class:`hotalign.io.System`, a path to a capture folder, ``.npz``,
        ...). At least two, all over the same T stimuli (and the same stimulus ids where
        recorded).
    method : {"HOT"}
        The pair method.
    n_splits, test_size, random_state
        The random train/test splits, as in :func:`hotalign.evaluate` (the same seed gives the
        same splits, so ``scores[i, j]`` is ``evaluate(X_i, X_j, ...)``'s mean HOT score).
    n_threads : int, optional
        Local worker threads (default all CPUs).
    backend : optional
        The pair engine's backend (e.g. :class:`hotalign.distributed.DaskBackend`); default the
        one set by :func:`hotalign.engine.use_backend`, else the local threads.
    memory : str, os.PathLike or hotalign.cache.Memory, optional
        Pair cache: every layer pair is stored as soon as it is solved, and a rerun (after a
        kill) loads them instead of solving again. Never changes a result.
    progress : callable, optional
        ``progress(done, total)`` over the layer pairs of the whole run (all splits and the fit
        on all rows; cache hits count as done).
    **hot_params
        ``constant_units``, ``dtype``, ``max_layers_in_memory`` as in :class:`hotalign.HOT`.
        With ``max_layers_in_memory=k`` at most k standardised layers are held at once (the
        grid of all systems runs block by block; training rows are read layer by layer), however
        many systems there are.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> import hotalign
    >>> X, Y, _ = hotalign.datasets.make_hierarchy(200, (8, 8), (8, 8, 8), random_state=0)
    >>> Z, _, _ = hotalign.datasets.make_hierarchy(200, (8, 8), (8, 8), random_state=1)
    >>> cmp = hotalign.compare({"X": X, "Y": Y, "Z": Z}, n_splits=2)
    >>> cmp.distances.shape, bool((cmp.distances == cmp.distances.T).all())
    ((3, 3), True)
    """
    check_choice(method, "method", PAIR_METHODS)
    unknown = sorted(set(hot_params) - set(HOT_PARAMS))
    if unknown:
        raise ValueError(f"compare got unknown keyword argument(s) {unknown}; HOT parameters "
                         f"accepted: {list(HOT_PARAMS)}")
    estimator = HOT(n_threads=n_threads, **hot_params)
    policy, n_threads, dtype = estimator._check_params()
    budget = estimator.max_layers_in_memory
    progress = check_callable(progress, "progress")
    random_state = check_random_state(random_state)
    names, loaded = _load(systems)
    layers = [s.layers() for s in loaded]
    layers = [check_layers(A, name, min_rows=3, check_finite=False)
              for A, name in zip(layers, names)]
    T = layers[0][0].shape[0]
    n_splits, n_test = check_splits(T, n_splits, test_size)
    cache = None if memory is None else as_memory(memory).pairs
    N = len(names)
    sizes = [len(A) for A in layers]
    n_pairs = sum(sizes[i] * sizes[j] for i in range(N) for j in range(i + 1, N))
    counter = _Progress(progress, (n_splits + 1) * n_pairs)
    run = dict(policy=policy, dtype=dtype, budget=budget, n_threads=n_threads, cache=cache,
               backend=backend, counter=counter)

    rng = np.random.default_rng(random_state)
    scores = {m: np.ones((n_splits, N, N)) for m in METHODS}
    for s in range(n_splits):  # the splits of hotalign.evaluate, drawn in the same order
        order = rng.permutation(T)
        test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
        rng.integers(2**63)  # where evaluate draws Perm-P's seed: the same splits follow
        fits = _fit_all(layers, names, train, keep_plans=True, **run)
        for (i, j), hot in fits.items():
            weightings = {m: layer_weights(m, hot.layer_plan_, hot.layer_costs_)
                          for m in METHODS}
            scored = hot.layer_scores_by_weighting([A[test] for A in layers[i]],
                                                   [B[test] for B in layers[j]], weightings)
            for m, per_layer in scored.items():
                scores[m][s, i, j] = per_layer.mean()
        del fits
    full = _fit_all(layers, names, np.arange(T), keep_plans=False, **run)
    distances = {m: np.zeros((N, N)) for m in METHODS}
    costs, plans = {}, {}
    for (i, j), hot in full.items():
        costs[names[i], names[j]] = hot.layer_costs_
        plans[names[i], names[j]] = hot.layer_plan_
        for m in METHODS:
            w = layer_weights(m, hot.layer_plan_, hot.layer_costs_)
            distances[m][i, j] = (hot.distance_ if m == "hot"
                                  else plan_distance(hot.layer_costs_, w / w.shape[0]))
    params = {
        "method": method, "n_splits": n_splits, "test_size": float(test_size),
        "random_state": (random_state if random_state is None
                         else int(random_state) if isinstance(random_state, numbers.Integral)
                         else repr(random_state)),
        "estimator": repr(estimator), "n_stimuli": T,
        "sources": [s.source for s in loaded],
        "n_layer_pairs_solved_per_split": n_pairs,
    }
    return Comparison(names=names, distances=distances["hot"], method_scores=scores,
                      method_distances=distances, layer_costs=costs, layer_plans=plans,
                      layer_names={n: list(s.names) for n, s in zip(names, loaded)},
                      params=params)


def _load(systems):
    """Names and opened systems (:func:`hotalign.io.load_system`), checked to share stimuli."""
    from .io import check_stimuli, load_system

    if not isinstance(systems, Mapping):
        raise ValueError(f"systems must be a mapping name -> system (a dict), got "
                         f"{type(systems).__name__}")
    if len(systems) < 2:
        raise ValueError(f"systems must hold at least two systems, got {len(systems)}")
    names, loaded = [], []
    for name, source in systems.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"systems: every name must be a non-empty str, got {name!r}")
        names.append(name)
        loaded.append(load_system(source, name=name))
    for name, system in zip(names[1:], loaded[1:]):
        try:
            check_stimuli(loaded[0], system)
        except ValueError as exc:
            raise ValueError(f"systems {names[0]!r} and {name!r}: {exc}") from None
    return names, loaded


class _Progress:
    """Progress over several grids: each grid's ``(done, total)`` added to those before it."""

    def __init__(self, progress, total):
        self.progress, self.total, self.base = progress, total, 0

    def grid(self, n_pairs):
        base = self.base
        self.base += n_pairs
        if self.progress is None:
            return None
        return lambda done, _total: self.progress(base + done, self.total)


def _fit_all(layers, names, rows, *, keep_plans, policy, dtype, budget, n_threads, cache,
             backend, counter) -> dict:
    """HOT fitted on ``rows`` for every ordered pair (i, j), i != j: each system standardised
    once, every unordered layer pair solved once, on the pair engine in one call."""
    parts = []
    for A, name in zip(layers, names):
        rows_of = [Layer.of(a).take(rows) for a in A] if budget is not None else \
            [a[rows] if len(rows) < a.shape[0] else a for a in A]
        parts.append(standardize_system(rows_of, name, policy=policy, dtype=dtype,
                                        hold=budget is None))
    offsets = np.concatenate([[0], np.cumsum([len(S) for S in parts])])
    every = _end_to_end(parts)
    N = len(parts)
    wanted = [(offsets[i] + l, offsets[j] + m) for i in range(N) for j in range(i + 1, N)
              for l in range(len(parts[i])) for m in range(len(parts[j]))]
    grid = solve_systems(every, every, pairs=wanted, n_threads=n_threads, keep_plans=keep_plans,
                         max_layers_in_memory=budget, cache=cache, backend=backend,
                         progress=counter.grid(len(wanted)))
    fits = {}
    for i in range(N):
        for j in range(N):
            if i == j:
                continue
            bi = slice(offsets[i], offsets[i + 1])
            bj = slice(offsets[j], offsets[j + 1])
            hot = HOT(constant_units=policy, dtype=np.dtype(dtype).name)
            hot._marginals(None, None)  # the uniform layer plan (compare takes no other rule)
            hot._set_fitted(parts[i], parts[j], _sub_grid(grid, bi, bj, transpose=i > j))
            fits[i, j] = hot
    return fits


def _end_to_end(parts) -> StandardizedSystem:
    """One standardised system whose layers are those of ``parts`` in order (held layers are
    shared, not copied; unheld ones are standardised when a block asks for them)."""
    held = all(S._held is not None for S in parts)
    return StandardizedSystem(
        name="systems", scalers=[s for S in parts for s in S.scalers],
        kept=[k for S in parts for k in S.kept], widths=[w for S in parts for w in S.widths],
        dtype=parts[0].dtype, marginals=None,
        _raw=None if held else [r for S in parts for r in S._raw],
        _held=[Z for S in parts for Z in S._held] if held else None)


def _sub_grid(grid: GridResult, rows: slice, cols: slice, *, transpose: bool) -> GridResult:
    """The block ``rows x cols`` of a solved grid as its own GridResult; with ``transpose``,
    the block ``cols x rows`` transposed (costs and plans), i.e. the pair seen the other way."""
    if transpose:
        rows, cols = cols, rows
    costs = grid.costs[rows, cols]
    plans = None
    if grid.plans is not None:
        plans = [row[cols] for row in grid.plans[rows]]
    sub = GridResult(costs=costs.copy(), plans=plans, statuses=grid.statuses[rows, cols].copy(),
                     n_iter=grid.n_iter[rows, cols].copy())
    if not transpose:
        return sub
    return GridResult(costs=sub.costs.T.copy(),
                      plans=None if plans is None else
                      [[transpose_plan(p) for p in col] for col in zip(*plans)],
                      statuses=sub.statuses.T.copy(), n_iter=sub.n_iter.T.copy())


def transpose_plan(plan: TransportResult) -> TransportResult:
    """The plan of the transposed problem (cost ``M.T``, marginals swapped): the same cells with
    rows and columns exchanged, sorted by row then column, and the potentials exchanged. It is
    optimal for the transposed problem with the same cost."""
    order = np.lexsort((plan.rows, plan.cols))
    return TransportResult(rows=plan.cols[order], cols=plan.rows[order],
                           weights=plan.weights[order], cost=plan.cost, u=plan.v, v=plan.u,
                           status=plan.status, n_iter=plan.n_iter,
                           shape=(plan.shape[1], plan.shape[0]), method=plan.method)
