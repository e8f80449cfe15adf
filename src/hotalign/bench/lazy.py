"""``hotalign bench pipeline --only lazy``: the certified lazy layer grid against the full grid.

For each regime the same systems are fitted by ``HOT()`` and ``HOT(lazy=True)`` side by side
(medians over repeats, wall-clock time), and the table reports the pairs the lazy fit solved,
both times, their ratio and the identity check: the same distance and layer plan, and the same
unit plans on the plan's support. Regimes:

- ``related``: :func:`hotalign.datasets.make_hierarchy`, two networks sharing a drifting latent
  hierarchy (near-diagonal layer costs).
- ``drifting``: the same with a higher noise level, so distant layers are barely related.
- ``independent``: unrelated Gaussian layers (flat costs), where the bounds cannot prune.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

__all__ = ["format_lazy_markdown", "run_lazy"]

REGIMES = ("related", "drifting", "independent")


def _systems(regime, L, M, n, T, seed):
    from ..datasets import make_hierarchy

    if regime == "independent":
        rng = np.random.default_rng(seed)
        X = [rng.standard_normal((T, n)) for _ in range(L)]
        Y = [rng.standard_normal((T, n)) for _ in range(M)]
    else:
        noise = 0.5 if regime == "related" else 1.5
        X, Y, _ = make_hierarchy(T, (n,) * L, (n,) * M, noise=noise, random_state=seed)
    return [A.astype(np.float32) for A in X], [B.astype(np.float32) for B in Y]


def _identical(full, lazy) -> bool:
    support = lazy.layer_plan_ > 0
    same_plans = all(
        np.array_equal(full.unit_plans_[l][m].weights, lazy.unit_plans_[l][m].weights)
        for l, m in zip(*np.nonzero(support)))
    return bool(abs(full.distance_ - lazy.distance_) <= 1e-12 * max(1.0, full.distance_)
                and np.allclose(full.layer_plan_, lazy.layer_plan_, rtol=0, atol=1e-15)
                and same_plans)


def run_lazy(*, L=12, M=12, n=768, T=2000, rank=32, repeats=3, regimes=REGIMES, seed=0,
             progress=None) -> dict:
    """Lazy against full HOT fits (float32) per regime; returns the table rows and ``ok``."""
    from ..estimator import HOT

    rows, ok = [], True
    for regime in regimes:
        X, Y = _systems(regime, L, M, n, T, seed)
        times = {"full": [], "lazy": []}
        for _ in range(repeats):
            for name, est in (("full", HOT(dtype="float32")),
                              ("lazy", HOT(dtype="float32", lazy=True, lazy_rank=rank))):
                t0 = time.perf_counter()
                fitted = est.fit(X, Y)
                times[name].append(time.perf_counter() - t0)
                if name == "full":
                    full = fitted
                else:
                    lazy = fitted
        same = _identical(full, lazy)
        ok &= same
        row = {"regime": regime, "L": L, "M": M, "n": n, "T": T, "rank": rank,
               "pairs_solved": lazy.n_pairs_solved_, "pairs": L * M,
               "rounds": lazy.lazy_certificate_["rounds"],
               "full_s": statistics.median(times["full"]),
               "lazy_s": statistics.median(times["lazy"]), "identical": same}
        row["speedup"] = row["full_s"] / row["lazy_s"]
        rows.append(row)
        if progress is not None:
            progress(f"lazy {regime}: {row['pairs_solved']}/{row['pairs']} pairs, "
                     f"{row['speedup']:.2f}x")
    return {"rows": rows, "ok": ok}


def format_lazy_markdown(res) -> str:
    """The lazy-grid table (Markdown)."""
    lines = ["| regime | L x M x n, T | pairs solved | outer rounds | full (s) | lazy (s) | "
             "full / lazy | identical |", "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['regime']} | {r['L']} x {r['M']} x {r['n']}, {r['T']} | "
                     f"{r['pairs_solved']}/{r['pairs']} ({r['pairs_solved'] / r['pairs']:.0%}) "
                     f"| {r['rounds']} | {r['full_s']:.3f} | {r['lazy_s']:.3f} | "
                     f"{r['speedup']:.2f}x | {'yes' if r['identical'] else 'NO'} |")
    return "\n".join(lines)
