"""``hotalign demo``: the method on built-in synthetic data."""

from __future__ import annotations

import time

import numpy as np

from .._version import __version__
from .options import add_command, _add_common
from .shared import _figures, _formats, _out_dir, TqdmProgress


def _demo(args) -> int:
    from ..costs import correlation_cost
    from ..datasets import make_hierarchy
    from ..estimator import HOT
    from ..evaluation import evaluate
    from ..transport import solve_transport

    formats = _formats(args.figure_format)
    out = None if args.out is None else _out_dir(args.out)
    x_widths = (args.units,) * args.x_layers
    y_widths = (args.units * 3 // 2,) * args.y_layers
    X, Y, truth = make_hierarchy(args.stimuli, x_widths, y_widths, random_state=args.seed)
    print(
        f"hotalign {__version__} demo: synthetic network X ({args.x_layers} layers x "
        f"{x_widths[0]} units) vs Y ({args.y_layers} layers x {y_widths[0]} units), "
        f"{args.stimuli} stimuli"
    )

    # Level 1 on one layer pair, with the solver's optimality certificate.
    l, m = 0, int(truth["layer_map"][0])
    K = correlation_cost(X[l], Y[m])
    t0 = time.perf_counter()
    res = solve_transport(K)
    elapsed = time.perf_counter() - t0
    cert = res.certificate(K)
    exact = res.status == "optimal" and max(cert.values()) < 1e-9
    print(f"\nUnit level, X[{l}] vs Y[{m}]: {K.shape[0]} x {K.shape[1]} exact transport "
          f"({res.method}) in {elapsed * 1e3:.1f} ms, status {res.status}, {res.nnz} cells")
    print(f"  soft matching distance <K, Q> = {res.cost:.4f} (lower = more alike)")
    print("  certificate: marginal error {marginal_error:.1e}, dual infeasibility "
          "{dual_infeasibility:.1e}, duality gap {duality_gap:.1e}".format(**cert)
          + (" -> optimal" if exact else " -> NOT certified"))

    # The full protocol: random splits, HOT against its baselines.
    t0 = time.perf_counter()
    with TqdmProgress("splits", "split", disable=True if args.quiet else None) as bar:
        ev = evaluate(X, Y, n_splits=args.splits, test_size=0.2, random_state=args.seed,
                      progress=bar)
    elapsed = time.perf_counter() - t0
    print(f"\nHeld-out reconstruction, {args.splits} random 80/20 splits ({elapsed:.2f} s):")
    print(ev.table())
    P = ev.layer_plans.mean(axis=0)
    found = P.argmax(axis=1)
    planted = truth["layer_map"]
    print("\nLayer map, X layer -> Y layer (argmax of each row of P; mean plan over splits):")
    print("  planted:   " + " ".join(f"{k}->{v}" for k, v in enumerate(planted)))
    print("  recovered: " + " ".join(f"{k}->{v}" for k, v in enumerate(found)))
    print(f"  HOT distance <C, P> = {ev.distances.mean():.4f} (lower = more alike)")
    print("\nLayer plan P x L (row l: how layer l of X is spread over the layers of Y):")
    for k, row in enumerate(P * len(X)):
        print(f"  X[{k}] " + " ".join(f"{v:5.2f}" for v in row))

    if out is not None:
        x_names = [f"X[{k}]" for k in range(len(X))]
        y_names = [f"Y[{k}]" for k in range(len(Y))]
        hot = HOT().fit(X, Y)  # plans of the chosen pair, fitted on all rows
        pair = (0, int(hot.layer_plan_[0].argmax()))
        results = {"systems": {"X": "X (synthetic)", "Y": "Y (synthetic)"},
                   "inputs": {"X": {"layers": x_names}, "Y": {"layers": y_names}},
                   **ev.to_dict(x_names, y_names)}
        written = _figures(out, formats, results, hot.unit_plans_[pair[0]][pair[1]], pair)
        if written:
            print(f"\nFigures: {', '.join(str(p) for p in written)}")
    return 0 if exact and np.array_equal(found, planted) else 1


def register(sub):
    """Add the ``demo`` subcommand to the subparsers ``sub``."""
    demo = add_command(sub, "demo", "run the method on built-in synthetic data",
                       "hotalign demo",
                       "hotalign demo --out demo-figures --figure-format png,svg",
                       "hotalign demo --x-layers 6 --y-layers 9 --units 64 --splits 3")
    demo.add_argument("--stimuli", type=int, default=2000, help="number of stimuli T")
    demo.add_argument("--x-layers", type=int, default=4, help="depth of network X")
    demo.add_argument("--y-layers", type=int, default=6, help="depth of network Y")
    demo.add_argument("--units", type=int, default=128, help="width of X's layers (Y: 1.5x)")
    demo.add_argument("--splits", type=int, default=5, help="random train/test splits")
    demo.add_argument("--seed", type=int, default=0, help="seed of the data and the splits")
    _add_common(demo, "hotalign-demo")
    demo.set_defaults(func=_demo)
