"""The HOT estimator: two-level hierarchical optimal transport between two systems."""

from __future__ import annotations

import numpy as np

from ._base import ParamsMixin
from ._validation import check_int
from .costs import ZScore, as_float_dtype, check_constant_policy
from .grid import check_layers, default_threads, kept_units, solve_pairs, to_original_units
from .hierarchy import layer_plan, reconstruct, unit_correlations

__all__ = ["HOT"]


class HOT(ParamsMixin):
    """Hierarchical optimal transport (Shah & Khosla, 2025) between two layered systems.

    Level 1 solves, for every layer pair (l, m), the exact transport between the units of
    ``X[l]`` and ``Y[m]`` under the correlation distance ``1 - pearson`` with uniform marginals
    (the Soft Matching distance); level 2 solves the L x M transport on those costs. Layer l
    is reconstructed from Y as ``sum_m L P[l, m] Y_m W_lm^T`` (``W = n_l Q``, rows sum to 1),
    and scored by the mean Pearson correlation of its units with their reconstructions.

    With ``rotation=True`` (HOT+R, docs/method.md: "Rotation-augmented HOT") every pair also learns an
    orthogonal R_lm by alternating exact transport and orthogonal Procrustes from R = I (see
    :mod:`hotalign.rotation`); the layer cost is J / 2 at the end, and the reconstruction is
    ``sum_m L P[l, m] Y_m W_lm^T R_lm^T``.

    Parameters
    ----------
    rotation : bool
        Fit HOT+R instead of HOT.
    max_rounds : int
        HOT+R: at most this many rounds (transport step + Procrustes step) per pair, >= 1.
    tol : float
        HOT+R: stop a pair when the relative decrease of J over a round is below ``tol`` (>= 0).
    constant_units : {"exclude", "cost_one", "raise"}
        Units constant on the training rows: dropped from the transport and the score (and
        counted), kept with cost 1 against every unit, or an error.
    n_threads : int, optional
        Worker threads for the layer-pair grid (default: all available CPUs).
    dtype : {"float64", "float32"}
        Precision of the standardised layers and cost tiles; solves always run in double.
        HOT+R always works in float64.
    max_layers_in_memory : int, optional
        Memory budget of plain HOT's fit, in standardised layers (>= 2; None: no limit). The
        layer-pair grid then runs block by block: at most this many standardised layers (T x n
        in ``dtype``) are held at once, plus one raw layer being read and one cost tile per
        thread; Y's layers are standardised again for every block of X's. Results are
        identical to an unlimited fit. With :func:`hotalign.evaluate` a split's training rows
        are also read layer by layer (:class:`hotalign.grid.RowSubset`), so with memory-mapped
        inputs only the layers the current pairs need are in memory. HOT+R holds all
        standardised layers.

    Attributes
    ----------
    layer_costs_ : ndarray, shape (L, M)
        ``C[l, m] = <K_lm, Q_lm>``, unit-level transport costs (correlation distances); with
        ``rotation=True``, ``J_lm / 2`` at the end of the alternation.
    rotations_ : list of list of ndarray, or None
        HOT+R: ``rotations_[l][m]``, orthogonal (n_l, n_l); identity on excluded constant
        units. None for plain HOT. Memory: ``sum_lm n_l^2`` doubles.
    objective_traces_ : list of list of ndarray, or None
        HOT+R: J after every half step of pair (l, m), shape (2 * n_rounds,), non-increasing;
        entry 0 is ``2 C_lm`` of plain HOT.
    reconstruction_errors_ : ndarray, shape (L, M), or None
        HOT+R: ``||X_l R - Y_m W^T||_F^2 / n_l`` on the training rows (standardised, unit-norm
        columns), the paper's C_lm; at most ``2 * layer_costs_``.
    n_rounds_ : ndarray of int, shape (L, M), or None
        HOT+R: rounds run per pair.
    layer_plan_ : ndarray, shape (L, M)
        Layer plan P: rows sum to 1/L, columns to 1/M (a permutation / L when L == M).
    unit_plans_ : list of list of TransportResult
        ``unit_plans_[l][m]``: sparse plan Q_lm over the original unit indices, shape
        (n_l, n_m). Excluded constant units carry no mass and NaN potentials.
    distance_ : float
        ``<C, P>``, the network-level alignment distance (lower = more alike).
    constant_units_ : dict
        ``{"X": [indices per layer], "Y": [...]}``: units constant on the training rows.
    n_constant_units_ : int
        Total number of such units.
    x_scalers_, y_scalers_ : list of ZScore
        Training-row statistics of every layer, reused on held-out rows.
    n_layers_x_, n_layers_y_ : int
        L and M.

    Examples
    --------
    >>> import hotalign
    >>> X, Y, truth = hotalign.datasets.make_hierarchy(n_stimuli=300, random_state=0)
    >>> hot = hotalign.HOT().fit(X, Y)
    >>> hot.layer_plan_.argmax(axis=1).tolist() == truth["layer_map"].tolist()
    True

    References
    ----------
    S. Shah, M. Khosla, "Representational Alignment Across Model Layers and Brain Regions with
    Hierarchical Optimal Transport", arXiv:2510.01706, 2025.
    """

    #: Every attribute ``fit`` sets (what :mod:`hotalign.cache` stores and validates).
    FITTED_ATTRIBUTES = (
        "x_scalers_", "y_scalers_", "rotations_", "objective_traces_", "reconstruction_errors_",
        "n_rounds_", "unit_plans_", "layer_costs_", "layer_plan_", "distance_",
        "constant_units_", "n_constant_units_", "n_layers_x_", "n_layers_y_",
    )

    def __init__(self, rotation=False, max_rounds=10, tol=1e-6, constant_units="exclude",
                 n_threads=None, dtype="float64", max_layers_in_memory=None):
        self.rotation = rotation
        self.max_rounds = max_rounds
        self.tol = tol
        self.constant_units = constant_units
        self.n_threads = n_threads
        self.dtype = dtype
        self.max_layers_in_memory = max_layers_in_memory

    # -- fitting -------------------------------------------------------------------------------
    def _check_params(self):
        policy = check_constant_policy(self.constant_units)
        n_threads = check_int(self.n_threads, "n_threads", minimum=1, allow_none=True)
        dtype = as_float_dtype(self.dtype)
        if not isinstance(self.rotation, (bool, np.bool_)):
            raise ValueError(f"rotation must be a bool, got {self.rotation!r}")
        check_int(self.max_rounds, "max_rounds", minimum=1)
        check_tol(self.tol)
        check_int(self.max_layers_in_memory, "max_layers_in_memory", minimum=2, allow_none=True)
        return policy, n_threads, dtype

    def fit(self, X, Y):
        """Fit unit plans, layer costs and the layer plan on the rows given.

        Parameters
        ----------
        X : list of array_like, shapes (T, n_l)
            Layers of the first system (rows = stimuli, columns = units).
        Y : list of array_like, shapes (T, n_m)
            Layers of the second system, the same T stimuli in the same order.

        Returns
        -------
        self
        """
        policy, n_threads, dtype = self._check_params()
        X, Y = _check_systems(X, Y)
        self.x_scalers_ = [ZScore().fit(A, f"X[{l}]") for l, A in enumerate(X)]
        self.y_scalers_ = [ZScore().fit(A, f"Y[{m}]") for m, A in enumerate(Y)]
        kept_x = kept_units(self.x_scalers_, policy, "X")
        kept_y = kept_units(self.y_scalers_, policy, "Y")
        if self.rotation:
            dtype = np.float64
        widths_x = [A.shape[1] for A in X]
        widths_y = [A.shape[1] for A in Y]
        L, M = len(X), len(Y)

        def standardized(scalers, layers, kept, index, name):
            return [scalers[k].transform(layers[k], dtype, columns=kept[k], name=f"{name}[{k}]")
                    for k in index]

        budget = self.max_layers_in_memory
        if not self.rotation and budget is not None and budget < L + M:
            costs, plans = _blocked_grid(
                lambda idx: standardized(self.x_scalers_, X, kept_x, idx, "X"),
                lambda idx: standardized(self.y_scalers_, Y, kept_y, idx, "Y"),
                L, M, budget, n_threads)
        else:
            Zx = standardized(self.x_scalers_, X, kept_x, range(L), "X")
            Zy = standardized(self.y_scalers_, Y, kept_y, range(M), "Y")
        if self.rotation:
            from .rotation import fit_rotation_grid  # numba: imported only when used

            pairs = fit_rotation_grid(Zx, Zy, max_rounds=int(self.max_rounds),
                                      tol=float(self.tol),
                                      n_threads=default_threads() if n_threads is None
                                      else n_threads)
            plans = [[p.plan for p in row] for row in pairs]
            costs = np.array([[p.cost for p in row] for row in pairs])
            self.rotations_ = [[_embed_rotation(pairs[l][m].rotation, kept_x[l], widths_x[l])
                                for m in range(M)] for l in range(L)]
            self.objective_traces_ = [[p.objective for p in row] for row in pairs]
            self.reconstruction_errors_ = np.array(
                [[p.reconstruction_error for p in row] for row in pairs])
            self.n_rounds_ = np.array([[p.n_rounds for p in row] for row in pairs])
        else:
            if budget is None or budget >= L + M:
                grid = solve_pairs(Zx, Zy, n_threads=n_threads, keep_plans=True)
                plans, costs = grid.plans, grid.costs
            self.rotations_ = None
            self.objective_traces_ = None
            self.reconstruction_errors_ = None
            self.n_rounds_ = None

        self.unit_plans_ = [
            [
                to_original_units(plans[l][m], kept_x[l], kept_y[m], widths_x[l], widths_y[m])
                for m in range(M)
            ]
            for l in range(L)
        ]
        self.layer_costs_ = costs
        self.layer_plan_ = layer_plan(costs)
        self.distance_ = float(np.sum(self.layer_costs_ * self.layer_plan_))
        self.constant_units_ = {
            "X": [np.flatnonzero(s.constant_) for s in self.x_scalers_],
            "Y": [np.flatnonzero(s.constant_) for s in self.y_scalers_],
        }
        self.n_constant_units_ = int(
            sum(c.size for c in self.constant_units_["X"] + self.constant_units_["Y"])
        )
        self.n_layers_x_, self.n_layers_y_ = len(X), len(Y)
        return self

    # -- prediction and scoring ----------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "layer_plan_"):
            raise ValueError("this HOT instance is not fitted yet: call fit(X, Y) first")

    def _standardize_y(self, Y):
        Y = check_layers(Y, "Y", min_rows=1, check_finite=False)  # standardize() checks
        if len(Y) != self.n_layers_y_:
            raise ValueError(f"Y must have {self.n_layers_y_} layers as in fit, got {len(Y)}")
        out = []
        for m, (s, A) in enumerate(zip(self.y_scalers_, Y)):
            if A.shape[1] != s.mean_.shape[0]:
                raise ValueError(
                    f"Y[{m}] must have {s.mean_.shape[0]} units as in fit, got {A.shape[1]}"
                )
            # ZScore.transform gives (y - mean) / (sd_train sqrt(T')); times sqrt(T') this is
            # the conventional z-score of the training statistics.
            out.append(s.transform(A, np.float64, name=f"Y[{m}]") * np.sqrt(A.shape[0]))
        return out

    def predict(self, Y, layer_weights=None):
        """Reconstruct every layer of X from (held-out) rows of Y.

        Parameters
        ----------
        Y : list of array_like, shapes (T', n_m)
            Layers of the second system on the rows to predict.
        layer_weights : ndarray, shape (L, M), optional
            Mixture weights of the Y layers for each X layer; default ``L * layer_plan_`` (HOT).
            Baselines pass their own (see :func:`hotalign.evaluate`).

        Returns
        -------
        list of ndarray, shapes (T', n_l)
            Reconstructions in z-score units: built from Y's units z-scored with their
            training mean and standard deviation, ``(y - mean) / sd``. Compare with X's units
            z-scored the same way (``x_scalers_``); correlations do not depend on the scale.
        """
        self._check_fitted()
        return self._reconstruct(self._standardize_y(Y), layer_weights)

    def _reconstruct(self, Zy, layer_weights):
        weights = self.n_layers_x_ * self.layer_plan_ if layer_weights is None else layer_weights
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != self.layer_plan_.shape:
            raise ValueError(
                f"layer_weights must have shape {self.layer_plan_.shape}, got {weights.shape}"
            )
        return reconstruct(Zy, self.unit_plans_, weights, rotations=self.rotations_)

    def layer_scores(self, X, Y, layer_weights=None, return_counts=False):
        """Per-layer reconstruction scores: mean Pearson over units of X[l] and Xhat_l.

        Units constant on these rows (or excluded as constant in training) are left out of
        the mean and counted.

        Parameters
        ----------
        X, Y : list of array_like
            Held-out rows of both systems.
        layer_weights : ndarray, shape (L, M), optional
            As in :meth:`predict`.
        return_counts : bool
            Also return the number of units left out per layer.

        Returns
        -------
        scores : ndarray, shape (L,)
        n_left_out : ndarray of int, shape (L,)
            Only if ``return_counts``.
        """
        X, Zy = self._held_out(X, Y)
        return self._scores(X, Zy, layer_weights, return_counts)

    def _held_out(self, X, Y):
        """Validated held-out X and standardised held-out Y, shared by every method's score."""
        self._check_fitted()
        X = check_layers(X, "X", min_rows=2)
        if len(X) != self.n_layers_x_:
            raise ValueError(f"X must have {self.n_layers_x_} layers as in fit, got {len(X)}")
        Y = check_layers(Y, "Y", min_rows=1, check_finite=False)  # standardize() checks
        if X[0].shape[0] != Y[0].shape[0]:
            raise ValueError("X and Y must hold the same held-out stimuli (row counts differ)")
        return X, self._standardize_y(Y)

    def _scores(self, X, Zy, layer_weights=None, return_counts=False):
        Xhat = self._reconstruct(Zy, layer_weights)
        scores = np.empty(len(X))
        left_out = np.zeros(len(X), dtype=np.int64)
        for l, (A, B) in enumerate(zip(X, Xhat)):
            if A.shape[1] != B.shape[1]:
                raise ValueError(f"X[{l}] must have {B.shape[1]} units as in fit, got {A.shape[1]}")
            r = unit_correlations(A, B)
            ok = np.isfinite(r)
            if not ok.any():
                raise ValueError(
                    f"no unit of X[{l}] can be scored: every unit is constant on these rows "
                    "or was excluded as constant in training"
                )
            scores[l] = r[ok].mean()
            left_out[l] = r.size - ok.sum()
        return (scores, left_out) if return_counts else scores

    def score(self, X, Y):
        """HOT score: mean over layers of :meth:`layer_scores` (higher is better)."""
        return float(np.mean(self.layer_scores(X, Y)))


