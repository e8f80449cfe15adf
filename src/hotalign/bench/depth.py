"""Held-out scores on networks of different depth: uniform HOT, every slack of the grid,
``layer_marginals="auto"``, Pairwise-Best and Single-Best (docs/method.md, "Relaxed layer
marginals"). Scores, not timings: every method runs :func:`hotalign.evaluate` on the same
splits (same ``random_state``)."""

from __future__ import annotations

import math

from .. import datasets
from ..estimator import HOT
from ..evaluation import evaluate
from ..marginals import DEFAULT_SLACK_GRID
from ..slack import slack_to_json

__all__ = ["synthetic_pairs", "format_depth_markdown", "run_depth"]


def synthetic_pairs(n_stimuli=1000):
    """The synthetic mismatched-depth pairs and an equal-depth control: name -> (X, Y)."""
    return {
        "A: 4 vs 12, shallow layers average contiguous groups":
            datasets.make_depth_mismatch(n_stimuli=n_stimuli, random_state=0)[:2],
        "B: 4 vs 12, shallow layers copy deep layers 0, 4, 8, 11":
            datasets.make_depth_mismatch(n_stimuli=n_stimuli, groups=[[0], [4], [8], [11]],
                                         random_state=5)[:2],
        "C: make_hierarchy, 4 vs 12 layers":
            datasets.make_hierarchy(n_stimuli, (64,) * 4, (96,) * 12, random_state=0)[:2],
        "control: make_hierarchy, 6 vs 6 layers":
            datasets.make_hierarchy(n_stimuli, (64,) * 6, (96,) * 6, random_state=0)[:2],
    }


def run_depth(pairs, grid=DEFAULT_SLACK_GRID, n_splits=5, random_state=0) -> dict:
    """Scores of every method on every pair.

    Parameters
    ----------
    pairs : dict of str -> (X, Y)
    grid : sequence of float
        The slacks scored one by one (0 is uniform HOT) and searched by "auto".
    n_splits, random_state
        As for :func:`hotalign.evaluate`.

    Returns
    -------
    dict of str -> dict
        Per pair: ``uniform``, ``single_best``, ``pairwise_best``, ``slack`` (s -> mean score),
        ``auto``, ``auto_std`` and ``chosen`` (the slack "auto" chose on each split).
    """
    out = {}
    for name, (X, Y) in pairs.items():
        kw = dict(n_splits=n_splits, random_state=random_state)
        base = evaluate(X, Y, methods=["hot", "single_best", "pairwise_best"], **kw)
        row = {"uniform": base.mean("hot"), "single_best": base.mean("single_best"),
               "pairwise_best": base.mean("pairwise_best"), "slack": {}}
        for s in grid:
            est = HOT() if s == 0 else HOT(layer_marginals="slack", slack=s)
            row["slack"][slack_to_json(s)] = (base.mean("hot") if s == 0 else evaluate(
                X, Y, methods=["hot"], estimator=est, **kw).mean("hot"))
        auto = evaluate(X, Y, methods=["hot"], estimator=HOT(layer_marginals="auto",
                                                              slack=list(grid)), **kw)
        row.update(auto=auto.mean("hot"), auto_std=auto.std("hot"),
                   chosen=[slack_to_json(c) for c in auto.chosen_slack])
        out[name] = row
    return out


def format_depth_markdown(results) -> str:
    """One row per pair: uniform HOT, each slack, auto (and its choices), Pairwise-Best,
    Single-Best."""
    slacks = list(next(iter(results.values()))["slack"])
    head = (["pair", "HOT (uniform)"] + [f"s = {s}" for s in slacks if s != 0]
            + ["auto", "s chosen", "Pairwise-Best", "Single-Best"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        chosen = sorted(set(r["chosen"]), key=lambda s: math.inf if s == "inf" else s)
        cells = ([name, f"{r['uniform']:.4f}"] + [f"{r['slack'][s]:.4f}" for s in slacks if s != 0]
                 + [f"**{r['auto']:.4f}**", ", ".join(map(str, chosen)),
                    f"{r['pairwise_best']:.4f}", f"{r['single_best']:.4f}"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
