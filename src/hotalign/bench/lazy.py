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

__all__ = ["format_lazy_llm_markdown", "format_lazy_markdown", "run_lazy", "run_lazy_llm"]

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


def _split(X, Y):
    """The pipeline protocol: fit on the last 80% of the rows, score on the first 20%."""
    n_test = X[0].shape[0] // 5
    return ([A[n_test:] for A in X], [B[n_test:] for B in Y],
            [A[:n_test] for A in X], [B[:n_test] for B in Y])


def run_lazy(*, L=12, M=12, n=768, T=2000, rank=32, repeats=3, regimes=REGIMES, seed=0,
             plain=True, progress=None) -> dict:
    """Lazy against full HOT (float32, fit on 80% + score on 20%) per regime, and against the
    plain NumPy + POT pipeline (:func:`hotalign.bench.harness.plain_hot`) in the same run.

    Returns the table rows and ``ok`` (every lazy fit identical to its full fit).
    """
    from ..estimator import HOT
    from .harness import plain_hot

    say = progress or (lambda s: None)
    rows, ok = [], True
    for regime in regimes:
        Xtr, Ytr, Xte, Yte = _split(*_systems(regime, L, M, n, T, seed))
        times = {"full": [], "lazy": []}
        scores = {}
        for _ in range(repeats):
            for name, est in (("full", HOT(dtype="float32")),
                              ("lazy", HOT(dtype="float32", lazy=True, lazy_rank=rank))):
                t0 = time.perf_counter()
                fitted = est.fit(Xtr, Ytr)
                scores[name] = fitted.score(Xte, Yte)
                times[name].append(time.perf_counter() - t0)
                if name == "full":
                    full = fitted
                else:
                    lazy = fitted
        same = _identical(full, lazy) and abs(scores["full"] - scores["lazy"]) <= 1e-12
        ok &= same
        row = {"regime": regime, "L": L, "M": M, "n": n, "T": T, "rank": rank,
               "pairs_solved": lazy.n_pairs_solved_, "pairs": L * M,
               "rounds": lazy.lazy_certificate_["rounds"],
               "full_s": statistics.median(times["full"]),
               "lazy_s": statistics.median(times["lazy"]), "identical": same}
        row["speedup"] = row["full_s"] / row["lazy_s"]
        if plain:
            t_plain = []
            for _ in range(max(1, repeats - 1)):
                t0 = time.perf_counter()
                _, P_plain, _ = plain_hot(Xtr, Ytr, Xte, Yte)
                t_plain.append(time.perf_counter() - t0)
            row["plain_s"] = statistics.median(t_plain)
            row["plain_same_P"] = bool(np.array_equal(P_plain > 1e-12, lazy.layer_plan_ > 1e-12))
        rows.append(row)
        say(f"lazy {regime}: {row['pairs_solved']}/{row['pairs']} pairs, "
            f"{row['speedup']:.2f}x full" + (f", {row['plain_s'] / row['lazy_s']:.1f}x plain"
                                              if plain else ""))
    return {"rows": rows, "ok": ok}


