"""Sparse emd: hotalign's sparse network simplex against POT's sparse ``ot.emd`` on kNN arcs.

Problem family (seeded): ``n`` source and ``n`` target points uniform in the unit square; the arcs
are each source's ``k`` nearest targets (squared Euclidean costs), united with a random perfect
matching so that uniform marginals are always feasible. Both solvers get the same
``scipy.sparse.coo_array``; their optimal costs must agree (relative ``1e-9``) or the run fails.
Timings are medians over ``repeats`` runs, ours and POT's interleaved (the machine may be
shared). Run ``python -m hotalign.bench.sparse``; POT and SciPy are peers here only.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import hotalign

__all__ = ["knn_problem", "run", "main"]


def knn_problem(n: int, k: int, seed: int = 0):
    """A feasible sparse problem: ``(M, a, b)``, M an (n, n) ``coo_array`` of about
    ``n (k + 1)`` arcs, a and b uniform."""
    import scipy.sparse
    from scipy.spatial import cKDTree

    rng = np.random.default_rng([seed, n, k])
    X, Y = rng.random((n, 2)), rng.random((n, 2))
    _, nbr = cKDTree(Y).query(X, k=min(k, n))
    nbr = np.asarray(nbr).reshape(n, -1)
    rows = np.concatenate([np.repeat(np.arange(n), nbr.shape[1]), np.arange(n)])
    cols = np.concatenate([nbr.ravel(), rng.permutation(n)])
    key = np.unique(rows * n + cols)
    rows, cols = key // n, key % n
    costs = ((X[rows] - Y[cols]) ** 2).sum(axis=1)
    M = scipy.sparse.coo_array((costs, (rows, cols)), shape=(n, n))
    a = np.full(n, 1.0 / n)
    return M, a, a.copy()


def _time(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run(sizes=(1000, 5000, 20000), ks=(10, 50), repeats=3, seed=0):
    """Rows ``(n, k, arcs, hotalign s, POT s, ratio POT/hotalign, cost)``, medians."""
    import ot

    rows = []
    for n in sizes:
        for k in ks:
            M, a, b = knn_problem(n, k, seed)
            ours, theirs, cost = [], [], None
            for _ in range(repeats):
                t, c1 = _time(lambda: hotalign.emd2(a, b, M))
                ours.append(t)
                t, c2 = _time(lambda: ot.emd2(a, b, M, numItermax=10**9))
                theirs.append(t)
                if not abs(c1 - c2) <= 1e-9 * max(abs(c1), abs(c2)):
                    raise AssertionError(f"n={n} k={k}: hotalign cost {c1!r} != POT {c2!r}")
                cost = c1
            mo, mt = statistics.median(ours), statistics.median(theirs)
            rows.append((n, k, M.nnz, mo, mt, mt / mo, cost))
    return rows


def main(argv=None) -> int:
    """Print the table (markdown)."""
    p = argparse.ArgumentParser(prog="python -m hotalign.bench.sparse",
                                description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    p.add_argument("--k", type=int, nargs="+", default=[10, 50])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print("| n | k | arcs | hotalign (s) | POT (s) | POT / hotalign | optimal cost |")
    print("|---|---|---|---|---|---|---|")
    for n, k, arcs, mo, mt, ratio, cost in run(args.sizes, args.k, args.repeats, args.seed):
        print(f"| {n} | {k} | {arcs} | {mo:.3f} | {mt:.3f} | {ratio:.2f}x | {cost:.12g} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
