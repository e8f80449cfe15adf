"""hotalign: hierarchical optimal transport for representational alignment.

Exact CPU transport solvers (network simplex, Jonker-Volgenant assignment) in a header-only C++
core, and the HOT method of Shah & Khosla (2025) built on them.
"""

from . import datasets, marginals
from ._version import __version__
from .comparison import Comparison, compare
from .costs import ZScore, correlation_cost, zscore
from .estimator import HOT
from .evaluation import Evaluation, evaluate
from .grid import GridResult, solve_grid
from .layer import Layer
from .results import TransportResult
from .slack import select_slack
from .trajectory import TrajectoryHOT
from .transport import (
    MarginalMismatchError,
    MaxIterError,
    MaxIterWarning,
    emd,
    emd2,
    linear_sum_assignment,
    solve_transport,
)

__all__ = [
    "Comparison",
    "HOT",
    "Evaluation",
    "GridResult",
    "Layer",
    "MarginalMismatchError",
    "MaxIterError",
    "MaxIterWarning",
    "TrajectoryHOT",
    "TransportResult",
    "ZScore",
    "__version__",
    "compare",
    "correlation_cost",
    "datasets",
    "marginals",
    "emd",
    "emd2",
    "evaluate",
    "linear_sum_assignment",
    "select_slack",
    "solve_grid",
    "solve_transport",
    "zscore",
]


def __getattr__(name):
    """``hotalign.capture`` on first use: PyTorch stays optional, and ``import hotalign`` does
    not import it."""
    if name == "capture":
        import importlib

        return importlib.import_module(".capture", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
