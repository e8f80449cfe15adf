"""Pipeline benchmarks: the layer-pair grid and end-to-end HOT against the alternatives.

Every case is measured side by side in one run (one warm-up, then ``repeats`` timed runs;
medians), against

- ``plain``: a plain NumPy + POT implementation of docs/method.md (z-score, dense ``1 - Zx.T @ Zy``
  per pair, ``ot.emd`` per pair with dense plans, ``ot.emd`` on C, dense reconstruction);
- ``assembly``: the best off-the-shelf assembly: float32 NumPy GEMM per pair plus the fastest
  installed square assignment solver per pair (``lap.lapjv`` and lapx's ``lapjvh``; lapx is
  loaded from the folder named by ``HOTALIGN_LAPX_PATH`` because it installs a module also named
  ``lap``), with plans kept as index vectors;
- ``floor``: the physical floor, the GEMMs alone (NumPy, same dtype) for every pair.

Ratios are ``alternative / ours`` (above 1: hotalign is faster); for the floor it is
``ours / floor`` (how close to the GEMM time we get). Synthetic "related" layers come from
:func:`hotalign.datasets.make_hierarchy`. Run it through ``hotalign bench pipeline``.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import numpy as np

from .harness import (
    environment_info,
    environment_line,
    plain_hot,
    plain_two_level,
    standardize,
    time_runs,
    write_results,
)
from ..datasets import make_hierarchy
from .peers import LAPX_ENV  # noqa: F401  (the lapx folder's variable, for callers)

__all__ = ["run_pipeline", "format_pipeline_markdown", "plain_hot", "plain_two_level",
           "assembly_grid", "add_pipeline_arguments", "pipeline_main"]



# -- the alternatives -------------------------------------------------------------------------

def load_assignment_peers():
    """Square assignment peers installed here: ``{name: fn(C) -> col_of_row}`` (``lap.lapjv``
    and lapx's ``lapjvh``; :func:`hotalign.bench.peers.assignment_peers`)."""
    from .peers import assignment_peers

    return assignment_peers()


def assembly_grid(Zx, Zy, solver):
    """float32 GEMM per pair + an off-the-shelf assignment solver; plans as index vectors."""
    L, M = len(Zx), len(Zy)
    C = np.empty((L, M))
    plans = [[None] * M for _ in range(L)]
    for l in range(L):
        for m in range(M):
            K = 1.0 - Zx[l].T @ Zy[m]
            col = np.asarray(solver(K))
            C[l, m] = float(K[np.arange(K.shape[0]), col].astype(np.float64).sum()) / K.shape[0]
            plans[l][m] = col
    return C, plans


def assembly_hot(Xtr, Ytr, Xte, Yte, solver):
    """The assembly pipeline end to end: float32 grid, POT-free layer plan, index gathers."""
    from ..hierarchy import layer_plan, unit_correlations

    Zx = [standardize(A, np.float32) for A in Xtr]
    Zy = [standardize(B, np.float32) for B in Ytr]
    C, plans = assembly_grid(Zx, Zy, solver)
    P = layer_plan(C)
    L = len(Xtr)
    scores = []
    for l in range(L):
        Xhat = 0.0
        for m in np.flatnonzero(P[l] > 0):
            Zte = (Yte[m] - Ytr[m].mean(axis=0)) / Ytr[m].std(axis=0)
            Xhat = Xhat + L * P[l, m] * Zte[:, plans[l][m]]
        scores.append(np.nanmean(unit_correlations(Xte[l], Xhat)))
    return C, P, float(np.mean(scores))


def gemm_floor(Zx, Zy):
    """The GEMMs alone: ``Zx[l].T @ Zy[m]`` for every pair."""
    for A in Zx:
        for B in Zy:
            A.T @ B


# -- the cases --------------------------------------------------------------------------------

def make_case(L, M, n, T=2000, seed=0):
    """Related synthetic layers: L and M layers of n units, T stimuli, 80/20 split."""
    X, Y, _ = make_hierarchy(T, (n,) * L, (n,) * M, random_state=seed)
    n_test = T // 5
    return ([A[n_test:] for A in X], [B[n_test:] for B in Y],
            [A[:n_test] for A in X], [B[:n_test] for B in Y])


def _median(times):
    return statistics.median(times)


def thread_counts(n_max=None):
    """1, 2, 4, ... up to ``n_max`` (default: the usable CPUs), and ``n_max`` itself; always
    including 1 and 2 (the main grid table compares them)."""
    from ..grid import default_threads

    n_max = default_threads() if n_max is None else n_max
    counts, t = {1, 2, n_max}, 4
    while t < n_max:
        counts.add(t)
        t *= 2
    return sorted(counts)


def _grid_case(Zx, Zy, peers, repeats, threads=None):
    """Grid medians for one case and dtype: ours at 1..N threads, the floor, the assembly."""
    from threadpoolctl import threadpool_limits

    from ..grid import solve_pairs

    g = {}
    for threads in (threads or thread_counts()):
        res, _, times = time_runs(
            lambda: solve_pairs(Zx, Zy, n_threads=threads, keep_plans=True), repeats, None)
        g[f"ours_{threads}t"] = _median(times)
    _, _, times = time_runs(lambda: gemm_floor(Zx, Zy), repeats, None)
    g["floor"] = _median(times)
    with threadpool_limits(limits=1, user_api="blas"):
        _, _, times = time_runs(lambda: gemm_floor(Zx, Zy), repeats, None)
    g["floor_1t"] = _median(times)
    if Zx[0].dtype == np.float32:
        for pname, solver in peers.items():
            (C_peer, _), _, times = time_runs(lambda: assembly_grid(Zx, Zy, solver), repeats,
                                               None)
            g[f"assembly[{pname}]"] = _median(times)
            g[f"assembly[{pname}]_C_maxdiff"] = float(np.abs(C_peer - res.costs).max())
    return g


def _hot_case(Xtr, Ytr, Xte, Yte, name, floor, peers, repeats):
    """End-to-end medians for one case and dtype: ours and the assembly (float32)."""
    from .. import HOT

    h = {}
    hot = HOT(dtype=name)
    (score, P), _, times = time_runs(
        lambda: (hot.fit(Xtr, Ytr).score(Xte, Yte), hot.layer_plan_), repeats, None)
    h["ours"] = _median(times)
    h["ours_score"] = score
    h["floor"] = floor
    if name == "float32":
        for pname, solver in peers.items():
            (_, P_peer, _), _, times = time_runs(
                lambda: assembly_hot(Xtr, Ytr, Xte, Yte, solver), repeats, None)
            h[f"assembly[{pname}]"] = _median(times)
            h[f"assembly[{pname}]_same_P"] = bool(np.array_equal(P_peer > 0, P > 0))
    return h


def _plain_case(Xtr, Ytr, Xte, Yte, repeats):
    """The plain NumPy + POT pipeline, checked against ours in float64."""
    from .. import HOT

    (C_plain, P_plain, s_plain), _, times = time_runs(
        lambda: plain_hot(Xtr, Ytr, Xte, Yte), max(1, repeats - 1), None)
    hot = HOT(dtype="float64").fit(Xtr, Ytr)
    return {
        "time": _median(times),
        "score": s_plain,
        "C_maxdiff_float64": float(np.abs(C_plain - hot.layer_costs_).max()),
        "same_P": bool(np.array_equal(P_plain > 1e-12, hot.layer_plan_ > 1e-12)),
        "score_diff_float64": abs(s_plain - hot.score(Xte, Yte)),
    }


def run_pipeline(cases=((6, 12, 384), (12, 12, 768)), *, T=2000, repeats=3, include_plain=True,
                 out_dir=None, progress=print, parts=("grid", "hot"), threads=None):
    """Measure grid and end-to-end HOT cases; returns a JSON-serialisable dict.

    Parameters
    ----------
    cases : sequence of (L, M, n)
    T : int
        Stimuli (80% used for fitting).
    repeats : int
        Timed runs per measurement after one warm-up (medians reported).
    include_plain : bool
        Also time the plain NumPy + POT pipeline (slow: seconds per run; only with "hot").
    out_dir : path, optional
        Write ``pipeline.json`` and ``pipeline.md`` there.
    progress : callable or None
        Called with a line of text as each measurement finishes.
    parts : sequence of {"grid", "hot"}
        The layer-pair grid table, the end-to-end HOT table, or both.
    threads : sequence of int, optional
        Worker-thread counts of the grid's thread-scaling table (default
        :func:`thread_counts`: 1, 2, 4, ... up to the usable CPUs).
    """
    from ..costs import ZScore

    say = progress or (lambda s: None)
    peers = load_assignment_peers()
    threads = sorted(set(threads or thread_counts()) | {1, 2})
    results = {"environment": environment_info(), "T": T, "repeats": repeats,
               "parts": list(parts), "threads": threads, "cases": []}
    for L, M, n in cases:
        Xtr, Ytr, Xte, Yte = make_case(L, M, n, T)
        rec = {"L": L, "M": M, "n": n, "grid": {}, "hot": {}}
        for dtype in (np.float32, np.float64):
            name = np.dtype(dtype).name
            Zx = [ZScore().fit(A).transform(A, dtype) for A in Xtr]
            Zy = [ZScore().fit(B).transform(B, dtype) for B in Ytr]
            if "grid" in parts:
                g = rec["grid"][name] = _grid_case(Zx, Zy, peers, repeats, threads)
                say(f"grid {L}x{M} n={n} {name}: " + ", ".join(
                    f"{k}={v:.3f}" for k, v in g.items() if not k.endswith("maxdiff")))
                floor = g["floor"]
            else:   # the HOT table still reports the GEMM floor
                floor = _median(time_runs(lambda: gemm_floor(Zx, Zy), repeats, None)[2])
            if "hot" in parts:
                h = rec["hot"][name] = _hot_case(Xtr, Ytr, Xte, Yte, name, floor, peers,
                                                 repeats)
                say(f"hot {L}x{M} n={n} {name}: " + ", ".join(
                    f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in h.items()))
        if include_plain and "hot" in parts:
            rec["plain"] = _plain_case(Xtr, Ytr, Xte, Yte, repeats)
            say(f"plain NumPy+POT {L}x{M} n={n}: {rec['plain']}")
        results["cases"].append(rec)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "pipeline.json").write_text(json.dumps(results, indent=2))
        (out / "pipeline.md").write_text(format_pipeline_markdown(results))
    return results




