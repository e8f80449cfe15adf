"""The HOT estimator: two-level hierarchical optimal transport between two systems."""

from __future__ import annotations

import numpy as np

from ._base import ParamsMixin
from ._validation import (
    as_array,
    check_bool,
    check_float,
    check_int,
    check_layers,
    check_n_threads,
    check_same_stimuli,
)
from .cache.codec import _array, _fail, _fields, _int, _nested, _real
from .cache.memory import as_memory
from .costs import ZScore, as_float_dtype, check_constant_policy
from .grid import solve_systems
from .hierarchy import (plan_distance, reconstruct, reconstruct_layer,
                        unit_correlations)
from .kinds import PLAIN, ROTATION_ATTRIBUTES, Rotation
from .lazy import certified_layer_plan
from .results import GridResult, TransportResult
from .slack_search import search_slack
from .systems import standardize_system
from .marginals import check_rule, check_slack, marginal_layer_plan, plan_record

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
        are also read layer by layer (:meth:`hotalign.layer.Layer.take`), so with memory-mapped
        inputs only the layers the current pairs need are in memory. HOT+R holds all
        standardised layers.
    memory : str, os.PathLike or hotalign.cache.Memory, optional
        Keep results on disk (scikit-learn's ``memory=`` idiom): a fit whose entry exists is
        loaded instead of recomputed, and otherwise every layer pair is stored as soon as it is
        solved, so a killed fit resumes with only the missing pairs. Never changes a result;
        clones share it. See :mod:`hotalign.cache`.
    lazy : bool
        Certified lazy layer grid (:mod:`hotalign.lazy`): bound every layer pair cheaply and
        solve only the pairs the optimal layer plan needs, with a certificate that the plan is
        optimal for the true costs. ``layer_plan_``, ``distance_`` and the unit plans on the
        plan's support are those of a full fit (when the optimal plan is unique; with ties, an
        optimal plan of the same distance). With ``rotation=True`` the bound of a pair is the
        best-orthogonal-alignment (nuclear-norm) bound on rank-``lazy_rank`` projections
        (:func:`hotalign.lazy.rotation_bounds`), and unsolved pairs skip the whole
        alternation.
    lazy_rank : int
        Lazy fits: dimension of the projection subspace of each layer's bound (>= 1).
    layer_marginals : {"uniform", "slack", "semi-relaxed", "auto"}
        Column marginals of the layer plan (docs/method.md, "Relaxed layer marginals"; rows
        always sum to 1/L). ``"uniform"``: 1/M, the paper's HOT. ``"slack"``: Y layer m sends
        between max(1 - s, 0)/M and (1 + s)/M (``slack=s``, or ``(s_low, s_high)``), an exact
        LP solved on the network simplex (:mod:`hotalign.marginals`). ``"semi-relaxed"``: no
        column constraint; ``L * P`` is then Pairwise-Best's weights. ``"auto"``: s chosen by
        cross-validation on the rows given to ``fit`` (:func:`hotalign.select_slack`), over
        ``slack`` as a grid (default (0, 0.1, 0.25, 0.5, 1, inf)). With ``lazy=True`` the
        certified plan is that of the bounded LP ("auto" selects s with full fits on the
        folds, then fits lazily).
    slack : float, (float, float), sequence of float or None
        ``"slack"``: s >= 0 (inf allowed) or ``(s_low, s_high)``. ``"auto"``: the candidate
        grid (None: the default). Must be None for the other rules.
    slack_splits : int
        ``"auto"``: folds of the cross-validation (>= 2).
    random_state : int >= 0, numpy.random.Generator or None
        ``"auto"``: seeds the folds.

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
        Layer plan P: rows sum to 1/L, columns to 1/M (a permutation / L when L == M); with
        relaxed ``layer_marginals``, columns within ``layer_marginals_["lower"]`` and
        ``["upper"]``.
    marginal_rule_ : tuple
        ``(rule, slack)`` of the layer plan: ("uniform", None), ("semi-relaxed", None) or
        ("slack", (s_low, s_high)); an "auto" fit records ("slack", (s, s)) with the chosen s.
    layer_marginals_ : dict
        The layer-level LP (derived from ``marginal_rule_`` and the costs, so a fit restored
        from a cache re-certifies its plan): ``rule`` ("uniform", "slack" or "semi-relaxed";
        "auto" fits record "slack" with the chosen s), ``slack`` (``[s_low, s_high]`` or
        None), ``lower``,
        ``upper``, ``column_sums`` (M,), ``row_duals`` (L,), ``column_duals`` (M,),
        ``objective`` and ``certificate`` (:func:`hotalign.marginals.certify`; a lazy fit's is
        on its costs C', exact on the plan's support).
    slack_selection_ : dict or None
        ``"auto"``: the held-out curve (``grid``, ``scores`` per fold, ``mean``, ``std``,
        ``chosen``; :class:`hotalign.slack.SlackSelection`). None otherwise.
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
    solved_pairs_ : ndarray of bool, shape (L, M)
        Pairs whose unit-level problem was solved (all of them unless ``lazy``). Where False,
        ``layer_costs_`` is NaN and ``unit_plans_`` holds None.
    n_pairs_solved_ : int
        ``solved_pairs_.sum()``.
    layer_cost_bounds_ : ndarray, shape (L, M), or None
        Lazy fits: the certified lower bounds of the unsolved pairs' costs (NaN where solved).
    lazy_certificate_ : dict or None
        Lazy fits: outer ``rounds``, ``min_reduced_cost`` of the outer duals over every cell
        (>= -1e-12: the plan is optimal for the true costs), ``support_solved`` and
        ``bounds_skipped`` (True when a probe found the bounds unable to prune and every pair
        was solved instead; :func:`hotalign.lazy.probed_projection_bounds`).

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
        "solved_pairs_", "n_pairs_solved_", "layer_cost_bounds_", "lazy_certificate_",
        "marginal_rule_", "slack_selection_",
    )

    def __init__(self, rotation=False, max_rounds=10, tol=1e-6, constant_units="exclude",
                 n_threads=None, dtype="float64", max_layers_in_memory=None, memory=None,
                 lazy=False, lazy_rank=32, layer_marginals="uniform", slack=None,
                 slack_splits=3, random_state=0):
        self.rotation = rotation
        self.max_rounds = max_rounds
        self.tol = tol
        self.constant_units = constant_units
        self.n_threads = n_threads
        self.dtype = dtype
        self.max_layers_in_memory = max_layers_in_memory
        self.memory = memory
        self.lazy = lazy
        self.lazy_rank = lazy_rank
        self.layer_marginals = layer_marginals
        self.slack = slack
        self.slack_splits = slack_splits
        self.random_state = random_state

    # -- fitting -------------------------------------------------------------------------------
    def _check_params(self):
        policy = check_constant_policy(self.constant_units)
        n_threads = check_n_threads(self.n_threads)
        dtype = as_float_dtype(self.dtype)
        check_bool(self.rotation, "rotation")
        check_int(self.max_rounds, "max_rounds", minimum=1, maximum=2**62)
        check_tol(self.tol)
        check_int(self.max_layers_in_memory, "max_layers_in_memory", minimum=2, allow_none=True)
        check_bool(self.lazy, "lazy")
        check_int(self.lazy_rank, "lazy_rank", minimum=1)
        check_rule(self.layer_marginals, self.slack)
        check_int(self.slack_splits, "slack_splits", minimum=2)
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
        return self._fit(X, Y)

    def _fit(self, X, Y, systems=None):
        """:meth:`fit`; ``systems`` (a dict) shares the standardised systems between fits of
        the same rows (:func:`hotalign.evaluate`'s plain and HOT+R fits of one split): each
        (policy, dtype, hold) is standardised, and its layers hashed, once."""
        policy, n_threads, dtype = self._check_params()
        vars(self).pop("_layer_marginals", None)  # derived from the fitted state
        X, Y = _check_systems(X, Y)
        memory = as_memory(self.memory)
        if memory is not None:
            key, restored = memory.fits.restore(self, X, Y)
            if restored:
                return self
        self._marginals(X, Y)
        kind = self._pair_kind()
        budget = self.max_layers_in_memory if kind.budgeted else None
        how = self._system_key()
        dtype = how[1]
        systems = {} if systems is None else systems
        if how not in systems:
            systems[how] = tuple(standardize_system(A, name, policy=policy, dtype=dtype,
                                                    hold=budget is None)
                                 for A, name in ((X, "X"), (Y, "Y")))
        Sx, Sy = systems[how]
        options = dict(n_threads=n_threads, kind=kind, max_layers_in_memory=budget,
                       cache=None if memory is None else memory.pairs)
        if self.lazy:
            self._fit_lazy(Sx, Sy, options)
        else:
            self._set_fitted(Sx, Sy, solve_systems(Sx, Sy, **options))
        if memory is not None:
            memory.fits.store(key, self)
        return self

    def _marginals(self, X, Y):
        """The rule and slack of this fit's layer plan ("auto": chosen on the rows given)."""
        self.slack_selection_ = None
        if self.layer_marginals != "auto":
            slack = None if self.slack is None else tuple(check_slack(self.slack))
            self.marginal_rule_ = (self.layer_marginals, slack)
            return
        selection = search_slack(self, X, Y, grid=self.slack, n_splits=self.slack_splits,
                                 random_state=self.random_state)
        self.slack_selection_ = selection.state()
        self.marginal_rule_ = ("slack", (selection.chosen, selection.chosen))

    def _layer_plan(self, C):
        """The layer-level LP of this fit's rule on the costs C (a MarginalPlan)."""
        return marginal_layer_plan(C, *self.marginal_rule_)

    @property
    def layer_marginals_(self) -> dict:
        """The layer-level LP of the fit (see the class notes): bounds, column sums, duals and
        the certificate of ``layer_plan_`` on the costs the plan was solved on.

        :meta private:
        """
        if "_layer_marginals" not in vars(self):
            if "marginal_rule_" not in vars(self):
                raise AttributeError("layer_marginals_: this HOT instance is not fitted yet")
            C = self.layer_costs_
            if self.layer_cost_bounds_ is not None:  # a lazy fit: its certified C'
                C = np.where(self.solved_pairs_, C, self.layer_cost_bounds_)
            self._layer_marginals = plan_record(self._layer_plan(C), *self.marginal_rule_,
                                                plan=self.layer_plan_)
        return self._layer_marginals

    def _system_key(self):
        """How this fit standardises its systems: (policy, dtype, held), the key of the
        ``systems`` dict of :meth:`_fit`."""
        policy, _, dtype = self._check_params()
        kind = self._pair_kind()
        dtype = dtype if kind.dtype is None else kind.dtype
        budget = self.max_layers_in_memory if kind.budgeted else None
        return policy, np.dtype(dtype), budget is None

    def _pair_kind(self):
        """The pair kind of this fit (:mod:`hotalign.kinds`): plain, or HOT+R's options."""
        if not self.rotation:
            return PLAIN
        return Rotation(max_rounds=int(self.max_rounds), tol=float(self.tol))

    def _fit_lazy(self, Sx, Sy, options):
        """Level 2 from certified bounds, solving only the pairs the layer plan needs."""
        kind = options["kind"]
        grid = GridResult.empty(len(Sx), len(Sy), rotation=kind.keeps_results)

        def solve(cells):
            solve_systems(Sx, Sy, pairs=cells, out=grid, **options)

        bounds, skipped = kind.lazy_bounds(Sx, Sy, grid.costs, solve, rank=int(self.lazy_rank),
                                           n_threads=options["n_threads"])
        outer = None if self.marginal_rule_[0] == "uniform" else self._layer_plan
        plan, certificate = certified_layer_plan(grid.costs, bounds, solve, outer=outer)
        certificate["bounds_skipped"] = skipped
        solved = certificate.pop("solved")
        result = certificate.pop("outer", None)
        if result is None:  # the uniform outer transport, again on the certified C'
            result = self._layer_plan(np.where(solved, grid.costs, bounds))
        self._set_fitted(Sx, Sy, grid, plan=result)
        self.layer_cost_bounds_ = np.where(solved, np.nan, bounds)
        self.lazy_certificate_ = certificate

    def _set_fitted(self, Sx, Sy, grid, plan=None):
        """The fitted attributes from the standardised systems and the solved grid (and the
        layer plan's MarginalPlan, when a lazy fit has certified it)."""
        self.x_scalers_, self.y_scalers_ = Sx.scalers, Sy.scalers
        L, M = len(Sx), len(Sy)
        # the attributes a pair kind adds: None unless this fit's kind sets them
        for name, value in {**dict.fromkeys(ROTATION_ATTRIBUTES),
                            **self._pair_kind().fitted(Sx, Sy, grid)}.items():
            setattr(self, name, value)
        self.unit_plans_ = grid.plans
        self.layer_costs_ = grid.costs
        plan = self._layer_plan(grid.costs) if plan is None else plan
        self.layer_plan_ = plan.plan
        self._layer_marginals = plan_record(plan, *self.marginal_rule_)
        self.distance_ = plan_distance(self.layer_costs_, self.layer_plan_)
        self.solved_pairs_ = np.isfinite(grid.costs)
        self.n_pairs_solved_ = int(self.solved_pairs_.sum())
        self.layer_cost_bounds_ = None
        self.lazy_certificate_ = None
        self.constant_units_ = {"X": Sx.constant_units, "Y": Sy.constant_units}
        self.n_constant_units_ = int(
            sum(c.size for c in self.constant_units_["X"] + self.constant_units_["Y"]))
        self.n_layers_x_, self.n_layers_y_ = L, M

    def check_fitted_state(self, state, X, Y):
        """Check a stored fitted state of this estimator on layers ``X`` and ``Y`` (lists of
        ``(T, n)`` arrays) before the fit cache (:mod:`hotalign.cache`) restores it.

        Raises :class:`hotalign.cache.InvalidEntry` unless ``state`` (a dict: attribute name ->
        value) is a complete fitted state of these parameters on these layers: names, types,
        dtypes and shapes.
        """
        _fields(state, type(self).FITTED_ATTRIBUTES, "HOT state")
        L, M = len(X), len(Y)
        wx, wy = [A.shape[1] for A in X], [A.shape[1] for A in Y]
        T = X[0].shape[0] if L else 0
        for name, widths in (("x_scalers_", wx), ("y_scalers_", wy)):
            scalers = state[name]
            if not isinstance(scalers, list) or len(scalers) != len(widths) or any(
                    not isinstance(z, ZScore) or z.mean_.shape != (w,) or z.n_rows_ != T
                    for z, w in zip(scalers, widths)):
                _fail(f"{name} does not match the layers")

        solved = _array(state["solved_pairs_"], "solved_pairs_", np.bool_, (L, M))
        if _int(state["n_pairs_solved_"], "n_pairs_solved_") != int(solved.sum()):
            _fail("n_pairs_solved_ does not match solved_pairs_")

        def plan(p, l, m):
            if not solved[l, m] and p is None:
                return
            if not isinstance(p, TransportResult) or p.shape != (wx[l], wy[m]):
                _fail(f"unit_plans_[{l}][{m}] does not match the layers")

        _nested(state["unit_plans_"], "unit_plans_", L, M, plan)
        costs = _array(state["layer_costs_"], "layer_costs_", np.float64, (L, M))
        if not np.array_equal(np.isfinite(costs), solved):
            _fail("layer_costs_ must be finite exactly on the solved pairs")
        lazy = bool(getattr(self, "lazy", False))
        if lazy:
            _array(state["layer_cost_bounds_"], "layer_cost_bounds_", np.float64, (L, M))
            certificate = state["lazy_certificate_"]
            optional = ("bounds_skipped",) if isinstance(certificate, dict) and \
                "bounds_skipped" in certificate else ()  # entries of earlier versions lack it
            _fields(certificate, ("rounds", "min_reduced_cost", "support_solved") + optional,
                    "lazy_certificate_")
            if optional and not isinstance(certificate["bounds_skipped"], bool):
                _fail("lazy_certificate_.bounds_skipped must be a bool")
            _int(certificate["rounds"], "lazy_certificate_.rounds", minimum=1)
            _real(certificate["min_reduced_cost"], "lazy_certificate_.min_reduced_cost")
            if certificate["support_solved"] is not True:
                _fail("lazy_certificate_.support_solved must be True")
        elif state["layer_cost_bounds_"] is not None or state["lazy_certificate_"] is not None \
                or not solved.all():
            _fail("lazy results in a fit without lazy=True")
        _array(state["layer_plan_"], "layer_plan_", np.float64, (L, M))
        _real(state["distance_"], "distance_")
        constant = state["constant_units_"]
        _fields(constant, ("X", "Y"), "constant_units_")
        for tag, widths in (("X", wx), ("Y", wy)):
            units = constant[tag]
            if not isinstance(units, list) or len(units) != len(widths):
                _fail(f"constant_units_[{tag!r}] does not match the layers")
            for k, (u, w) in enumerate(zip(units, widths)):
                _array(u, f"constant_units_[{tag!r}][{k}]", np.int64, (None,))
                if u.size and (u.min() < 0 or u.max() >= w):
                    _fail(f"constant_units_[{tag!r}][{k}] names units outside the layer")
        _int(state["n_constant_units_"], "n_constant_units_")
        if (_int(state["n_layers_x_"], "n_layers_x_"), _int(state["n_layers_y_"], "n_layers_y_")) \
                != (L, M):
            _fail("n_layers_x_ / n_layers_y_ do not match the layers")
        rule = state["marginal_rule_"]
        if not isinstance(rule, (tuple, list)) or len(rule) != 2:
            _fail("marginal_rule_ must be a (rule, slack) pair")
        try:  # the rule of a stored fit is a fixed one ("auto" is stored as its chosen slack)
            check_rule(rule[0], None if rule[1] is None else tuple(rule[1]), allow_auto=False)
        except (TypeError, ValueError) as exc:
            _fail(f"marginal_rule_: {exc}")
        if state["slack_selection_"] is not None and not isinstance(state["slack_selection_"],
                                                                      dict):
            _fail("slack_selection_ must be a dict or None")
        self._pair_kind().check_fitted_state(state, L, M, wx, solved, array=_array,
                                             nested=_nested, fail=_fail)

    # -- prediction and scoring ----------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "layer_plan_"):
            raise ValueError("this HOT instance is not fitted yet: call fit(X, Y) first")

    def _standardize_y(self, Y, for_scores=False):
        """Y's layers z-scored with the training statistics. Held-out values so far from the
        training mean that their z-score leaves the float64 range are an error naming the
        layer (``for_scores``: the unit-norm standardisation is used instead, since scores
        are correlations and do not depend on the scale)."""
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
            Z = s.transform(A, np.float64, name=f"Y[{m}]")
            with np.errstate(over="ignore"):
                scaled = Z * np.sqrt(A.shape[0])
            if not np.isfinite(scaled).all():
                if not (for_scores and np.isfinite(Z).all()):
                    raise ValueError(
                        f"Y[{m}] holds values too far from the training mean for float64 "
                        "z-scores (|y - mean| / sd overflows); rescale the layer to the scale "
                        "of the training rows")
                scaled = Z
            out.append(scaled)
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

        Raises
        ------
        ValueError
            Rows of Y so far from the training rows (e.g. +-float max) that their z-scores or
            the reconstruction leave the float64 range: never an inf or NaN result.
        """
        self._check_fitted()
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._reconstruct(self._standardize_y(Y), layer_weights)
        for l, Xhat in enumerate(out):
            if not np.isfinite(Xhat).all():
                raise ValueError(f"the reconstruction of X[{l}] overflows float64: Y holds "
                                 "values too large for z-scores; rescale Y")
        return out

    def _reconstruct(self, Zy, layer_weights):
        return reconstruct(Zy, self.unit_plans_, self._weights(layer_weights),
                           rotations=self.rotations_)

    def _weights(self, layer_weights):
        """Validated (L, M) float64 layer weights (None: HOT's ``L * layer_plan_``)."""
        if layer_weights is None:
            weights = self.n_layers_x_ * self.layer_plan_
        else:
            weights = as_array(layer_weights, "layer_weights")
            if weights.dtype.kind not in "biuf":
                raise ValueError(f"layer_weights must be a real numeric array, got dtype "
                                 f"{weights.dtype}")
            weights = weights.astype(np.float64)
            if weights.shape != self.layer_plan_.shape:
                raise ValueError(
                    f"layer_weights must have shape {self.layer_plan_.shape}, got {weights.shape}"
                )
            if not np.isfinite(weights).all():
                raise ValueError("layer_weights contains NaN or infinity")
        return weights

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
        check_bool(return_counts, "return_counts")
        X, Zy = self._held_out(X, Y)
        return self._scores(X, Zy, {None: layer_weights}, return_counts)[None]

    def layer_scores_by_weighting(self, X, Y, weightings, return_counts=False) -> dict:
        """Per-layer reconstruction scores of several layer weightings on the same held-out
        rows, standardised once (how :func:`hotalign.evaluate` scores HOT and its baselines).

        Parameters
        ----------
        X, Y : list of array_like
            Held-out rows of both systems.
        weightings : dict of str -> ndarray, shape (L, M)
            Layer weights per name (e.g. :func:`hotalign.baselines.layer_weights` of each
            method); ``None`` for HOT's own ``L * layer_plan_``.
        return_counts : bool
            Also return the number of units left out per layer.

        Returns
        -------
        dict of str -> ndarray, shape (L,)
            The scores of each weighting (with ``return_counts``: ``(scores, n_left_out)``
            pairs), as :meth:`layer_scores` gives them for one weighting.
        """
        X, Zy = self._held_out(X, Y)
        return self._scores(X, Zy, weightings, return_counts)

    def _held_out(self, X, Y):
        """Validated held-out X and standardised held-out Y, shared by every method's score."""
        self._check_fitted()
        X = check_layers(X, "X", min_rows=2)
        if len(X) != self.n_layers_x_:
            raise ValueError(f"X must have {self.n_layers_x_} layers as in fit, got {len(X)}")
        Y = check_layers(Y, "Y", min_rows=1, check_finite=False)  # standardize() checks
        check_same_stimuli(X[0].shape[0], Y[0].shape[0], what="held-out rows")
        return X, self._standardize_y(Y, for_scores=True)

    def _scores(self, X, Zy, weightings, return_counts=False) -> dict:
        """Scores of each weighting, layer by layer: each pair's reconstruction term is
        computed once for all the weightings (:func:`hotalign.hierarchy.reconstruct_layer`)."""
        names = list(weightings)
        ws = [self._weights(weightings[name]) for name in names]
        scores = np.empty((len(names), len(X)))
        left_out = np.zeros((len(names), len(X)), dtype=np.int64)
        for l, A in enumerate(X):
            for k, B in enumerate(reconstruct_layer(Zy, self.unit_plans_, ws, l,
                                                    self.rotations_)):
                if A.shape[1] != B.shape[1]:
                    raise ValueError(f"X[{l}] must have {B.shape[1]} units as in fit, got "
                                     f"{A.shape[1]}")
                r = unit_correlations(A, B)
                ok = np.isfinite(r)
                if not ok.any():
                    raise ValueError(
                        f"no unit of X[{l}] can be scored: every unit is constant on these "
                        "rows or was excluded as constant in training"
                    )
                scores[k, l] = r[ok].mean()
                left_out[k, l] = r.size - ok.sum()
        return {name: (scores[k], left_out[k]) if return_counts else scores[k]
                for k, name in enumerate(names)}

    def score(self, X, Y):
        """HOT score: mean over layers of :meth:`layer_scores` (higher is better)."""
        return float(np.mean(self.layer_scores(X, Y)))


def _check_systems(X, Y):
    # NaN/inf are found by the C++ statistics pass of fit (training rows) and, for held-out
    # rows, by layer_scores / the standardisation of predict.
    X = check_layers(X, "X", min_rows=3, check_finite=False)
    Y = check_layers(Y, "Y", min_rows=3, check_finite=False)
    check_same_stimuli(X[0].shape[0], Y[0].shape[0])
    return X, Y


def check_tol(tol, name="tol"):
    """Validate a nonnegative finite tolerance."""
    return check_float(tol, name, low=0.0)

