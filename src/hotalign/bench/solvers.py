"""Solver benchmarks: hotalign's exact transport solvers against peer libraries, in one run.

This is the machinery behind ``hotalign bench solvers`` and ``bench/bench_transport.py``. For
every problem (cost family x shape x marginals x size) and every solver that applies to it, it
runs one untimed warm-up, then ``repeats`` timed runs (:func:`time.perf_counter`), and reports
the median. Every solver's optimal cost is checked against hotalign's (relative ``1e-9``); a peer
that disagrees is a *finding* reported in the table (never averaged away), and the run fails
(:class:`SolverMismatchError`, after the outputs are written) only when hotalign itself fails: an
error, a dual certificate that does not hold, or a different cost on ``M.T``. Ratios are ``peer median / hotalign median`` (> 1: hotalign is
faster). A log-log slope ``k`` (time ~ n^k, least squares over the sizes run) is fitted per
solver and family.

Cost families (seeded, deterministic):

``correlation-related``
    ``1 - pearson`` between the columns of two T = 2000 activation matrices sharing a latent,
    most units having a noisy partner (:func:`hotalign.datasets.make_activation_pair`).
``correlation-independent``
    ``1 - pearson`` between independent Gaussian columns: a flat cost near 1, the hard regime.
``uniform``, ``spatial``, ``logarithmic``, ``integer``, ``binary``
    SciPy's linear-assignment benchmark types (``benchmarks/optimize_lap.py``): U[0, 1),
    Euclidean distances between random points of the unit square, ``10**U(-20, 20)``, integers
    in [0, 100), and {0, 1}.

Shapes are ``square``, a ratio ``p:q`` (``1:2`` is n x 2n, ``2:1`` is 2n x n: the size is the
smaller side, as in SciPy's benchmark) or explicit dimensions ``NxM`` (the sizes are then
ignored). Marginals are ``uniform`` or ``random`` (Dirichlet(1), both summing to 1).

Peers, each used only if importable (otherwise reported as skipped, never an error):

``pot``
    ``ot.emd`` (network simplex): every problem.
``scipy``
    ``scipy.optimize.linear_sum_assignment``: square problems with uniform marginals only,
    where the optimal plan is a permutation / n; its transport cost is ``M[r, c].sum() / n``.
    On rectangular problems an assignment is a different problem, so it is not compared there.
``lap``
    ``lap.lapjv`` (lap 0.5): square uniform problems.
``lapx``
    ``lap.lapjvh`` and ``lap.lapjvr`` of lapx 0.11, square uniform problems. lapx installs a
    module that is also named ``lap``, so it lives in its own folder, named by the environment
    variable ``HOTALIGN_LAPX_PATH``, and runs in a subprocess with that folder as
    ``PYTHONPATH`` (same warm-up / repeat protocol, timed inside the subprocess).

Notes
-----
OpenBLAS reads ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` when NumPy is loaded; forcing them
can halve NumPy's GEMM speed (which the correlation costs use, outside the timed region). The
values seen are recorded with the BLAS kernel reported by :func:`threadpoolctl.threadpool_info`;
run benchmarks with both unset (``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...``).
"""

from __future__ import annotations

import datetime as _dt
import gc
import importlib
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .harness import (
    COST_TYPES,
    N_STIMULI,
    as_list,
    blas_summary,
    check_choices,
    check_sizes,
    cost_matrix,
    environment_info,
    fail,
    fmt_time,
    int_option,
    time_runs,
)

__all__ = [
    "COST_TYPES",
    "MARGINALS",
    "PEERS",
    "ProblemSpec",
    "SolverMismatchError",
    "add_solvers_arguments",
    "environment_info",
    "format_markdown",
    "make_problem",
    "problem_grid",
    "run_problems",
    "run_solvers",
    "solvers_main",
]

MARGINALS = ("uniform", "random")
DTYPES = ("float64", "float32")
PEERS = ("pot", "scipy", "lap", "lapx")
RTOL = 1e-9
LAPX_ENV = "HOTALIGN_LAPX_PATH"

# Table columns: solver key -> header.
_LABELS = {
    "hotalign": "hotalign",
    "pot": "POT ot.emd",
    "scipy": "scipy lsap",
    "lap": "lap.lapjv",
    "lapx.lapjvh": "lapx.lapjvh",
    "lapx.lapjvr": "lapx.lapjvr",
}
_LAPX_FUNCTIONS = ("lapjvh", "lapjvr")
_METHOD_ABBREV = {"assignment": "JV", "network_simplex": "NS"}


