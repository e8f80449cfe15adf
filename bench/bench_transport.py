"""Exact transport solvers: hotalign against POT, SciPy, lap and lapx (the issue's configuration).

A thin script over :mod:`hotalign.bench.solvers` (the machinery behind ``hotalign bench solvers``):

- square problems with uniform marginals, n = 384, 1000, 2000, 3072, on the two correlation
  costs (``correlation-related``, ``correlation-independent``) and SciPy's five assignment
  benchmark types (``uniform``, ``spatial``, ``logarithmic``, ``integer``, ``binary``);
  every peer applies (hotalign uses its assignment solver here);
- rectangular problems with uniform marginals, 512x768, 1000x1500, 896x2048, 1500x1000, each
  followed by its transpose (``M.T``, to compare hotalign on M vs M.T), on the correlation
  costs and ``uniform``; only POT solves the same problem (an assignment is not a transport
  plan when n != m);
- random (Dirichlet) marginals, 1000x1500, same costs.

Each (solver, problem) gets one untimed warm-up and ``--repeats`` timed runs; the median is
reported, with the ratio peer / hotalign (> 1: hotalign is faster), and every optimal cost is
checked against hotalign's (relative 1e-9). A disagreement is reported and the script exits 1.

Run from the repository root (after ``pip install -e .``)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_transport.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_transport.py --quick

Benchmark commands unset ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` together: some machines
(this project's development machine included) set them, and forcing them halves NumPy's GEMM
speed. Both are recorded in the output as seen, with the BLAS kernel reported by threadpoolctl.

The lapx peer (``lapjvh``/``lapjvr``, lapx 0.11) installs a module also named ``lap``, so it
lives in its own folder and runs in a subprocess; name the folder with ``HOTALIGN_LAPX_PATH``::

    pip install --target /path/to/lapx 'lapx==0.11.*'
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE HOTALIGN_LAPX_PATH=/path/to/lapx \
        python bench/bench_transport.py

Peers that are not installed are reported as skipped. The Markdown table is printed and
written with the JSON and the log-log plot to ``--out`` (``solvers.md``, ``solvers.json``,
``solvers.png``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from hotalign.bench import solvers as bench

SQUARE_SIZES = (384, 1000, 2000, 3072)
SQUARE_COSTS = bench.COST_TYPES
RECT_SHAPES = ("512x768", "1000x1500", "896x2048", "1500x1000")
RANDOM_SHAPES = ("1000x1500",)
RECT_COSTS = ("correlation-related", "correlation-independent", "uniform")

QUICK_SQUARE_SIZES = (128, 256)
QUICK_RECT_SHAPES = ("128x192", "256x128")
QUICK_RANDOM_SHAPES = ("128x192",)


def problems(quick=False):
    """The benchmark's problem list (see the module docstring)."""
    sizes = QUICK_SQUARE_SIZES if quick else SQUARE_SIZES
    rect = QUICK_RECT_SHAPES if quick else RECT_SHAPES
    rand = QUICK_RANDOM_SHAPES if quick else RANDOM_SHAPES
    return (
        bench.problem_grid(sizes, ["square"], SQUARE_COSTS, ["uniform"])
        + bench.problem_grid([1], rect, RECT_COSTS, ["uniform"], transpose=True)
        + bench.problem_grid([1], rand, RECT_COSTS, ["random"])
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and 2 repeats (a smoke run of the configuration)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs after one warm-up (default: 5, --quick: 2)")
    parser.add_argument("--peers", default=",".join(bench.PEERS),
                        help="peers to compare if installed (default: %(default)s)")
    parser.add_argument("--dtype", default="float64", choices=bench.DTYPES)
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "hotalign-bench",
                                                      "transport"),
                        help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)

    def progress(message):
        print(f"  {message}", file=sys.stderr, flush=True)

    try:
        results = bench.run_problems(problems(args.quick), dtype=args.dtype, repeats=repeats,
                                     peers=args.peers, out_dir=args.out, progress=progress)
    except ValueError as exc:
        print(f"bench_transport: error: {exc}", file=sys.stderr)
        return 2
    except bench.SolverMismatchError as exc:
        print(bench.format_markdown(exc.results))
        print(f"bench_transport: FAILED: {exc}", file=sys.stderr)
        print(f"written to {args.out}", file=sys.stderr)
        return 1
    print(bench.format_markdown(results))
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
