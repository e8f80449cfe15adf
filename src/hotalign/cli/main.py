"""The parser of the ``hotalign`` command, and :func:`main`."""

from __future__ import annotations

import argparse
import contextlib
import sys
import traceback

from .._version import __version__
from . import align, cache, capture, compare, demo, info, layers, plot, trajectory
from .options import HelpFormatter, Parser, _examples, add_command

__all__ = ["build_parser", "main"]


def build_parser(bench_arguments=True) -> argparse.ArgumentParser:
    """The ``hotalign`` argument parser. With ``bench_arguments=False`` the ``bench``
    subcommands are registered without their options, so that building the parser imports no
    benchmark code (:func:`main` registers them only for ``hotalign bench ...``)."""
    parser = Parser(
        prog="hotalign", formatter_class=HelpFormatter,
        description="Hierarchical optimal transport: compare two networks (or brains) layer by "
                    "layer and unit by unit.",
        epilog=_examples("hotalign demo", "hotalign align X.npz Y.npz --out results",
                         "hotalign info"))
    parser.add_argument("--version", action="version", version=f"hotalign {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for command in (demo, align, compare, plot, layers, capture, trajectory):
        command.register(sub)
    bench = add_command(sub, "bench", "benchmarks against POT, SciPy, lap and plain NumPy",
                        "hotalign bench solvers --sizes 256,512 --repeats 3 --out bench-results",
                        "hotalign bench pipeline --quick --out bench-results")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK")
    solvers = add_command(
        bench_sub, "solvers", "exact solvers against peers (POT, SciPy, lap, lapx)",
        "hotalign bench solvers --sizes 256,512 --costs correlation-related,uniform --repeats 3",
        "hotalign bench solvers --sizes 1000 --shapes square --peers scipy --dtype float32",
        "hotalign bench solvers --costs uniform --marginals random --transpose --out bench-results")
    if bench_arguments:
        from ..bench.commands import add_solvers_arguments, solvers_main

        add_solvers_arguments(solvers)
        solvers.set_defaults(func=solvers_main)
    pipeline = add_command(
        bench_sub, "pipeline",
        "grid, end-to-end HOT, HOT+R and TrajectoryHOT against plain NumPy+POT",
        "hotalign bench pipeline --quick --out bench-results",
        "hotalign bench pipeline --only grid,hot --repeats 5")
    if bench_arguments:
        from ..bench.pipeline import add_pipeline_arguments, pipeline_main

        add_pipeline_arguments(pipeline)
        pipeline.set_defaults(func=pipeline_main)
    for command in (cache, info):
        command.register(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(bench_arguments=bool(argv) and argv[0] == "bench")
    args = parser.parse_args(argv)
    from ..io.limits import reader_defaults

    try:
        with contextlib.ExitStack() as args.exit_stack:  # locks held for the run
            args.exit_stack.enter_context(reader_defaults(
                getattr(args, "max_memory", None), getattr(args, "hdf5_external", False)))
            return args.func(args)
    except ValueError as exc:  # bad input: one line, no traceback
        message = " ".join(str(exc).split())
        print(f"hotalign: error: {message}", file=sys.stderr)
        return 2
    except MemoryError as exc:  # a size the readers could not foresee: one line
        print(f"hotalign: error: out of memory{f' ({exc})' if str(exc) else ''}; lower "
              "--max-memory or --max-layers-in-memory", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hotalign: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        traceback.print_exc()
        print(f"hotalign: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