class SolverMismatchError(RuntimeError):
    """hotalign failed on a benchmark problem (an error, a failed dual certificate, or a
    different cost on M.T); peers that disagree with hotalign are findings, not failures.

    The full results, with hotalign's failures under ``"failures"`` and the peer disagreements
    under ``"findings"``, are in ``.results`` (already written to disk when an output directory
    was given).
    """

    def __init__(self, message: str, results: dict):
        super().__init__(message)
        self.results = results


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProblemSpec:
    """One benchmark problem.

    Parameters
    ----------
    cost : str
        Cost family, one of :data:`COST_TYPES`.
    n, m : int
        Shape of the cost matrix.
    marginals : {"uniform", "random"}
    transposed : bool
        If True the problem is the transpose of the ``m x n`` problem with the same seed:
        cost ``M.T`` with marginals ``(b, a)``, whose optimal cost must equal the original's.
    """

    cost: str
    n: int
    m: int
    marginals: str = "uniform"
    transposed: bool = False

    @property
    def square_uniform(self) -> bool:
        """Whether the optimum is a permutation / n (assignment solvers apply)."""
        return self.n == self.m and self.marginals == "uniform"

    @property
    def size(self) -> int:
        """The scaling variable: the smaller side."""
        return min(self.n, self.m)

    @property
    def ratio(self) -> str:
        """Shape family: ``square`` or the reduced ratio ``p:q`` of n:m."""
        if self.n == self.m:
            return "square"
        g = math.gcd(self.n, self.m)
        return f"{self.n // g}:{self.m // g}"

    @property
    def label(self) -> str:
        """Short human-readable id."""
        text = f"{self.cost} {self.n}x{self.m} {self.marginals}"
        return text + " (M.T)" if self.transposed else text








def _parse_shape(shape: str, option="shapes"):
    """Return ("ratio", p, q) or ("dims", n, m)."""
    text = str(shape).strip().lower()
    if text == "square":
        return ("ratio", 1, 1)
    for sep, kind in ((":", "ratio"), ("x", "dims")):
        if sep in text:
            left, _, right = text.partition(sep)
            if left.isdigit() and right.isdigit() and int(left) > 0 and int(right) > 0:
                return (kind, int(left), int(right))
    fail(option, f"expected 'square', a ratio such as '1:2', or dimensions such as "
                  f"'896x2048', got {shape!r}")




def _check_peers(peers, option="peers") -> list[str]:
    if peers is None or (isinstance(peers, str) and peers.strip().lower() in ("", "none")):
        return []
    if not isinstance(peers, str) and len(list(peers)) == 0:
        return []
    return check_choices(peers, option, PEERS)


def problem_grid(sizes, shapes, costs, marginals=("uniform",), *, transpose=False):
    """The Cartesian product of sizes, shapes, cost families and marginals.

    Parameters
    ----------
    sizes : sequence of int or str
        Smaller side of each problem (``"256,512"`` is accepted too).
    shapes : sequence of str
        ``"square"``, ratios ``"p:q"`` (``"1:2"`` is n x 2n) or dimensions ``"NxM"``
        (explicit dimensions are used once, whatever the sizes).
    costs : sequence of str
        Cost families from :data:`COST_TYPES`.
    marginals : sequence of str
        ``"uniform"`` and/or ``"random"``.
    transpose : bool
        Also add the transposed problem (``M.T``, marginals swapped) after each rectangular one.

    Returns
    -------
    list of ProblemSpec

    Raises
    ------
    ValueError
        A bad value, naming the argument.

    Examples
    --------
    >>> [p.label for p in problem_grid([4], ["1:2"], ["uniform"], transpose=True)]
    ['uniform 4x8 uniform', 'uniform 8x4 uniform (M.T)']
    """
    sizes = check_sizes(sizes)
    parsed = [_parse_shape(s) for s in as_list(shapes, "shapes")]
    costs = check_choices(costs, "costs", COST_TYPES)
    marginals = check_choices(marginals, "marginals", MARGINALS)
    dims = []
    for kind, p, q in parsed:
        if kind == "dims":
            pairs = [(p, q)]
        else:
            lo = min(p, q)
            pairs = [(s * p // lo, s * q // lo) if (s * p) % lo == 0 and (s * q) % lo == 0
                     else (round(s * p / lo), round(s * q / lo)) for s in sizes]
        for pair in pairs:
            if pair not in dims:
                dims.append(pair)
    specs = []
    for cost in costs:
        for marg in marginals:
            for n, m in dims:
                specs.append(ProblemSpec(cost, n, m, marg))
                if transpose and n != m:
                    specs.append(ProblemSpec(cost, m, n, marg, transposed=True))
    return specs


def _seed_for(spec: ProblemSpec, seed: int) -> int:
    n, m = (spec.m, spec.n) if spec.transposed else (spec.n, spec.m)
    return zlib.crc32(f"{seed}|{spec.cost}|{n}|{m}|{spec.marginals}".encode())




def make_problem(spec: ProblemSpec, dtype="float64", seed=0):
    """Generate the (seeded, deterministic) cost matrix and marginals of a problem.

    Parameters
    ----------
    spec : ProblemSpec
    dtype : {"float64", "float32"}
        dtype of the returned cost matrix (C-contiguous).
    seed : int
        Base seed; each problem derives its own from it and its parameters.

    Returns
    -------
    M : ndarray, shape (spec.n, spec.m)
    a : ndarray of float64, shape (spec.n,)
    b : ndarray of float64, shape (spec.m,)
        Both sum to 1.
    """
    (dtype,) = check_choices([str(np.dtype(dtype))], "dtype", DTYPES)
    rng = np.random.default_rng(_seed_for(spec, seed))
    n, m = (spec.m, spec.n) if spec.transposed else (spec.n, spec.m)
    M = cost_matrix(spec.cost, n, m, rng)
    if spec.marginals == "uniform":
        a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    else:
        a, b = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(m))
        a /= a.sum()
        b /= b.sum()
    if spec.transposed:
        M, a, b = M.T, b, a
    return np.ascontiguousarray(M, dtype=dtype), a, b


