"""``hotalign info``: versions, BLAS, SIMD path and threads, for bug reports."""

from __future__ import annotations

from .options import add_command


def _info(args) -> int:
    from .._info import format_info, system_info

    info = system_info()
    if args.json:
        import json

        print(json.dumps(info, indent=2))
    else:
        print(format_info(info))
    return 0


def register(sub):
    """Add the ``info`` subcommand to the subparsers ``sub``."""
    info = add_command(sub, "info", "versions, BLAS, SIMD path and threads, for bug reports",
                       "hotalign info", "hotalign info --json > hotalign-info.json")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(func=_info)
