"""The ``hotalign`` command line. It only parses arguments and calls the Python API.

Commands
--------
``hotalign demo``
    The built-in synthetic pair: unit-level certificate, evaluation table, figures.
``hotalign align X Y --out DIR``
    Two systems from files (``.npz``, a folder of ``.npy`` such as a capture or a thingsvision
    folder, a single ``.npy``, ``.safetensors``, HDF5, NetCDF): held-out
    scores of HOT and its baselines over random splits, ``results.json``, ``plans.npz`` and
    figures in DIR. Every fit is cached in ``DIR/cache`` and every solved layer pair in
    ``DIR/cache/pairs`` (see :mod:`hotalign.cache`; ``--cache-dir`` elsewhere, ``--no-cache``
    not at all); ``--resume`` reuses them, so a killed run redoes only the layer pairs that were
    not finished; it says how many it reused. A non-empty DIR is refused without
    ``--resume`` or ``--force``. After the run the cache is pruned, least recently used entries
    first, to ``--cache-max-size`` (default 4 GiB), and its size is printed.
    ``--constant-units drop`` leaves out layers whose units are all constant. ``--null N`` adds
    a stimulus-permutation null (:mod:`hotalign.null`).
``hotalign plot RESULTS [--out DIR] [--format png,pdf]``
    The figures of an ``align`` run, redrawn from its ``results.json`` (and ``plans.npz``).
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
``hotalign cache info DIR`` / ``hotalign cache prune DIR [--older-than 7d] [--max-size 2G]``
    Size of a cache (an ``--out`` folder or a ``--cache-dir``), and removal of its entries not
    used for a while, or of the least recently used ones down to a size.
``hotalign info``
    Versions, BLAS, the assignment solver's SIMD path and thread counts, for bug reports.

``python -m hotalign`` is the same command. ``hotalign COMMAND --help`` shows every option with
its default, and examples. Options are never matched by prefix; a mistyped option, command
or choice gets a "did you mean". Progress is a tqdm bar on a terminal and a line on stderr
every 5 s (``HOTALIGN_PROGRESS_INTERVAL``) otherwise. Each subcommand is one module of this package that registers its own
parser (``register(sub)``); :mod:`hotalign.cli.shared` holds what they share.

Exit codes: 0 success; 2 bad input or arguments (one line on stderr naming the file or option);
1 anything else (including a demo whose planted layer map is not recovered).
"""

from .main import build_parser, main
from .options import HelpFormatter, add_command
from .shared import FIGURES_SKIPPED, TqdmProgress, UsageError

__all__ = ["TqdmProgress", "build_parser", "main"]
