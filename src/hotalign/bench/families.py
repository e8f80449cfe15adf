"""The solver family suite of ``hotalign bench solvers``: the structure axis of HOT costs.

Every cell of a HOT grid is a correlation cost between two layers, and how related the layers
are decides how hard the assignment is: adjacent layers give near-diagonal costs, independent
systems flat ones, and most cells lie in between. This suite measures, per cost family, size,
shape and dtype, hotalign against the fastest installed exact peer, in two tables:

1. **Assignment**: :func:`hotalign.linear_sum_assignment` against SciPy's
   ``linear_sum_assignment``, ``lap.lapjv`` (lap 0.5), every exact JV solver of lapx 0.11
   (``lapjv``, ``lapjvx``, ``lapjvc``, ``lapjvs``, ``lapjvr``, ``lapjvh``) and POT's ``ot.emd``
   (square problems only, as an assignment in disguise), on square (n x n) and rectangular
   (n x 1.5n) costs. The ratio is best-peer median / hotalign median (> 1: hotalign is faster).
2. **Result paths** (square problems): :func:`hotalign.solve_transport` and
   :func:`hotalign.emd2` (sparse plan, potentials and cost built), and
   :func:`hotalign.solve_grid` on the one layer pair (correlation cost + solve + result) for
   the correlation families, each against the best peer of table 1 (for the grid: the best peer
   plus :func:`hotalign.correlation_cost`, so that both sides pay for the same cost matrix), and
   against hotalign's own assignment time (the target is ``solve_transport / lsa <= 1.1``).

Families (seeded; :func:`family_problem`):

``partners-RHO`` (RHO in 0.3, 0.5, 0.7, 0.9)
    ``1 - pearson`` between two layers of T = 2000 stimuli whose units are noisy readouts of a
    rank-64 latent. Unit i of X and its partner in Y (a random permutation) have loadings
    ``sqrt(RHO) * shared_i + sqrt(1 - RHO) * fresh`` (a fresh vector on each side); private noise
    as large as the signal. Y's extra units (rectangular shapes) have no partner.
``distant-layers``
    Layer 0 against layer 6 of a synthetic network whose stage latent drifts (each stage mixes
    the previous one nonlinearly with fresh variability) and whose unit loadings drift (each
    stage keeps ``sqrt(0.8)`` of a unit's loading); units of layer 6 are permuted.
``independent``
    ``1 - pearson`` between independent Gaussian columns: flat costs near 1.
``uniform``, ``spatial``, ``logarithmic``, ``integer``, ``binary``
    SciPy's linear-assignment benchmark families (:mod:`hotalign.bench`).

Protocol: BLAS is limited to one thread (every solver compared is single-threaded; the grid
row runs ``solve_grid(n_threads=1)``); for every problem all solvers run round-robin (one untimed warm-up round, then
``repeats`` timed rounds, fewer for a solver whose warm-up exceeds the time budget), so the
solvers being compared share the machine's state; medians are reported. Each peer's assignment
cost is checked against hotalign's (relative 1e-9): a disagreement is a *finding* printed in the
table, not a failure of the run. The run fails only when hotalign's own result fails its dual
certificate (``u_i + v_j <= C_ij``, equality on the assignment, ``sum u + sum v`` = cost, sign
conditions of the rectangular dual) or disagrees between its entry points.

lapx installs a module that is also named ``lap``; it is loaded in-process from the folder named
by ``$HOTALIGN_LAPX_PATH`` (``pip install --target DIR lapx``) under a private package name, or
from the ``lap`` module itself when that one is lapx.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "FAMILIES",
    "FULL",
    "QUICK",
    "certify_assignment",
    "family_problem",
    "format_families_markdown",
    "run_families",
]

PARTNER_RHOS = (0.3, 0.5, 0.7, 0.9)
CORRELATION_FAMILIES = tuple(f"partners-{r}" for r in PARTNER_RHOS) + (
    "distant-layers", "independent")
SCIPY_FAMILIES = ("uniform", "spatial", "logarithmic", "integer", "binary")
FAMILIES = CORRELATION_FAMILIES + SCIPY_FAMILIES
SHAPES = ("square", "rect")
DTYPES = ("float64", "float32")
PEERS = ("scipy", "lap", "lapx", "pot")
N_STIMULI = 2000
N_LATENT = 64
RTOL = 1e-9
LAPX_ENV = "HOTALIGN_LAPX_PATH"
#: lapx's exact dense JV solvers: (module, function)
LAPX_SOLVERS = (("_lapjv", "lapjv"), ("_lapjvx", "lapjvx"), ("_lapjvc", "lapjvc"),
                ("_lapjvs_wp", "lapjvs"), ("_lapjv_rh", "lapjvr"), ("_lapjv_rh", "lapjvh"))

#: The quick default and the full configuration of ``hotalign bench solvers``.
QUICK = {"sizes": [384, 768], "shapes": ["square", "rect"], "dtypes": ["float64"],
         "families": list(FAMILIES), "repeats": 5, "time_budget": 2.0}
FULL = {"sizes": [384, 768, 1536, 2000, 3072], "shapes": ["square", "rect"],
        "dtypes": ["float64", "float32"], "families": list(FAMILIES), "repeats": 7,
        "time_budget": 4.0}


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


def _noisy_readout(Z, W, rng):
    """Units Z @ W / sqrt(k) plus private noise of the same variance (T x units)."""
    signal = Z @ W / np.sqrt(W.shape[0])
    return signal + rng.standard_normal(signal.shape)


def _partners(n, m, rho, rng):
    Z = rng.standard_normal((N_STIMULI, N_LATENT))
    shared = rng.standard_normal((N_LATENT, m))
    wx = np.sqrt(rho) * shared[:, :n] + np.sqrt(1.0 - rho) * rng.standard_normal((N_LATENT, n))
    wy = np.sqrt(rho) * shared + np.sqrt(1.0 - rho) * rng.standard_normal((N_LATENT, m))
    wy[:, n:] = rng.standard_normal((N_LATENT, m - n))  # extra units: no partner
    return _noisy_readout(Z, wx, rng), _noisy_readout(Z, wy[:, rng.permutation(m)], rng)


def _distant_layers(n, m, rng, depth=6, keep=0.8):
    Z = rng.standard_normal((N_STIMULI, N_LATENT))
    W = rng.standard_normal((N_LATENT, m))
    X = _noisy_readout(Z, W[:, :n], rng)
    for _ in range(depth):
        mix = np.linalg.qr(rng.standard_normal((N_LATENT, N_LATENT)))[0]
        Z = np.tanh(Z @ mix) + 0.6 * rng.standard_normal(Z.shape)
        Z /= Z.std(axis=0)
        W = np.sqrt(keep) * W + np.sqrt(1.0 - keep) * rng.standard_normal(W.shape)
    return X, _noisy_readout(Z, W[:, rng.permutation(m)], rng)


def family_problem(family, n, m, dtype="float64", seed=0):
    """The seeded cost matrix of one family, and its activations for correlation families.

    Parameters
    ----------
    family : str
        One of :data:`FAMILIES`.
    n, m : int
        Shape of the cost matrix (units of X and of Y).
    dtype : {"float64", "float32"}
        dtype of the returned C-contiguous cost matrix (and activations).
    seed : int
        Base seed; each (family, n, m) derives its own.

    Returns
    -------
    C : ndarray, shape (n, m)
    layers : tuple (X (T, n), Y (T, m)) or None
        The activations behind a correlation family (``C = correlation_cost(X, Y)``).
    """
    from .harness import cost_matrix
    from ..costs import correlation_cost

    if family not in FAMILIES:
        raise ValueError(f"families: unknown value {family!r}; choose from {', '.join(FAMILIES)}")
    dtype = np.dtype(dtype)
    rng = np.random.default_rng([seed, n, m, FAMILIES.index(family)])
    if family.startswith("partners-"):
        X, Y = _partners(n, m, float(family.split("-", 1)[1]), rng)
    elif family == "distant-layers":
        X, Y = _distant_layers(n, m, rng)
    elif family == "independent":
        X, Y = rng.standard_normal((N_STIMULI, n)), rng.standard_normal((N_STIMULI, m))
    else:
        return np.ascontiguousarray(cost_matrix(family, n, m, rng), dtype=dtype), None
    X, Y = X.astype(dtype), Y.astype(dtype)
    return np.ascontiguousarray(correlation_cost(X, Y, dtype=dtype)), (X, Y)


# --------------------------------------------------------------------------------------------
# Certificate
# --------------------------------------------------------------------------------------------


def certify_assignment(C, rows, cols, u, v, cost, rtol=RTOL):
    """Check an assignment and its duals; return the list of violated conditions (empty: ok).

    For ``n <= m``: ``rows``/``cols`` assign every row to a distinct column, ``u_i + v_j <=
    C_ij`` everywhere (relative to ``max |C|``), equality on the assignment, ``v_j <= 0`` and
    ``v_j = 0`` on the unassigned columns, and ``cost == sum C[rows, cols] == sum u + sum v``
    (``n > m`` symmetrically).
    """
    C = np.asarray(C, dtype=np.float64)
    n, m = C.shape
    k = min(n, m)
    errors = []
    rows, cols = np.asarray(rows), np.asarray(cols)
    if rows.shape != (k,) or cols.shape != (k,):
        return [f"assignment has {rows.shape} rows / {cols.shape} cols, expected {k}"]
    if len(np.unique(rows)) != k or len(np.unique(cols)) != k:
        errors.append("assignment repeats a row or a column")
    scale = max(float(np.abs(C[np.isfinite(C)]).max(initial=0.0)), np.finfo(float).tiny)
    tol = rtol * scale
    reduced = C - u[:, None] - v[None, :]
    if not reduced.min() >= -tol:
        errors.append(f"dual infeasible by {-reduced.min() / scale:.3g} (relative)")
    if not np.abs(reduced[rows, cols]).max() <= tol:
        errors.append("complementary slackness violated on the assignment")
    free_u = np.setdiff1d(np.arange(n), rows)
    free_v = np.setdiff1d(np.arange(m), cols)
    if np.any(u[free_u] != 0) or np.any(v[free_v] != 0):
        errors.append("an unassigned row or column has a nonzero potential")
    if (n < m and np.any(v > 0)) or (n > m and np.any(u > 0)):
        errors.append("the rectangular dual has a potential of the wrong sign")
    total = float(C[rows, cols].sum())
    if not abs(total - cost) <= tol * k or not abs(u.sum() + v.sum() - cost) <= tol * k:
        errors.append(f"cost {cost!r}, assignment sum {total!r}, dual sum {u.sum() + v.sum()!r}")
    return errors


# --------------------------------------------------------------------------------------------
# Peers
# --------------------------------------------------------------------------------------------


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
    out = {}
    for module, fn in LAPX_SOLVERS:
        out[fn] = getattr(importlib.import_module(f"{name}.{module}"), fn)
    return out


def _lapx_solver(fn, name):
    def solve(C):
        if C.shape[0] == C.shape[1]:
            out = fn(C)
        elif name == "lapjvc":
            raise _NotApplicable("square problems only")
        else:
            out = fn(C, extend_cost=True)
        if name == "lapjv":  # (cost, x, y): x[i] = column of row i
            x = np.asarray(out[1])
            rows = np.flatnonzero(x >= 0)
            return rows, x[rows]
        return np.asarray(out[-2]), np.asarray(out[-1])
    return solve


class _NotApplicable(Exception):
    pass


def _load_peers(peers):
    """{solver name: fn(C) -> (rows, cols)}, and {peer: reason} for those skipped."""
    solvers, skipped = {}, {}
    for peer in peers:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if peer == "scipy":
                    lsap = importlib.import_module("scipy.optimize").linear_sum_assignment
                    solvers["scipy"] = lambda C, f=lsap: f(C)
                elif peer == "lap":
                    lap = importlib.import_module("lap")
                    if hasattr(lap, "lapjvh"):
                        raise ImportError("the 'lap' module is lapx (measured as lapx)")

                    def lap_solve(C, f=lap.lapjv):
                        out = f(C, extend_cost=C.shape[0] != C.shape[1])
                        x = np.asarray(out[1])
                        rows = np.flatnonzero(x >= 0)
                        return rows, x[rows]
                    solvers["lap.lapjv"] = lap_solve
                elif peer == "lapx":
                    for name, fn in _load_lapx().items():
                        solvers[f"lapx.{name}"] = _lapx_solver(fn, name)
                elif peer == "pot":
                    ot = importlib.import_module("ot")

                    def pot_solve(C, emd=ot.emd):
                        if C.shape[0] != C.shape[1]:
                            raise _NotApplicable("square problems only")
                        G = emd(np.array([]), np.array([]), C, numItermax=10**12)
                        return np.nonzero(G > 0.5 / C.shape[0])
                    solvers["pot.emd"] = pot_solve
        except (ImportError, OSError, AttributeError) as exc:
            skipped[peer] = f"skipped (not installed: {exc})"
    return solvers, skipped


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


CLOCKS = ("wall", "cpu")
#: wall: time.perf_counter; cpu: time.process_time (CPU seconds of the whole process, all
#: threads), immune to the descheduling of a shared machine; every assignment solver here is
#: single-threaded, so for them both clocks measure the same work.
_CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}


def _round_robin(fns, repeats, budget, clock="wall"):
    """Warm-up round, then ``repeats`` timed rounds over all fns; {name: times or exception}."""
    now = _CLOCK[clock]
    gc.collect()
    out, warm = {}, {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        try:
            out[name] = fn()
        except Exception as exc:  # noqa: BLE001 - a failing peer is reported, not fatal
            out[name] = exc
        warm[name] = time.perf_counter() - t0  # the budget is in wall seconds
    runs = {name: max(1, min(repeats, int(budget // warm[name]))) if budget else repeats
            for name in fns}
    times = {name: [] for name in fns if not isinstance(out[name], Exception)}
    for r in range(repeats):
        for name in times:
            if r < runs[name]:
                t0 = now()
                fns[name]()
                times[name].append(now() - t0)
    return out, times


def _best(records):
    ok = {k: r for k, r in records.items() if r.get("status") == "ok"}
    if not ok:
        return None, None
    name = min(ok, key=lambda k: ok[k]["median"])
    return name, ok[name]["median"]


def _measure_problem(family, n, m, dtype, peers, repeats, budget, seed, with_paths, clock):
    import hotalign
    from .. import _core

    C, layers = family_problem(family, n, m, dtype, seed)
    C64 = C.astype(np.float64)
    entry = {"family": family, "n": n, "m": m, "dtype": dtype, "findings": [], "failures": []}
    # hotalign's own certificate (untimed): the core's duals, and the public entry point
    rows, cols, u, v, cost, status, _ = _core.linear_sum_assignment(C, False)
    errors = certify_assignment(C64, rows, cols, u, v, cost)
    ref = float(C64[rows, cols].sum())
    fns = {"hotalign": lambda: hotalign.linear_sum_assignment(C)}
    for name, solve in peers.items():
        fns[name] = (lambda s=solve: s(C))
    out, times = _round_robin(fns, repeats, budget, clock)
    ours = out["hotalign"]
    if isinstance(ours, Exception):
        errors.append(f"linear_sum_assignment raised {type(ours).__name__}: {ours}")
    elif not abs(float(C64[ours[0], ours[1]].sum()) - ref) <= RTOL * max(abs(ref), 1e-300):
        errors.append("linear_sum_assignment and the core disagree")
    entry["failures"] += [f"hotalign certificate: {e}" for e in errors]
    lsa = {}
    for name, result in out.items():
        if isinstance(result, _NotApplicable):
            lsa[name] = {"status": "n/a", "reason": str(result)}
            continue
        if isinstance(result, Exception):
            lsa[name] = {"status": "error", "error": f"{type(result).__name__}: {result}"}
            continue
        rec = {"status": "ok", "median": statistics.median(times[name]), "runs": len(times[name]),
               "times": times[name]}
        r, c = result
        got = float(C64[np.asarray(r), np.asarray(c)].sum()) if len(r) == min(n, m) else np.nan
        rec["cost"] = got
        if name != "hotalign" and not abs(got - ref) <= RTOL * max(abs(got), abs(ref), 1e-300):
            rec["status"] = "mismatch"
            entry["findings"].append(f"{name}: cost {got!r} vs hotalign {ref!r} ("
                                     + ("LOWER" if got < ref else "higher") + ")")
        lsa[name] = rec
    entry["lsa"] = lsa
    best, best_t = _best({k: r for k, r in lsa.items() if k != "hotalign"})
    entry["best_peer"] = best
    ours_t = lsa.get("hotalign", {}).get("median")
    entry["ratio"] = best_t / ours_t if best and ours_t else None
    if with_paths and n == m and ours_t:
        entry["paths"] = _measure_paths(C, layers, dtype, best, peers, repeats, budget, ref,
                                        entry, clock)
    return entry


def _measure_paths(C, layers, dtype, best, peers, repeats, budget, ref, entry, clock):
    import hotalign

    n = C.shape[0]
    fns = {"lsa": lambda: hotalign.linear_sum_assignment(C),
           "solve_transport": lambda: hotalign.solve_transport(C),
           "emd2": lambda: hotalign.emd2([], [], C)}
    if best is not None:
        fns["best_peer"] = lambda s=peers[best]: s(C)
    if layers is not None:
        X, Y = layers
        fdt = np.float32 if dtype == "float32" else np.float64
        fns["solve_grid"] = lambda: hotalign.solve_grid([X], [Y], n_threads=1, dtype=fdt)
        if best is not None:
            fns["cost+best_peer"] = lambda s=peers[best]: s(
                hotalign.correlation_cost(X, Y, dtype=fdt))
    out, times = _round_robin(fns, repeats, budget, clock)
    paths = {}
    for name, result in out.items():
        if isinstance(result, Exception):
            paths[name] = {"status": "error", "error": f"{type(result).__name__}: {result}"}
            if name in ("solve_transport", "emd2", "solve_grid"):
                entry["failures"].append(f"{name} raised {type(result).__name__}: {result}")
            continue
        paths[name] = {"status": "ok", "median": statistics.median(times[name]),
                       "runs": len(times[name])}
    C64 = C.astype(np.float64)
    checks = {"solve_transport": lambda r: r.cost * n, "emd2": lambda r: float(r) * n}
    for name, total in checks.items():
        if paths[name]["status"] == "ok":
            got = total(out[name])
            if not abs(got - ref) <= RTOL * max(abs(ref), 1e-300) * 10:
                entry["failures"].append(f"{name} cost {got!r} vs assignment {ref!r}")
    st = out.get("solve_transport")
    if paths["solve_transport"]["status"] == "ok":
        cert = st.certificate(C64)
        if max(cert.values()) > 1e-9:
            entry["failures"].append(f"solve_transport certificate: {cert}")
    del C64
    return paths


def run_families(families=None, sizes=None, shapes=None, dtypes=None, *, full=False,
                 repeats=None, peers=PEERS, time_budget=None, seed=0, paths=True,
                 clock="wall", out_dir=None, progress=None):
    """Run the family suite; see the module docstring.

    Parameters
    ----------
    families, sizes, shapes, dtypes : sequence, optional
        Subsets of :data:`FAMILIES`, sizes n (rectangular problems are n x 1.5n),
        :data:`SHAPES` and :data:`DTYPES`; None takes :data:`QUICK` (or :data:`FULL`).
    full : bool
        Defaults from :data:`FULL` instead of :data:`QUICK`.
    repeats : int, optional
        Timed rounds after the warm-up round.
    peers : sequence of str
        Subset of :data:`PEERS`; those not installed are reported as skipped.
    time_budget : float, optional
        Seconds per solver and problem before fewer timed runs are made (at least one).
    seed : int
    paths : bool
        Also measure the result paths (table 2).
    clock : {"wall", "cpu"}
        ``wall`` (:func:`time.perf_counter`) or ``cpu`` (:func:`time.process_time`: CPU time
        of the process, robust to other jobs on a shared machine; the solve_grid and cost rows
        then count the CPU time of every thread, BLAS included).
    out_dir : path, optional
        Write ``families.json`` and ``families.md`` there.
    progress : callable, optional
        Called with a one-line message per problem.

    Returns
    -------
    dict
        ``meta``, ``config``, ``skipped``, ``problems`` (per problem: ``lsa`` records per
        solver, ``best_peer``, ``ratio``, ``paths``, ``findings``, ``failures``), ``failures``
        (hotalign's, the only ones that fail a run) and ``findings`` (peer disagreements).
    """
    from .harness import environment_info

    cfg = dict(FULL if full else QUICK)
    for key, value in (("families", families), ("sizes", sizes), ("shapes", shapes),
                       ("dtypes", dtypes), ("repeats", repeats), ("time_budget", time_budget)):
        if value is not None:
            cfg[key] = list(value) if isinstance(value, (list, tuple)) else value
    for key, allowed in (("families", FAMILIES), ("shapes", SHAPES), ("dtypes", DTYPES)):
        for v in cfg[key]:
            if v not in allowed:
                raise ValueError(f"{key}: unknown value {v!r}; choose from {', '.join(allowed)}")
    for s in cfg["sizes"]:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 2:
            raise ValueError(f"sizes: expected integers >= 2, got {s!r}")
    if isinstance(cfg["repeats"], bool) or not isinstance(cfg["repeats"], int) or \
            cfg["repeats"] < 1:
        raise ValueError(f"repeats: expected a positive integer, got {cfg['repeats']!r}")
    if clock not in CLOCKS:
        raise ValueError(f"clock: unknown value {clock!r}; choose from {', '.join(CLOCKS)}")
    for p in peers:
        if p not in PEERS:
            raise ValueError(f"peers: unknown value {p!r}; choose from {', '.join(PEERS)}")
    say = progress or (lambda message: None)
    solvers, skipped = _load_peers(peers)
    results = {"meta": environment_info(), "config": {**cfg, "peers": list(peers), "seed": seed,
                                                      "rtol": RTOL, "n_stimuli": N_STIMULI,
                                                      "clock": clock},
               "skipped": skipped, "solvers": sorted(solvers), "problems": []}
    # BLAS on one thread: every solver here is single-threaded, and idle OpenBLAS workers
    # spinning after a GEMM would otherwise be charged to whichever solver runs next under the
    # cpu clock (and steal a core from it under the wall clock)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        for dtype in cfg["dtypes"]:
            for family in cfg["families"]:
                for n in cfg["sizes"]:
                    for shape in cfg["shapes"]:
                        m = n if shape == "square" else (3 * n) // 2
                        say(f"{family} {n}x{m} {dtype}")
                        results["problems"].append(_measure_problem(
                            family, n, m, dtype, solvers, cfg["repeats"], cfg["time_budget"],
                            seed, paths, clock))
    results["failures"] = [f"{p['family']} {p['n']}x{p['m']} {p['dtype']}: {f}"
                           for p in results["problems"] for f in p["failures"]]
    results["findings"] = [f"{p['family']} {p['n']}x{p['m']} {p['dtype']}: {f}"
                           for p in results["problems"] for f in p["findings"]]
    results["ok"] = not results["failures"]
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "families.json").write_text(json.dumps(results, indent=1, default=float) + "\n",
                                           encoding="utf-8")
        (out / "families.md").write_text(format_families_markdown(results), encoding="utf-8")
    return results


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _t(seconds):
    from .harness import fmt_time

    return "—" if seconds is None else fmt_time(seconds)


def _med(rec):
    return rec["median"] if rec and rec.get("status") == "ok" else None


def _ratio(num, den):
    return f"{num / den:.2f}x" if num and den else "—"


def _summary_matrix(results):
    """Best peer / hotalign per family (rows) and n x m (columns), one matrix per dtype."""
    lines = []
    for dtype in dict.fromkeys(p["dtype"] for p in results["problems"]):
        probs = [p for p in results["problems"] if p["dtype"] == dtype]
        shapes = list(dict.fromkeys((p["n"], p["m"]) for p in probs))
        cells = {(p["family"], p["n"], p["m"]): p["ratio"] for p in probs}
        lines += ["", f"Summary ({dtype}): best exact peer / hotalign.linear_sum_assignment", "",
                  "| family | " + " | ".join(f"{n}x{m}" for n, m in shapes) + " |",
                  "|---|" + "---|" * len(shapes)]
        for family in dict.fromkeys(p["family"] for p in probs):
            row = []
            for n, m in shapes:
                r = cells.get((family, n, m))
                row.append("—" if r is None else (f"**{r:.2f}**" if r < 1 else f"{r:.2f}"))
            lines.append(f"| {family} | " + " | ".join(row) + " |")
    return lines


def format_families_markdown(results) -> str:
    """Render :func:`run_families` results as Markdown: both tables, findings, failures."""
    from .harness import blas_summary

    meta, cfg = results["meta"], results["config"]
    v = meta["versions"]
    lines = [
        "## hotalign solver families",
        "",
        f"- date: {meta['date']}; machine: {meta['platform']}; CPU {meta['cpu']}; "
        f"{meta['usable_cores']} usable cores",
        f"- versions: " + ", ".join(f"{k} {v[k]}" for k in ("hotalign", "numpy", "scipy", "pot",
                                                            "lap") if v.get(k)),
        f"- BLAS: {blas_summary(meta)}",
        f"- protocol: {cfg.get('clock', 'wall')} clock; round-robin over the solvers, 1 warm-up "
        f"round then median of "
        f"{cfg['repeats']} timed rounds (fewer past {cfg['time_budget']} s per solver); "
        f"peers: {', '.join(results['solvers']) or 'none'}",
        "",
        "### Assignment: best exact peer / hotalign.linear_sum_assignment (> 1: hotalign faster)",
        "",
        "| family | n x m | dtype | hotalign | best peer | best peer time | ratio | scipy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in results["problems"]:
        ours = _med(p["lsa"].get("hotalign"))
        best = p["best_peer"]
        best_t = _med(p["lsa"].get(best)) if best else None
        ratio = f"**{p['ratio']:.2f}x**" if p["ratio"] and p["ratio"] < 1 else _ratio(best_t, ours)
        lines.append(f"| {p['family']} | {p['n']} x {p['m']} | {p['dtype']} | {_t(ours)} | "
                     f"{best or '—'} | {_t(best_t)} | {ratio} | "
                     f"{_ratio(_med(p['lsa'].get('scipy')), ours)} |")
    lines += _summary_matrix(results)
    rows = [p for p in results["problems"] if p.get("paths")]
    if rows:
        lines += [
            "",
            "### Result paths (square): time / hotalign lsa, and best peer / path (> 1: faster)",
            "",
            "| family | n | dtype | lsa | solve_transport | st / lsa | peer / st | emd2 | "
            "emd2 / lsa | peer / emd2 | solve_grid (1 pair) | (cost + peer) / grid |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in rows:
            q = p["paths"]
            lsa, st, e2 = _med(q.get("lsa")), _med(q.get("solve_transport")), _med(q.get("emd2"))
            peer, grid = _med(q.get("best_peer")), _med(q.get("solve_grid"))
            lines.append(
                f"| {p['family']} | {p['n']} | {p['dtype']} | {_t(lsa)} | {_t(st)} | "
                f"{_ratio(st, lsa)} | {_ratio(peer, st)} | {_t(e2)} | {_ratio(e2, lsa)} | "
                f"{_ratio(peer, e2)} | {_t(grid)} | {_ratio(_med(q.get('cost+best_peer')), grid)} |")
    if results["skipped"]:
        lines += ["", "Skipped peers:"] + [f"- {k}: {w}" for k, w in results["skipped"].items()]
    errors = [f"{p['family']} {p['n']}x{p['m']} {p['dtype']}: {k}: {r['error']}"
              for p in results["problems"] for k, r in p["lsa"].items()
              if r.get("status") == "error"]
    if errors:
        lines += ["", "Peer errors:"] + [f"- {e}" for e in errors]
    lines.append("")
    if results["findings"]:
        lines.append(f"Findings: {len(results['findings'])} peer result(s) disagree with "
                     "hotalign's certified optimum:")
        lines += [f"- {f}" for f in results["findings"]]
    else:
        lines.append("Every peer's optimal cost agrees with hotalign's.")
    if results["failures"]:
        lines.append(f"**FAILED: {len(results['failures'])} hotalign failure(s)**")
        lines += [f"- {f}" for f in results["failures"]]
    else:
        lines.append("hotalign's dual certificate holds on every problem.")
    return "\n".join(lines) + "\n"
