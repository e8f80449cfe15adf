"""The help layout of every subcommand, and the options several of them take."""

from __future__ import annotations

import argparse
import difflib
import re


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help with every option's default shown (unless it is None or a False flag) and the
    examples of the epilog kept as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("%(default)" in text or not action.option_strings or _unshown(action.default)):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An argument parser that never accepts a prefix of an option (``allow_abbrev=False``)
    and answers a mistyped option or subcommand with "did you mean" (the closest names, by
    :func:`difflib.get_close_matches`). Every subcommand parser is one (``add_parser`` makes
    subparsers of the parent's class)."""

    def __init__(self, *args, **kw):
        kw["allow_abbrev"] = False
        super().__init__(*args, **kw)

    def parse_known_args(self, args=None, namespace=None):
        # A subcommand's parser gets every argument after its name, so what it leaves over is
        # wrong here: report it with this parser's usage and options, not the top level's.
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}"
                       + _did_you_mean(extras, self._option_string_actions))
        return namespace, extras

    def error(self, message):
        found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if found and "did you mean" not in message:
            choices = [c.strip().strip("'") for c in found[2].split(",")]  # quoted or not
            close = difflib.get_close_matches(found[1], choices, n=1, cutoff=0.5)
            if close:
                message += f"; did you mean {close[0]!r}?"
        super().error(message)


def _did_you_mean(words, names) -> str:
    """``"; did you mean --splits?"`` for the first of ``words`` (options as typed) close to
    one of ``names``; empty when none is."""
    options = [n for n in names if n.startswith("--")]
    for word in words:
        if word.startswith("-"):
            close = difflib.get_close_matches(word.split("=", 1)[0], options, n=1, cutoff=0.6)
            if close:
                return f"; did you mean {close[0]}?"
    return ""


def _unshown(default) -> bool:
    """Defaults not worth showing: None, a False flag, SUPPRESS. By identity, so that a default
    of 0 (``--seed``), which equals False, is shown."""
    return default is None or default is False or default is argparse.SUPPRESS


def _examples(*lines):
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def add_command(sub, name, summary, *examples, **kw):
    """A subcommand parser with the package's help layout: ``summary`` is the one line shown in
    ``hotalign --help`` and atop ``hotalign NAME --help``; ``examples`` are shell lines."""
    return sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".",
                          epilog=_examples(*examples) if examples else None,
                          formatter_class=HelpFormatter, **kw)


#: The cache bound of a run (``--cache-max-size``): after the run, the least recently used
#: entries are pruned until the cache holds at most this many bytes.
DEFAULT_CACHE_MAX_SIZE = "4G"

_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _byte_size(value):
    """Bytes of a size such as ``500M``, ``4G``, ``1.5GiB``, ``0`` (binary units: 1K = 1024)."""
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(?:i?b)?\s*", str(value).lower())
    if found is None:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 500M, 4G or 1.5GiB, got {value!r}")
    return int(float(found[1]) * _SIZE_UNITS[found[2]])


def _add_cache_options(p, what):
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help=f"cache the {what} in DIR instead of OUT/cache (DIR may be shared by "
                        "runs: entries are keyed by content and written atomically)")
    p.add_argument("--no-cache", action="store_true",
                   help=f"do not store the {what} (no --resume possible)")
    p.add_argument("--cache-max-size", type=_byte_size, default=DEFAULT_CACHE_MAX_SIZE,
                   metavar="SIZE",
                   help="after the run, prune the least recently used cache entries until the "
                        "cache holds at most SIZE (500M, 4G, ...; 0: keep nothing). --resume "
                        "needs this run's entries: a cap below their size loses them")


def _add_constant_units(p):
    """``--constant-units {drop,error}``: what to do with a layer whose every unit is
    constant (``align``, ``trajectory``, ``compare``; see :mod:`hotalign.cli.constant`)."""
    p.add_argument("--constant-units", choices=("drop", "error"), default="error",
                   help="a layer whose units are all constant (e.g. the embeddings layer "
                        "under CLS pooling) stops the run (error) or is left out, with a note "
                        "(drop); constant units of other layers are always left out of the "
                        "transport and the scores")


#: What the system arguments of ``align`` (and ``compare``) accept.
INPUT_FORMATS = ("an .npz (one array per layer), a folder of .npy files (a hotalign capture "
                 "or a thingsvision folder), a single .npy (one layer), .safetensors, "
                 ".h5/.hdf5 or .nc (NetCDF)")


def _memory_size(value):
    from ..io.limits import parse_size

    try:
        return parse_size(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 4G, 512M or 2000000 (bytes), got {value!r}") from None


def add_input_options(p):
    """The options of every subcommand that reads input files: the readers' memory budget and
    the HDF5 external-data opt-in (:func:`hotalign.cli.main.main` applies them to every input
    and cache the run reads)."""
    p.add_argument("--max-memory", type=_memory_size, default=None, metavar="SIZE",
                   help="memory budget of the readers (4G, 512M, bytes): a layer read whole "
                        "that declares more is refused before it is read, a layer read row by "
                        "row is read in pieces within it (default: half the available memory)")
    p.add_argument("--hdf5-external", action="store_true",
                   help="read HDF5 datasets whose data lie in other files (external storage, "
                        "virtual datasets); refused by default")


def _add_common(p, out_default):
    p.add_argument("--out", default=out_default, help="output folder")
    p.add_argument("--figure-format", default="png",
                   help="comma-separated figure formats: png, svg, pdf")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars or lines, no summary")
