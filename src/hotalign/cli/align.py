"""``hotalign align X Y``: two systems stored in files compared: scores, layer plan, unit plans."""

from __future__ import annotations

import argparse
import json
import time

from .._version import __version__
from . import inputs
from .options import (INPUT_FORMATS, _add_cache_options, _add_constant_units, add_command,
                      add_input_options, _add_common)
from .shared import (_bound_cache, _cache_dir, _cache_summary, _figures, _formats, _fresh_out,
                     _grids, _memory, _out_dir, _reused, _say, _say_cache_size, TqdmProgress,
                     UsageError)


def _estimator(args, memory=None):
    from ..estimator import HOT

    return HOT(n_threads=args.threads, dtype=args.dtype,
               max_layers_in_memory=getattr(args, "max_layers_in_memory", None), memory=memory,
               lazy=bool(getattr(args, "lazy", False)),
               layer_marginals=getattr(args, "layer_marginals", "uniform"),
               slack=_slack_of(args))


def _slack_of(args):
    """The ``slack=`` of HOT from --slack: None unless the rule takes one ("slack" needs it;
    "auto" takes None for its default grid)."""
    rule, slack = getattr(args, "layer_marginals", "uniform"), getattr(args, "slack", None)
    if rule == "slack" and slack is None:
        raise UsageError("--layer-marginals slack needs --slack S (a number >= 0, or inf)")
    if rule in ("uniform", "semi-relaxed") and slack is not None:
        raise UsageError(f"--slack is not used by --layer-marginals {rule}: drop it, or use "
                         "--layer-marginals slack")
    if rule == "auto" and slack is not None:
        raise UsageError("--layer-marginals auto chooses the slack on held-out rows: drop "
                         "--slack")
    return slack