# --------------------------------------------------------------------------------------------
# Solvers
# --------------------------------------------------------------------------------------------


class _Solver:
    """An in-process solver: ``solve`` is timed, ``cost`` (on float64 M) is not."""

    key = ""

    def applies(self, spec: ProblemSpec):
        """None if the solver applies to ``spec``, otherwise the reason why not."""
        return None

    def solve(self, M, a, b):
        raise NotImplementedError

    def cost(self, out, M64, a, b) -> float:
        raise NotImplementedError

    def info(self, out) -> dict:
        return {}


class _Hotalign(_Solver):
    key = "hotalign"

    def __init__(self):
        from .. import transport

        self._transport = transport

    def solve(self, M, a, b):
        return self._transport.solve_transport(M, a, b)

    def cost(self, out, M64, a, b):
        return float(np.dot(out.weights, M64[out.rows, out.cols]))

    def info(self, out):
        return {"method": out.method, "reported_cost": float(out.cost), "nnz": int(len(out.rows)),
                "n_iter": int(out.n_iter)}


class _POT(_Solver):
    key = "pot"

    def __init__(self):
        self._ot = importlib.import_module("ot")

    def solve(self, M, a, b):
        return self._ot.emd(a, b, M, numItermax=10**12)

    def cost(self, out, M64, a, b):
        return float(np.sum(np.asarray(out) * M64))


class _SciPy(_Solver):
    key = "scipy"

    def __init__(self):
        self._lsap = importlib.import_module("scipy.optimize").linear_sum_assignment

    def applies(self, spec):
        return None if spec.square_uniform else "square uniform problems only"

    def solve(self, M, a, b):
        return self._lsap(M)

    def cost(self, out, M64, a, b):
        r, c = out
        return float(M64[r, c].sum() / M64.shape[0])


class _Lap(_Solver):
    key = "lap"

    def __init__(self):
        self._lap = importlib.import_module("lap")
        if not hasattr(self._lap, "lapjv"):
            raise ImportError("module 'lap' has no lapjv")

    def applies(self, spec):
        return None if spec.square_uniform else "square uniform problems only"

    def solve(self, M, a, b):
        return self._lap.lapjv(M)

    def cost(self, out, M64, a, b):
        x = np.asarray(out[1])
        return float(M64[np.arange(M64.shape[0]), x].sum() / M64.shape[0])


_LAPX_PROBE = (
    "import json, lap; print(json.dumps({'version': getattr(lap, '__version__', None), "
    f"'functions': [f for f in {_LAPX_FUNCTIONS!r} if hasattr(lap, f)]}}))"
)

_LAPX_WORKER = r"""
import json, sys, time
import numpy as np
import lap
cfg = json.loads(sys.argv[1])
M = np.load(cfg["matrix"])
out = {}
for name in cfg["functions"]:
    fn = getattr(lap, name)
    t0 = time.perf_counter()
    fn(M)
    warm = time.perf_counter() - t0
    runs = cfg["repeats"]
    if cfg["budget"] is not None and warm > 0:
        runs = max(1, min(runs, int(cfg["budget"] // warm)))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        total, rows, cols = fn(M)
        times.append(time.perf_counter() - t0)
    out[name] = {"warmup": warm, "times": times, "rows": np.asarray(rows).tolist(),
                 "cols": np.asarray(cols).tolist()}
with open(cfg["output"], "w") as fh:
    json.dump(out, fh)
"""