def _blocked_grid(std_x, std_y, L, M, budget, n_threads):
    """The layer-pair grid in blocks of at most ``budget`` standardised layers at a time.

    ``std_x(indices)`` / ``std_y(indices)`` standardise the layers with those indices. X is
    taken in blocks of ``budget // 2`` layers; for each, Y in blocks of the rest. Every pair is
    solved by the same code on the same inputs as in one grid, so results are identical.
    """
    bx = max(1, min(L, budget // 2))
    by = max(1, budget - bx)
    costs = np.empty((L, M))
    plans = [[None] * M for _ in range(L)]
    for l0 in range(0, L, bx):
        rows = range(l0, min(L, l0 + bx))
        Zx = std_x(rows)
        for m0 in range(0, M, by):
            cols = range(m0, min(M, m0 + by))
            grid = solve_pairs(Zx, std_y(cols), n_threads=n_threads, keep_plans=True)
            for i, l in enumerate(rows):
                for j, m in enumerate(cols):
                    costs[l, m] = grid.costs[i, j]
                    plans[l][m] = grid.plans[i][j]
        del Zx
    return costs, plans


def _check_systems(X, Y):
    # NaN/inf are found by the C++ statistics pass of fit (training rows) and, for held-out
    # rows, by layer_scores / the standardisation of predict.
    X = check_layers(X, "X", min_rows=3, check_finite=False)
    Y = check_layers(Y, "Y", min_rows=3, check_finite=False)
    if X[0].shape[0] != Y[0].shape[0]:
        raise ValueError(
            f"X and Y must hold the same stimuli: X has {X[0].shape[0]} rows (T), Y has "
            f"{Y[0].shape[0]}"
        )
    return X, Y


def check_tol(tol, name="tol"):
    """Validate a nonnegative finite tolerance."""
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, (int, float, np.floating,
                                                                 np.integer)):
        raise ValueError(f"{name} must be a nonnegative number, got {tol!r}")
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {tol!r}")
    return float(tol)


def _embed_rotation(R, kept, n):
    """An (n, n) rotation acting as R on the kept units and as the identity on the others."""
    if len(kept) == n:
        return R
    full = np.eye(n)
    full[np.ix_(kept, kept)] = R
    return full
