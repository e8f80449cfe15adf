"""The detailed solver comparison (``hotalign bench solvers --costs ...``): hotalign's exact
transport solvers against the peers of :mod:`hotalign.bench.peers`, in one run.

This is the machinery behind ``hotalign bench solvers --costs`` and ``bench/bench_transport.py``
(the family suite, the command's default, is :mod:`hotalign.bench.suites`). For every problem
(cost family x shape x marginals x size) every solver that applies runs round-robin
(:func:`hotalign.bench.harness.round_robin`: one untimed warm-up round, then ``repeats`` timed
rounds, :func:`time.perf_counter`), and the median is reported. Every solver's optimal cost is
checked against hotalign's (relative ``1e-9``); a peer that disagrees is a *finding* reported
in the table (never averaged away), and the run fails (:class:`SolverMismatchError`, after the
outputs are written) only when hotalign itself fails: an error, a dual certificate that does
not hold, or a different cost on ``M.T``. Ratios are ``peer median / hotalign median`` (> 1:
hotalign is faster). A log-log slope ``k`` (time ~ n^k, least squares over the sizes run) is
fitted per solver and family.

Cost families (seeded, deterministic; :func:`hotalign.bench.harness.cost_matrix`):

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

Peers (:mod:`hotalign.bench.peers`; those not importable are reported as skipped): ``pot``
(``ot.emd``) on every problem; ``scipy``, ``lap`` (``lap.lapjv``) and ``lapx`` (every exact JV
solver of lapx 0.11, ``lapx.<name>``) on square problems with uniform marginals only, where the
optimal plan is a permutation / n (its transport cost is ``M[r, c].sum() / n``); on rectangular
problems an assignment is a different problem, so they are not compared there.

Notes
-----
OpenBLAS reads ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` when NumPy is loaded; forcing them
can halve NumPy's GEMM speed (which the correlation costs use, outside the timed region). The
values seen are recorded with the BLAS kernel reported by :func:`threadpoolctl.threadpool_info`;
run benchmarks with both unset (``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...``).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import warnings
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .harness import (
    COST_TYPES,
    N_STIMULI,
    RTOL,
    as_list,
    blas_summary,
    check_choices,
    check_sizes,
    cost_matrix,
    environment_info,
    fail,
    fmt_time,
    round_robin,
)
from .peers import LAPX_ENV, PEERS, load_peers
from .reports import LABELS as _LABELS

__all__ = [
    "COST_TYPES",
    "MARGINALS",
    "PEERS",
    "ProblemSpec",
    "SolverMismatchError",
    "environment_info",
    "format_markdown",
    "make_problem",
    "problem_grid",
    "run_problems",
    "run_solvers",
]

MARGINALS = ("uniform", "random")
DTYPES = ("float64", "float32")

#: peer solver name -> its key in this comparison's tables (the keys of earlier versions)
_KEYS = {"pot.emd": "pot", "lap.lapjv": "lap"}


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
# Measurement
# --------------------------------------------------------------------------------------------


def _close(x: float, ref: float) -> bool:
    return abs(x - ref) <= RTOL * max(abs(x), abs(ref))


def _record(times, warm, cost, **extra):
    rec = {"status": "ok", "median": statistics.median(times), "min": min(times),
           "times": list(times), "warmup": warm, "runs": len(times), "cost": cost}
    rec.update(extra)
    return rec


def _hotalign_solve(M, a, b):
    from ..transport import solve_transport

    return solve_transport(M, a, b)


def _hotalign_info(out):
    return {"method": out.method, "reported_cost": float(out.cost), "nnz": int(len(out.rows)),
            "n_iter": int(out.n_iter)}


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

    loaded, skipped = load_peers(peers)
    for name, why in skipped.items():
        say(f"{name}: {why}")
    results = {
        "meta": environment_info(),
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
        fns, keys = {"hotalign": lambda: _hotalign_solve(M, a, b)}, {}
        for name, peer in loaded.items():
            key = _KEYS.get(name, name)
            why = ("square uniform problems only" if peer.assignment and not spec.square_uniform
                   else None)
            if why is not None:
                solvers[key] = {"status": "n/a", "reason": why}
                continue
            keys[key] = peer
            fns[key] = (lambda p=peer: p.solve(M) if p.assignment else p.solve(M, a, b))
        say(f"{spec.label}: {', '.join(fns)}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out, times, warm = round_robin(fns, repeats, time_budget)
        if caught:
            entry["warnings"] = sorted({str(w.message) for w in caught})
        ours = out["hotalign"]
        if isinstance(ours, Exception):  # our solver failing is a benchmark failure
            solvers["hotalign"] = {"status": "error", "error": f"{type(ours).__name__}: {ours}"}
            failures.append({"problem": spec.label, "solver": "hotalign",
                             "error": solvers["hotalign"]["error"]})
            results["problems"].append(entry)
            continue
        ref = float(np.dot(ours.weights, M64[ours.rows, ours.cols]))
        solvers["hotalign"] = _record(times["hotalign"], warm["hotalign"], ref,
                                      **_hotalign_info(ours))
        cert = ours.certificate(M64, a, b)
        if not max(cert.values()) <= 1e-9:
            failures.append({"problem": spec.label, "solver": "hotalign",
                             "error": f"dual certificate fails: {cert}"})
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
        for key, peer in keys.items():
            result = out[key]
            if isinstance(result, Exception):  # a crashing peer is reported, not fatal
                solvers[key] = {"status": "error",
                                "error": f"{type(result).__name__}: {result}"}
                continue
            cost = peer.cost(result, M64, a, b)
            rec = _record(times[key], warm[key], cost,
                          ratio=statistics.median(times[key]) / our_median)
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


def _write_outputs(results, out_dir: Path):
    from .figures import solvers_figure

    out_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        note = solvers_figure(results, out_dir / "solvers.png", _LABELS)
    if note:
        results["plot_note"] = note
    (out_dir / "solvers.json").write_text(json.dumps(results, indent=1) + "\n",
                                          encoding="utf-8")
    (out_dir / "solvers.md").write_text(format_markdown(results), encoding="utf-8")


from .reports import format_markdown  # noqa: E402  (re-exported: the renderer of this run)