class _Lapx:
    """lapx (a module also named ``lap``) from ``$HOTALIGN_LAPX_PATH``, in a subprocess."""

    key = "lapx"

    def __init__(self):
        path = os.environ.get(LAPX_ENV)
        if not path:
            raise ImportError(f"{LAPX_ENV} is not set")
        if not Path(path).is_dir():
            raise ImportError(f"{LAPX_ENV}={path} is not a directory")
        self.env = dict(os.environ, PYTHONPATH=path)
        proc = subprocess.run([sys.executable, "-c", _LAPX_PROBE], env=self.env,
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["import failed"])[-1]
            raise ImportError(f"cannot import lapx from {path}: {last}")
        probe = json.loads(proc.stdout.strip().splitlines()[-1])
        self.functions = probe["functions"]
        if not self.functions:
            raise ImportError(f"the 'lap' module in {path} has no {'/'.join(_LAPX_FUNCTIONS)} "
                              "(not lapx 0.11)")
        self.version = probe["version"]
        self.path = path

    def applies(self, spec):
        return None if spec.square_uniform else "square uniform problems only"

    def run(self, M, repeats, budget):
        with tempfile.TemporaryDirectory(prefix="hotalign-lapx-") as tmp:
            matrix = os.path.join(tmp, "M.npy")
            output = os.path.join(tmp, "out.json")
            np.save(matrix, M)
            cfg = {"matrix": matrix, "output": output, "functions": self.functions,
                   "repeats": repeats, "budget": budget}
            proc = subprocess.run([sys.executable, "-c", _LAPX_WORKER, json.dumps(cfg)],
                                  env=self.env, capture_output=True, text=True)
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
                raise RuntimeError(f"lapx subprocess failed: {last}")
            with open(output) as fh:
                return json.load(fh)


_PEER_CLASSES = {"pot": _POT, "scipy": _SciPy, "lap": _Lap, "lapx": _Lapx}


def _load_peers(peers):
    """Instantiate the requested peers; those that cannot be imported are skipped."""
    loaded, skipped = {}, {}
    for name in peers:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded[name] = _PEER_CLASSES[name]()
        except (ImportError, OSError, subprocess.SubprocessError, ValueError) as exc:
            skipped[name] = f"skipped (not installed: {exc})"
    return loaded, skipped


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------




def _close(x: float, ref: float) -> bool:
    return abs(x - ref) <= RTOL * max(abs(x), abs(ref))


def _record(times, warm, cost, **extra):
    rec = {"status": "ok", "median": statistics.median(times), "min": min(times),
           "times": list(times), "warmup": warm, "runs": len(times), "cost": cost}
    rec.update(extra)
    return rec




def _fit_slope(sizes, medians):
    x, y = np.log(np.asarray(sizes, float)), np.log(np.asarray(medians, float))
    return float(np.polyfit(x, y, 1)[0])


def _slopes(problems):
    groups = {}
    for p in problems:
        family = (p["cost"], p["ratio"], p["marginals"], p["transposed"])
        for key, rec in p["solvers"].items():
            if rec.get("status") == "ok":
                groups.setdefault((key, family), {})[p["size"]] = rec["median"]
    out = []
    for (key, family), by_size in groups.items():
        if len(by_size) < 2:
            continue
        sizes = sorted(by_size)
        out.append({"solver": key, "cost": family[0], "shape": family[1],
                    "marginals": family[2], "transposed": family[3], "sizes": sizes,
                    "k": _fit_slope(sizes, [by_size[s] for s in sizes])})
    return out


