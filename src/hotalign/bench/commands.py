"""``hotalign bench solvers``: its options and its entry point, for the family suite
(:mod:`hotalign.bench.suites`, the default) and the detailed comparison
(:mod:`hotalign.bench.solvers`, with ``--costs``)."""

from __future__ import annotations

import sys

from .harness import COST_TYPES, as_list, check_choices, check_sizes, fail, int_option
from .peers import LAPX_ENV, PEERS

__all__ = ["add_solvers_arguments", "solvers_main"]


def add_solvers_arguments(parser):
    """Add the ``hotalign bench solvers`` options to an :class:`argparse.ArgumentParser`.

    Without ``--costs`` the command runs the family suite (:mod:`hotalign.bench.suites`:
    quick by default, ``--full`` for every size and dtype); with ``--costs`` it runs the detailed
    per-problem comparison of :mod:`hotalign.bench.solvers`. Values are parsed and validated by
    :func:`solvers_main` (a bad value raises ValueError naming the option).
    """
    from .families import FAMILIES

    parser.add_argument("--full", action="store_true",
                        help="family suite: sizes 384..3072, float64 and float32 (slow)")
    parser.add_argument("--families", default=None,
                        help=f"family suite: families to run (default: all: {','.join(FAMILIES)})")
    parser.add_argument("--clock", default="wall",
                        help="family suite: wall (perf_counter) or cpu (process CPU time, robust "
                             "on a shared machine; default: %(default)s)")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated smaller sides n (family suite default: 384,768; "
                             "with --costs: 256,512,1024)")
    parser.add_argument("--shapes", default=None,
                        help="family suite: square and/or rect (n x 1.5n); with --costs: "
                             "square, ratios p:q and/or dimensions NxM (default square,1:2,2:1)")
    parser.add_argument("--costs", default=None,
                        help="run the detailed comparison on these cost families: "
                             + ",".join(COST_TYPES))
    parser.add_argument("--marginals", default=None,
                        help="with --costs: uniform and/or random (default: uniform)")
    parser.add_argument("--dtype", default=None,
                        help="float64 and/or float32 (family suite: comma-separated list)")
    parser.add_argument("--repeats", default=None,
                        help="timed runs after one warm-up (default: 5; --full: 7)")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help="peers to compare, if installed (default: %(default)s; "
                             f"lapx: the lap module if it is lapx, else ${LAPX_ENV}); "
                             "'none' for none")
    parser.add_argument("--transpose", action="store_true",
                        help="with --costs: also run M.T for every rectangular problem")
    parser.add_argument("--seed", default="0", help="base seed (default: %(default)s)")
    parser.add_argument("--time-budget", default=None,
                        help="seconds per solver and problem before fewer runs are timed")
    parser.add_argument("--out", default="bench-results",
                        help="output directory for the .md/.json/.png (default: %(default)s)")
    parser.add_argument("--data", default=None,
                        help="family suite: folder of the real families' captures (default: "
                             "the user cache folder, .../hotalign/bench-data)")
    return parser




def solvers_main(args) -> int:
    """Run ``hotalign bench solvers`` from parsed arguments; print and write the results.

    Returns
    -------
    int
        0 when hotalign's results are certified, 1 when hotalign failed (an error or a dual
        certificate that does not hold). A peer with a wrong cost is a finding printed in the
        table, not a failure.

    Raises
    ------
    ValueError
        A bad option value, naming the option (the CLI maps it to exit code 2).
    """
    from .solvers import (
        DTYPES,
        MARGINALS,
        SolverMismatchError,
        _check_peers,
        _parse_shape,
        format_markdown,
        run_solvers,
    )

    if args.costs is None:
        return _families_main(args)
    if args.data is not None:
        fail("--data", "only for the family suite (without --costs)")
    sizes = check_sizes(args.sizes or "256,512,1024", "--sizes")
    shapes = as_list(args.shapes or "square,1:2,2:1", "--shapes")
    for shape in shapes:
        _parse_shape(shape, "--shapes")
    costs = check_choices(args.costs, "--costs", COST_TYPES)
    marginals = check_choices(args.marginals or "uniform", "--marginals", MARGINALS)
    (dtype,) = check_choices([args.dtype or "float64"], "--dtype", DTYPES)
    repeats = int_option(args.repeats or "5", "--repeats", 1)
    seed = int_option(args.seed, "--seed", 0)
    peers = _check_peers(args.peers, "--peers")
    budget = _budget_option(args.time_budget)

    try:
        results = run_solvers(sizes, shapes, costs, marginals, dtype, repeats, peers, args.out,
                              _progress, transpose=args.transpose, seed=seed,
                              time_budget=budget)
    except SolverMismatchError as exc:
        print(format_markdown(exc.results))
        print(f"hotalign bench: FAILED: {exc}", file=sys.stderr)
        return 1
    print(format_markdown(results))
    if args.out is not None:
        print(f"written to {args.out}/solvers.md, solvers.json"
              + ("" if results.get("plot_note") else ", solvers.png"))
    return 0


def _progress(message):
    print(f"  {message}", file=sys.stderr, flush=True)


def _budget_option(value):
    if value is None:
        return None
    try:
        budget = float(value)
    except ValueError:
        budget = -1.0
    if not budget > 0:
        fail("--time-budget", f"expected a positive number, got {value!r}")
    return budget


def _families_main(args) -> int:
    from . import families as fam
    from .harness import CLOCKS
    from .reports import format_families_markdown
    from .solvers import _check_peers
    from .suites import run_families

    if args.marginals is not None or args.transpose:
        fail("--marginals" if args.marginals is not None else "--transpose",
              "only with --costs (the family suite solves assignments: uniform marginals)")
    base = fam.FULL if args.full else fam.QUICK
    sizes = check_sizes(args.sizes, "--sizes") if args.sizes else None
    shapes = check_choices(args.shapes, "--shapes", fam.SHAPES) if args.shapes else None
    families = (check_choices(args.families, "--families", fam.FAMILIES)
                if args.families else None)
    dtypes = check_choices(args.dtype, "--dtype", fam.DTYPES) if args.dtype else None
    repeats = int_option(args.repeats, "--repeats", 1) if args.repeats else None
    (clock,) = check_choices([args.clock], "--clock", CLOCKS)
    seed = int_option(args.seed, "--seed", 0)
    peers = _check_peers(args.peers, "--peers")
    budget = _budget_option(args.time_budget)
    if sizes and min(sizes) < 2:
        fail("--sizes", "the family suite needs n >= 2")
    results = run_families(families, sizes, shapes, dtypes, full=args.full, repeats=repeats,
                               peers=peers, time_budget=budget or base["time_budget"],
                               seed=seed, clock=clock, out_dir=args.out, progress=_progress,
                               data_dir=args.data)
    print(format_families_markdown(results))
    if args.out is not None:
        print(f"written to {args.out}/families.md, families.json"
              + ("" if results.get("figure_note") else ", families.png"))
    if not results["ok"]:
        print(f"hotalign bench: FAILED: {len(results['failures'])} hotalign failure(s)",
              file=sys.stderr)
        return 1
    return 0
