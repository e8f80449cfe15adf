"""Depth mismatch: held-out scores of uniform HOT, each slack, auto, Pairwise-Best and
Single-Best (issue 22), on the synthetic pairs of :func:`hotalign.bench.depth.synthetic_pairs`
and, with ``--x DIR --y DIR``, on two captured systems (folders of one ``.npy`` per layer;
``--x-layers`` / ``--y-layers`` pick layers by file stem, comma-separated, in that order).

    python bench/bench_depth.py [--splits 5] [--stimuli 1000]
        [--x DIR --x-layers a,b,c --y DIR --y-layers d,e,f,g]

Scores, not timings: no BLAS settings matter.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from hotalign.bench.depth import synthetic_pairs, format_depth_markdown, run_depth


def _load(folder, names):
    return [np.load(Path(folder) / f"{n}.npy", allow_pickle=False) for n in names.split(",")]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--stimuli", type=int, default=1000)
    ap.add_argument("--x"), ap.add_argument("--x-layers")
    ap.add_argument("--y"), ap.add_argument("--y-layers")
    ap.add_argument("--no-synthetic", action="store_true")
    args = ap.parse_args(argv)
    pairs = {} if args.no_synthetic else synthetic_pairs(args.stimuli)
    if bool(args.x) != bool(args.y) or (args.x and not (args.x_layers and args.y_layers)):
        ap.error("--x and --y go together, each with its --x-layers / --y-layers")
    if args.x and args.y:
        pairs[f"{args.x} vs {args.y}"] = (_load(args.x, args.x_layers),
                                          _load(args.y, args.y_layers))
    print(format_depth_markdown(run_depth(pairs, n_splits=args.splits)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