def run_lazy_llm(*, L=28, n=3072, T=2000, rank=32, seed=0, regimes=("related", "independent"),
                 rotation=True, progress=None) -> dict:
    """LLM scale, one run each (float32, fit on all rows): the full and the lazy fit of plain
    HOT on related systems, the lazy fit alone on the others (its full fit costs the same
    GEMMs), and HOT+R lazy on related systems against the full HOT+R grid extrapolated from
    three timed pairs (near, middle and far layers; the grid's ``L * L`` pairs on the worker
    threads)."""
    from ..kinds import Rotation
    from ..estimator import HOT
    from ..grid import default_threads, solve_systems
    from ..systems import standardize_system
    from ..lazy import rotation_bounds

    say = progress or (lambda s: None)
    out = {"L": L, "n": n, "T": T, "rank": rank, "threads": default_threads(), "rows": [],
           "ok": True}
    for regime in regimes:
        X, Y = _systems(regime, L, L, n, T, seed)
        row = {"regime": regime, "pairs": L * L}
        t0 = time.perf_counter()
        lazy = HOT(dtype="float32", lazy=True, lazy_rank=rank).fit(X, Y)
        row["lazy_s"] = time.perf_counter() - t0
        row["pairs_solved"] = lazy.n_pairs_solved_
        row["rounds"] = lazy.lazy_certificate_["rounds"]
        if regime == "related":
            t0 = time.perf_counter()
            full = HOT(dtype="float32").fit(X, Y)
            row["full_s"] = time.perf_counter() - t0
            row["identical"] = _identical(full, lazy)
            out["ok"] &= row["identical"]
            del full
        say(f"lazy LLM {regime}: {row}")
        out["rows"].append(row)
        if rotation and regime == "related":
            Sx = standardize_system(X, "X", dtype="float32")
            Sy = standardize_system(Y, "Y", dtype="float32")
            t0 = time.perf_counter()
            rotation_bounds(Sx, Sy, rank=rank)
            t_bounds = time.perf_counter() - t0
            solve_systems(Sx, Sy, pairs=[(0, 0)], rotation=Rotation(max_rounds=1),
                          n_threads=1)  # warm-up: numba compilation
            sample = [(0, 0), (0, L // 2), (0, L - 1)]  # near, middle and far pairs
            t0 = time.perf_counter()
            solve_systems(Sx, Sy, pairs=sample, rotation=Rotation(), n_threads=1)
            t_pair = (time.perf_counter() - t0) / len(sample)
            t0 = time.perf_counter()
            lazy_r = HOT(rotation=True, dtype="float32", lazy=True, lazy_rank=rank).fit(X, Y)
            t_lazy = time.perf_counter() - t0
            out["rotation"] = {
                "bounds_s": t_bounds, "pair_s": t_pair, "lazy_s": t_lazy,
                "pairs_solved": lazy_r.n_pairs_solved_, "pairs": L * L,
                "rounds": lazy_r.lazy_certificate_["rounds"],
                "full_extrapolated_s": L * L * t_pair / out["threads"],
                "plan_same_as_plain_hot_support": bool(np.array_equal(
                    lazy_r.layer_plan_ > 0, lazy.layer_plan_ > 0)),
            }
            say(f"lazy LLM HOT+R: {out['rotation']}")
            del lazy_r, Sx, Sy
        del X, Y, lazy
    return out


def format_lazy_markdown(res) -> str:
    """The lazy-grid table (Markdown)."""
    plain = any("plain_s" in r for r in res["rows"])
    lines = ["| regime | L x M x n, T | pairs solved | outer rounds | full (s) | lazy (s) | "
             "full / lazy | " + ("plain NumPy+POT (s) | plain / lazy | " if plain else "")
             + "identical |", "|---|---|---|---|---|---|---|" + ("---|---|" if plain else "")
             + "---|"]
    for r in res["rows"]:
        extra = (f"{r['plain_s']:.2f} | {r['plain_s'] / r['lazy_s']:.1f}x | "
                 if "plain_s" in r else "")
        lines.append(f"| {r['regime']} | {r['L']} x {r['M']} x {r['n']}, {r['T']} | "
                     f"{r['pairs_solved']}/{r['pairs']} ({r['pairs_solved'] / r['pairs']:.0%}) "
                     f"| {r['rounds']} | {r['full_s']:.3f} | {r['lazy_s']:.3f} | "
                     f"{r['speedup']:.2f}x | {extra}{'yes' if r['identical'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def format_lazy_llm_markdown(res) -> str:
    """The LLM-scale lazy table (Markdown)."""
    L, n, T = res["L"], res["n"], res["T"]
    lines = [f"| {L} x {L} x {n}, T = {T}, float32 | pairs solved | outer rounds | full (s) | "
             "lazy (s) | full / lazy | identical |", "|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        full = f"{r['full_s']:.1f}" if "full_s" in r else "not run"
        ratio = f"{r['full_s'] / r['lazy_s']:.2f}x" if "full_s" in r else "n/a"
        same = {True: "yes", False: "NO"}.get(r.get("identical"), "n/a")
        lines.append(f"| HOT, {r['regime']} | {r['pairs_solved']}/{r['pairs']} "
                     f"({r['pairs_solved'] / r['pairs']:.0%}) | {r['rounds']} | {full} | "
                     f"{r['lazy_s']:.1f} | {ratio} | {same} |")
    if "rotation" in res:
        g = res["rotation"]
        lines.append(f"| HOT+R, related (full: mean pair x {g['pairs']} / {res['threads']} "
                     f"threads) | {g['pairs_solved']}/{g['pairs']} "
                     f"({g['pairs_solved'] / g['pairs']:.0%}) | {g['rounds']} | "
                     f"{g['full_extrapolated_s']:.0f} (extrapolated) | {g['lazy_s']:.1f} | "
                     f"{g['full_extrapolated_s'] / g['lazy_s']:.1f}x | n/a |")
        lines.append("")
        lines.append(f"HOT+R: rotation bounds {g['bounds_s']:.1f} s; one exact pair "
                     f"{g['pair_s']:.1f} s on 1 thread (mean of a near, a middle and a far "
                     "pair).")
    return "\n".join(lines) + "\n"
