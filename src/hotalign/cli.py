"""The ``hotalign`` command line. It only parses arguments and calls the Python API.

Commands
--------
``hotalign demo``
    The built-in synthetic pair: unit-level certificate, evaluation table, figures.
``hotalign align X Y --out DIR``
    Two systems from files (``.npz``, a folder of ``.npy``, ``.safetensors``, HDF5): held-out
    scores of HOT and its baselines over random splits, ``results.json``, ``plans.npz`` and
    figures in DIR. Every fit is cached in ``DIR/cache`` and every solved layer pair in
    ``DIR/cache/pairs`` (see :mod:`hotalign.cache`; ``--cache-dir`` elsewhere, ``--no-cache``
    not at all); ``--resume`` reuses them, so a killed run redoes only the layer pairs that were
    not finished. The cache's size is printed at the end.
``hotalign trajectory A B --out DIR``
    Two folders of checkpoints: the checkpoint coupling (needs ``hotalign.TrajectoryHOT``);
    layer pairs cached and resumed as for ``align``.
``hotalign layers MODEL`` / ``hotalign capture MODEL STIMULI --out DIR``
    The module paths of a PyTorch model, and its pooled layer activations on a folder of images
    or a ``.txt`` of sentences, written as a folder ``align`` reads (see
    :mod:`hotalign.capture`; needs ``hotalign[torch]``).
``hotalign bench solvers``
    Solver benchmark: the family suite (:mod:`hotalign.bench.suites`; ``--full`` for every
    size and dtype), or with ``--costs`` the detailed comparison of :mod:`hotalign.bench.solvers`.
``hotalign bench pipeline``
    Grid, end-to-end HOT, HOT+R and TrajectoryHOT benchmarks (see :mod:`hotalign.bench.pipeline`
    and :mod:`hotalign.bench.rotation`).
``hotalign cache info DIR`` / ``hotalign cache prune DIR [--older-than 7d]``
    Size of a cache (an ``--out`` folder or a ``--cache-dir``), and removal of its entries not
    used for a while.
``hotalign info``
    Versions, BLAS, the assignment solver's SIMD path and thread counts, for bug reports.

``python -m hotalign`` is the same command. ``hotalign COMMAND --help`` shows every option with
its default, and examples.

Exit codes: 0 success; 2 bad input or arguments (one line on stderr naming the file or option);
1 anything else (including a demo whose planted layer map is not recovered).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
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


def _writable_dir(d: Path, option: str, root: Path, subdirs=()) -> Path:
    """Create folder ``d`` (and ``subdirs`` inside it) and check that files can be written in
    it, before any work starts. A path below a file, a read-only location, or ``d`` or a
    subfolder that is a file is a UsageError naming ``option root`` and the path."""
    label = f"{option} {root}"
    for x in (d, *(d / s for s in subdirs)):
        if x.exists() and not x.is_dir():
            where = "" if x == root else f" {x}"
            raise UsageError(f"{label}:{where} exists and is not a directory")
    for parent in d.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{label}: {parent} is a file, not a folder")
            break
    try:
        for x in (d, *(d / s for s in subdirs)):
            x.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".hotalign-write-test-", dir=d)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"{label}: cannot write there ({reason})") from None
    return d


def _out_dir(path, args=None) -> Path:
    """Create the output folder, checked as by :func:`_writable_dir`; with ``args`` (a run
    that caches), also lock it for the run so that a second run on the same folder stops at
    once (see :func:`hotalign.cache.locked`)."""
    out = Path(path)
    _writable_dir(out, "--out", out)
    if args is not None:
        from .cache import locked

        args.exit_stack.enter_context(locked(out))
    return out


def _cache_report(args):
    """How a cache says that it met an invalid entry: one line on stderr."""
    return lambda message: print(f"hotalign: warning: {message}", file=sys.stderr)


def _cache_summary(cache_dir, **caches):
    """The ``cache`` record of results.json: the folder, its size, and hits, misses and rejected
    (invalid) entries of this run; None with ``--no-cache``."""
    if cache_dir is None:
        return None
    from .cache import usage

    return {"directory": str(cache_dir), "size_bytes": usage(cache_dir)["bytes"],
            **{name: {"hits": c.hits, "misses": c.misses, "invalid": c.invalid}
               for name, c in caches.items()}}


def _cache_dir(args, out: Path):
    """Where this run caches: ``--cache-dir``, else ``OUT/cache``; None with ``--no-cache``."""
    if args.no_cache:
        if args.resume:
            raise UsageError("--resume reads the cache: it cannot be combined with --no-cache")
        if args.cache_dir is not None:
            raise UsageError("--cache-dir names a cache: it cannot be combined with --no-cache")
        return None
    if args.cache_dir is None:  # OUT/cache: a file there is reported against --out
        return _writable_dir(out / "cache", "--out", out, ("pairs",))
    cache_dir = Path(args.cache_dir)
    return _writable_dir(cache_dir, "--cache-dir", cache_dir, ("pairs",))


def _say_cache_size(args, cache_dir):
    """The last line of a run: how much its cache folder holds, and how to prune it."""
    if cache_dir is None:
        return
    from .cache import usage

    use = usage(cache_dir)
    _say(args, f"cache: {_size(use['bytes'])} in {use['entries']} entries at {cache_dir} "
               f"(free it with: hotalign cache prune {cache_dir} --older-than 7d)")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _memory(args, cache_dir):
    """The run's :class:`~hotalign.cache.Memory` in ``cache_dir`` (read with ``--resume``),
    its stale temporary files swept; None with ``--no-cache``."""
    if cache_dir is None:
        return None
    from .cache import Memory

    memory = Memory(cache_dir, read=args.resume, report=_cache_report(args))
    memory.sweep()
    return memory


@contextlib.contextmanager
def _grids(args, progress):
    """Run every layer-pair grid of this context on ``--scheduler`` (or the local threads),
    reporting ``progress``. A malformed or unreachable scheduler is a UsageError naming it."""
    from . import distributed

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(distributed.grid_backend(
                getattr(args, "scheduler", None), n_workers=args.threads, progress=progress))
        except (ValueError, distributed.SchedulerUnreachable) as exc:
            raise UsageError(f"--scheduler: {exc}") from None
        yield


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


def _estimator(args, memory=None):
    from .estimator import HOT

    return HOT(n_threads=args.threads, dtype=args.dtype,
               max_layers_in_memory=getattr(args, "max_layers_in_memory", None), memory=memory,
               lazy=bool(getattr(args, "lazy", False)))


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
    from .evaluation import evaluate
    from .io import write_json, write_plans

    _check_align_args(args)
    formats = _formats(args.figure_format)
    Xs, Ys = _load_pair(args)
    if args.unit_pair is not None:
        l, m = args.unit_pair
        if not (0 <= l < len(Xs) and 0 <= m < len(Ys)):
            raise UsageError(f"--unit-pair {l},{m}: out of range ({len(Xs)} x {len(Ys)} "
                             "layers)")
    out = _out_dir(args.out, args)
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
    split_bar = TqdmProgress("splits", "split", position=0, disable=quiet)
    pair_bar = TqdmProgress("layer pairs", "pair", position=1, leave=False, disable=quiet)
    scheduler = args.scheduler
    try:
        with _grids(args, pair_bar):
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
        **ev.to_dict(Xs.names, Ys.names, full, full_r),
        "cache": _cache_summary(cache_dir, fits=fits, layer_pairs=pairs),
        "seconds": elapsed,
    }
    write_json(out / "results.json", summary)
    write_plans(out / "plans.npz", full.unit_plans_, Xs.names, Ys.names)
    if full_r is not None:
        write_plans(out / "plans_rotation.npz", full_r.unit_plans_, Xs.names, Ys.names)
    l = 0 if args.unit_pair is None else args.unit_pair[0]
    m = int(full.layer_plan_[l].argmax()) if args.unit_pair is None else args.unit_pair[1]
    if full.unit_plans_[l][m] is None:
        raise UsageError(f"--unit-pair {l},{m}: the lazy fit did not solve this pair (it is "
                         "outside the layer plan); pick a pair of the plan or drop --lazy")
    written = _figures(
        out, formats, P=full.layer_plan_, C=full.layer_costs_, x_names=Xs.names,
        y_names=Ys.names,
        layer_scores={k: ev.layer_scores[k].mean(axis=0) for k in ev.methods},
        errors={k: ev.layer_scores[k].std(axis=0) for k in ev.methods},
        unit_plan=full.unit_plans_[l][m], pair_names=(f"X {Xs.names[l]}", f"Y {Ys.names[m]}"))
    _say(args, ev.table())
    reused = ("" if cache_dir is None else
              f", reused {fits.hits} cached fits and {pairs.hits} cached layer pairs")
    _say(args, f"HOT distance <C, P> = {full.distance_:.4f} (lower = more alike); "
               f"{elapsed:.1f} s{reused}")
    _say(args, f"written: {out / 'results.json'}, {out / 'plans.npz'}, "
               f"{len(written)} figures")
    _say_cache_size(args, cache_dir)
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
    out = _out_dir(args.out, args)
    cache_dir = _cache_dir(args, out)
    quiet = True if args.quiet else None
    t0 = time.perf_counter()
    memory = _memory(args, cache_dir)
    pairs = None if memory is None else memory.pairs
    with TqdmProgress("layer pairs (all checkpoints)", "pair", disable=quiet) as bar, \
            _grids(args, bar):
        model = TrajectoryHOT(n_threads=args.threads, dtype=args.dtype, memory=memory,
                              lazy=args.lazy)
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
        **({"lazy": {
            "meaning": "certified lazy grid at both levels: D is null for checkpoint pairs "
                       "that were not fitted; the coupling and greedy matches are exact",
            "solved_checkpoints": model.solved_checkpoints_,
            "layer_pairs_solved": model.n_pairs_solved_,
            "layer_pairs": int(model.layer_costs_.size)}} if args.lazy else {}),
        "cache": _cache_summary(cache_dir, layer_pairs=pairs),
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
    _say_cache_size(args, cache_dir)
    return 0


# ----------------------------------------------------------------------------------------------
# cache
# ----------------------------------------------------------------------------------------------

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _duration(value):
    """Seconds of a duration such as ``30m``, ``12h``, ``7d``, ``2w`` (a bare number: days)."""
    text = value.strip().lower()
    unit = text[-1] if text and text[-1] in _DURATION_UNITS else "d"
    number = text[:-1] if text and text[-1] in _DURATION_UNITS else text
    try:
        seconds = float(number) * _DURATION_UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 30m, 12h, 7d or 2w, got {value!r}") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a duration >= 0, got {value!r}")
    return seconds


def _age(seconds: float) -> str:
    """``604800`` -> ``"1w"``: the largest unit that divides the duration."""
    for unit, size in sorted(_DURATION_UNITS.items(), key=lambda kv: -kv[1]):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _cache_folder(path) -> Path:
    """The cache folder meant by DIR: ``DIR/cache`` for an ``--out`` folder, else DIR."""
    folder = Path(path)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder (give an --out folder or a --cache-dir)")
    return folder / "cache" if (folder / "cache").is_dir() else folder


def _when(timestamp):
    return "-" if timestamp is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def _cache_info(args) -> int:
    from .cache import usage

    use = usage(_cache_folder(args.DIR))
    if args.json:
        import json

        print(json.dumps(use, indent=2))
        return 0
    print(f"cache {use['directory']}: {_size(use['bytes'])} in {use['entries']} entries")
    for kind, label in (("fits", "fits"), ("layer_pairs", "layer pairs"),
                        ("temporary", "temporary")):
        print(f"  {label:<12} {use[kind]['entries']:>7} {_size(use[kind]['bytes']):>10}")
    print(f"  last used    {_when(use['newest'])} (newest), {_when(use['oldest'])} (oldest)")
    return 0


def _cache_prune(args) -> int:
    from .cache import prune, usage

    folder = _cache_folder(args.DIR)
    done = prune(folder, args.older_than)
    left = usage(folder)
    which = "" if args.older_than is None else f" not used for {_age(args.older_than)}"
    print(f"removed {done['entries']} entries{which} ({_size(done['bytes'])}) from {folder}; "
          f"{_size(left['bytes'])} in {left['entries']} entries left")
    return 0


# ----------------------------------------------------------------------------------------------
# info
# ----------------------------------------------------------------------------------------------


def _info(args) -> int:
    from ._info import format_info, system_info

    info = system_info()
    if args.json:
        import json

        print(json.dumps(info, indent=2))
    else:
        print(format_info(info))
    return 0


# ----------------------------------------------------------------------------------------------
# layers, capture (PyTorch, imported by hotalign.capture only when these run)
# ----------------------------------------------------------------------------------------------


def _layers(args) -> int:
    from .capture import list_layers, load_model, read_stimuli

    model, preprocess = load_model(args.model)
    example = None
    if args.stimuli is not None:  # run one small batch: execution order
        example = next(iter(read_stimuli(args.stimuli, preprocess, batch_size=2)[1]))
    modules = dict(model.named_modules())
    for name in list_layers(model, example):
        print(f"{name}\t{type(modules[name]).__name__}")
    return 0


def _capture(args) -> int:
    from .capture import capture, load_model, read_stimuli

    pool = args.pool
    if "=" in pool:  # glob=mode,glob=mode
        pool = dict(item.split("=", 1) for item in pool.split(",") if item.strip())
    model, preprocess = load_model(args.model)
    ids, batches = read_stimuli(args.stimuli, preprocess, args.batch_size)
    system = capture(model, batches, args.out, layers=args.layers, pool=pool,
                     device=args.device, dtype=args.dtype, stimulus_ids=ids, resume=args.resume,
                     progress=not args.quiet, stop_after_last=True)
    _say(args, f"captured {len(system)} layers x {system.n_stimuli} stimuli into {args.out}")
    return 0


def _add_capture_parsers(sub):
    layers = add_command(
        sub, "layers", "list the module paths of a PyTorch model (needs hotalign[torch])",
        "hotalign layers torchvision:resnet18",
        "hotalign layers my_models:build images/")
    layers.add_argument("model", help="torchvision:NAME, timm:NAME, hf:NAME or "
                                      "pkg.module:factory")
    layers.add_argument("stimuli", nargs="?", default=None,
                        help="optional images folder or .txt: run one batch and list the "
                             "modules in execution order")
    layers.set_defaults(func=_layers)
    cap = add_command(
        sub, "capture", "capture the pooled layer activations of a PyTorch model on stimuli",
        "hotalign capture torchvision:resnet18 images/ --out resnet18 --layers 'layer?,fc'",
        "hotalign capture hf:bert-base-uncased sentences.txt --out bert --layers "
        "'encoder.layer.*' --pool mean",
        "hotalign capture my_models:build images/ --out mine --resume --device cuda")
    cap.add_argument("model", help="torchvision:NAME, timm:NAME, hf:NAME (local cache) or "
                                   "pkg.module:factory (returns model or (model, preprocess))")
    cap.add_argument("stimuli", help="folder of images (names = stimulus ids) or .txt of "
                                     "sentences (one per line)")
    cap.add_argument("--out", required=True, help="folder to write (must not exist)")
    cap.add_argument("--layers", default="*", help="comma-separated module paths or globs")
    cap.add_argument("--pool", default="auto",
                     help="auto, mean, spatial_max, avg<k>, cls, last, flatten, or "
                          "glob=mode,...")
    cap.add_argument("--batch-size", type=int, default=32, help="stimuli per forward pass")
    cap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps ...")
    cap.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                     help="dtype of the stored layers")
    cap.add_argument("--resume", action="store_true",
                     help="continue OUT.partial from its last complete batch")
    cap.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    cap.set_defaults(func=_capture)


# ----------------------------------------------------------------------------------------------
# parser
# ----------------------------------------------------------------------------------------------


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help with every option's default shown (unless it is None or a False flag) and the
    examples of the epilog kept as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("%(default)" in text or not action.option_strings
                or action.default in (None, False, argparse.SUPPRESS)):
            return text
        return f"{text} (default: %(default)s)"


def _examples(*lines):
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def add_command(sub, name, summary, *examples, **kw):
    """A subcommand parser with the package's help layout: ``summary`` is the one line shown in
    ``hotalign --help`` and atop ``hotalign NAME --help``; ``examples`` are shell lines."""
    return sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".",
                          epilog=_examples(*examples) if examples else None,
                          formatter_class=HelpFormatter, **kw)


def _pair(value):
    try:
        l, m = (int(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected L,M (two layer indices), got {value!r}") from None
    return l, m


def _add_cache_options(p, what):
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help=f"cache the {what} in DIR instead of OUT/cache (DIR may be shared by "
                        "runs: entries are keyed by content and written atomically)")
    p.add_argument("--no-cache", action="store_true",
                   help=f"do not store the {what} (no --resume possible)")


def _add_common(p, out_default):
    p.add_argument("--out", default=out_default, help="output folder")
    p.add_argument("--figure-format", default="png",
                   help="comma-separated figure formats: png, svg, pdf")
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")


def build_parser(bench_arguments=True) -> argparse.ArgumentParser:
    """The ``hotalign`` argument parser. With ``bench_arguments=False`` the ``bench``
    subcommands are registered without their options, so that building the parser imports no
    benchmark code (:func:`main` registers them only for ``hotalign bench ...``)."""
    parser = argparse.ArgumentParser(
        prog="hotalign", formatter_class=HelpFormatter,
        description="Hierarchical optimal transport: compare two networks (or brains) layer by "
                    "layer and unit by unit.",
        epilog=_examples("hotalign demo", "hotalign align X.npz Y.npz --out results",
                         "hotalign info"))
    parser.add_argument("--version", action="version", version=f"hotalign {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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

    align = add_command(
        sub, "align", "compare two systems stored in files: scores, layer plan, unit plans",
        "hotalign align X.npz Y.npz --out results",
        "hotalign align X/ Y.safetensors --layers 'block*' --dtype float32 --rotation",
        "hotalign align X.h5 Y.h5 --out results --resume --max-layers-in-memory 4")
    align.add_argument("X", help="first system: .npz, .safetensors, .h5 or a folder of .npy")
    align.add_argument("Y", help="second system (same stimuli, same order)")
    align.add_argument("--rotation", action="store_true",
                       help="also HOT+R and the +R baselines (learned rotations)")
    align.add_argument("--lazy", action="store_true",
                       help="certified lazy layer grid: the HOT fit on all rows solves only the "
                            "layer pairs its layer plan needs (exact, with a certificate in "
                            "results.json); the splits' baselines still solve every pair")
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
                       help="reuse the fits and layer pairs cached by an earlier run in "
                            "OUT/cache or --cache-dir (a killed run redoes only the unfinished "
                            "pairs)")
    align.add_argument("--unit-pair", type=_pair, default=None, metavar="L,M",
                       help="layer pair whose unit plan is drawn (default: layer 0 and its "
                            "best match)")
    _add_cache_options(align, "fits and layer pairs")
    _add_common(align, "hotalign-results")
    align.set_defaults(func=_align)

    _add_capture_parsers(sub)

    traj = add_command(sub, "trajectory", "couple two training trajectories (checkpoints)",
                       "hotalign trajectory runA/ runB/ --out traj",
                       "hotalign trajectory runA/ runB/ --layers 'layer*' --resume")
    traj.add_argument("A", help="folder of checkpoints of the first network (one file or "
                                "folder per checkpoint, natural order)")
    traj.add_argument("B", help="folder of checkpoints of the second network")
    traj.add_argument("--layers", default=None, help="layer selection (as for align)")
    traj.add_argument("--lazy", action="store_true",
                      help="certified lazy grid: fit only the checkpoint and layer pairs the "
                           "coupling and the greedy baseline need (exact)")
    traj.add_argument("--threads", type=int, default=None, help="worker threads")
    traj.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                      help="precision of standardised layers and costs")
    traj.add_argument("--resume", action="store_true",
                      help="reuse the layer pairs cached by an earlier run in OUT/cache or "
                           "--cache-dir")
    _add_cache_options(traj, "layer pairs")
    _add_common(traj, "hotalign-trajectory")
    traj.set_defaults(func=_trajectory)

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
        from .bench.solvers import add_solvers_arguments, solvers_main

        add_solvers_arguments(solvers)
        solvers.set_defaults(func=solvers_main)
    pipeline = add_command(
        bench_sub, "pipeline",
        "grid, end-to-end HOT, HOT+R and TrajectoryHOT against plain NumPy+POT",
        "hotalign bench pipeline --quick --out bench-results",
        "hotalign bench pipeline --only grid,hot --repeats 5")
    if bench_arguments:
        from .bench.pipeline import add_pipeline_arguments, pipeline_main

        add_pipeline_arguments(pipeline)
        pipeline.set_defaults(func=pipeline_main)

    cache = add_command(sub, "cache", "size of a result cache, and pruning of old entries",
                        "hotalign cache info hotalign-results",
                        "hotalign cache prune hotalign-results --older-than 7d")
    cache_sub = cache.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    cache_info = add_command(cache_sub, "info", "entries and size of a cache, by kind",
                             "hotalign cache info hotalign-results",
                             "hotalign cache info /data/hotalign-cache --json")
    cache_info.add_argument("DIR", help="an --out folder (its cache/) or a --cache-dir")
    cache_info.add_argument("--json", action="store_true", help="print JSON instead of text")
    cache_info.set_defaults(func=_cache_info)
    cache_prune = add_command(
        cache_sub, "prune", "remove the entries of a cache not used for a while (all by default)",
        "hotalign cache prune hotalign-results --older-than 7d",
        "hotalign cache prune /data/hotalign-cache --older-than 12h",
        "hotalign cache prune hotalign-results")
    cache_prune.add_argument("DIR", help="an --out folder (its cache/) or a --cache-dir")
    cache_prune.add_argument("--older-than", type=_duration, default=None, metavar="AGE",
                             help="only entries not used for AGE: 30m, 12h, 7d, 2w (a bare "
                                  "number is days); default: every entry")
    cache_prune.set_defaults(func=_cache_prune)

    info = add_command(sub, "info", "versions, BLAS, SIMD path and threads, for bug reports",
                       "hotalign info", "hotalign info --json > hotalign-info.json")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(func=_info)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(bench_arguments=bool(argv) and argv[0] == "bench")
    args = parser.parse_args(argv)
    try:
        with contextlib.ExitStack() as args.exit_stack:  # locks held for the run
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
