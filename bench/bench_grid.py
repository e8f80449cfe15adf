"""The layer-pair grid alone: costs + exact solves + sparse plans, 1 vs 2 threads, vs the
best off-the-shelf assembly and the GEMM floor (the "Grid" table of bench_hot.py), and the
LLM-scale run: a 28 x 28 grid of 3072-wide layers at T=2000 (time and peak RSS).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE HOTALIGN_LAPX_PATH=/path/to/lapx \
        python bench/bench_grid.py [--quick] [--scale [--layers 28 --width 3072]
                                   [--regime related|independent]]
"""

import argparse
import resource
import time

import numpy as np

import hotalign
from hotalign.bench.pipeline import format_pipeline_markdown, run_pipeline


def systems(n_layers, width, T, rng, regime="related"):
    """Two systems of float32 layers driven by a 64-d stimulus latent.

    ``related``: layer l of Y holds the units of layer l of X in a random order plus as much
    private noise as signal (every unit has a partner, correlation ~0.7), as in two models
    of one family. ``independent``: the two systems share nothing (flat costs near 1, the
    hard regime for the solvers).
    """
    def layer(latent):
        A = latent @ rng.standard_normal((64, width), dtype=np.float32)
        A += rng.standard_normal((T, width), dtype=np.float32)
        return A

    latent = rng.standard_normal((T, 64), dtype=np.float32)
    X = [layer(latent) for _ in range(n_layers)]
    if regime == "independent":
        other = rng.standard_normal((T, 64), dtype=np.float32)
        return X, [layer(other) for _ in range(n_layers)]
    Y = []
    for A in X:
        B = A[:, rng.permutation(width)]
        B += A.std() * rng.standard_normal((T, width), dtype=np.float32)
        Y.append(B)
    return X, Y


def scale(n_layers, width, T, regime):
    rng = np.random.default_rng(0)
    X, Y = systems(n_layers, width, T, rng, regime)
    inputs = sum(A.nbytes for A in X + Y)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t0 = time.perf_counter()
    grid = hotalign.solve_grid(X, Y, dtype=np.float32, keep_plans=True)
    elapsed = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    assert np.all(grid.statuses == "optimal")
    print(f"\n### Scale: {n_layers} x {n_layers} layers of {width} units, T={T}, float32, "
          f"{regime} systems\n")
    print(f"- grid time: {elapsed:.1f} s for {n_layers ** 2} pairs "
          f"({elapsed / n_layers ** 2 * 1e3:.0f} ms per pair), plans kept (sparse)")
    print(f"- peak RSS: {rss:.2f} GiB (inputs {inputs / 2**30:.2f} GiB float32; "
          f"{rss0:.2f} GiB before the grid)")
    print(f"- mean pivots/augmentations per pair: {grid.n_iter.mean():.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", action="store_true", help="only the LLM-scale grid")
    parser.add_argument("--layers", type=int, default=28)
    parser.add_argument("--width", type=int, default=3072)
    parser.add_argument("--stimuli", type=int, default=2000)
    parser.add_argument("--regime", choices=("related", "independent"), default="related")
    args = parser.parse_args()
    if args.scale:
        scale(args.layers, args.width, args.stimuli, args.regime)
        return
    cases = ((3, 4, 64),) if args.quick else ((6, 12, 384), (12, 12, 768))
    results = run_pipeline(cases, T=400 if args.quick else 2000,
                           repeats=1 if args.quick else args.repeats, include_plain=False)
    print(format_pipeline_markdown(results).split("### HOT end to end")[0])


if __name__ == "__main__":
    main()
