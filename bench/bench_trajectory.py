"""Three-level HOT: ``TrajectoryHOT`` against calling a plain NumPy + POT two-level HOT per pair.

Configuration (issue 6): 8 x 8 checkpoints, 6 layers each, n = 384 units, T = 2000 rows. The
plain baseline standardises both checkpoints, builds every dense 1 - correlation cost and
solves it with ``ot.emd`` (BLAS on all cores), then the layer-level ``ot.emd``: 64 such calls.
hotalign standardises each layer once and solves all (8 x 6) x (8 x 6) unit problems as one grid
on its thread pool. Runs are interleaved; medians reported; D is checked equal to 1e-10.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_trajectory.py [--repeats 3]
        [--plain-pairs 8]

``--plain-pairs k`` times the plain baseline on k of the 64 checkpoint pairs and scales to 64
(every pair costs the same).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import ot
from threadpoolctl import threadpool_info

import hotalign


def plain_two_level(A, B):
    def z(X):
        X = X - X.mean(axis=0)
        return X / np.linalg.norm(X, axis=0)

    Za, Zb = [z(X) for X in A], [z(Y) for Y in B]
    L, M = len(A), len(B)
    C = np.empty((L, M))
    for l in range(L):
        for m in range(M):
            K = 1.0 - Za[l].T @ Zb[m]
            n, k = K.shape
            Q = ot.emd(np.full(n, 1 / n), np.full(k, 1 / k), K, numItermax=10_000_000)
            C[l, m] = np.sum(K * Q)
    P = ot.emd(np.full(L, 1 / L), np.full(M, 1 / M), C)
    return float(np.sum(C * P))


def trajectory(K, L, n, T, seed):
    rng = np.random.default_rng(seed)
    P = [rng.standard_normal((T, n)) for _ in range(L)]
    S = [rng.standard_normal((T, n)) for _ in range(L)]
    return [[np.cos(t) * p + np.sin(t) * s for p, s in zip(P, S)]
            for t in np.linspace(0, 1.2, K)]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--plain-pairs", type=int, default=8)
    ap.add_argument("--n", type=int, default=384)
    ap.add_argument("--T", type=int, default=2000)
    args = ap.parse_args(argv)
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    blas = [(i.get("internal_api"), i.get("architecture"), i.get("num_threads"))
            for i in threadpool_info() if i.get("user_api") == "blas"]
    print(f"env {env}  BLAS {blas}  cpus {hotalign.grid.default_threads()}")
    K, L, n, T = 8, 6, args.n, args.T
    A = trajectory(K, L, n, T, 0)
    B = trajectory(K, L, n, T, 0)
    B = [[X + 0.3 * np.random.default_rng(k).standard_normal(X.shape) for X in ck]
         for k, ck in enumerate(B)]
    pairs = [(k, kp) for k in range(K) for kp in range(K)][:: max(1, 64 // args.plain_pairs)]
    pairs = pairs[: args.plain_pairs]
    ours, plain = [], []
    traj = None
    for rep in range(args.repeats):
        t0 = time.perf_counter()
        traj = hotalign.TrajectoryHOT().fit(A, B)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        D = [plain_two_level(A[k], B[kp]) for k, kp in pairs]
        plain.append((time.perf_counter() - t0) * 64 / len(pairs))
        if rep == 0:
            err = max(abs(d - traj.checkpoint_costs_[k, kp]) for d, (k, kp) in zip(D, pairs))
            print(f"max |D_ours - D_plain| over {len(pairs)} pairs: {err:.2e}")
            assert err < 1e-10
    med = statistics.median
    print(f"\n| TrajectoryHOT {K}x{K} checkpoints, {L} layers, n={n}, T={T} | median s |")
    print("|---|---|")
    print(f"| hotalign TrajectoryHOT.fit | {med(ours):.2f} |")
    print(f"| plain NumPy+POT two-level HOT x 64 (timed on {len(pairs)}, scaled) | "
          f"{med(plain):.2f} |")
    print(f"\nratio plain / hotalign: {med(plain) / med(ours):.1f}x")
    print("coupling support monotone:",
          bool(np.all(np.diff(np.argmax(traj.checkpoint_plan_, axis=1)) >= 0)))


if __name__ == "__main__":
    main()
