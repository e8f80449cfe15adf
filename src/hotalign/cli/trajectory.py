"""``hotalign trajectory A B``: the coupling of two training trajectories (checkpoints)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from . import inputs
from .options import (_add_cache_options, _add_constant_units, add_command,
                      add_input_options, _add_common)
from .shared import (FIGURES_SKIPPED, _bound_cache, _cache_dir, _cache_summary, _formats,
                     _grids, _memory, _out_dir, _reused, _say, _say_cache_size, TqdmProgress)


def _checkpoints(folder, layers, noted):
    from ..io import InputError, natural_key

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of checkpoints")
    entries = sorted((p for p in folder.iterdir() if not p.name.startswith(".")),
                     key=lambda p: natural_key(p.name))
    systems = [inputs.load(p, layers, noted) for p in entries]
    if len(systems) < 1:
        raise InputError(f"{folder}: holds no checkpoints")
    return [p.stem if p.is_file() else p.name for p in entries], systems


def _trajectory(args) -> int:
    from .. import plotting
    from ..io import InputError, check_stimuli, write_json
    from ..report import trajectory_results
    from ..trajectory import TrajectoryHOT

    formats = _formats(args.figure_format)
    noted = set()  # a flattened layer is noted once, not once per checkpoint
    names_a, A = _checkpoints(args.A, args.layers, noted)
    names_b, B = _checkpoints(args.B, args.layers, noted)
    for s in A[1:] + B:
        check_stimuli(A[0], s)
    for group, systems in ((args.A, A), (args.B, B)):
        if len({tuple(s.names) for s in systems}) > 1:
            raise InputError(f"{group}: checkpoints have different layers")
    (A, B), _ = inputs.drop_constant_layers([A, B], args.constant_units)
    out = _out_dir(args.out, args)
    cache_dir = _cache_dir(args, out)
    quiet = True if args.quiet else None
    t0 = time.perf_counter()
    memory = _memory(args, cache_dir)
    pairs = None if memory is None else memory.pairs
    names = {"A": (args.A, A[0].names), "B": (args.B, B[0].names)}
    with TqdmProgress("layer pairs (all checkpoints)", "pair", disable=quiet,
                      label="trajectory") as bar, _grids(args, bar), inputs.named_layers(names):
        model = TrajectoryHOT(n_threads=args.threads, dtype=args.dtype, memory=memory,
                              lazy=args.lazy)
        model.fit([list(s) for s in A], [list(s) for s in B])
    elapsed = time.perf_counter() - t0
    D, G = model.checkpoint_costs_, model.checkpoint_plan_
    summary = trajectory_results(
        (args.A, names_a, A), (args.B, names_b, B), model,
        {"layers": args.layers, "estimator": repr(model), "constant_units": args.constant_units},
        _cache_summary(cache_dir, layer_pairs=pairs), elapsed, lazy=args.lazy)
    write_json(out / "results.json", summary)
    written = []
    if plotting.available():
        written = plotting.save(plotting.plot_checkpoint_coupling(D, G, names_a, names_b),
                                out / "checkpoint_coupling", formats)
    else:
        print(FIGURES_SKIPPED, file=sys.stderr)
    _say(args, "checkpoint coupling (A -> B): " + " ".join(
        f"{a}->{names_b[k]}" for a, k in zip(names_a, G.argmax(axis=1))))
    _reused(args, layer_pairs=pairs)
    _say(args, f"written: {out / 'results.json'}, {', '.join(str(p) for p in written)}")
    _bound_cache(args, cache_dir)
    _say_cache_size(args, cache_dir)
    return 0


def register(sub):
    """Add the ``trajectory`` subcommand to the subparsers ``sub``."""
    traj = add_command(sub, "trajectory", "couple two training trajectories (checkpoints)",
                       "hotalign trajectory runA/ runB/ --out traj",
                       "hotalign trajectory runA/ runB/ --layers 'layer*' --resume")
    traj.add_argument("A", help="folder of checkpoints of the first network (one file or "
                                "folder per checkpoint, natural order)")
    traj.add_argument("B", help="folder of checkpoints of the second network")
    traj.add_argument("--layers", default=None,
                      help="layer selection (as for align); default all, in the order each "
                           "checkpoint records (a capture's execution order), else natural "
                           "order")
    traj.add_argument("--lazy", action="store_true",
                      help="certified lazy grid: fit only the checkpoint and layer pairs the "
                           "coupling and the greedy baseline need (exact)")
    traj.add_argument("--threads", type=int, default=None, help="worker threads")
    traj.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                      help="precision of standardised layers and costs")
    traj.add_argument("--resume", action="store_true",
                      help="reuse the layer pairs cached by an earlier run in OUT/cache or "
                           "--cache-dir")
    _add_constant_units(traj)
    add_input_options(traj)
    _add_cache_options(traj, "layer pairs")
    _add_common(traj, "hotalign-trajectory")
    traj.set_defaults(func=_trajectory)