def run_problems(specs, *, dtype="float64", repeats=5, peers=PEERS, out_dir=None, seed=0,
                 time_budget=None, progress=None):
    """Benchmark hotalign and the peers on an explicit list of problems.

    Parameters
    ----------
    specs : sequence of ProblemSpec
        See :func:`problem_grid`.
    dtype, repeats, peers, out_dir, seed, time_budget, progress
        See :func:`run_solvers`.

    Returns
    -------
    dict
        See :func:`run_solvers`.

    Raises
    ------
    ValueError
        A bad argument, naming it.
    SolverMismatchError
        hotalign failed (error, certificate, M.T disagreement); outputs are written first.
        Peer disagreements are listed under ``"findings"`` and do not raise.
    """
    specs = list(specs)
    if not specs or not all(isinstance(s, ProblemSpec) for s in specs):
        fail("specs", "expected a non-empty list of ProblemSpec")
    (dtype,) = check_choices([str(dtype)], "dtype", DTYPES)
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        fail("repeats", f"expected a positive integer, got {repeats!r}")
    peers = _check_peers(peers, "peers")
    if time_budget is not None and not (isinstance(time_budget, (int, float))
                                        and time_budget > 0):
        fail("time_budget", f"expected a positive number of seconds, got {time_budget!r}")
    say = progress or (lambda message: None)

    ours = _Hotalign()
    loaded, skipped = _load_peers(peers)
    for name, why in skipped.items():
        say(f"{name}: {why}")
    peer_versions = {"lapx": loaded["lapx"].version} if "lapx" in loaded else {}
    results = {
        "meta": environment_info(peer_versions),
        "config": {"dtype": dtype, "repeats": int(repeats), "warmup": 1, "seed": int(seed),
                   "time_budget": time_budget, "peers": list(peers), "rtol": RTOL,
                   "n_stimuli": N_STIMULI, "timer": "time.perf_counter",
                   "lapx_path": os.environ.get(LAPX_ENV) if "lapx" in peers else None},
        "skipped": skipped,
        "problems": [],
        "failures": [],
        "findings": [],
    }
    failures, findings = results["failures"], results["findings"]
    originals = {}
    for spec in specs:
        M, a, b = make_problem(spec, dtype, seed)
        M64 = M.astype(np.float64, copy=False)
        entry = {"label": spec.label, **asdict(spec), "size": spec.size, "ratio": spec.ratio,
                 "dtype": dtype, "solvers": {}}
        solvers = entry["solvers"]
        say(f"{spec.label}: hotalign")
        try:
            out, warm, times = time_runs(lambda: ours.solve(M, a, b), repeats, time_budget)
            ref = ours.cost(out, M64, a, b)
            solvers["hotalign"] = _record(times, warm, ref, **ours.info(out))
            cert = out.certificate(M64, a, b)
            if not max(cert.values()) <= 1e-9:
                failures.append({"problem": spec.label, "solver": "hotalign",
                                 "error": f"dual certificate fails: {cert}"})
        except Exception as exc:  # our solver failing is a benchmark failure
            solvers["hotalign"] = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
            failures.append({"problem": spec.label, "solver": "hotalign",
                             "error": solvers["hotalign"]["error"]})
            results["problems"].append(entry)
            continue
        twin = (spec.cost, spec.m, spec.n, spec.marginals)
        if spec.transposed and twin in originals:
            orig_cost, orig_median = originals[twin]
            entry["transpose_ratio"] = solvers["hotalign"]["median"] / orig_median
            if not _close(ref, orig_cost):
                failures.append({"problem": spec.label, "solver": "hotalign",
                                 "cost": ref, "reference": orig_cost,
                                 "error": "cost on M.T differs from the cost on M"})
        elif not spec.transposed:
            originals[(spec.cost, spec.n, spec.m, spec.marginals)] = (
                ref, solvers["hotalign"]["median"])
        our_median = solvers["hotalign"]["median"]
        for name in peers:
            if name in skipped:
                continue
            peer = loaded[name]
            why = peer.applies(spec)
            keys = [f"lapx.{f}" for f in peer.functions] if name == "lapx" else [name]
            if why is not None:
                for key in keys:
                    solvers[key] = {"status": "n/a", "reason": why}
                continue
            say(f"{spec.label}: {name}")
            try:
                if name == "lapx":
                    raw = peer.run(M, repeats, time_budget)
                    measured = {}
                    for f in peer.functions:
                        r = raw[f]
                        rows, cols = np.asarray(r["rows"]), np.asarray(r["cols"])
                        measured[f"lapx.{f}"] = (r["times"], r["warmup"],
                                                 float(M64[rows, cols].sum() / spec.n), {})
                else:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        out, warm, times = time_runs(lambda: peer.solve(M, a, b), repeats,
                                                      time_budget)
                    extra = {"warnings": sorted({str(w.message) for w in caught})}
                    if not extra["warnings"]:
                        extra = {}
                    measured = {name: (times, warm, peer.cost(out, M64, a, b), extra)}
            except Exception as exc:  # a crashing peer is reported, not fatal
                for key in keys:
                    solvers[key] = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
                continue
            for key, (times, warm, cost, extra) in measured.items():
                rec = _record(times, warm, cost, ratio=statistics.median(times) / our_median,
                              **extra)
                if not _close(cost, ref):
                    rec["status"] = "mismatch"
                    findings.append({"problem": spec.label, "solver": key, "cost": cost,
                                     "reference": ref,
                                     "error": ("peer cost is LOWER than hotalign's"
                                               if cost < ref else
                                               "peer cost is higher than hotalign's")})
                solvers[key] = rec
        results["problems"].append(entry)
    results["slopes"] = _slopes(results["problems"])
    results["ok"] = not failures
    if out_dir is not None:
        _write_outputs(results, Path(out_dir))
    if failures:
        lines = [f"{f['solver']} on {f['problem']}: {f['error']}"
                 + (f" ({f['cost']!r} vs hotalign {f['reference']!r})" if "cost" in f else "")
                 for f in failures]
        raise SolverMismatchError(
            f"{len(failures)} hotalign failure(s): " + "; ".join(lines), results)
    return results


