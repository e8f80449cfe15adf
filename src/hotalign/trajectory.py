"""Third level of HOT: couple the checkpoints of two training trajectories.

docs/method.md ("Three levels"; paper §4): checkpoints A_1..A_K of one network and B_1..B_K' of another. For every
checkpoint pair (k, k') two-level HOT gives ``D[k, k'] = <C, P>``; the K x K' transport with
uniform marginals on D couples the checkpoints. A trajectory against itself gives the identity
coupling; against a time-warped copy, a monotone one. The greedy baseline matches each k to
``argmin_k' D[k, k']``.

Every layer of every checkpoint is standardised once. All (K L) x (K' M) unit-level problems
then run as one grid on the pair engine (:func:`hotalign.grid.solve_systems`, GIL released),
so the checkpoint pairs are solved in parallel without standardising any layer twice; the
K K' layer-level problems (L x M each) and the K x K' checkpoint problem are small.
"""

from __future__ import annotations

import numpy as np

from ._base import ParamsMixin
from ._validation import (
    as_sequence,
    check_bool,
    check_int,
    check_layers,
    check_n_threads,
    check_same_stimuli,
)
from .cache.memory import as_memory
from .costs import as_float_dtype, check_constant_policy
from .grid import solve_systems
from .hierarchy import plan_distance
from .lazy import certified_layer_plan, projection_bounds
from .results import GridResult
from .systems import StandardizedSystem, standardize_system
from .marginals import check_rule, marginal_layer_plan
from .transport import solve_transport

__all__ = ["TrajectoryHOT"]


