"""The ``hotalign`` command line. It only parses arguments and calls the Python API.

Commands
--------
``hotalign demo``
    The built-in synthetic pair: unit-level certificate, evaluation table, figures.
``hotalign align X Y --out DIR``
    Two systems from files (``.npz``, a folder of ``.npy``, ``.safetensors``, HDF5): held-out
    scores of HOT and its baselines over random splits, ``results.json``, ``plans.npz`` and
    figures in DIR. Every fit is cached in ``DIR/cache`` and every solved layer pair in
    ``DIR/cache/pairs`` (see :mod:`hotalign.cache`); ``--resume`` reuses them, so a killed run
    redoes only the layer pairs that were not finished.
``hotalign trajectory A B --out DIR``
    Two folders of checkpoints: the checkpoint coupling (needs ``hotalign.TrajectoryHOT``);
    layer pairs cached and resumed as for ``align``.
``hotalign bench solvers``
    Solver benchmark: the family suite (:mod:`hotalign.bench_families`; ``--full`` for every
    size and dtype), or with ``--costs`` the detailed comparison of :mod:`hotalign.bench`.
``hotalign bench pipeline``
    Grid, end-to-end HOT, HOT+R and TrajectoryHOT benchmarks (see :mod:`hotalign.bench_pipeline`
    and :mod:`hotalign.bench_rotation`).

Exit codes: 0 success; 2 bad input or arguments (one line on stderr naming the file or option);
1 anything else (including a demo whose planted layer map is not recovered).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from . import __version__

__all__ = ["TqdmProgress", "build_parser", "main"]


class TqdmProgress:
    """A ``progress(done, total)`` callable that draws a tqdm bar.

    Pass it as ``progress=`` to :func:`hotalign.evaluate` or :func:`hotalign.solve_grid`.
    The bar restarts when ``done`` goes back (a new grid); it is silent when ``disable`` is
    True, and by default (``disable=None``) whenever stderr is not a terminal.

    Parameters
    ----------
    desc : str
        Label of the bar.
    unit : str
        What is counted (``"split"``, ``"pair"``, ...).
    position : int
        Line of the bar when several are shown (0 = top).
    leave : bool
        Keep the finished bar on screen.
    disable : bool or None
    """

    def __init__(self, desc, unit="it", *, position=0, leave=True, disable=None):
        self.desc, self.unit, self.position, self.leave = desc, unit, position, leave
        self.disable = (not sys.stderr.isatty()) if disable is None else bool(disable)
        self.bar = None

    def __call__(self, done, total):
        if self.disable:
            return
        if self.bar is None:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # pragma: no cover - tqdm is a dependency
                self.disable = True
                return
            self.bar = tqdm(total=total, desc=self.desc, unit=self.unit, position=self.position,
                            leave=self.leave, dynamic_ncols=True)
        if total != self.bar.total or done < self.bar.n:
            self.bar.reset(total=total)
        self.bar.update(done - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class UsageError(ValueError):
    """A bad option value (exit code 2)."""


# ----------------------------------------------------------------------------------------------
# shared pieces
# ----------------------------------------------------------------------------------------------


def _formats(value):
    from .plotting import FORMATS

    out = [f.strip().lower().lstrip(".") for f in value.split(",") if f.strip()]
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise UsageError(f"--figure-format: expected a comma-separated subset of "
                         f"{','.join(FORMATS)}, got {value!r}")
    return out


def _out_dir(path) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


@contextlib.contextmanager
def _cached_grids(args, out: Path, progress):
    """Route the layer-pair grid of every fit in this context through the pair cache
    ``OUT/cache/pairs`` (read with ``--resume``), its missing pairs solved on ``--scheduler``
    or the local threads; yields the :class:`~hotalign.cache.PairCache`."""
    from . import distributed
    from .cache import PairCache, pair_backend
    from .grid import pair_backend as route_grids

    pairs = PairCache(out / "cache" / "pairs", read=args.resume)
    pairs.sweep()
    scheduler = getattr(args, "scheduler", None)
    with distributed.grid_backend(scheduler, n_workers=args.threads) as client:
        inner = None if client is None else (
            lambda Zx, Zy, **kw: distributed.solve_pairs_dask(Zx, Zy, client, **kw))
        with route_grids(pair_backend(pairs, inner, progress=progress)):
            yield pairs


def _say(args, *parts, **kw):
    if not getattr(args, "quiet", False):
        print(*parts, **kw)


FIGURES_SKIPPED = "figures skipped: matplotlib is not installed (pip install 'hotalign[plot]')"


def _figures(out: Path, formats, *, P, C, x_names, y_names, layer_scores=None, errors=None,
             unit_plan=None, pair_names=None) -> list[Path]:
    """Write the figures; none (and a note on stderr) when matplotlib is not installed."""
    from . import plotting

    written = []
    if not plotting.available():
        print(FIGURES_SKIPPED, file=sys.stderr)
        return written
    written += plotting.save(plotting.plot_layer_plan(P, x_names, y_names), out / "layer_plan",
                             formats)
    written += plotting.save(plotting.plot_layer_costs(C, x_names, y_names),
                             out / "layer_distances", formats)
    if layer_scores is not None:
        written += plotting.save(plotting.plot_layer_scores(layer_scores, x_names, errors=errors),
                                 out / "layer_scores", formats)
    if unit_plan is not None:
        written += plotting.save(
            plotting.plot_unit_plan(unit_plan, x_name=pair_names[0], y_name=pair_names[1]),
            out / "unit_plan", formats)
    return written


def _evaluation_summary(ev, x_names):
    return {
        m: {
            "mean": ev.mean(m),
            "std": ev.std(m),
            "splits": ev.split_scores[m],
            "layers": {name: {"mean": float(ev.layer_scores[m][:, l].mean()),
                              "std": float(ev.layer_scores[m][:, l].std())}
                       for l, name in enumerate(x_names)},
            "n_units_left_out": ev.n_left_out[m].tolist(),
        }
        for m in ev.methods
    }


# ----------------------------------------------------------------------------------------------
# demo
# ----------------------------------------------------------------------------------------------


def _demo(args) -> int:
    from .costs import correlation_cost
    from .datasets import make_hierarchy
    from .estimator import HOT
    from .evaluation import evaluate
    from .transport import solve_transport

    formats = _formats(args.figure_format)
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

    if args.out is not None:
        out = _out_dir(args.out)
        x_names = [f"X[{k}]" for k in range(len(X))]
        y_names = [f"Y[{k}]" for k in range(len(Y))]
        hot = HOT().fit(X, Y)  # plans of the chosen pair, fitted on all rows
        pair = (0, int(hot.layer_plan_[0].argmax()))
        written = _figures(
            out, formats, P=P, C=ev.layer_costs.mean(axis=0), x_names=x_names, y_names=y_names,
            layer_scores={m: ev.layer_scores[m].mean(axis=0) for m in ev.methods},
            errors={m: ev.layer_scores[m].std(axis=0) for m in ev.methods},
            unit_plan=hot.unit_plans_[pair[0]][pair[1]],
            pair_names=(x_names[pair[0]], y_names[pair[1]]))
        if written:
            print(f"\nFigures: {', '.join(str(p) for p in written)}")
    return 0 if exact and np.array_equal(found, planted) else 1


# ----------------------------------------------------------------------------------------------
# align
# ----------------------------------------------------------------------------------------------


def _estimator(args):
    from .estimator import HOT

    return HOT(n_threads=args.threads, dtype=args.dtype,
               max_layers_in_memory=getattr(args, "max_layers_in_memory", None))


def _check_align_args(args):
    if args.splits < 1:
        raise UsageError(f"--splits must be >= 1, got {args.splits}")
    if not 0.0 < args.test_size < 1.0:
        raise UsageError(f"--test-size must be in (0, 1), got {args.test_size}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be >= 1, got {args.threads}")
    if args.max_layers_in_memory is not None and args.max_layers_in_memory < 2:
        raise UsageError(f"--max-layers-in-memory must be >= 2, got {args.max_layers_in_memory}")


def _load_pair(args):
    from .io import check_stimuli, load_system

    X = load_system(args.X, args.x_layers or args.layers)
    Y = load_system(args.Y, args.y_layers or args.layers)
    check_stimuli(X, Y)
    return X, Y


def _align(args) -> int:
    from .baselines import ALL_METHODS, METHODS
    from .cache import FitCache, cached
    from .evaluation import evaluate
    from .io import write_json, write_plans

    _check_align_args(args)
    formats = _formats(args.figure_format)
    Xs, Ys = _load_pair(args)
    out = _out_dir(args.out)
    fits = FitCache(out / "cache", read=args.resume)
    fits.sweep()
    estimator = _estimator(args)
    est = cached(estimator, fits)
    _say(args, f"hotalign {__version__} align: {Xs.source} ({len(Xs)} layers) vs {Ys.source} "
               f"({len(Ys)} layers), {Xs.n_stimuli} stimuli, {args.splits} splits")
    X, Y = Xs.layers(), Ys.layers()  # HDF5 layers stay lazy (rows read on demand)
    t0 = time.perf_counter()
    quiet = True if args.quiet else None
    split_bar = TqdmProgress("splits", "split", position=0, disable=quiet)
    pair_bar = TqdmProgress("layer pairs", "pair", position=1, leave=False, disable=quiet)
    scheduler = args.scheduler
    try:
        with _cached_grids(args, out, pair_bar) as pairs:
            ev = evaluate(X, Y, methods=ALL_METHODS if args.rotation else METHODS,
                          n_splits=args.splits, test_size=args.test_size,
                          random_state=args.seed, estimator=est, progress=split_bar)
            full = est.fit(X, Y)  # plans, C and P on all rows
            full_r = None
            if args.rotation:
                full_r = type(est)(**{**est.get_params(), "rotation": True}).fit(X, Y)
    finally:
        pair_bar.close()
        split_bar.close()
    elapsed = time.perf_counter() - t0

    summary = {
        "hotalign_version": __version__,
        "command": "align",
        "inputs": {
            key: {"path": str(s.source), "sha256": s.digest, "layers": s.names,
                  "widths": [w for _, w in s.shapes], "n_stimuli": s.n_stimuli,
                  "has_stimulus_ids": s.stimulus_ids is not None}
            for key, s in (("X", Xs), ("Y", Ys))
        },
        "parameters": {
            "splits": args.splits, "test_size": args.test_size, "seed": args.seed,
            "rotation": args.rotation, "dtype": args.dtype, "layers": args.layers,
            "x_layers": args.x_layers, "y_layers": args.y_layers,
            "estimator": repr(estimator), "threads": args.threads, "scheduler": scheduler,
        },
        "score_meaning": "held-out reconstruction: mean Pearson correlation of each unit of X "
                         "with its reconstruction from Y (higher is better)",
        "scores": _evaluation_summary(ev, Xs.names),
        "distance": {
            "meaning": "<C, P>, network-level HOT distance (lower = more alike)",
            "all_rows": full.distance_,
            "mean_over_splits": float(ev.distances.mean()),
            "std_over_splits": float(ev.distances.std()),
            "splits": ev.distances,
        },
        "C": {"meaning": "C[l][m]: soft-matching (unit transport) distance of X layer l and Y "
                         "layer m (lower = more alike); rows X layers, columns Y layers",
              "all_rows": full.layer_costs_, "mean_over_splits": ev.layer_costs.mean(axis=0)},
        "P": {"meaning": "P[l][m]: share of X layer l matched to Y layer m (rows sum to 1/L, "
                         "columns to 1/M)",
              "all_rows": full.layer_plan_, "mean_over_splits": ev.layer_plans.mean(axis=0)},
        "constant_units": {
            "meaning": "units constant on all rows, excluded from transport and scores",
            "X": {n: c.tolist() for n, c in zip(Xs.names, full.constant_units_["X"])},
            "Y": {n: c.tolist() for n, c in zip(Ys.names, full.constant_units_["Y"])},
            "count": full.n_constant_units_,
        },
        "cache": {"fits": {"hits": fits.hits, "misses": fits.misses},
                  "layer_pairs": {"hits": pairs.hits, "misses": pairs.misses}},
        "seconds": elapsed,
    }
    if full_r is not None:
        summary["rotation"] = {
            "meaning": "HOT+R: C = J / 2 per layer pair after learning rotations (lower = more "
                       "alike), P from that C; reconstruction_error = ||X R - Y W^T||_F^2 / n_l",
            "distance": {"all_rows": full_r.distance_,
                         "mean_over_splits": float(ev.rotation_distances.mean()),
                         "splits": ev.rotation_distances},
            "C": {"all_rows": full_r.layer_costs_,
                  "mean_over_splits": ev.rotation_layer_costs.mean(axis=0)},
            "P": {"all_rows": full_r.layer_plan_,
                  "mean_over_splits": ev.rotation_layer_plans.mean(axis=0)},
            "reconstruction_error": full_r.reconstruction_errors_,
            "n_rounds": full_r.n_rounds_,
        }
    write_json(out / "results.json", summary)
    write_plans(out / "plans.npz", full.unit_plans_, Xs.names, Ys.names)
    if full_r is not None:
        write_plans(out / "plans_rotation.npz", full_r.unit_plans_, Xs.names, Ys.names)
    l = 0 if args.unit_pair is None else args.unit_pair[0]
    m = int(full.layer_plan_[l].argmax()) if args.unit_pair is None else args.unit_pair[1]
    if not (0 <= l < len(Xs) and 0 <= m < len(Ys)):
        raise UsageError(f"--unit-pair {l},{m}: out of range ({len(Xs)} x {len(Ys)} layers)")
    written = _figures(
        out, formats, P=full.layer_plan_, C=full.layer_costs_, x_names=Xs.names,
        y_names=Ys.names,
        layer_scores={k: ev.layer_scores[k].mean(axis=0) for k in ev.methods},
        errors={k: ev.layer_scores[k].std(axis=0) for k in ev.methods},
        unit_plan=full.unit_plans_[l][m], pair_names=(f"X {Xs.names[l]}", f"Y {Ys.names[m]}"))
    _say(args, ev.table())
    _say(args, f"HOT distance <C, P> = {full.distance_:.4f} (lower = more alike); "
               f"{elapsed:.1f} s, reused {fits.hits} cached fits and {pairs.hits} cached layer "
               "pairs")
    _say(args, f"written: {out / 'results.json'}, {out / 'plans.npz'}, "
               f"{len(written)} figures")
    return 0


# ----------------------------------------------------------------------------------------------
# trajectory
# ----------------------------------------------------------------------------------------------


def _checkpoints(folder, layers):
    from .io import InputError, load_system, natural_key

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of checkpoints")
    entries = sorted((p for p in folder.iterdir() if not p.name.startswith(".")),
                     key=lambda p: natural_key(p.name))
    systems = [load_system(p, layers) for p in entries]
    if len(systems) < 1:
        raise InputError(f"{folder}: holds no checkpoints")
    return [p.stem if p.is_file() else p.name for p in entries], systems


def _trajectory(args) -> int:
    from . import plotting
    from .io import InputError, check_stimuli, write_json
    from .trajectory import TrajectoryHOT

    formats = _formats(args.figure_format)
    names_a, A = _checkpoints(args.A, args.layers)
    names_b, B = _checkpoints(args.B, args.layers)
    for s in A[1:] + B:
        check_stimuli(A[0], s)
    for group, systems in ((args.A, A), (args.B, B)):
        if len({tuple(s.names) for s in systems}) > 1:
            raise InputError(f"{group}: checkpoints have different layers")
    out = _out_dir(args.out)
    quiet = True if args.quiet else None
    t0 = time.perf_counter()
    with TqdmProgress("layer pairs (all checkpoints)", "pair", disable=quiet) as bar, \
            _cached_grids(args, out, bar) as pairs:
        model = TrajectoryHOT(n_threads=args.threads, dtype=args.dtype)
        model.fit([list(s) for s in A], [list(s) for s in B])
    elapsed = time.perf_counter() - t0
    D, G = model.checkpoint_costs_, model.checkpoint_plan_
    summary = {
        "hotalign_version": __version__,
        "command": "trajectory",
        "inputs": {"A": {"path": str(args.A), "checkpoints": names_a,
                         "sha256": [s.digest for s in A]},
                   "B": {"path": str(args.B), "checkpoints": names_b,
                         "sha256": [s.digest for s in B]}},
        "parameters": {"layers": args.layers, "estimator": repr(model)},
        "D": {"meaning": "D[k][k']: HOT distance <C, P> of checkpoint k of A and k' of B "
                         "(lower = more alike)", "values": D},
        "coupling": {"meaning": "transport plan between checkpoints (uniform marginals)",
                     "values": G, "argmax": G.argmax(axis=1)},
        "distance": {"meaning": "<D, coupling> (lower = more alike)", "value": model.distance_},
        "greedy_match": {"meaning": "greedy baseline: argmin_k' D[k, k']",
                         "values": model.greedy_match_},
        "cache": {"layer_pairs": {"hits": pairs.hits, "misses": pairs.misses}},
        "seconds": elapsed,
    }
    write_json(out / "results.json", summary)
    written = []
    if plotting.available():
        written = plotting.save(plotting.plot_checkpoint_coupling(D, G, names_a, names_b),
                                out / "checkpoint_coupling", formats)
    else:
        print(FIGURES_SKIPPED, file=sys.stderr)
    _say(args, "checkpoint coupling (A -> B): " + " ".join(
        f"{a}->{names_b[k]}" for a, k in zip(names_a, G.argmax(axis=1))))
    _say(args, f"written: {out / 'results.json'}, {', '.join(str(p) for p in written)}")
    return 0


# ----------------------------------------------------------------------------------------------
# parser
# ----------------------------------------------------------------------------------------------


def _pair(value):
    try:
        l, m = (int(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected L,M (two layer indices), got {value!r}") from None
    return l, m


def _add_common(p, out_default):
    p.add_argument("--out", default=out_default, help="output folder (default: %(default)s)")
    p.add_argument("--figure-format", default="png",
                   help="comma-separated figure formats: png, svg, pdf (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotalign", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"hotalign {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the method on built-in synthetic data")
    demo.add_argument("--stimuli", type=int, default=2000, help="number of stimuli T")
    demo.add_argument("--x-layers", type=int, default=4, help="depth of network X")
    demo.add_argument("--y-layers", type=int, default=6, help="depth of network Y")
    demo.add_argument("--units", type=int, default=128, help="width of X's layers (Y: 1.5x)")
    demo.add_argument("--splits", type=int, default=5, help="random train/test splits")
    demo.add_argument("--seed", type=int, default=0)
    _add_common(demo, "hotalign-demo")
    demo.set_defaults(func=_demo)

    align = sub.add_parser("align", help="compare two systems stored in files")
    align.add_argument("X", help="first system: .npz, .safetensors, .h5 or a folder of .npy")
    align.add_argument("Y", help="second system (same stimuli, same order)")
    align.add_argument("--rotation", action="store_true",
                       help="also HOT+R and the +R baselines (learned rotations; these fits "
                            "run on the local thread pool even with --scheduler)")
    align.add_argument("--splits", type=int, default=5, help="random train/test splits")
    align.add_argument("--test-size", type=float, default=0.2, help="held-out fraction")
    align.add_argument("--seed", type=int, default=0, help="seed of the splits")
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
                            "indices or ranges (2:8); default all, in natural order")
    align.add_argument("--x-layers", default=None, help="layer selection for X only")
    align.add_argument("--y-layers", default=None, help="layer selection for Y only")
    align.add_argument("--scheduler", default=None,
                       help="Dask scheduler address, or 'local' for a LocalCluster")
    align.add_argument("--resume", action="store_true",
                       help="reuse the fits and layer pairs cached in OUT/cache by an earlier "
                            "run (a killed run redoes only the unfinished pairs)")
    align.add_argument("--unit-pair", type=_pair, default=None, metavar="L,M",
                       help="layer pair whose unit plan is drawn (default: layer 0 and its "
                            "best match)")
    _add_common(align, "hotalign-results")
    align.set_defaults(func=_align)

    traj = sub.add_parser("trajectory", help="couple two training trajectories (checkpoints)")
    traj.add_argument("A", help="folder of checkpoints of the first network (one file or "
                                "folder per checkpoint, natural order)")
    traj.add_argument("B", help="folder of checkpoints of the second network")
    traj.add_argument("--layers", default=None, help="layer selection (as for align)")
    traj.add_argument("--threads", type=int, default=None, help="worker threads")
    traj.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                      help="precision of standardised layers and costs")
    traj.add_argument("--resume", action="store_true",
                      help="reuse the layer pairs cached in OUT/cache/pairs by an earlier run")
    _add_common(traj, "hotalign-trajectory")
    traj.set_defaults(func=_trajectory)

    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    solvers = bench_sub.add_parser("solvers", help="exact solvers against peers (POT, SciPy)")
    from .bench import add_solvers_arguments, solvers_main

    add_solvers_arguments(solvers)
    solvers.set_defaults(func=solvers_main)
    pipeline = bench_sub.add_parser(
        "pipeline", help="grid, end-to-end HOT, HOT+R and TrajectoryHOT against plain NumPy+POT")
    from .bench_pipeline import add_pipeline_arguments, pipeline_main

    add_pipeline_arguments(pipeline)
    pipeline.set_defaults(func=pipeline_main)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # bad input: one line, no traceback
        message = " ".join(str(exc).split())
        print(f"hotalign: error: {message}", file=sys.stderr)
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
