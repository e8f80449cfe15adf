"""Correlation-cost kernel: hotalign.correlation_cost from raw activations vs a plain np.dot of
the same shapes on pre-standardised arrays (the GEMM alone), the same GEMM through scipy's BLAS
(the library hotalign's kernel calls; numpy and scipy wheels ship different OpenBLAS builds)
and NumPy's standardise-then-matmul recipe, at T=2000, n=m in {384, 1000, 2048}, float64 and
float32. Medians of interleaved runs.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_costs.py [--threads 1]
"""

import argparse
import statistics
import time

import numpy as np
from scipy.linalg import blas as scipy_blas
from threadpoolctl import threadpool_info, threadpool_limits

import hotalign
from hotalign._blas import gemm_pointers


def recipe(X, Y, dtype):
    Xs = (X - X.mean(0)) / X.std(0)
    Ys = (Y - Y.mean(0)) / Y.std(0)
    return 1.0 - (Xs.astype(dtype).T @ Ys.astype(dtype)) / X.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", default="384,1000,2048")
    args = parser.parse_args()
    T = 2000
    rng = np.random.default_rng(0)
    gemm_pointers()  # load scipy's BLAS before threadpoolctl looks, so limits cover it too
    print("BLAS:", [(i["internal_api"], i.get("version"), i.get("architecture"), i["num_threads"])
                    for i in threadpool_info()])
    print("\n| n = m | dtype | hotalign | np.dot (pre-standardised) | scipy BLAS gemm "
          "(pre-standardised) | NumPy recipe | hotalign FLOP rate / np.dot | / scipy gemm | "
          "f64 / f32 |")
    print("|---|---|---|---|---|---|---|---|---|")
    with threadpool_limits(limits=args.threads):
        for n in (int(s) for s in args.sizes.split(",")):
            X = rng.standard_normal((T, n)) * 2 + 1
            Y = rng.standard_normal((T, n)) * 3 - 1
            row = {}
            for dtype in (np.float64, np.float32):
                Xd, Yd = X.astype(dtype), Y.astype(dtype)
                Zx = np.ascontiguousarray(hotalign.zscore(Xd, dtype=dtype))
                Zy = np.ascontiguousarray(hotalign.zscore(Yd, dtype=dtype))
                out = np.empty((n, n), dtype=dtype)
                gemm = scipy_blas.sgemm if dtype == np.float32 else scipy_blas.dgemm
                ZxF, ZyF = np.asfortranarray(Zx), np.asfortranarray(Zy)
                fns = {
                    "ours": lambda: hotalign.correlation_cost(Xd, Yd, dtype=dtype, out=out),
                    "dot": lambda: np.dot(Zx.T, Zy),
                    "scipy": lambda: gemm(1.0, ZxF, ZyF, trans_a=True),
                    "recipe": lambda: recipe(Xd, Yd, dtype),
                }
                times = {k: [] for k in fns}
                for f in fns.values():
                    f()  # warm-up
                for _ in range(args.repeats):
                    for k, f in fns.items():  # interleaved
                        t0 = time.perf_counter()
                        f()
                        times[k].append(time.perf_counter() - t0)
                med = {k: statistics.median(v) for k, v in times.items()}
                row[dtype] = med
                print(f"| {n} | {np.dtype(dtype).name} | {med['ours'] * 1e3:.2f} ms | "
                      f"{med['dot'] * 1e3:.2f} ms | {med['scipy'] * 1e3:.2f} ms | "
                      f"{med['recipe'] * 1e3:.2f} ms | {med['dot'] / med['ours']:.2f} | "
                      f"{med['scipy'] / med['ours']:.2f} | "
                      + (f"{row[np.float64]['ours'] / med['ours']:.2f} |" if dtype == np.float32
                         else " |"))


if __name__ == "__main__":
    main()
