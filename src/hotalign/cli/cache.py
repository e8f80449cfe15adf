"""``hotalign cache info|prune DIR``: the size of a result cache, and pruning of old entries."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .options import _byte_size, add_command
from .shared import _size, UsageError


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
    from ..cache import usage

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
    from ..cache import prune, usage

    folder = _cache_folder(args.DIR)
    done = prune(folder, args.older_than, max_bytes=args.max_size)
    left = usage(folder)
    which = "" if args.older_than is None else f" not used for {_age(args.older_than)}"
    lru = ("" if args.max_size is None else
           f", least recently used first to fit {_size(args.max_size)},")
    print(f"removed {done['entries']} entries{which} ({_size(done['bytes'])}){lru} from "
          f"{folder}; {_size(left['bytes'])} in {left['entries']} entries left")
    return 0


def register(sub):
    """Add the ``cache`` subcommand to the subparsers ``sub``."""
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
        cache_sub, "prune", "remove old or least recently used cache entries (all by default)",
        "hotalign cache prune hotalign-results --older-than 7d",
        "hotalign cache prune /data/hotalign-cache --max-size 2G",
        "hotalign cache prune hotalign-results")
    cache_prune.add_argument("DIR", help="an --out folder (its cache/) or a --cache-dir")
    cache_prune.add_argument("--older-than", type=_duration, default=None, metavar="AGE",
                             help="only entries not used for AGE: 30m, 12h, 7d, 2w (a bare "
                                  "number is days); default: every entry")
    cache_prune.add_argument("--max-size", type=_byte_size, default=None, metavar="SIZE",
                             help="then remove the least recently used entries until the cache "
                                  "holds at most SIZE (500M, 4G, ...); --resume of a run needs "
                                  "its entries, so a SIZE below a run's cache loses them")
    cache_prune.set_defaults(func=_cache_prune)
