"""Layer plans with relaxed source marginals: exact LPs on hotalign's network simplex
(docs/method.md, "Relaxed layer marginals").

The layer plan of HOT fixes both marginals: rows (X's layers, the reconstructed side) sum to
1/L, columns (Y's layers, the source side) to 1/M. With layers of very different depth the
column constraint forces every layer of the deeper network to be used equally, even layers
that match no layer of the other one. This module keeps the rows exact and gives each column
an interval instead:

    min <C, P>  over  P >= 0,  P 1 = 1/L,  lower_m <= (P^T 1)_m <= upper_m.

Rules (:func:`column_bounds`):

- ``"uniform"``: lower = upper = 1/M, the paper's HOT.
- ``"slack"`` with ``slack=s``: lower = max(1 - s, 0)/M, upper = min((1 + s)/M, 1). s = 0 is
  uniform; s >= 1 drops the lower bound; s = inf (or any s >= M - 1, as a column can never
  carry more than the total mass 1) drops both. An asymmetric ``slack=(s_low, s_high)`` gives
  lower = max(1 - s_low, 0)/M, upper = min((1 + s_high)/M, 1): e.g. ``(1, s)`` is a pure
  capacity rule (no Y layer is forced to be used; none explains more than (1 + s)/M).
- ``"semi-relaxed"``: no column constraint (lower 0, upper 1). Each row then independently
  puts its 1/L on its cheapest column, so ``L * P`` is Pairwise-Best's weight matrix (one-hot
  on ``argmin_m C[l, m]``; ties go to the first index, as in :mod:`hotalign.baselines`), and
  ``<C, P> = mean_l min_m C[l, m]``.

The bounded problem as a balanced transportation problem (:func:`bounded_layer_plan`). Split
every column m into a *fixed* part with demand lower_m and a *flexible* part with demand
upper_m - lower_m, and add one dummy row with supply sum(upper) - 1 that absorbs the flexible
capacity the real rows leave unused. Real rows reach both parts of every column at cost C_lm;
the dummy reaches flexible parts at cost 0 and fixed parts at cost B. Any plan T of this
problem that leaves the dummy off the fixed parts gives P = T_fixed + T_flexible, feasible for
the bounded problem with the same cost (column m receives lower_m plus what the real rows send
to its flexible part, at most upper_m - lower_m), and every feasible P arises this way (fill the
fixed part first). The big cost is safe: if the dummy sent mass to a fixed part m, the real rows
would send more than 1 - sum(lower) to the flexible parts, so some real row r sends mass to a
flexible part k; moving epsilon along the cycle dummy->k_flex, r->m_fixed (in) and
dummy->m_fixed, r->k_flex (out) changes the cost by epsilon (C_rm - C_rk - B) < 0 whenever
B > max C - min C. The solve runs on C' = (C - min C) / (max C - min C) (the same optimal
plans: every row has a fixed mass) with B = 2, and the result is checked to leave the dummy
off every fixed part.

Certificate (:func:`certify`), on the original bounded problem. The dual is

    max  sum_l alpha_l / L + sum_m lower_m mu_m - sum_m upper_m nu_m
    s.t. alpha_l + mu_m - nu_m <= C_lm,  mu, nu >= 0.

With the transport duals (u, v) shifted so that the dummy's u is 0, alpha = u (real rows) and
beta_m = max(v_fixed,m, v_flex,m) give mu = max(beta, 0), nu = max(-beta, 0): dual feasible
(alpha + beta <= C because both parts' arcs are), complementary on the cells (a cell of P with
mass is a basic arc of one part), and on the bounds (beta_m > 0 means v_fixed > v_flex, so no
real row uses the flexible part and the column sits at lower_m; beta_m < 0 means v_flex < 0,
so the dummy does not use the flexible part and the column sits at upper_m). The certificate
checks primal feasibility, dual feasibility, the three complementary slackness conditions and
the duality gap, each to 1e-12 (relative to the scale of C for the dual side).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from ._validation import as_array, as_sequence, check_choice
from .transport import solve_transport

__all__ = ["DEFAULT_SLACK_GRID", "LAYER_MARGINALS", "MarginalPlan", "bounded_layer_plan", "check_slack_grid",
           "certify", "column_bounds", "marginal_layer_plan"]

#: Rules of :class:`hotalign.HOT`'s ``layer_marginals`` ("auto" chooses a slack on held-out
#: training rows, see :mod:`hotalign.slack`).
LAYER_MARGINALS = ("uniform", "slack", "semi-relaxed", "auto")

#: Candidate slacks of ``layer_marginals="auto"`` and :func:`hotalign.select_slack`.
DEFAULT_SLACK_GRID = (0.0, 0.1, 0.25, 0.5, 1.0, math.inf)

#: The dummy row's cost to a fixed part, on costs scaled to [0, 1] (safe when > 1).
_BIG = 2.0

#: Bounds whose sum is within this of the total mass 1 fix every column (rounding only).
_TIGHT = 1e-14


@dataclass(eq=False)
class MarginalPlan:
    """An exact layer plan with relaxed column marginals and its dual certificate.

    Attributes
    ----------
    plan : ndarray, shape (L, M)
        P: rows sum to 1/L, column m to a value in [lower[m], upper[m]].
    row_duals : ndarray, shape (L,)
        alpha, the duals of the row equalities.
    column_duals : ndarray, shape (M,)
        beta = mu - nu: positive where the lower bound binds, negative where the upper does.
    lower, upper : ndarray, shape (M,)
        The column bounds.
    objective : float
        ``<C, P>``.
    certificate : dict
        :func:`certify` of the plan and duals on the original problem.
    certificate_costs : ndarray, shape (L, M)
        The costs C the plan was solved (and certified) on.
    """

    plan: np.ndarray
    row_duals: np.ndarray
    column_duals: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    objective: float
    certificate: dict = field(default_factory=dict)
    certificate_costs: np.ndarray | None = field(default=None, repr=False)


def check_slack(slack, name="slack"):
    """``(s_low, s_high)`` from a slack: a float >= 0 (inf allowed) or a pair of them."""
    if isinstance(slack, (tuple, list)) and len(slack) == 2:
        return tuple(check_slack(s, f"{name}[{k}]")[0] for k, s in enumerate(slack))
    if isinstance(slack, bool) or not isinstance(slack, numbers.Real):
        raise ValueError(f"{name} must be a number >= 0 (inf allowed) or a pair (low, high) "
                         f"of them, got {slack!r}")
    s = float(slack)
    if not s >= 0.0:  # NaN too
        raise ValueError(f"{name} must be >= 0 (inf allowed), got {slack!r}")
    return s, s


def column_bounds(n_columns, layer_marginals="slack", slack=0.0):
    """Column bounds of a rule (see the module notes).

    Parameters
    ----------
    n_columns : int
        M, the number of layers of Y.
    layer_marginals : {"uniform", "slack", "semi-relaxed"}
    slack : float or (float, float)
        ``"slack"`` only: s >= 0 (inf allowed), or ``(s_low, s_high)``.

    Returns
    -------
    lower, upper : ndarray, shape (M,)
        ``0 <= lower <= 1/M <= upper <= 1``.
    """
    M = int(n_columns)
    rule = check_choice(layer_marginals, "layer_marginals", LAYER_MARGINALS[:3])
    if rule == "uniform":
        s_low = s_high = 0.0
    elif rule == "semi-relaxed":
        s_low = s_high = math.inf
    else:
        s_low, s_high = check_slack(slack)
    lower = np.full(M, max(1.0 - s_low, 0.0) / M)
    upper = np.full(M, min((1.0 + s_high) / M, 1.0))
    if s_low == 0.0:
        lower[:] = 1.0 / M  # exactly the uniform marginal, not (1 - 0) / M rounded
    if s_high == 0.0:
        upper[:] = 1.0 / M
    return lower, upper


def marginal_layer_plan(C, layer_marginals="uniform", slack=0.0) -> MarginalPlan:
    """The exact layer plan of a rule on the layer costs C (L x M); see :func:`column_bounds`.

    ``"uniform"`` is the same solve as :func:`hotalign.hierarchy.layer_plan` (bit-identical).
    """
    C = np.asarray(C, dtype=np.float64)
    lower, upper = column_bounds(C.shape[1], layer_marginals, slack)
    return bounded_layer_plan(C, lower, upper)


def bounded_layer_plan(C, lower, upper) -> MarginalPlan:
    """Solve ``min <C, P>`` over ``P >= 0, P 1 = 1/L, lower <= P^T 1 <= upper`` exactly.

    Parameters
    ----------
    C : array_like, shape (L, M)
        Finite layer costs.
    lower, upper : array_like, shape (M,)
        Column bounds, ``0 <= lower <= upper``, ``sum(lower) <= 1 <= sum(upper)``.

    Returns
    -------
    MarginalPlan
        The plan, its duals and its certificate (checked: a failure raises RuntimeError).

    Notes
    -----
    lower == upper everywhere is an ordinary transport (uniform 1/M: the same call as
    :func:`hotalign.hierarchy.layer_plan`); no binding column constraint (lower 0, upper >= 1)
    is solved row by row (each row's cheapest column, first index on ties); anything else is
    the split-node construction of the module notes on the network simplex.
    """
    C = as_array(C, "C")
    if C.ndim != 2 or 0 in C.shape or C.dtype.kind not in "biuf":
        raise ValueError(f"C must be a non-empty real (L, M) matrix, got shape {C.shape} and "
                         f"dtype {C.dtype}")
    C = C.astype(np.float64)
    if not np.isfinite(C).all():
        raise ValueError("C contains NaN or infinity")
    L, M = C.shape
    lower, upper = _check_bounds(lower, upper, M)
    if np.array_equal(lower, upper):
        plan, alpha, beta = _equality(C, lower)
    elif lower.sum() >= 1.0 - _TIGHT or upper.sum() <= 1.0 + _TIGHT:
        # Every column sits at its lower (or every one at its upper) bound: one transport,
        # its column duals shifted (alpha + beta unchanged) to the sign of that bound's dual.
        at_lower = lower.sum() >= 1.0 - _TIGHT
        plan, alpha, beta = _equality(C, lower if at_lower else upper)
        shift = beta.min() if at_lower else beta.max()
        alpha, beta = alpha + shift, beta - shift
    elif not lower.any() and (upper >= 1.0).all():
        plan, alpha, beta = _row_minima(C)
    else:
        plan, alpha, beta = _split_nodes(C, lower, upper)
    result = MarginalPlan(plan, alpha, beta, lower, upper, float(np.sum(C * plan)),
                          certificate_costs=C)
    result.certificate = certify(C, plan, alpha, beta, lower, upper)
    if not result.certificate["ok"]:
        raise RuntimeError(f"the layer plan failed its certificate: {result.certificate}")
    return result


def _check_bounds(lower, upper, M):
    out = []
    for name, x in (("lower", lower), ("upper", upper)):
        x = as_array(x, name)
        if x.shape != (M,) or x.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be a real array of shape ({M},), got {x.shape}")
        x = x.astype(np.float64)
        if not np.isfinite(x).all() or (x < 0).any():
            raise ValueError(f"{name} must be finite and >= 0")
        out.append(x)
    lower, upper = out
    if (lower > upper).any():
        raise ValueError("lower must be <= upper in every column")
    if lower.sum() > 1.0 + 1e-12 or upper.sum() < 1.0 - 1e-12:
        raise ValueError(f"infeasible column bounds: sum(lower) = {lower.sum():.6g} must be <= 1 "
                         f"and sum(upper) = {upper.sum():.6g} >= 1 (the rows carry mass 1)")
    return lower, upper


def _equality(C, b):
    """Both marginals fixed: one transport (uniform b: exactly layer_plan's call)."""
    M = C.shape[1]
    uniform = np.array_equal(b, np.full(M, 1.0 / M))
    res = solve_transport(C) if uniform else solve_transport(C, None, b)
    return res.to_dense(), np.asarray(res.u, float), np.asarray(res.v, float)


def _row_minima(C):
    """No binding column constraint: each row's 1/L on its cheapest column."""
    L, M = C.shape
    best = np.argmin(C, axis=1)
    plan = np.zeros((L, M))
    plan[np.arange(L), best] = 1.0 / L
    return plan, C[np.arange(L), best].copy(), np.zeros(M)


def _split_nodes(C, lower, upper):
    """The balanced transport of the module notes, solved on the network simplex."""
    L, M = C.shape
    lo = float(C.min())
    scale = float(C.max()) - lo
    scale = scale if scale > 0 else 1.0
    Cs = (C - lo) / scale                                   # in [0, 1]
    cost = np.zeros((L + 1, 2 * M))
    cost[:L, :M] = Cs
    cost[:L, M:] = Cs
    cost[L, :M] = _BIG                                      # dummy -> fixed parts: forbidden
    rows = np.append(np.full(L, 1.0 / L), max(upper.sum() - 1.0, 0.0))
    cols = np.concatenate([lower, upper - lower])
    res = solve_transport(cost, rows, cols * (rows.sum() / cols.sum()))
    T = res.to_dense()
    if T[L, :M].sum() > _TIGHT:  # (rounding of the masses may leave ~1e-16 there)
        raise RuntimeError("the dummy row reached a fixed column part (the big cost is unsafe)")
    u, v = np.asarray(res.u, float), np.asarray(res.v, float)
    u, v = u - u[L], v + u[L]                               # gauge: the dummy's dual is 0
    alpha = scale * u[:L] + lo
    beta = scale * np.maximum(v[:M], v[M:])
    return T[:L, :M] + T[:L, M:], alpha, beta


def certify(C, P, row_duals, column_duals, lower, upper, tol=1e-12) -> dict:
    """Optimality certificate of a layer plan on the bounded problem (module notes).

    Parameters
    ----------
    C, P : ndarray, shape (L, M)
        Costs and a candidate plan.
    row_duals : ndarray, shape (L,)
        alpha (row equalities).
    column_duals : ndarray, shape (M,)
        beta = mu - nu (mu = max(beta, 0) for the lower bounds, nu = max(-beta, 0) for the
        upper bounds).
    lower, upper : ndarray, shape (M,)
    tol : float
        Tolerance of every check: absolute on masses (the plan carries mass 1), relative to
        ``max |C|`` on costs and duals.

    Returns
    -------
    dict
        ``row_residual`` (max ``|P 1 - 1/L|``), ``bound_violation`` (max excess of a column sum
        over its interval), ``negative_mass``, ``min_reduced_cost`` (min of C - alpha - beta,
        relative), ``complementary_cells`` (sum P (C - alpha - beta), relative),
        ``complementary_bounds`` (sum of mu (col - lower) + nu (upper - col), relative),
        ``duality_gap`` (primal minus dual objective, relative) and ``ok`` (all within tol).
    """
    C, P = np.asarray(C, float), np.asarray(P, float)
    alpha, beta = np.asarray(row_duals, float), np.asarray(column_duals, float)
    L, M = C.shape
    col = P.sum(axis=0)
    scale = max(float(np.abs(C).max()), 1.0)
    reduced = C - alpha[:, None] - beta[None, :]
    mu, nu = np.maximum(beta, 0.0), np.maximum(-beta, 0.0)
    dual = alpha.sum() / L + lower @ mu - upper @ nu
    out = {
        "row_residual": float(np.abs(P.sum(axis=1) - 1.0 / L).max()),
        "bound_violation": float(max(0.0, (lower - col).max(), (col - upper).max())),
        "negative_mass": float(max(0.0, -P.min())),
        "min_reduced_cost": float(reduced.min()) / scale,
        "complementary_cells": float(np.abs(P * reduced).sum()) / scale,
        "complementary_bounds": float(mu @ np.abs(col - lower) + nu @ np.abs(upper - col))
        / scale,
        "duality_gap": float(np.sum(C * P) - dual) / scale,
    }
    out["ok"] = bool(out["row_residual"] <= tol and out["bound_violation"] <= tol
                     and out["negative_mass"] <= tol and out["min_reduced_cost"] >= -tol
                     and out["complementary_cells"] <= tol
                     and out["complementary_bounds"] <= tol and abs(out["duality_gap"]) <= tol)
    return out


def check_rule(layer_marginals, slack, *, allow_auto=True):
    """Validate ``layer_marginals`` and ``slack`` of an estimator; returns the rule.

    ``"slack"`` needs a slack (a number or a pair); ``"auto"`` takes a candidate grid or None
    (the default grid); ``"uniform"`` and ``"semi-relaxed"`` take no slack.
    """
    choices = LAYER_MARGINALS if allow_auto else LAYER_MARGINALS[:3]
    rule = check_choice(layer_marginals, "layer_marginals", choices)
    if rule == "slack":
        if slack is None:
            raise ValueError("layer_marginals='slack' needs slack=s (a number >= 0, inf "
                             "allowed, or a pair (low, high))")
        check_slack(slack)
    elif rule == "auto":
        check_slack_grid(slack)
    elif slack is not None:
        raise ValueError(f"slack={slack!r} has no effect with layer_marginals={rule!r}: use "
                         "layer_marginals='slack' (or 'auto' with a grid), or slack=None")
    return rule


def plan_record(result: MarginalPlan, rule, slack, plan=None) -> dict:
    """The record of a layer plan (``HOT.layer_marginals_``). ``slack`` is ``[s_low, s_high]``
    as an array (inf allowed), None for the uniform and semi-relaxed rules. With ``plan`` (a
    stored plan, e.g. restored from a cache) the record describes and certifies that plan with
    the duals of ``result``, a fresh solve of the same problem."""
    certificate = result.certificate
    if plan is not None and plan is not result.plan:
        certificate = certify(result.certificate_costs, plan, result.row_duals,
                              result.column_duals, result.lower, result.upper)
    else:
        plan = result.plan
    return {
        "rule": rule,
        "slack": None if slack is None else np.array(check_slack(slack), dtype=np.float64),
        "lower": result.lower, "upper": result.upper,
        "column_sums": plan.sum(axis=0),
        "row_duals": result.row_duals, "column_duals": result.column_duals,
        "objective": float(np.sum(result.certificate_costs * plan)),
        "certificate": dict(certificate),
    }


def check_slack_grid(grid, name="slack"):
    """Candidate slacks: a non-empty sequence of numbers >= 0 (inf allowed), sorted, unique."""
    if grid is None:
        return np.array(DEFAULT_SLACK_GRID)
    values = as_sequence(grid, name, "a list of candidate slacks", numbers_ok=True)
    if not values:
        raise ValueError(f"{name} is empty: give at least one candidate slack")
    out = []
    for k, s in enumerate(values):
        low, high = check_slack(s, f"{name}[{k}]")
        if low != high:
            raise ValueError(f"{name}[{k}]: candidate slacks must be single numbers, got {s!r}")
        out.append(low)
    return np.unique(np.array(out))
