"""What the subcommands share: output and cache folders, the folder lock, the cache record,
progress bars, messages and figures."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path


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
    """Write the figures of a results document (:func:`hotalign.cli.plot.result_figures`);
    none (and a note on stderr) when matplotlib is not installed."""
    from .. import plotting
    from .plot import result_figures

    written = []
    if not plotting.available():
        print(FIGURES_SKIPPED, file=sys.stderr)
        return written
    for name, fig in result_figures(results, unit_plan, unit_pair).items():
        written += plotting.save(fig, out / name, formats)
    return written