def run_solvers(sizes, shapes, costs, marginals, dtype="float64", repeats=5, peers=PEERS,
                out_dir=None, progress=None, *, transpose=False, seed=0, time_budget=None):
    """Benchmark hotalign's exact solvers against the installed peers.

    Parameters
    ----------
    sizes : sequence of int or str
        Smaller side n of every problem, e.g. ``[256, 512]`` or ``"256,512"``.
    shapes : sequence of str
        ``"square"``, ratios such as ``"1:2"`` (n x 2n) and ``"2:1"`` (2n x n), or explicit
        dimensions ``"NxM"``.
    costs : sequence of str
        Cost families from :data:`COST_TYPES`.
    marginals : sequence of str
        ``"uniform"`` and/or ``"random"``.
    dtype : {"float64", "float32"}
        dtype of the cost matrices handed to every solver (costs are compared in float64).
    repeats : int
        Timed runs per solver and problem, after one untimed warm-up; the median is reported.
    peers : sequence of str
        Subset of :data:`PEERS`; peers that cannot be imported are reported as skipped.
    out_dir : str or path, optional
        Write ``solvers.md``, ``solvers.json`` and (with matplotlib) ``solvers.png`` there.
    progress : callable, optional
        Called with a one-line message before each measurement.
    transpose : bool
        Also run the transpose of every rectangular problem (``M.T``, marginals swapped).
    seed : int
        Base seed of the problem generators.
    time_budget : float, optional
        Seconds per (solver, problem): fewer timed runs (at least one) when the warm-up shows
        that ``repeats`` runs would exceed it. The number of runs is recorded.

    Returns
    -------
    dict
        JSON-serialisable: ``meta`` (date, machine, versions, BLAS, OpenBLAS variables),
        ``config``, ``skipped`` (peer -> reason), ``problems`` (per problem, per solver:
        ``status``, ``median``, ``times``, ``cost``, ``ratio``), ``slopes``, ``failures``, ``ok``.

    Raises
    ------
    ValueError
        A bad argument, naming it.
    SolverMismatchError
        hotalign failed (see :class:`SolverMismatchError`); outputs are written first and the
        results are in ``err.results``. A peer whose optimal cost disagrees with hotalign's
        (relative 1e-9) is listed under ``"findings"`` instead.

    Examples
    --------
    >>> res = run_solvers([8], ["square"], ["uniform"], ["uniform"], repeats=1,
    ...                   peers=["scipy"])  # doctest: +SKIP
    >>> res["problems"][0]["solvers"]["scipy"]["status"]  # doctest: +SKIP
    'ok'
    """
    specs = problem_grid(sizes, shapes, costs, marginals, transpose=transpose)
    return run_problems(specs, dtype=dtype, repeats=repeats, peers=peers, out_dir=out_dir,
                        seed=seed, time_budget=time_budget, progress=progress)


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------




def _columns(results):
    keys = ["hotalign"]
    for p in results["problems"]:
        for key in p["solvers"]:
            if key not in keys:
                keys.append(key)
    order = list(_LABELS)
    return sorted(keys, key=lambda k: order.index(k) if k in order else len(order))


def _cell(rec):
    if rec is None:
        return "—"
    status = rec.get("status")
    if status == "n/a":
        return "—"
    if status == "error":
        return "error"
    text = fmt_time(rec["median"])
    if "ratio" in rec:
        text += f" ({rec['ratio']:.2f}x)"
    if status == "mismatch":
        text = "**MISMATCH** " + text
    return text




