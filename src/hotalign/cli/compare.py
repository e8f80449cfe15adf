"""``hotalign compare A B C ...``: every ordered pair of N systems: the distance and score
matrices (comparison.json) and their figures."""

from __future__ import annotations

import time
from pathlib import Path

from .._version import __version__
from .align import _check_align_args
from .options import _add_cache_options, _add_common, add_command, add_input_options
from .shared import (FIGURES_SKIPPED, TqdmProgress, UsageError, _cache_dir, _cache_summary,
                     _formats, _grids, _memory, _out_dir, _say, _say_cache_size)


def _systems(paths, names, layers):
    """Name -> opened system. One folder holding only capture folders (what ``hotalign capture
    MODEL... --out PARENT`` writes) stands for all of them, in natural order."""
    from ..io import load_system, natural_key

    paths = [Path(p) for p in paths]
    if len(paths) == 1 and _is_parent(paths[0]):
        paths = sorted((p for p in paths[0].iterdir() if _is_capture(p)),
                       key=lambda p: natural_key(p.name))
    if names is not None:
        names = [n.strip() for n in names.split(",")]
        if len(names) != len(paths) or not all(names):
            raise UsageError(f"--names: expected {len(paths)} non-empty comma-separated names, "
                             f"got {len(names)}")
    else:
        names = [p.stem if p.is_file() else p.name for p in paths]
    if len(set(names)) != len(names):
        raise UsageError(f"systems have the same name ({', '.join(names)}): give --names")
    if len(paths) < 2:
        raise UsageError(f"compare needs at least two systems, got {len(paths)}")
    return {n: load_system(p, layers) for n, p in zip(names, paths)}


def _is_capture(path: Path) -> bool:
    return path.is_dir() and (path / "layers.json").is_file()


def _is_parent(path: Path) -> bool:
    """A folder with no layers of its own and at least one capture folder inside."""
    if not path.is_dir() or (path / "layers.json").exists():
        return False
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    return any(_is_capture(p) for p in entries) and not any(
        p.is_file() and p.suffix == ".npy" for p in entries)


def _compare(args) -> int:
    from ..comparison import compare
    from ..io import write_json

    _check_align_args(args)
    formats = _formats(args.figure_format)
    systems = _systems(args.systems, args.names, args.layers)
    out = _out_dir(args.out, args)
    cache_dir = _cache_dir(args, out)
    memory = _memory(args, cache_dir)
    n = len(systems)
    _say(args, f"hotalign {__version__} compare: {n} systems, {n * (n - 1)} ordered pairs, "
               f"{args.splits} splits")
    bar = TqdmProgress("layer pairs (all systems)", "pair", disable=True if args.quiet else None)
    t0 = time.perf_counter()
    try:
        with _grids(args, None):
            result = compare(systems, method=args.method, n_splits=args.splits,
                             test_size=args.test_size, random_state=args.seed,
                             n_threads=args.threads, memory=memory, progress=bar,
                             dtype=args.dtype, max_layers_in_memory=args.max_layers_in_memory)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0
    record = result.to_dict()
    record["run"] = {"hotalign": __version__, "order": args.order, "threads": args.threads,
                     "scheduler": args.scheduler, "layers": args.layers,
                     "cache": _cache_summary(cache_dir, layer_pairs=memory.pairs)
                     if memory is not None else None}
    write_json(out / "comparison.json", record)
    written = _figures(out, formats, result, args.order)
    _say(args, _table(result))
    _say(args, f"{elapsed:.1f} s; written: {out / 'comparison.json'}, {len(written)} figures")
    _say_cache_size(args, cache_dir)
    return 0


def _figures(out, formats, result, order):
    import sys

    from .. import plotting, plotting_compare

    if not plotting.available():
        print(FIGURES_SKIPPED, file=sys.stderr)
        return []
    written = []
    written += plotting.save(plotting_compare.plot_matrices(result, order=order),
                             out / "comparison_matrices", formats)
    written += plotting.save(plotting_compare.plot_embedding(result), out / "embedding", formats)
    written += plotting.save(plotting_compare.plot_pair_plans(result, order=order),
                             out / "layer_plans", formats)
    return written


def _table(result) -> str:
    """Markdown: each system's nearest other system by distance, and the symmetric score."""
    lines = ["| system | nearest | distance | score (both directions) |", "|---|---|---|---|"]
    D, S = result.symmetric_distances, result.symmetric_scores
    for i, name in enumerate(result.names):
        others = [j for j in range(len(result.names)) if j != i]
        j = min(others, key=lambda k: D[i, k])
        lines.append(f"| {name} | {result.names[j]} | {D[i, j]:.4f} | {S[i, j]:.4f} |")
    return "\n".join(lines)


def register(sub):
    """Add the ``compare`` subcommand to the subparsers ``sub``."""
    cmp = add_command(
        sub, "compare", "compare N systems pairwise: distance and score matrices, figures",
        "hotalign compare captures/ --out comparison",
        "hotalign compare a.npz b.npz c/ --names A,B,C --order cluster --splits 3",
        "hotalign compare captures/ --out comparison --resume --max-layers-in-memory 8")
    cmp.add_argument("systems", nargs="+", metavar="DIR_OR_FILE",
                     help="systems (.npz, .safetensors, .h5, a capture folder, ...), or one "
                          "folder of capture folders (hotalign capture MODEL... --out PARENT)")
    cmp.add_argument("--names", default=None,
                     help="comma-separated system names (default: file or folder names)")
    cmp.add_argument("--method", choices=("HOT",), default="HOT", help="pair method")
    cmp.add_argument("--order", choices=("given", "cluster"), default="given",
                     help="order of the systems in the figures: as given, or by hierarchical "
                          "clustering of the distances")
    cmp.add_argument("--splits", type=int, default=5, help="random train/test splits")
    cmp.add_argument("--test-size", type=float, default=0.2, help="held-out fraction")
    cmp.add_argument("--seed", type=int, default=0, help="seed of the splits")
    cmp.add_argument("--threads", type=int, default=None,
                     help="worker threads (or LocalCluster workers); default all CPUs")
    cmp.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                     help="precision of standardised layers and costs")
    cmp.add_argument("--max-layers-in-memory", type=int, default=None, metavar="K",
                     help="memory budget: at most K standardised layers at once, whatever the "
                          "number of systems (>= 2; default: no limit)")
    cmp.add_argument("--layers", default=None,
                     help="layers of every system: comma-separated names, globs, indices or "
                          "ranges; default all")
    cmp.add_argument("--scheduler", default=None,
                     help="Dask scheduler address, or 'local' for a LocalCluster")
    cmp.add_argument("--resume", action="store_true",
                     help="reuse the layer pairs cached by an earlier run in OUT/cache or "
                          "--cache-dir (a killed run redoes only the unfinished pairs)")
    add_input_options(cmp)
    _add_cache_options(cmp, "layer pairs")
    _add_common(cmp, "hotalign-comparison")
    cmp.set_defaults(func=_compare)