class TrajectoryHOT(ParamsMixin):
    """Three-level HOT: checkpoints x layers x units.

    Parameters
    ----------
    constant_units : {"exclude", "cost_one", "raise"}
        Units constant over the rows of a checkpoint's layer (see :class:`hotalign.HOT`).
    n_threads : int, optional
        Worker threads for the unit-level grid (default: all available CPUs).
    dtype : {"float64", "float32"}
        Precision of the standardised layers and cost tiles; solves run in double.
    memory : str, os.PathLike or hotalign.cache.Memory, optional
        Store every solved layer pair on disk and reuse the pairs found there (see
        :class:`hotalign.HOT`); never changes a result.
    lazy : bool
        Certified lazy grid at both levels (docs/method.md, "Certified lazy layer grid"): every
        layer pair gets a certified lower bound; a checkpoint pair's distance is bounded below
        by the layer-level transport on those bounds; checkpoint pairs are fitted (lazily,
        solving only the layer pairs their layer plan needs) only when the checkpoint plan or
        the greedy baseline needs them. The coupling, its distance and the greedy matches are
        those of a full fit (with ties: an optimal coupling of the same distance).
    lazy_rank : int
        Lazy fits: dimension of the projection subspace of each layer's bound (>= 1).
    layer_marginals : {"uniform", "slack", "semi-relaxed"}
        Column marginals of every checkpoint pair's layer plan, as for :class:`hotalign.HOT`
        (the checkpoint coupling keeps uniform marginals). ``"auto"`` is refused: it would
        need held-out rows per checkpoint pair; choose s with :func:`hotalign.select_slack` on
        one checkpoint pair and pass it as ``slack``.
    slack : float or (float, float), optional
        ``"slack"``: s >= 0 (inf allowed) or ``(s_low, s_high)``.

    Attributes
    ----------
    checkpoint_costs_ : ndarray, shape (K, K')
        ``D[k, k'] = <C_kk', P_kk'>``, the two-level HOT distance of checkpoints k and k'.
    checkpoint_plan_ : ndarray, shape (K, K')
        Optimal coupling of the checkpoints: rows sum to 1/K, columns to 1/K'.
    distance_ : float
        ``<D, checkpoint_plan_>``.
    greedy_match_ : ndarray of int, shape (K,)
        Greedy baseline: ``argmin_k' D[k, k']``.
    greedy_plan_ : ndarray, shape (K, K')
        The greedy matches as a plan (mass 1/K at ``(k, greedy_match_[k])``; its columns need
        not sum to 1/K').
    layer_costs_ : ndarray, shape (K, K', L, M)
        Unit-level costs C of every checkpoint pair.
    layer_plans_ : ndarray, shape (K, K', L, M)
        Layer plans P of every checkpoint pair.
    n_checkpoints_a_, n_checkpoints_b_ : int
        K and K'.
    solved_checkpoints_ : ndarray of bool, shape (K, K')
        Checkpoint pairs whose two-level HOT was fitted (all unless ``lazy``); where False,
        ``checkpoint_costs_``, ``layer_costs_`` and ``layer_plans_`` are NaN.
    n_pairs_solved_ : int
        Unit-level (layer pair) problems solved, of ``K L K' M``.

    Examples
    --------
    >>> import numpy as np, hotalign
    >>> rng = np.random.default_rng(0)
    >>> A = [[rng.standard_normal((40, 5)) for _ in range(2)] for _ in range(3)]
    >>> traj = hotalign.TrajectoryHOT().fit(A, A)
    >>> np.allclose(traj.checkpoint_plan_, np.eye(3) / 3)
    True

    References
    ----------
    S. Shah, M. Khosla, arXiv:2510.01706, 2025.
    """

    def __init__(self, constant_units="exclude", n_threads=None, dtype="float64", memory=None,
                 lazy=False, lazy_rank=32, layer_marginals="uniform", slack=None):
        self.constant_units = constant_units
        self.n_threads = n_threads
        self.dtype = dtype
        self.memory = memory
        self.lazy = lazy
        self.lazy_rank = lazy_rank
        self.layer_marginals = layer_marginals
        self.slack = slack

    def fit(self, A, B):
        """Fit the checkpoint coupling of two trajectories.

        Parameters
        ----------
        A : list of list of array_like
            K checkpoints of the first network; ``A[k][l]`` is layer l of checkpoint k, shape
            (T, n_l). Every checkpoint has the same number of layers L.
        B : list of list of array_like
            K' checkpoints of the second network, M layers each, shapes (T, n_m); the same T
            stimuli in the same order as A.

        Returns
        -------
        self
        """
        policy = check_constant_policy(self.constant_units)
        n_threads = check_n_threads(self.n_threads)
        dtype = as_float_dtype(self.dtype)
        check_bool(self.lazy, "lazy")
        check_int(self.lazy_rank, "lazy_rank", minimum=1)
        if self.layer_marginals == "auto":
            raise ValueError("layer_marginals='auto' is not supported by TrajectoryHOT (it "
                             "needs held-out rows per checkpoint pair): choose a slack with "
                             "hotalign.select_slack and pass layer_marginals='slack', slack=s")
        check_rule(self.layer_marginals, self.slack, allow_auto=False)
        A = _check_trajectory(A, "A")
        B = _check_trajectory(B, "B")
        check_same_stimuli(A[0][0].shape[0], B[0][0].shape[0], "A", "B")
        K, L = len(A), len(A[0])
        Kp, M = len(B), len(B[0])
        Sx = StandardizedSystem.concat(
            [standardize_system(ckpt, f"A[{k}]", policy=policy, dtype=dtype)
             for k, ckpt in enumerate(A)], "A")
        Sy = StandardizedSystem.concat(
            [standardize_system(ckpt, f"B[{k}]", policy=policy, dtype=dtype)
             for k, ckpt in enumerate(B)], "B")
        memory = as_memory(self.memory)
        options = dict(n_threads=n_threads, keep_plans=False,
                       cache=None if memory is None else memory.pairs)
        if self.lazy:
            C, P, D, G, greedy_match = self._fit_lazy(Sx, Sy, K, L, Kp, M, options)
        else:
            grid = solve_systems(Sx, Sy, **options)
            C = grid.costs.reshape(K, L, Kp, M).transpose(0, 2, 1, 3)
            P = np.empty_like(C)
            D = np.empty((K, Kp))
            for k in range(K):
                for kp in range(Kp):
                    P[k, kp] = self._layer_plan(C[k, kp]).plan
                    D[k, kp] = plan_distance(C[k, kp], P[k, kp])
            G = solve_transport(D).to_dense()
            greedy_match = np.argmin(D, axis=1)
        self.layer_costs_ = np.ascontiguousarray(C)
        self.layer_plans_ = P
        self.checkpoint_costs_ = D
        self.checkpoint_plan_ = G
        self.distance_ = plan_distance(D, G)
        self.solved_checkpoints_ = np.isfinite(D)
        self.n_pairs_solved_ = int(np.isfinite(C).sum())
        self.greedy_match_ = greedy_match
        greedy = np.zeros((K, Kp))
        greedy[np.arange(K), self.greedy_match_] = 1.0 / K
        self.greedy_plan_ = greedy
        self.n_checkpoints_a_, self.n_checkpoints_b_ = K, Kp
        return self

    def _layer_plan(self, C):
        """The layer-level LP of one checkpoint pair (a MarginalPlan)."""
        return marginal_layer_plan(C, self.layer_marginals, self.slack)


    def _fit_lazy(self, Sx, Sy, K, L, Kp, M, options):
        """Both levels from certified bounds (see the ``lazy`` parameter)."""
        grid = GridResult.empty(K * L, Kp * M, keep_plans=False)
        LB = projection_bounds(Sx, Sy, rank=int(self.lazy_rank),
                               n_threads=options["n_threads"])
        LB = LB.reshape(K, L, Kp, M).transpose(0, 2, 1, 3)
        C = grid.costs.reshape(K, L, Kp, M).transpose(0, 2, 1, 3)  # a view: filled by solves
        P = np.full((K, Kp, L, M), np.nan)
        D = np.full((K, Kp), np.nan)
        # <LB, P> <= <C, P> for every plan P, so the outer optimum on LB bounds D from below.
        # (The bounded LP too: its feasible set does not depend on the costs.)
        outer = None if self.layer_marginals == "uniform" else self._layer_plan
        D_bound = np.array([[solve_transport(LB[k, kp]).cost if outer is None else
                             outer(LB[k, kp]).objective for kp in range(Kp)] for k in range(K)])

        def fit_checkpoints(cells):
            for k, kp in cells:
                def solve(pairs, k=k, kp=kp):
                    solve_systems(Sx, Sy, pairs=[(k * L + l, kp * M + m) for l, m in pairs],
                                  out=grid, **options)

                P[k, kp], _ = certified_layer_plan(C[k, kp], LB[k, kp], solve, outer=outer)
                D[k, kp] = plan_distance(C[k, kp], P[k, kp])

        G, _ = certified_layer_plan(D, D_bound, fit_checkpoints)
        # Greedy baseline: argmin_k' D[k, k'] is certified once no unfitted bound is below the
        # best fitted distance of the row.
        for k in range(K):
            while True:
                best = np.nanmin(D[k]) if np.isfinite(D[k]).any() else np.inf
                # <=: a tie with an unfitted pair is fitted too, so argmin picks as a full fit
                open_ = np.flatnonzero(~np.isfinite(D[k]) & (D_bound[k] <= best))
                if open_.size == 0:
                    break
                fit_checkpoints([(k, int(open_[np.argmin(D_bound[k, open_])]))])
        greedy = np.array([int(np.nanargmin(D[k])) for k in range(K)])
        return C.copy(), P, D, G, greedy


def _check_trajectory(traj, name):
    if isinstance(traj, np.ndarray):
        raise ValueError(f"{name} must be a list of checkpoints (lists of layers), got an array")
    traj = as_sequence(traj, name, "a list of checkpoints (lists of layers)")
    if not traj:
        raise ValueError(f"{name} is empty: a trajectory needs at least one checkpoint")
    out = [check_layers(ckpt, f"{name}[{k}]") for k, ckpt in enumerate(traj)]
    L, T = len(out[0]), out[0][0].shape[0]
    for k, ckpt in enumerate(out):
        if len(ckpt) != L:
            raise ValueError(f"{name}[{k}] has {len(ckpt)} layers but {name}[0] has {L}: every "
                             "checkpoint of a trajectory must have the same layers")
        check_same_stimuli(T, ckpt[0].shape[0], f"{name}[0]", f"{name}[{k}]")
    return out
