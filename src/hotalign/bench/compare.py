"""``python -m hotalign.bench.compare``: :func:`hotalign.compare` on N systems against the loop
a user writes without it: for every ordered pair, ``evaluate`` (HOT, Single-Best, Pairwise-Best
over the splits) and ``HOT().fit`` on all rows. Both give the same matrices (checked in the
run); the ratio comes from the shared standardisation, each unordered layer pair solved once
for both directions, and all pairs of all systems scheduled on the pair engine at once.

Run it with the BLAS tuning variables unset together (``env -u OPENBLAS_CORETYPE -u
OPENBLAS_L2_SIZE python -m hotalign.bench.compare``); ``--out DIR`` writes
``bench_compare.json``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

__all__ = ["main", "pairwise_loop", "run"]


def make_systems(n_systems, n_stimuli, widths, seed=0) -> dict:
    """``n_systems`` layered systems over the same stimuli: pairs of ``make_hierarchy``
    (related within a pair, unrelated across pairs)."""
    from ..datasets import make_hierarchy

    out = {}
    for k in range((n_systems + 1) // 2):
        X, Y, _ = make_hierarchy(n_stimuli, widths, widths, random_state=seed + k)
        out[f"sys{2 * k}"] = X
        if len(out) < n_systems:
            out[f"sys{2 * k + 1}"] = Y
    return out


def pairwise_loop(systems, n_splits, n_threads):
    """The loop without :func:`hotalign.compare`: distances (N, N) and HOT scores (N, N)."""
    from .. import HOT, evaluate
    from ..comparison import METHODS

    names = list(systems)
    N = len(names)
    D, S = np.zeros((N, N)), np.ones((N, N))
    for i, x in enumerate(names):
        for j, y in enumerate(names):
            if i == j:
                continue
            ev = evaluate(systems[x], systems[y], methods=list(METHODS), n_splits=n_splits,
                          estimator=HOT(n_threads=n_threads))
            S[i, j] = ev.mean("hot")
            D[i, j] = HOT(n_threads=n_threads).fit(systems[x], systems[y]).distance_
    return D, S


def run(n_systems=6, n_stimuli=800, widths=(64, 96, 128, 160), n_splits=3, n_threads=None,
        repeats=3) -> dict:
    """Median times of the loop and of :func:`hotalign.compare`, their ratio and the largest
    difference of their matrices."""
    from ..comparison import compare

    systems = make_systems(n_systems, n_stimuli, widths)
    loop_t, cmp_t = [], []
    for _ in range(repeats):  # interleaved, so drift hits both alike
        t0 = time.perf_counter()
        D, S = pairwise_loop(systems, n_splits, n_threads)
        loop_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        result = compare(systems, n_splits=n_splits, n_threads=n_threads)
        cmp_t.append(time.perf_counter() - t0)
    loop, together = statistics.median(loop_t), statistics.median(cmp_t)
    return {
        "n_systems": n_systems, "n_stimuli": n_stimuli, "widths": list(widths),
        "n_splits": n_splits, "n_threads": n_threads, "repeats": repeats,
        "loop_seconds": loop, "compare_seconds": together, "ratio": loop / together,
        "max_distance_difference": float(np.abs(result.distances - D).max()),
        "max_score_difference": float(np.abs(result.scores - S).max()),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hotalign.bench.compare",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", type=int, default=6, help="N systems (>= 2)")
    parser.add_argument("--stimuli", type=int, default=800, help="T stimuli")
    parser.add_argument("--widths", default="64,96,128,160", help="units per layer")
    parser.add_argument("--splits", type=int, default=3, help="random splits")
    parser.add_argument("--threads", type=int, default=None, help="worker threads")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each (median)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--out", default=None, help="folder for bench_compare.json")
    args = parser.parse_args(argv)
    widths = tuple(int(w) for w in args.widths.split(","))
    if args.systems < 2 or args.splits < 1 or args.repeats < 1 or min(widths) < 1:
        parser.error("--systems >= 2, --splits >= 1, --repeats >= 1 and positive --widths")
    if args.quick:
        args.stimuli, widths, args.repeats = 300, (24, 32), 1
    r = run(args.systems, args.stimuli, widths, args.splits, args.threads, args.repeats)
    print(f"compare vs pairwise loop: N={r['n_systems']} systems, T={r['n_stimuli']}, layers "
          f"{r['widths']}, {r['n_splits']} splits, median of {r['repeats']}")
    print("| N | loop of evaluate + fit | hotalign.compare | ratio |")
    print("|---|---|---|---|")
    print(f"| {r['n_systems']} | {r['loop_seconds']:.2f} s | {r['compare_seconds']:.2f} s | "
          f"{r['ratio']:.2f}x |")
    print(f"largest difference: distances {r['max_distance_difference']:.1e}, scores "
          f"{r['max_score_difference']:.1e}")
    if args.out is not None:
        from pathlib import Path

        from ..io import write_json

        Path(args.out).mkdir(parents=True, exist_ok=True)
        write_json(Path(args.out) / "bench_compare.json", r)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