def format_markdown(results) -> str:
    """Render benchmark results as Markdown: environment, timing table, slopes, failures.

    Parameters
    ----------
    results : dict
        As returned by :func:`run_solvers` (or loaded from ``solvers.json``).

    Returns
    -------
    str
    """
    meta, cfg = results["meta"], results["config"]
    v = meta["versions"]
    env = ", ".join(f"{k}={val if val is not None else 'unset'}" for k, val in meta["env"].items())
    libs = ", ".join(f"{k} {v[k]}" for k in ("hotalign", "python", "numpy", "scipy", "pot",
                                             "lap", "lapx") if v.get(k))
    lines = [
        "## hotalign solver benchmark",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['platform']}; CPU {meta['cpu']}; {meta['cores']} cores "
        f"({meta['usable_cores']} usable)",
        f"- versions: {libs}",
        f"- BLAS: {blas_summary(meta)}; {env}",
        f"- protocol: {cfg['dtype']}, 1 warm-up then median of {cfg['repeats']} timed runs"
        + (f" (fewer past {cfg['time_budget']} s per solver and problem)"
           if cfg.get("time_budget") else "")
        + f"; costs checked against hotalign (relative {cfg['rtol']:g})",
    ]
    if any(meta["env"].values()):
        lines.append("- note: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set; unset both for "
                     "benchmarks (`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...`)")
    cols = _columns(results)
    head = ["cost", "n x m", "marginals", "method"] + [_LABELS.get(c, c) for c in cols]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in results["problems"]:
        ours = p["solvers"].get("hotalign", {})
        shape = f"{p['n']} x {p['m']}" + (" (M.T)" if p["transposed"] else "")
        method = _METHOD_ABBREV.get(ours.get("method"), ours.get("method") or "—")
        row = [p["cost"], shape, p["marginals"], method] + [_cell(p["solvers"].get(c))
                                                             for c in cols]
        if "transpose_ratio" in p:
            row[4] += f" [{p['transpose_ratio']:.2f}x of M]"
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "Median wall time; in parentheses peer median / hotalign median (> 1: hotalign is "
        "faster). Method: JV = assignment solver (square, uniform marginals), NS = network "
        "simplex. — = not applicable (assignment solvers only compare on square problems with "
        "uniform marginals). [..x of M] = hotalign on M.T relative to M.",
    ]
    if results["slopes"]:
        fams, solvers = {}, []
        for sl in results["slopes"]:
            fam = (sl["cost"], sl["shape"] + (" (M.T)" if sl["transposed"] else ""),
                   sl["marginals"], ",".join(str(n) for n in sl["sizes"]))
            fams.setdefault(fam, {})[sl["solver"]] = sl["k"]
            if sl["solver"] not in solvers:
                solvers.append(sl["solver"])
        solvers = [c for c in cols if c in solvers]
        head = ["cost", "shape", "marginals", "n"] + [_LABELS.get(c, c) for c in solvers]
        lines += ["", "### Scaling: k in time ~ n^k (least squares over the sizes run)", "",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for fam, ks in fams.items():
            cells = [f"{ks[c]:.2f}" if c in ks else "—" for c in solvers]
            lines.append("| " + " | ".join(list(fam) + cells) + " |")
    if results["skipped"]:
        lines += ["", "Skipped peers:"]
        lines += [f"- {name}: {why}" for name, why in results["skipped"].items()]
    errors = [(p["label"], k, r["error"]) for p in results["problems"]
              for k, r in p["solvers"].items() if r.get("status") == "error"]
    if errors:
        lines += ["", "Solver errors:"]
        lines += [f"- {k} on {label}: {err}" for label, k, err in errors]
    lines += [""]

    def listed(items):
        for f in items:
            detail = (f" ({f['cost']!r} vs hotalign {f['reference']!r})" if "cost" in f else "")
            lines.append(f"- {f['solver']} on {f['problem']}: {f['error']}{detail}")

    findings = results.get("findings", [])
    if findings:
        lines.append(f"Findings: {len(findings)} peer result(s) disagree with hotalign's "
                     "certified optimum (**MISMATCH** above):")
        listed(findings)
    if results["failures"]:
        lines.append(f"**FAILED: {len(results['failures'])} hotalign failure(s)**")
        listed(results["failures"])
    elif not findings:
        lines.append("All optimal costs agree with hotalign.")
    if results.get("plot_note"):
        lines += ["", results["plot_note"]]
    return "\n".join(lines) + "\n"


def _plot(results, path: Path):
    """Log-log time vs n per family; returns a note if matplotlib is unavailable."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "Plot skipped: matplotlib is not installed."
    families = {}
    for p in results["problems"]:
        fam = (p["cost"], p["ratio"], p["marginals"], p["transposed"])
        for key, rec in p["solvers"].items():
            if rec.get("status") in ("ok", "mismatch"):
                families.setdefault(fam, {}).setdefault(key, []).append((p["size"],
                                                                        rec["median"]))
    if not families:
        return "Plot skipped: no measurements."
    # Curves need two sizes; one-size families (e.g. single rectangular shapes) are in the table.
    scaling = [f for f in families
               if len({s for pts in families[f].values() for s, _ in pts}) >= 2]
    names = sorted(scaling or families, key=lambda f: (f[1] != "square", f[0], f[1], f[2], f[3]))
    colors = {key: f"C{i}" for i, key in enumerate(_LABELS)}
    ncols = min(4, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.2 * nrows), squeeze=False)
    for ax, fam in zip(axes.flat, names):
        for key, pts in sorted(families[fam].items()):
            pts.sort()
            ax.loglog([s for s, _ in pts], [t for _, t in pts], marker="o",
                      color=colors.get(key), label=_LABELS.get(key, key))
        title = f"{fam[0]}, {fam[1]}, {fam[2]}" + (" (M.T)" if fam[3] else "")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("n (smaller side)", fontsize=8)
        ax.set_ylabel("median time [s]", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def _write_outputs(results, out_dir: Path):
    out_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        note = _plot(results, out_dir / "solvers.png")
    if note:
        results["plot_note"] = note
    (out_dir / "solvers.json").write_text(json.dumps(results, indent=1) + "\n",
                                          encoding="utf-8")
    (out_dir / "solvers.md").write_text(format_markdown(results), encoding="utf-8")


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def add_solvers_arguments(parser):
    """Add the ``hotalign bench solvers`` options to an :class:`argparse.ArgumentParser`.

    Without ``--costs`` the command runs the family suite (:mod:`hotalign.bench.families`:
    quick by default, ``--full`` for every size and dtype); with ``--costs`` it runs the detailed
    per-problem comparison of this module. Values are parsed and validated by
    :func:`solvers_main` (a bad value raises ValueError naming the option).
    """
    from .families import FAMILIES

    parser.add_argument("--full", action="store_true",
                        help="family suite: sizes 384..3072, float64 and float32 (slow)")
    parser.add_argument("--families", default=None,
                        help=f"family suite: families to run (default: all: {','.join(FAMILIES)})")
    parser.add_argument("--clock", default="wall",
                        help="family suite: wall (perf_counter) or cpu (process CPU time, robust "
                             "on a shared machine; default: %(default)s)")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated smaller sides n (family suite default: 384,768; "
                             "with --costs: 256,512,1024)")
    parser.add_argument("--shapes", default=None,
                        help="family suite: square and/or rect (n x 1.5n); with --costs: "
                             "square, ratios p:q and/or dimensions NxM (default square,1:2,2:1)")
    parser.add_argument("--costs", default=None,
                        help="run the detailed comparison on these cost families: "
                             + ",".join(COST_TYPES))
    parser.add_argument("--marginals", default=None,
                        help="with --costs: uniform and/or random (default: uniform)")
    parser.add_argument("--dtype", default=None,
                        help="float64 and/or float32 (family suite: comma-separated list)")
    parser.add_argument("--repeats", default=None,
                        help="timed runs after one warm-up (default: 5; --full: 7)")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help="peers to compare, if installed (default: %(default)s; "
                             f"lapx: the lap module if it is lapx, else ${LAPX_ENV}); "
                             "'none' for none")
    parser.add_argument("--transpose", action="store_true",
                        help="with --costs: also run M.T for every rectangular problem")
    parser.add_argument("--seed", default="0", help="base seed (default: %(default)s)")
    parser.add_argument("--time-budget", default=None,
                        help="seconds per solver and problem before fewer runs are timed")
    parser.add_argument("--out", default="bench-results",
                        help="output directory for the .md/.json (default: %(default)s)")
    return parser




def solvers_main(args) -> int:
    """Run ``hotalign bench solvers`` from parsed arguments; print and write the results.

    Returns
    -------
    int
        0 when hotalign's results are certified, 1 when hotalign failed (an error or a dual
        certificate that does not hold). A peer with a wrong cost is a finding printed in the
        table, not a failure.

    Raises
    ------
    ValueError
        A bad option value, naming the option (the CLI maps it to exit code 2).
    """
    if args.costs is None:
        return _families_main(args)
    sizes = check_sizes(args.sizes or "256,512,1024", "--sizes")
    shapes = as_list(args.shapes or "square,1:2,2:1", "--shapes")
    for shape in shapes:
        _parse_shape(shape, "--shapes")
    costs = check_choices(args.costs, "--costs", COST_TYPES)
    marginals = check_choices(args.marginals or "uniform", "--marginals", MARGINALS)
    (dtype,) = check_choices([args.dtype or "float64"], "--dtype", DTYPES)
    repeats = int_option(args.repeats or "5", "--repeats", 1)
    seed = int_option(args.seed, "--seed", 0)
    peers = _check_peers(args.peers, "--peers")
    budget = _budget_option(args.time_budget)

    try:
        results = run_solvers(sizes, shapes, costs, marginals, dtype, repeats, peers, args.out,
                              _progress, transpose=args.transpose, seed=seed,
                              time_budget=budget)
    except SolverMismatchError as exc:
        print(format_markdown(exc.results))
        print(f"hotalign bench: FAILED: {exc}", file=sys.stderr)
        return 1
    print(format_markdown(results))
    if args.out is not None:
        print(f"written to {args.out}/solvers.md, solvers.json"
              + ("" if results.get("plot_note") else ", solvers.png"))
    return 0


def _progress(message):
    print(f"  {message}", file=sys.stderr, flush=True)


def _budget_option(value):
    if value is None:
        return None
    try:
        budget = float(value)
    except ValueError:
        budget = -1.0
    if not budget > 0:
        fail("--time-budget", f"expected a positive number, got {value!r}")
    return budget


def _families_main(args) -> int:
    from . import families as fam

    if args.marginals is not None or args.transpose:
        fail("--marginals" if args.marginals is not None else "--transpose",
              "only with --costs (the family suite solves assignments: uniform marginals)")
    base = fam.FULL if args.full else fam.QUICK
    sizes = check_sizes(args.sizes, "--sizes") if args.sizes else None
    shapes = check_choices(args.shapes, "--shapes", fam.SHAPES) if args.shapes else None
    families = (check_choices(args.families, "--families", fam.FAMILIES)
                if args.families else None)
    dtypes = check_choices(args.dtype, "--dtype", fam.DTYPES) if args.dtype else None
    repeats = int_option(args.repeats, "--repeats", 1) if args.repeats else None
    (clock,) = check_choices([args.clock], "--clock", fam.CLOCKS)
    seed = int_option(args.seed, "--seed", 0)
    peers = _check_peers(args.peers, "--peers")
    budget = _budget_option(args.time_budget)
    if sizes and min(sizes) < 2:
        fail("--sizes", "the family suite needs n >= 2")
    results = fam.run_families(families, sizes, shapes, dtypes, full=args.full, repeats=repeats,
                               peers=peers, time_budget=budget or base["time_budget"],
                               seed=seed, clock=clock, out_dir=args.out, progress=_progress)
    print(fam.format_families_markdown(results))
    if args.out is not None:
        print(f"written to {args.out}/families.md, families.json")
    if not results["ok"]:
        print(f"hotalign bench: FAILED: {len(results['failures'])} hotalign failure(s)",
              file=sys.stderr)
        return 1
    return 0