def _slack_value(text):
    """--slack: a float >= 0, or inf."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or inf, got {text!r}") \
            from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or inf, got {text!r}")
    return value


def _check_align_args(args):
    if args.splits < 1:
        raise UsageError(f"--splits must be >= 1, got {args.splits}")
    if not 0.0 < args.test_size < 1.0:
        raise UsageError(f"--test-size must be in (0, 1), got {args.test_size}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be >= 1, got {args.threads}")
    if getattr(args, "null", 0) < 0:
        raise UsageError(f"--null must be >= 0, got {args.null}")
    if args.max_layers_in_memory is not None and args.max_layers_in_memory < 2:
        raise UsageError(f"--max-layers-in-memory must be >= 2, got {args.max_layers_in_memory}")


def _load_pair(args):
    from ..io import check_stimuli

    X = inputs.load(args.X, args.x_layers or args.layers)
    Y = inputs.load(args.Y, args.y_layers or args.layers)
    check_stimuli(X, Y)
    ((X,), (Y,)), args.dropped_layers = inputs.drop_constant_layers([[X], [Y]],
                                                                     args.constant_units)
    return X, Y


def _align(args) -> int:
    from ..baselines import ALL_METHODS, METHODS
    from ..evaluation import evaluate
    from ..io import write_json, write_plans
    from ..report import align_results

    _check_align_args(args)
    formats = _formats(args.figure_format)
    Xs, Ys = _load_pair(args)
    if args.unit_pair is not None:
        l, m = args.unit_pair
        if not (0 <= l < len(Xs) and 0 <= m < len(Ys)):
            raise UsageError(f"--unit-pair {l},{m}: out of range ({len(Xs)} x {len(Ys)} "
                             "layers)")
    out = _fresh_out(_out_dir(args.out, args), args)
    cache_dir = _cache_dir(args, out)
    memory = _memory(args, cache_dir)
    fits, pairs = (None, None) if memory is None else (memory.fits, memory.pairs)
    estimator = _estimator(args, memory)
    est = estimator
    _say(args, f"hotalign {__version__} align: {Xs.source} ({len(Xs)} layers) vs {Ys.source} "
               f"({len(Ys)} layers), {Xs.n_stimuli} stimuli, {args.splits} splits")
    X, Y = Xs.layers(), Ys.layers()  # HDF5 layers stay lazy (rows read on demand)
    t0 = time.perf_counter()
    quiet = True if args.quiet else None
    split_bar = TqdmProgress("splits", "split", position=0, disable=quiet, label="align")
    pair_bar = TqdmProgress("layer pairs", "pair", position=1, leave=False, disable=quiet,
                            label="align")
    scheduler = args.scheduler
    names = {"X": (args.X, Xs.names), "Y": (args.Y, Ys.names)}
    try:
        with _grids(args, pair_bar), inputs.named_layers(names):
            ev = evaluate(X, Y, methods=ALL_METHODS if args.rotation else METHODS,
                          n_splits=args.splits, test_size=args.test_size,
                          random_state=args.seed, estimator=est, progress=split_bar,
                          n_null=args.null)
            full = est.fit(X, Y)  # plans, C and P on all rows
            full_r = None
            if args.rotation:
                full_r = type(est)(**{**est.get_params(), "rotation": True}).fit(X, Y)
    finally:
        pair_bar.close()
        split_bar.close()
    elapsed = time.perf_counter() - t0

    parameters = {
        "splits": args.splits, "test_size": args.test_size, "seed": args.seed,
        "rotation": args.rotation, "dtype": args.dtype, "layers": args.layers,
        "x_layers": args.x_layers, "y_layers": args.y_layers,
        "estimator": repr(estimator), "threads": args.threads, "scheduler": scheduler,
        "constant_units": args.constant_units,
        "dropped_constant_layers": dict(zip("XY", args.dropped_layers)),
        **({"null": args.null} if args.null else {}),
    }
    summary = align_results(Xs, Ys, parameters, ev, full, full_r,
                            _cache_summary(cache_dir, fits=fits, layer_pairs=pairs), elapsed)
    write_plans(out / "plans.npz", full.unit_plans_, Xs.names, Ys.names)
    if full_r is not None:
        write_plans(out / "plans_rotation.npz", full_r.unit_plans_, Xs.names, Ys.names)
    l = 0 if args.unit_pair is None else args.unit_pair[0]
    m = int(full.layer_plan_[l].argmax()) if args.unit_pair is None else args.unit_pair[1]
    if full.unit_plans_[l][m] is None:
        raise UsageError(f"--unit-pair {l},{m}: the lazy fit did not solve this pair (it is "
                         "outside the layer plan); pick a pair of the plan or drop --lazy")
    summary["parameters"]["unit_pair"] = [l, m]
    write_json(out / "results.json", summary)
    # drawn from the file as written, as `hotalign plot` redraws them
    written = _figures(out, formats, json.loads((out / "results.json").read_text()),
                       full.unit_plans_[l][m], (l, m))
    _say(args, ev.table())
    if ev.null is not None:
        rec = summary["null"]
        for key, what in (("hot_score", "HOT score"), ("distance", "HOT distance")):
            lo, hi = rec[key]["range_95"]
            _say(args, f"null ({rec['n_permutations']} stimulus permutations): {what} "
                       f"{rec[key]['observed']:.4f} on split 0 vs null mean "
                       f"{rec[key]['mean']:.4f}, 95% [{lo:.4f}, {hi:.4f}], "
                       f"p = {rec[key]['p_value']:.3g}")
    from .. import plotting

    if full.marginal_rule_[0] != "uniform" and plotting.available():
        lm = full.layer_marginals_
        written += plotting.save(plotting.plot_layer_plan_with_marginals(
            full.layer_plan_, lm["lower"], lm["upper"], Xs.names, Ys.names),
            out / "layer_marginals", formats)
    _say(args, f"HOT distance <C, P> = {full.distance_:.4f} (lower = more alike); "
               f"{elapsed:.1f} s")
    _reused(args, fits=fits, layer_pairs=pairs)
    _say(args, f"written: {out / 'results.json'}, {out / 'plans.npz'}, "
               f"{len(written)} figures")
    _bound_cache(args, cache_dir)
    _say_cache_size(args, cache_dir)
    return 0


def _pair(value):
    try:
        l, m = (int(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected L,M (two layer indices), got {value!r}") from None
    return l, m


def register(sub):
    """Add the ``align`` subcommand to the subparsers ``sub``."""
    align = add_command(
        sub, "align", "compare two systems stored in files: scores, layer plan, unit plans",
        "hotalign align X.npz Y.npz --out results",
        "hotalign align X/ Y.safetensors --layers 'block*' --dtype float32 --rotation",
        "hotalign align X.h5 Y.h5 --out results --resume --max-layers-in-memory 4")
    align.add_argument("X", help=f"first system: {INPUT_FORMATS}")
    align.add_argument("Y", help="second system, in any of these formats (same stimuli, same "
                                 "order); layers of more than 2 dimensions are flattened into "
                                 "units, with a note")
    align.add_argument("--rotation", action="store_true",
                       help="also HOT+R and the +R baselines (learned rotations)")
    align.add_argument("--lazy", action="store_true",
                       help="certified lazy layer grid: the HOT fit on all rows solves only the "
                            "layer pairs its layer plan needs (exact, with a certificate in "
                            "results.json); the splits' baselines still solve every pair")
    align.add_argument("--layer-marginals", default="uniform",
                       choices=("uniform", "slack", "semi-relaxed", "auto"),
                       help="layer-level marginals of HOT: uniform (the paper's), slack (each "
                            "layer of Y sends between (1-s)/M and (1+s)/M, --slack s), "
                            "semi-relaxed (Y's free) or auto (s chosen on inner splits of the "
                            "training rows); docs/method.md, 'Relaxed layer marginals' "
                            "(default: uniform)")
    align.add_argument("--slack", type=_slack_value, default=None, metavar="S",
                       help="the slack s of --layer-marginals slack (a number >= 0, or inf)")
    align.add_argument("--splits", type=int, default=5, help="random train/test splits")
    align.add_argument("--test-size", type=float, default=0.2, help="held-out fraction")
    align.add_argument("--null", type=int, default=0, metavar="N",
                       help="stimulus-permutation null: N permutations of Y's rows on the "
                            "first split, refitted and scored; results.json gets the null's "
                            "mean, 95%% range and p-values (default 0: none)")
    align.add_argument("--seed", type=int, default=0, help="seed of the random splits")
    align.add_argument("--threads", type=int, default=None,
                       help="worker threads (or LocalCluster workers); default all CPUs")
    align.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                       help="precision of standardised layers and costs")
    align.add_argument("--max-layers-in-memory", type=int, default=None, metavar="K",
                       help="memory budget: at most K standardised layers at once (>= 2); the "
                            "grid runs block by block and training rows are read layer by "
                            "layer (default: no limit)")
    align.add_argument("--layers", default=None,
                       help="layers of both systems: comma-separated names, globs (block*), "
                            "indices or ranges (2:8); default all, in the order the input "
                            "records (a capture's execution order, layers.json), else natural "
                            "order (layer_2 before layer_10)")
    align.add_argument("--x-layers", default=None, help="layer selection for X only")
    align.add_argument("--y-layers", default=None, help="layer selection for Y only")
    align.add_argument("--scheduler", default=None,
                       help="Dask scheduler address, or 'local' for a LocalCluster")
    align.add_argument("--resume", action="store_true",
                       help="reuse the fits and layer pairs cached by an earlier run in "
                            "OUT/cache or --cache-dir (a killed run redoes only the unfinished "
                            "pairs); it must be run with the same inputs, layers, --dtype, "
                            "--seed, --splits and --test-size, and says how many it reused")
    align.add_argument("--force", action="store_true",
                       help="write into a non-empty --out without --resume (its files of the "
                            "same names are replaced)")
    align.add_argument("--unit-pair", type=_pair, default=None, metavar="L,M",
                       help="layer pair whose unit plan is drawn (default: layer 0 and its "
                            "best match)")
    _add_constant_units(align)
    add_input_options(align)
    _add_cache_options(align, "fits and layer pairs")
    _add_common(align, "hotalign-results")
    align.set_defaults(func=_align)
