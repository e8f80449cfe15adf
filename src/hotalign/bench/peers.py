"""The one peer loader of the benchmarks: the exact solvers hotalign is measured against.

:func:`load_peers` turns peer names (:data:`PEERS`) into solvers, each a :class:`Peer` with
``solve(C, a, b)`` (timed) and ``cost(out, C64, a, b)`` (the transport cost of its result,
not timed), and the peers that cannot be imported into one-line reasons (never an error):

``scipy``
    ``scipy.optimize.linear_sum_assignment``.
``lap``
    ``lap.lapjv`` (lap 0.5; rectangular problems through ``extend_cost``). Skipped when the
    module named ``lap`` is lapx (then measured as lapx).
``lapx``
    every exact dense JV solver of lapx 0.11 (``lapjv``, ``lapjvx``, ``lapjvc``, ``lapjvs``,
    ``lapjvr``, ``lapjvh``). lapx installs a module that is also named ``lap``: it is loaded
    in-process from the folder named by ``$HOTALIGN_LAPX_PATH`` (``pip install --target DIR
    lapx``) under a private package name, or from the ``lap`` module when that one is lapx.
``pot``
    ``ot.emd`` (network simplex): any marginals; as an assignment peer, square problems only.

Assignment peers apply to uniform marginals (square or rectangular, where the assignment is
the problem); :meth:`Peer.applies` says why not otherwise.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from pathlib import Path

import numpy as np

__all__ = ["LAPX_ENV", "LAPX_SOLVERS", "PEERS", "NotApplicable", "Peer", "assignment_peers",
           "load_peers"]

PEERS = ("scipy", "lap", "lapx", "pot")
LAPX_ENV = "HOTALIGN_LAPX_PATH"
#: lapx's exact dense JV solvers: (module, function)
LAPX_SOLVERS = (("_lapjv", "lapjv"), ("_lapjvx", "lapjvx"), ("_lapjvc", "lapjvc"),
                ("_lapjvs_wp", "lapjvs"), ("_lapjv_rh", "lapjvr"), ("_lapjv_rh", "lapjvh"))


class NotApplicable(Exception):
    """A solver that does not apply to a problem (raised by its ``solve``)."""


class Peer:
    """One peer solver.

    Attributes
    ----------
    name : str
        Its key in tables and JSON (``scipy``, ``lap.lapjv``, ``lapx.lapjvh``, ``pot.emd``).
    group : str
        The peer name of :data:`PEERS` it belongs to.
    assignment : bool
        Whether it solves assignments (uniform marginals only) rather than transport.
    """

    def __init__(self, name, group, fn, *, assignment=True, square_only=False):
        self.name, self.group, self._fn = name, group, fn
        self.assignment, self.square_only = assignment, square_only

    def applies(self, n, m, uniform=True):
        """None if the peer applies to an n x m problem, otherwise why not."""
        if self.square_only and n != m:
            return "square problems only"
        if self.assignment and not uniform:
            return "uniform marginals only"
        return None

    def solve(self, C, a=None, b=None):
        """The peer's raw result on cost ``C``: ``(rows, cols)`` or a dense plan."""
        why = self.applies(*C.shape, a is None or b is None)
        if why:
            raise NotApplicable(why)
        return self._fn(C) if self.assignment else self._fn(C, a, b)

    def assign(self, out):
        """``(rows, cols)`` of an assignment result (for transport peers: the plan's support)."""
        if self.assignment:
            return out
        G = np.asarray(out)
        return np.nonzero(G > 0.5 / max(G.shape))

    def cost(self, out, C64, a=None, b=None) -> float:
        """Transport cost of the result with marginals a, b (uniform 1/n: assignment / n)."""
        if self.assignment:
            r, c = out
            return float(C64[np.asarray(r), np.asarray(c)].sum() / max(C64.shape))
        return float(np.sum(np.asarray(out) * C64))


def _lapjv_out(out):
    """``(rows, cols)`` from lap/lapx ``lapjv``'s ``(cost, x, y)`` (x[i]: column of row i)."""
    x = np.asarray(out[1])
    rows = np.flatnonzero(x >= 0)
    return rows, x[rows]


def _load_lapx():
    """lapx's exact JV functions {name: fn}, or raise ImportError saying why not."""
    try:
        lap = importlib.import_module("lap")
        if hasattr(lap, "lapjvh"):
            return {f: getattr(lap, f) for _, f in LAPX_SOLVERS}
    except ImportError:
        pass
    path = os.environ.get(LAPX_ENV)
    if not path:
        raise ImportError(f"the 'lap' module is not lapx and {LAPX_ENV} is not set")
    folder = Path(path) / "lap"
    if not (folder / "__init__.py").is_file():
        raise ImportError(f"{LAPX_ENV}={path} holds no lap package")
    name = "_hotalign_bench_lapx"
    if name not in sys.modules:  # a private package over lapx's folder (its own is 'lap')
        spec = importlib.util.spec_from_loader(name, loader=None, is_package=True)
        pkg = importlib.util.module_from_spec(spec)
        pkg.__path__ = [str(folder)]
        sys.modules[name] = pkg
    return {fn: getattr(importlib.import_module(f"{name}.{module}"), fn)
            for module, fn in LAPX_SOLVERS}


def _lapx_fn(fn, name):
    def solve(C):
        out = fn(C) if C.shape[0] == C.shape[1] else fn(C, extend_cost=True)
        if name == "lapjv":
            return _lapjv_out(out)
        return np.asarray(out[-2]), np.asarray(out[-1])
    return solve


def _group(peer):
    """[Peer] of one peer name; raises ImportError / OSError / AttributeError if absent."""
    if peer == "scipy":
        lsap = importlib.import_module("scipy.optimize").linear_sum_assignment
        return [Peer("scipy", "scipy", lambda C: lsap(C))]
    if peer == "lap":
        lap = importlib.import_module("lap")
        if hasattr(lap, "lapjvh"):
            raise ImportError("the 'lap' module is lapx (measured as lapx)")
        f = lap.lapjv
        return [Peer("lap.lapjv", "lap",
                     lambda C: _lapjv_out(f(C, extend_cost=C.shape[0] != C.shape[1])))]
    if peer == "lapx":
        return [Peer(f"lapx.{name}", "lapx", _lapx_fn(fn, name), square_only=name == "lapjvc")
                for name, fn in _load_lapx().items()]
    if peer == "pot":
        emd = importlib.import_module("ot").emd
        return [Peer("pot.emd", "pot", lambda C, a, b: emd(
            np.array([]) if a is None else a, np.array([]) if b is None else b, C,
            numItermax=10**12), assignment=False)]
    raise ValueError(f"peers: unknown value {peer!r}; choose from {', '.join(PEERS)}")


def load_peers(peers=PEERS):
    """``({name: Peer}, {peer: reason})``: the installed solvers of ``peers``, and for each
    peer that cannot be loaded ``"skipped (not installed: ...)"``."""
    solvers, skipped = {}, {}
    for peer in peers:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for p in _group(peer):
                    solvers[p.name] = p
        except (ImportError, OSError, AttributeError) as exc:
            skipped[peer] = f"skipped (not installed: {exc})"
    return solvers, skipped


def assignment_peers(names=("lap.lapjv", "lapx.lapjvh")):
    """Square assignment peers installed here, ``{name: fn(C) -> col_of_row}`` (the pipeline's
    assembly uses them; rows of a square assignment come back in order)."""
    solvers, _ = load_peers(sorted({n.split(".")[0] for n in names}))
    return {n: (lambda C, p=solvers[n]: np.asarray(p.solve(C)[1]))
            for n in names if n in solvers}
