"""``hotalign plot results.json``: the figures of an ``align`` run, redrawn from its results.

:func:`result_figures` builds every figure from a ``results.json`` document (and one unit plan
from ``plans.npz``); ``hotalign align`` and ``hotalign demo`` draw theirs with it too, so the
figures of a run and of a redraw are the same.
"""

from __future__ import annotations

import json
from pathlib import Path


from .options import add_command
from .figures import default_unit_pair, plan_from_file, result_figures
from .shared import UsageError, _formats, _out_dir, _say

def _plot(args) -> int:
    from .. import plotting
    from .shared import FIGURES_SKIPPED

    try:
        formats = _formats(args.format)
    except UsageError as exc:
        raise UsageError(str(exc).replace("--figure-format", "--format")) from None
    path = Path(args.results)
    try:
        results = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: cannot read a results.json ({exc})") from None
    if not isinstance(results, dict) or results.get("command", "align") != "align" or \
            not isinstance(results.get("P"), dict):
        command = results.get("command") if isinstance(results, dict) else None
        raise UsageError(f"{path}: not a results.json of hotalign align"
                         + (f" (command {command!r})" if command else ""))
    if not plotting.available():
        print(FIGURES_SKIPPED)
        return 2
    out = _out_dir(path.parent if args.out is None else args.out)
    pair = default_unit_pair(results)
    plan = plan_from_file(path.parent / "plans.npz", pair)
    written = []
    for name, fig in result_figures(results, plan, pair).items():
        written += plotting.save(fig, out / name, formats)
    if plan is None:
        _say(args, "unit_plan skipped: no plans.npz with dual potentials beside the results")
    _say(args, f"written: {', '.join(str(p) for p in written)}")
    return 0


def register(sub):
    """Add the ``plot`` subcommand to the subparsers ``sub``."""
    plot = add_command(sub, "plot", "redraw the figures of an align run from its results.json",
                       "hotalign plot results/results.json",
                       "hotalign plot results/results.json --out figs --format png,pdf")
    plot.add_argument("results", help="results.json of hotalign align (plans.npz beside it "
                                      "gives the unit plan)")
    plot.add_argument("--out", default=None,
                      help="folder of the figures (default: the folder of results.json)")
    plot.add_argument("--format", default="png", help="comma-separated: png, svg, pdf")
    plot.add_argument("--quiet", action="store_true", help="print nothing on success")
    plot.set_defaults(func=_plot)
