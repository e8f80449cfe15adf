"""The figures of one ``results.json`` document (and one unit plan from ``plans.npz``):
``hotalign align`` and ``hotalign demo`` draw theirs with :func:`result_figures`, and
``hotalign plot`` redraws them from the file, so the figures of a run and of a redraw are the
same."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FIGURES = ("layer_plan", "layer_distances", "layer_scores", "unit_plan")


def system_label(results: dict, key: str) -> str:
    """How the axes name system ``key`` ("X" or "Y"): ``results["systems"][key]``, else
    ``"X (stem of its input file)"``, else the key."""
    named = results.get("systems", {}).get(key)
    if named:
        return str(named)
    path = results.get("inputs", {}).get(key, {}).get("path")
    stem = Path(str(path).rstrip("/\\")).stem if path else ""
    return f"{key} ({stem})" if stem else key


def layer_names(results: dict, key: str, count: int) -> list:
    """Layer names of system ``key`` from ``inputs`` (default ``layer_0``, ...)."""
    names = results.get("inputs", {}).get(key, {}).get("layers")
    return list(names) if names and len(names) == count else [f"layer_{k}" for k in
                                                              range(count)]


def _array(value, what):
    arr = np.array([[np.nan if v is None else v for v in row] for row in value], dtype=float)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"results.json: {what} must be a non-empty matrix")
    return arr


def result_figures(results: dict, unit_plan=None, unit_pair=None) -> dict:
    """Every figure of one results document, by file name (without suffix).

    Parameters
    ----------
    results : dict
        A ``results.json`` document of ``hotalign align`` (or the demo's equivalent).
    unit_plan : hotalign.TransportResult, optional
        The unit plan to draw (``unit_plan`` figure), with ``unit_pair`` = (l, m).
    """
    from .. import plotting

    try:
        P = _array(results["P"]["mean_over_splits"], "P.mean_over_splits")
        C = _array(results["C"]["mean_over_splits"], "C.mean_over_splits")
        scores = results["scores"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"results.json: not an align results document (missing {exc})") \
            from None
    L, M = P.shape
    xn, yn = layer_names(results, "X", L), layer_names(results, "Y", M)
    xs, ys = system_label(results, "X"), system_label(results, "Y")
    agreement = results.get("split_agreement")
    figures = {
        "layer_plan": plotting.plot_layer_plan(
            P, xn, yn, x_system=xs, y_system=ys,
            agreement=None if agreement is None else agreement["support_count"],
            n_splits=None if agreement is None else agreement["n_splits"]),
        "layer_distances": plotting.plot_layer_costs(
            C, xn, yn, x_system=xs, y_system=ys,
            title=f"Layer-pair distances C: {xs} vs {ys}\n(mean over splits)"),
    }
    layer_scores = {m: [scores[m]["layers"][n]["mean"] for n in xn] for m in scores}
    errors = {m: [scores[m]["layers"][n]["std"] for n in xn] for m in scores}
    null = results.get("null")
    figures["layer_scores"] = plotting.plot_layer_scores(
        layer_scores, xn, errors=errors, x_system=xs,
        null=None if null is None else null["hot_score"],
        title=f"Held-out reconstruction of {xs} from {ys}, per layer\n"
              f"(mean ± sd over splits{'' if null is None else '; dashed: null'})")
    if unit_plan is not None:
        l, m = unit_pair
        def named(key, name):  # "X conv1", but "X[0]" as it is
            return name if str(name).startswith(key) else f"{key} {name}"

        figures["unit_plan"] = plotting.plot_unit_plan(unit_plan, x_name=named("X", xn[l]),
                                                       y_name=named("Y", yn[m]))
    return figures


def default_unit_pair(results: dict):
    """The pair whose unit plan is drawn: ``parameters.unit_pair``, else layer 0 and its
    largest cell of P (on all rows when recorded)."""
    pair = (results.get("parameters") or {}).get("unit_pair")
    if pair:
        return int(pair[0]), int(pair[1])
    P = results["P"].get("all_rows") or results["P"]["mean_over_splits"]
    return 0, int(np.argmax(np.array(P[0], dtype=float)))


def plan_from_file(path, pair):
    """The unit plan of ``pair`` from a ``plans.npz`` (None when the file or pair is absent,
    or the file has no dual potentials)."""
    from ..io import read_plans
    from ..results import TransportResult

    if not Path(path).is_file():
        return None
    stored = read_plans(path)
    p = stored["plans"].get(tuple(pair))
    if p is None or "u" not in p:
        return None
    n, m = (int(v) for v in p["shape"])
    return TransportResult(rows=p["rows"], cols=p["cols"], weights=p["weights"],
                           cost=float(stored["cost"][pair]), u=p["u"], v=p["v"],
                           status="optimal", n_iter=0, shape=(n, m))
