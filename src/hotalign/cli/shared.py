"""What the subcommands share: output and cache folders, the folder lock, the cache record,
progress bars, messages and figures."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path


#: Seconds between two progress lines when stderr is not a terminal (a log file, a pipe, a
#: batch job); the environment variable ``HOTALIGN_PROGRESS_INTERVAL`` overrides it.
PROGRESS_INTERVAL = 5.0


def _progress_interval() -> float:
    value = os.environ.get("HOTALIGN_PROGRESS_INTERVAL")
    try:
        seconds = float(value) if value is not None else PROGRESS_INTERVAL
    except ValueError:
        raise UsageError(f"HOTALIGN_PROGRESS_INTERVAL: expected seconds, got {value!r}"
                         ) from None
    return seconds if seconds >= 0 else PROGRESS_INTERVAL


class TqdmProgress:
    """A ``progress(done, total)`` callable that draws a tqdm bar on a terminal, and prints a
    line such as ``align: 120/441 layer pairs, 12.3 s`` to stderr every few seconds when
    stderr is not a terminal.

    Pass it as ``progress=`` to :func:`hotalign.evaluate` or :func:`hotalign.solve_grid`.
    The bar restarts when ``done`` goes back (a new grid); it is silent when ``disable`` is
    True. By default (``disable=None``) it draws the bar when stderr is a terminal and prints
    the lines otherwise, at most one per :data:`PROGRESS_INTERVAL` seconds (and one when a
    count completes, once a line was printed).

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
    label : str
        What starts each progress line (the subcommand).
    """

    def __init__(self, desc, unit="it", *, position=0, leave=True, disable=None,
                 label="hotalign"):
        self.desc, self.unit, self.position, self.leave = desc, unit, position, leave
        self.lines = disable is None and not sys.stderr.isatty()
        self.disable = bool(disable) or self.lines
        self.bar = None
        self.label = label
        self.interval = _progress_interval() if self.lines else None
        self.start = self.last = time.monotonic()
        self.said = False

    def _line(self, done, total):
        now = time.monotonic()
        if now - self.last < self.interval and not (done == total and self.said):
            return
        if done == total and self.said == (done, total):
            return
        self.last, self.said = now, (done, total)
        print(f"{self.label}: {done}/{total} {self.desc}, {now - self.start:.1f} s",
              file=sys.stderr, flush=True)

    def __call__(self, done, total):
        if self.lines:
            self._line(done, total)
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


def _formats(value):
    from ..plotting import FORMATS

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


def _fresh_out(out: Path, args) -> Path:
    """``out`` (``--out``), refused when it holds anything unless ``--resume`` or ``--force``
    says that the run may write into it (a run never overwrites an earlier result unasked)."""
    if out.is_dir() and not (args.resume or getattr(args, "force", False)) and _holds_files(out):
        raise UsageError(f"--out {out} is not empty; pass --resume to continue the run stored "
                         "there, --force to write over it, or choose another folder")
    return out


def _holds_files(folder: Path) -> bool:
    """Whether ``folder`` holds a file other than the run lock (an empty cache folder, as a
    run that stopped on bad input leaves it, does not count)."""
    for root, _, files in os.walk(folder):
        if any(not (f == ".hotalign.lock" and Path(root) == folder) for f in files):
            return True
    return False


def _out_dir(path, args=None) -> Path:
    """Create the output folder, checked as by :func:`_writable_dir`; with ``args`` (a run
    that caches), also lock it for the run so that a second run on the same folder stops at
    once (see :func:`hotalign.cache.locked`)."""
    out = Path(path)
    _writable_dir(out, "--out", out)
    if args is not None:
        from ..cache import locked

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
    from ..cache import usage

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
    from ..cache import usage

    use = usage(cache_dir)
    _say(args, f"cache: {_size(use['bytes'])} in {use['entries']} entries at {cache_dir} "
               f"(bound: --cache-max-size; free it with: hotalign cache prune {cache_dir} "
               "--max-size 0)")


def _reused(args, **caches):
    """With ``--resume``, one line saying how much of the stored work the run reused: ``fits``
    and ``layer_pairs`` caches (None: no cache), as "reused H of N"."""
    if not getattr(args, "resume", False):
        return
    counts = {name.replace("_", " "): (c.hits, c.hits + c.misses)
              for name, c in caches.items() if c is not None}
    counts = {k: v for k, v in counts.items() if v[1]} or counts
    if not counts:
        return
    text = " and ".join(f"{h} of {n} {name}" for name, (h, n) in counts.items())
    hint = ("" if any(h for h, _ in counts.values()) else
            " (nothing matched: a resumed run needs the same inputs and options that change "
            "results, e.g. --dtype, --seed, --splits, --test-size, --layers)")
    _say(args, f"--resume: reused {text} from the cache{hint}")


def _bound_cache(args, cache_dir):
    """After a run: prune the least recently used entries of ``cache_dir`` until it holds at
    most ``--cache-max-size`` bytes, and say so when anything was removed."""
    limit = getattr(args, "cache_max_size", None)
    if cache_dir is None or limit is None:
        return
    from ..cache import prune

    done = prune(cache_dir, max_bytes=limit)
    if done["entries"]:
        print(f"hotalign: note: cache {cache_dir}: removed the {done['entries']} least "
              f"recently used entries ({_size(done['bytes'])}) to stay within --cache-max-size "
              f"{_size(limit)}; a --resume recomputes what they held", file=sys.stderr)


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
    from ..cache import Memory

    memory = Memory(cache_dir, read=args.resume, report=_cache_report(args))
    memory.sweep()
    return memory


@contextlib.contextmanager
def _grids(args, progress):
    """Run every layer-pair grid of this context on ``--scheduler`` (or the local threads),
    reporting ``progress``. A malformed or unreachable scheduler is a UsageError naming it."""
    from .. import distributed

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


def _figures(out: Path, formats, results: dict, unit_plan=None, unit_pair=None) -> list[Path]:
    """Write the figures of a results document (:func:`hotalign.cli.figures.result_figures`);
    none (and a note on stderr) when matplotlib is not installed."""
    from .. import plotting
    from .figures import result_figures

    written = []
    if not plotting.available():
        print(FIGURES_SKIPPED, file=sys.stderr)
        return written
    for name, fig in result_figures(results, unit_plan, unit_pair).items():
        written += plotting.save(fig, out / name, formats)
    return written
