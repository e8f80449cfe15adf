"""Assignment solvers side by side on saved cost matrices (real-network and family costs).

    python bench/bench_lsa_real.py COSTS_DIR [--match GLOB] [--repeats 7] [--out FILE.json]

Every ``.npy`` in COSTS_DIR named ``<family>_<n>_<shape>_<dtype>.npy`` is solved by
hotalign.linear_sum_assignment, hotalign.solve_transport (square only) and every installed exact
peer of ``hotalign bench solvers`` (SciPy, lap, every lapx JV variant, POT), in interleaved
rounds on the CPU clock; the medians are printed lowest ratio (best peer / hotalign) first.
hotalign's result is checked against its dual certificate and SciPy's objective.
"""
import argparse
import fnmatch
import json
import os
import sys
from pathlib import Path

import numpy as np

import hotalign
from hotalign import _core
from hotalign.bench.harness import certify_assignment, round_robin
from hotalign.bench.peers import load_peers


def measure(path, peers, repeats, budget):
    C = np.load(path, allow_pickle=False)
    C64 = C.astype(np.float64)
    rows, cols, u, v, cost, _, n_iter = _core.linear_sum_assignment(C, False)
    errs = certify_assignment(C64, rows, cols, u, v, cost)
    fns = {"hotalign": lambda: hotalign.linear_sum_assignment(C)}
    if C.shape[0] == C.shape[1]:
        fns["hotalign.solve_transport"] = lambda: hotalign.solve_transport(C)
    for name, peer in peers.items():
        if peer.applies(*C.shape) is None:
            fns[name] = (lambda p=peer: p.solve(C))
    out, times, _ = round_robin(fns, repeats, budget, clock="cpu")
    ref = float(C64[tuple(out["scipy"])].sum()) if "scipy" in times else None
    if ref is not None and abs(ref - float(cost)) > 1e-9 * max(1.0, abs(ref)):
        errs.append(f"objective {float(cost)!r} != scipy {ref!r}")
    med = {k: float(np.median(t)) for k, t in times.items()}
    peer = {k: t for k, t in med.items() if not k.startswith("hotalign")}
    best = min(peer, key=peer.get)
    fam, n, shape, dtype = path.stem.rsplit("_", 3)
    return {"family": fam, "n": int(n), "shape": shape, "dtype": dtype, "m": C.shape[1],
            "hotalign": med["hotalign"], "transport": med.get("hotalign.solve_transport"),
            "best_peer": best, "peer": peer[best], "ratio": peer[best] / med["hotalign"],
            "all": med, "n_iter": int(n_iter), "errors": errs}


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("costs")
    p.add_argument("--match", default="*")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--budget", type=float, default=3.0)
    p.add_argument("--peers", default="scipy,lap,lapx,pot")
    p.add_argument("--out")
    a = p.parse_args(argv)
    peers, skipped = load_peers(a.peers.split(","))
    for k, why in skipped.items():
        print(f"# {k}: {why}", file=sys.stderr)
    files = sorted(f for f in Path(a.costs).glob("*.npy") if fnmatch.fnmatch(f.stem, a.match))
    rows = []
    for f in files:
        r = measure(f, peers, a.repeats, a.budget)
        rows.append(r)
        tr = f" transport/lsa {r['transport'] / r['hotalign']:.2f}" if r["transport"] else ""
        print(f"{f.stem:34s} hot {r['hotalign'] * 1e3:9.3f} ms  {r['best_peer']:12s} "
              f"{r['peer'] * 1e3:9.3f} ms  ratio {r['ratio']:5.2f}{tr} it {r['n_iter']}"
              f"{'  ERR ' + '; '.join(r['errors']) if r['errors'] else ''}", flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(rows, indent=1))
    print("\n| family | n | dtype | shape | hotalign ms | best peer | peer ms | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: r["ratio"]):
        print(f"| {r['family']} | {r['n']} | {r['dtype']} | {r['shape']} | {r['hotalign'] * 1e3:.3f} "
              f"| {r['best_peer']} | {r['peer'] * 1e3:.3f} | {r['ratio']:.2f} |")


if __name__ == "__main__":
    main()
