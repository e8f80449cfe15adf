"""The help layout of every subcommand, and the options several of them take."""

from __future__ import annotations

import argparse


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


def _add_cache_options(p, what):
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help=f"cache the {what} in DIR instead of OUT/cache (DIR may be shared by "
                        "runs: entries are keyed by content and written atomically)")
    p.add_argument("--no-cache", action="store_true",
                   help=f"do not store the {what} (no --resume possible)")


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
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")
