"""What the stimulus-permutation null costs against a single fit.

``python -m hotalign.bench.null`` times, on synthetic layers that share a low-rank signal:

1. one ``HOT(dtype).fit`` on all T rows (the reference);
2. the null of one 80/20 split (:func:`hotalign.null.permutation_null`): the split's layers
   standardised once, then ``--measure`` permutations, each a full layer-pair grid (GEMMs and
   exact solves) on the training rows plus the held-out reconstruction.

Every permutation does the same work, so the cost of N permutations is N times the measured
mean; the report gives the measured seconds and the ratio ``N * per_permutation / fit`` for
``--n-null`` N (default 100). Self-contained: it needs only the package.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

__all__ = ["main", "run"]


def _layers(rng, T, L, n, rank=64, noise=1.0):
    base = rng.standard_normal((T, rank))
    return [base @ rng.standard_normal((rank, n)) + noise * rng.standard_normal((T, n))
            for _ in range(L)]


def run(*, stimuli=1000, layers=12, units=768, n_null=100, measure=3, dtype="float64",
        threads=None, seed=0) -> dict:
    """Time one fit and ``measure`` null permutations; returns the record (seconds, ratio)."""
    from ..estimator import HOT
    from ..null import permutation_null
    from ..systems import standardize_system

    rng = np.random.default_rng(seed)
    X, Y = _layers(rng, stimuli, layers, units), _layers(rng, stimuli, layers, units)
    est = HOT(dtype=dtype, n_threads=threads)
    est.fit([A[:, :32] for A in X[:2]], [B[:, :32] for B in Y[:2]])  # warm-up (JIT, threads)
    t0 = time.perf_counter()
    est.fit(X, Y)
    fit_s = time.perf_counter() - t0

    order = rng.permutation(stimuli)
    n_test = int(round(0.2 * stimuli))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    t0 = time.perf_counter()
    Sx, Sy = (standardize_system([A[train] for A in S], name, dtype=dtype)
              for S, name in ((X, "X"), (Y, "Y")))
    standardise_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    permutation_null(est, Sx, Sy, [A[test] for A in X], [B[test] for B in Y], measure,
                     np.random.default_rng(seed + 1), n_threads=threads)
    per_perm = (time.perf_counter() - t0) / measure
    total = standardise_s + n_null * per_perm
    return {
        "benchmark": "null", "stimuli": stimuli, "layers": layers, "units": units,
        "dtype": dtype, "threads": threads, "n_null": n_null, "measured_permutations": measure,
        "fit_seconds": fit_s, "standardise_seconds": standardise_s,
        "per_permutation_seconds": per_perm, "null_seconds": total,
        "ratio_to_fit": total / fit_s,
        "python": platform.python_version(), "machine": platform.machine(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hotalign.bench.null",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--stimuli", type=int, default=1000)
    parser.add_argument("--layers", type=int, default=12, help="layers per system")
    parser.add_argument("--units", type=int, default=768, help="units per layer")
    parser.add_argument("--n-null", type=int, default=100, help="permutations costed")
    parser.add_argument("--measure", type=int, default=3,
                        help="permutations actually run (each costs the same)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the record as JSON")
    args = parser.parse_args(argv)
    for name in ("stimuli", "layers", "units", "n_null", "measure"):
        if getattr(args, name) < (5 if name == "stimuli" else 1):
            parser.error(f"--{name.replace('_', '-')} is too small: {getattr(args, name)}")
    rec = run(stimuli=args.stimuli, layers=args.layers, units=args.units, n_null=args.n_null,
              measure=args.measure, dtype=args.dtype, threads=args.threads, seed=args.seed)
    if args.json:
        print(json.dumps(rec, indent=2))
    else:
        print(f"{rec['layers']} x {rec['layers']} layers x {rec['units']} units, "
              f"{rec['stimuli']} stimuli, {rec['dtype']}: one fit {rec['fit_seconds']:.2f} s; "
              f"null: {rec['per_permutation_seconds']:.2f} s per permutation "
              f"(mean of {rec['measured_permutations']}), {rec['n_null']} permutations "
              f"{rec['null_seconds']:.1f} s = {rec['ratio_to_fit']:.1f}x the fit")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