def format_pipeline_markdown(results) -> str:
    """Markdown tables of medians and ratios (the parts that were run)."""
    lines = [environment_line(results["environment"], "Pipeline benchmark")
             + f"; T={results['T']} (80% fit), medians of {results['repeats']} runs.", ""]
    if any(c["grid"] for c in results["cases"]):
        lines += _grid_table(results)
        lines += _thread_table(results)
    if any(c["hot"] for c in results["cases"]):
        lines += _hot_table(results)
    return "\n".join(lines) + "\n"


def _grid_table(results):
    lines = ["### Grid (costs + exact solves + sparse plans for every layer pair)", "",
              "| case | dtype | ours 1 thread | ours 2 threads | 2t speed-up | GEMM floor | "
              "ours / floor | best assembly | assembly / ours |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in results["cases"]:
        for dt, g in c["grid"].items():
            asm = {k: v for k, v in g.items() if k.startswith("assembly[") and not k.endswith(
                "maxdiff")}
            best = min(asm.items(), key=lambda kv: kv[1]) if asm else None
            lines.append(
                f"| {c['L']}x{c['M']}, n={c['n']} | {dt} | {g['ours_1t']:.3f} s | "
                f"{g['ours_2t']:.3f} s | {g['ours_1t'] / g['ours_2t']:.2f}x | {g['floor']:.3f} s | "
                f"{g['ours_2t'] / g['floor']:.2f} | "
                + (f"{best[1]:.3f} s ({best[0][9:-1]}) | {best[1] / g['ours_2t']:.2f}x |" if best
                   else "n/a | n/a |"))
    return lines + [""]


def _thread_table(results):
    threads = results.get("threads") or [1, 2]
    lines = ["### Grid thread scaling (pairs in parallel, BLAS single-threaded inside each)", "",
             "| case | dtype | " + " | ".join(f"{t} thr" for t in threads)
             + f" | speed-up {threads[-1]} thr | efficiency |",
             "|---|---|" + "---|" * (len(threads) + 2)]
    for c in results["cases"]:
        for dt, g in c["grid"].items():
            t1, tn = g.get("ours_1t"), g.get(f"ours_{threads[-1]}t")
            cells = [f"{g[f'ours_{t}t']:.3f} s" if f"ours_{t}t" in g else "—" for t in threads]
            speed = f"{t1 / tn:.2f}x | {t1 / tn / threads[-1]:.0%}" if t1 and tn else "— | —"
            lines.append(f"| {c['L']}x{c['M']}, n={c['n']} | {dt} | " + " | ".join(cells)
                         + f" | {speed} |")
    return lines + [""]


def _hot_table(results):
    lines = ["### HOT end to end (fit on 80% + score on 20%)", "",
              "| case | dtype | ours | GEMM floor | ours / floor | plain NumPy+POT | "
              "plain / ours | "
              "best assembly | assembly / ours |", "|---|---|---|---|---|---|---|---|---|"]
    for c in results["cases"]:
        plain = c.get("plain", {}).get("time")
        for dt, h in c["hot"].items():
            asm = {k: v for k, v in h.items() if k.startswith("assembly[") and isinstance(v, float)}
            best = min(asm.items(), key=lambda kv: kv[1]) if asm else None
            lines.append(
                f"| {c['L']}x{c['M']}, n={c['n']} | {dt} | {h['ours']:.3f} s | "
                f"{h['floor']:.3f} s | "
                f"{h['ours'] / h['floor']:.2f} | "
                + (f"{plain:.2f} s | {plain / h['ours']:.1f}x | " if plain else "n/a | n/a | ")
                + (f"{best[1]:.3f} s ({best[0][9:-1]}) | {best[1] / h['ours']:.2f}x |" if best
                   else "n/a | n/a |"))
    for c in results["cases"]:
        if "plain" in c:
            p = c["plain"]
            lines.append(f"\n{c['L']}x{c['M']}, n={c['n']}: plain vs ours (float64): max |dC| = "
                         f"{p['C_maxdiff_float64']:.1e}, same P support: {p['same_P']}, "
                         f"|d score| = {p['score_diff_float64']:.1e}")
    return lines


# -- CLI --------------------------------------------------------------------------------------

PARTS = ("grid", "hot", "rotation", "trajectory", "lazy", "real")


def add_pipeline_arguments(parser):
    """Add the ``hotalign bench pipeline`` options to an :class:`argparse.ArgumentParser`.

    Values are validated by :func:`pipeline_main` (a bad value raises ValueError naming the
    option).
    """
    parser.add_argument("--only", default=",".join(PARTS),
                        help="comma-separated parts to run (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and one repeat: runs in seconds (a smoke test)")
    parser.add_argument("--repeats", default=None,
                        help="timed runs per measurement (default: 3, or 1 with --quick)")
    parser.add_argument("--threads", default=None,
                        help="grid: comma-separated worker-thread counts of the thread-scaling "
                             "table (default: 1, 2, 4, ... up to the usable CPUs)")
    parser.add_argument("--llm", action="store_true",
                        help="rotation: also time one n=3072 pair and extrapolate a 28x28 grid; "
                             "lazy: also fit 28x28 layers of 3072 units (plain HOT and HOT+R)")
    parser.add_argument("--out", default="bench-results",
                        help="output directory for pipeline/rotation/trajectory .md and .json "
                             "(default: %(default)s)")
    parser.add_argument("--data", default=None,
                        help="real: folder of the captured models (default: the user cache "
                             "folder, .../hotalign/bench-data)")
    return parser


def _real_part(args, quick, repeats, progress) -> bool:
    """The captured-models regime (:mod:`hotalign.bench.captured`); one line when skipped."""
    from .captured import format_captured_markdown, run_captured
    from .real import RealUnavailable

    if quick:
        print("real: skipped with --quick (the first run captures two models, minutes; run "
              "--only real without --quick)")
        return True
    try:
        res = run_captured(data_dir=args.data, repeats=repeats, progress=progress)
    except RealUnavailable as exc:
        print(f"real: skipped: {exc}")
        return True
    print(format_captured_markdown(res))
    write_results(res, args.out, "captured", format_captured_markdown)
    return res["ok"]


def pipeline_main(args) -> int:
    """Run ``hotalign bench pipeline`` from parsed arguments; print and write the results.

    Returns
    -------
    int
        0 when every check (HOT+R traces, TrajectoryHOT distances) agreed, 1 otherwise.

    Raises
    ------
    ValueError
        A bad option value, naming the option (the CLI maps it to exit code 2).
    """
    from .harness import check_choices, int_option
    from .rotation import (
        TRAJECTORY_REGIMES,
        format_rotation_markdown,
        format_trajectory_markdown,
        run_rotation,
        run_trajectory,
    )

    from .harness import check_sizes

    parts = check_choices(args.only, "--only", PARTS)
    threads = check_sizes(args.threads, "--threads") if args.threads else None
    repeats = 1 if args.quick and args.repeats is None else int_option(
        3 if args.repeats is None else args.repeats, "--repeats", 1)
    quick = args.quick

    def progress(message):
        print(f"  {message}", file=sys.stderr, flush=True)

    ok = True
    if "grid" in parts or "hot" in parts:
        res = run_pipeline(((3, 4, 64),) if quick else ((6, 12, 384), (12, 12, 768)),
                           T=400 if quick else 2000, repeats=repeats, out_dir=args.out,
                           progress=progress, parts=[p for p in ("grid", "hot") if p in parts],
                           threads=threads)
        print(format_pipeline_markdown(res))
    if "rotation" in parts:
        size = dict(n=32, T=200, rounds=3, L=2, M=3, plain_pairs=3) if quick else {}
        res = run_rotation(**size, repeats=repeats, llm=args.llm, out_dir=args.out,
                           progress=progress)
        print(format_rotation_markdown(res))
        ok &= res["ok"]
    if "trajectory" in parts:
        size = dict(K=3, L=2, n=24, T=120, plain_pairs=3) if quick else {}
        for regime in TRAJECTORY_REGIMES:
            res = run_trajectory(**size, repeats=repeats, out_dir=args.out, progress=progress,
                                 regime=regime)
            print(format_trajectory_markdown(res))
            ok &= res["ok"]
    if "lazy" in parts:
        from .lazy import format_lazy_markdown, run_lazy

        size = dict(L=3, M=4, n=48, T=300, rank=8) if quick else {}
        res = run_lazy(**size, repeats=repeats, progress=progress)
        print(format_lazy_markdown(res))
        write_results(res, args.out, "lazy", format_lazy_markdown)
        ok &= res["ok"]
        if args.llm:
            from .lazy import format_lazy_llm_markdown, run_lazy_llm

            size = dict(L=3, n=64, T=200, rank=8) if quick else {}
            res = run_lazy_llm(**size, progress=progress)
            print(format_lazy_llm_markdown(res))
            write_results(res, args.out, "lazy_llm", format_lazy_llm_markdown)
            ok &= res["ok"]
    if "real" in parts:
        ok &= _real_part(args, quick, repeats, progress)
    print(f"written to {args.out}/", file=sys.stderr)
    if not ok:
        print("hotalign bench: FAILED: hotalign and the plain implementation disagree",
              file=sys.stderr)
    return 0 if ok else 1
