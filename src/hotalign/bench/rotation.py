"""HOT+R and TrajectoryHOT benchmarks against plain NumPy + POT implementations.

The machinery behind ``hotalign bench pipeline --only rotation,trajectory`` and the scripts
``bench/bench_rotation.py`` and ``bench/bench_trajectory.py``.

:func:`run_rotation`
    The numba HOT+R alternation (:func:`hotalign.engine.fit_rotation_grid`) against a plain
    NumPy + POT alternation (:func:`plain_alternation`) on an L x M grid of n-unit layers, T rows,
    a fixed number of rounds (the stop rule is disabled so both run exactly ``rounds`` rounds;
    the objective traces are checked equal to 1e-10). The plain alternation runs pair by pair
    with BLAS on one thread (per pair at ``n_threads`` cores: its time / threads); hotalign runs
    the pairs on its thread pool. Runs are interleaved, medians reported. Also: warm starts on a
    rectangular 2 x 3 grid (network simplex), the plain time breakdown, hotalign's components on
    one pair, and optionally one LLM-size pair extrapolated to a 28 x 28 grid.
:func:`run_trajectory`
    ``TrajectoryHOT`` on K x K checkpoints of L layers against a plain NumPy + POT two-level HOT
    (:func:`hotalign.bench_pipeline.plain_two_level`) per checkpoint pair, timed on some pairs
    and scaled to K x K; D is checked equal to 1e-10.

Both return JSON-serialisable dicts (``"ok"`` is False when a check failed) and have
``format_*_markdown`` companions.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from .harness import (
    environment_info,
    environment_line,
    plain_two_level,
    time_runs,
    write_results,
)

__all__ = ["run_rotation", "run_trajectory", "format_rotation_markdown",
           "format_trajectory_markdown", "plain_alternation", "rotation_layers",
           "trajectory_layers"]

NO_STOP = -np.inf      # tol that never stops early: exactly max_rounds rounds
TOL = 1e-10            # traces / D must agree to this
LLM_GRID = 28          # layers per model of the extrapolated LLM grid

_med = statistics.median


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _component(fn, runs):
    """Median of ``runs`` timed calls after one warm-up (a component of the breakdown)."""
    return _med(time_runs(fn, runs, None)[2])


# -- HOT+R ------------------------------------------------------------------------------------

def plain_alternation(X, Y, max_rounds, timers=None):
    """HOT+R in plain NumPy + POT: dense cost, ``ot.emd``, full n x n SVD every round.

    Returns the objective trace (two values a round); adds seconds spent in ``gemm``,
    ``transport`` and ``svd`` to the dict ``timers``.
    """
    import ot

    n, m = X.shape[1], Y.shape[1]
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    R = np.eye(n)
    trace = []
    t = timers if timers is not None else {}
    for _ in range(max_rounds):
        t0 = time.perf_counter()
        K = 1.0 - (X @ R).T @ Y
        t1 = time.perf_counter()
        Q = ot.emd(a, b, K, numItermax=10_000_000)
        t2 = time.perf_counter()
        trace.append(2.0 * np.sum(K * Q))
        Mx = X.T @ (Y @ Q.T)
        t3 = time.perf_counter()
        U, _, Vt = np.linalg.svd(Mx)
        R = U @ Vt
        t4 = time.perf_counter()
        trace.append(2.0 - 2.0 * np.sum(Q * ((X @ R).T @ Y)))
        t5 = time.perf_counter()
        for key, dt in (("gemm", t1 - t0 + t3 - t2 + t5 - t4), ("transport", t2 - t1),
                        ("svd", t4 - t3)):
            t[key] = t.get(key, 0.0) + dt
    return np.array(trace)


def rotation_layers(n, T, L, M, seed=0):
    """Standardised layers related by a rotation (X) and a permutation (Y), plus noise."""
    from ..costs import zscore

    rng = np.random.default_rng(seed)
    base = rng.standard_normal((T, n))
    X = [zscore(base @ np.linalg.qr(rng.standard_normal((n, n)))[0]
                + 0.5 * rng.standard_normal((T, n))) for _ in range(L)]
    Y = [zscore(base[:, rng.permutation(n)] + 0.7 * rng.standard_normal((T, n)))
         for _ in range(M)]
    return X, Y


def run_rotation(*, n=384, T=2000, rounds=10, L=6, M=12, plain_pairs=12, repeats=3, llm=False,
                 llm_n=3072, llm_T=2000, out_dir=None, progress=print):
    """HOT+R: hotalign's alternation against plain NumPy + POT; returns a JSON-serialisable dict.

    Parameters
    ----------
    n, T, rounds : int
        Units per layer, rows, rounds per pair (no early stop).
    L, M : int
        Grid of layers.
    plain_pairs : int
        The plain alternation is timed on the first ``plain_pairs`` pairs of row 0, hotalign on
        the same pairs (the ratio) and on the whole grid.
    repeats : int
        Interleaved timed runs (medians).
    llm : bool
        Also time one ``llm_n``-unit pair (``llm_T`` rows) and extrapolate a 28 x 28 grid.
    out_dir : path, optional
        Write ``rotation.json`` and ``rotation.md`` there.
    progress : callable or None
        Called with a line of text as each measurement finishes.
    """
    import ot  # noqa: F401  (imported here, outside the timed plain runs)
    from threadpoolctl import threadpool_limits

    from ..costs import zscore
    from ..grid import default_threads
    from ..engine import fit_rotation_grid
    from ..rotation import align_pair, layer_basis
    from ..transport import solve_transport

    say = progress or (lambda s: None)
    nt = default_threads()
    X, Y = rotation_layers(n, T, L, M)
    k = max(1, min(int(plain_pairs), M))
    fit_rotation_grid(X[:1], Y[:1], max_rounds=2, n_threads=1)   # numba compile / cache load

    def grid(Xs, Ys, warm=True):
        return fit_rotation_grid(Xs, Ys, max_rounds=rounds, tol=NO_STOP, n_threads=nt,
                                 warm_start=warm)

    times = {"ours_sub": [], "ours_full": [], "ours_cold": [], "plain_sub": []}
    timers = {}
    worst = None
    for rep in range(repeats):
        dt, sub = _timed(lambda: grid([X[0]], Y[:k]))
        times["ours_sub"].append(dt)
        times["ours_full"].append(_timed(lambda: grid(X, Y))[0])
        times["ours_cold"].append(_timed(lambda: grid(X, Y, warm=False))[0])
        tm = {} if rep else timers
        # Plain with BLAS on one thread: with 2 threads on a shared machine its LAPACK SVD ran
        # ~9x slower; the per-pair figure gives it the same core count as ours.
        with threadpool_limits(1, "blas"):
            dt, traces = _timed(lambda: [plain_alternation(X[0], Y[m], rounds, tm)
                                         for m in range(k)])
        times["plain_sub"].append(dt)
        if rep == 0:
            worst = float(max(np.abs(sub[0][m].objective - traces[m]).max() for m in range(k)))
            say(f"rotation: max |J_ours - J_plain| over {k} pairs x {2 * rounds} half steps: "
                f"{worst:.2e}")
    plain_pair = _med(times["plain_sub"]) / k / nt
    ours_pair = _med(times["ours_sub"]) / k
    rows = {
        "plain_per_pair": plain_pair,
        "ours_per_pair": ours_pair,
        "ours_full_grid": _med(times["ours_full"]),
        "ours_full_grid_cold": _med(times["ours_cold"]),
        "plain_full_grid_extrapolated": plain_pair * L * M,
    }
    say("rotation: " + ", ".join(f"{key}={v:.3f}" for key, v in rows.items()))

    # Warm starts matter where the network simplex runs: a rectangular grid (n x 1.5 n).
    Xr, Yr = rotation_layers(n, T, 2, 3, seed=2)
    Yr = [zscore(np.hstack([B, B[:, : n // 2] + 0.5 * np.random.default_rng(3).standard_normal(
        (T, n // 2))])) for B in Yr]
    tw, tc = [], []
    for _ in range(repeats):
        tw.append(_timed(lambda: grid(Xr, Yr))[0])
        tc.append(_timed(lambda: grid(Xr, Yr, warm=False))[0])
    warm = {"grid": [2, 3], "shape": [n, Yr[0].shape[1]], "warm": _med(tw), "cold": _med(tc),
            "times_warm": tw, "times_cold": tc}
    say(f"rotation: rectangular 2x3 grid warm {warm['warm']:.3f} s, cold {warm['cold']:.3f} s")

    # hotalign's components on one pair, one thread (the numba loop's parts timed alone).
    with threadpool_limits(1, "blas"):
        A, B = X[0], Y[0]
        K = 1.0 - A.T @ B
        res = solve_transport(K, method="network_simplex")
        pair = {
            "one_pair": _component(lambda: align_pair(A, B, max_rounds=rounds, tol=NO_STOP), 3),
            "one_pair_cold": _component(lambda: align_pair(A, B, max_rounds=rounds, tol=NO_STOP,
                                                           warm_start=False), 3),
            "gemm": _component(lambda: A.T @ B, 5),
            "thin_svd": _component(lambda: np.linalg.svd(A.T @ B, full_matrices=False), 3),
            "assignment_cold": _component(lambda: solve_transport(K), 5),
            "network_simplex_cold": _component(
                lambda: solve_transport(K, method="network_simplex"), 3),
            "network_simplex_warm": _component(
                lambda: solve_transport(K, method="network_simplex", warm_start=(res.u, res.v)),
                5),
            "plain_full_svd": _component(lambda: np.linalg.svd(A.T @ B), 3),
        }
    results = {
        "environment": environment_info(),
        "config": {"n": n, "T": T, "rounds": rounds, "L": L, "M": M, "plain_pairs": k,
                   "repeats": repeats, "threads": nt},
        "check": {"max_trace_diff": worst, "tol": TOL, "ok": worst < TOL},
        "rows": rows,
        "ratio": plain_pair / ours_pair,
        "times": times,
        "warm_start": warm,
        "plain_breakdown": timers,
        "pair_breakdown": pair,
    }
    if llm:
        XL, YL = rotation_layers(llm_n, llm_T, 1, 1, seed=1)
        tm = {}
        with threadpool_limits(1, "blas"):
            tb, basis = _timed(lambda: layer_basis(XL[0]))
            tp, _ = _timed(lambda: align_pair(XL[0], YL[0], max_rounds=rounds, tol=NO_STOP,
                                              basis=basis))
            tpl, _ = _timed(lambda: plain_alternation(XL[0], YL[0], 1, tm))
        pairs = LLM_GRID * LLM_GRID
        results["llm"] = {
            "n": llm_n, "T": llm_T, "basis_s": tb, "pair_s": tp, "plain_round_s": tpl,
            "plain_round_breakdown": tm,
            "grid_hours_ours": (LLM_GRID * tb + pairs * tp) / nt / 3600,
            "grid_hours_plain": pairs * tpl * rounds / nt / 3600,
        }
        say(f"rotation: LLM pair n={llm_n}: basis {tb:.2f} s, pair {tp:.2f} s, "
            f"plain round {tpl:.2f} s")
    results["ok"] = results["check"]["ok"]
    write_results(results, out_dir, "rotation", format_rotation_markdown)
    return results


def format_rotation_markdown(results) -> str:
    """The HOT+R table, ratio, warm starts and time breakdowns."""
    c, r = results["config"], results["rows"]
    L, M, k, nt = c["L"], c["M"], c["plain_pairs"], c["threads"]
    labels = {
        "plain_per_pair": f"plain NumPy+POT, per pair (1 BLAS thread, / {nt} cores)",
        "ours_per_pair": f"hotalign, per pair ({k} pairs, {nt} threads)",
        "ours_full_grid": f"hotalign, full {L}x{M} grid",
        "ours_full_grid_cold": "hotalign, full grid, warm_start=False",
        "plain_full_grid_extrapolated": f"plain, full {L}x{M} grid (extrapolated "
                                        f"x{L * M / k:g})",
    }
    lines = [environment_line(results["environment"], "HOT+R benchmark")
             + f"; medians of {c['repeats']} interleaved runs.", "",
             f"| HOT+R n={c['n']} T={c['T']} {c['rounds']} rounds | median s |", "|---|---|"]
    lines += [f"| {labels[key]} | {v:.3f} |" for key, v in r.items()]
    chk, w = results["check"], results["warm_start"]
    tot = sum(results["plain_breakdown"].values()) or 1.0
    p = {key: v * 1e3 for key, v in results["pair_breakdown"].items()}
    lines += [
        "",
        f"ratio plain / hotalign (same {k} pairs): {results['ratio']:.1f}x; max |J_ours - "
        f"J_plain| over {k} pairs x {2 * c['rounds']} half steps: {chk['max_trace_diff']:.2e} "
        f"({'ok' if chk['ok'] else 'FAILED'}, tolerance {chk['tol']:g})",
        "",
        f"rectangular {w['grid'][0]}x{w['grid'][1]} grid ({w['shape'][0]} x {w['shape'][1]} "
        f"units, network simplex): warm {w['warm']:.3f} s, cold {w['cold']:.3f} s -> warm "
        f"starts save {w['cold'] - w['warm']:.3f} s ({w['cold'] / w['warm']:.2f}x)",
        "",
        "plain breakdown: " + ", ".join(f"{key} {v / tot:.0%}"
                                        for key, v in results["plain_breakdown"].items()),
        "",
        f"hotalign one pair, 1 thread: {p['one_pair']:.1f} ms ({p['one_pair_cold']:.1f} ms "
        f"without warm start); X^T Y GEMM {p['gemm']:.1f} ms, thin SVD of G (once) "
        f"{p['thin_svd']:.1f} ms, assignment cold (round 0) {p['assignment_cold']:.1f} ms, "
        f"network simplex cold {p['network_simplex_cold']:.1f} ms / warm from the optimal "
        f"potentials {p['network_simplex_warm']:.2f} ms; plain full n x n SVD (every round) "
        f"{p['plain_full_svd']:.1f} ms",
    ]
    if "llm" in results:
        g = results["llm"]
        lines += [
            "",
            f"LLM slice n={g['n']} T={g['T']}, 1 thread: layer basis {g['basis_s']:.1f} s (once "
            f"per layer), one pair {c['rounds']} rounds {g['pair_s']:.1f} s; plain 1 round "
            f"{g['plain_round_s']:.1f} s ("
            + ", ".join(f"{key} {v:.1f} s" for key, v in g["plain_round_breakdown"].items())
            + ")",
            f"{LLM_GRID}x{LLM_GRID} extrapolated on {nt} cores: hotalign "
            f"{g['grid_hours_ours']:.2f} h, plain {c['rounds']} rounds "
            f"{g['grid_hours_plain']:.1f} h",
        ]
    return "\n".join(lines) + "\n"


# -- TrajectoryHOT ----------------------------------------------------------------------------

TRAJECTORY_REGIMES = ("gaussian", "related")


def trajectory_layers(K, L, n, T, seed, regime="gaussian"):
    """K checkpoints of L layers drifting along a circle between two bases: independent
    Gaussian layers (``"gaussian"``: full-rank, no shared structure), or two networks of
    :func:`hotalign.datasets.make_hierarchy` (``"related"``: layers reading out a latent
    hierarchy, as trained networks do)."""
    if regime == "related":
        from ..datasets import make_hierarchy

        P = make_hierarchy(T, (n,) * L, (n,) * L, random_state=seed)[0]
        S = make_hierarchy(T, (n,) * L, (n,) * L, random_state=seed + 1)[0]
    else:
        rng = np.random.default_rng(seed)
        P = [rng.standard_normal((T, n)) for _ in range(L)]
        S = [rng.standard_normal((T, n)) for _ in range(L)]
    return [[np.cos(t) * p + np.sin(t) * s for p, s in zip(P, S)]
            for t in np.linspace(0, 1.2, K)]


def run_trajectory(*, K=8, L=6, n=384, T=2000, plain_pairs=8, repeats=3, out_dir=None,
                   progress=print, regime="gaussian"):
    """``TrajectoryHOT`` (full and lazy) against a plain two-level HOT per checkpoint pair; a
    JSON-able dict.

    Parameters
    ----------
    K, L, n, T : int
        Checkpoints per trajectory, layers per checkpoint, units per layer, rows.
    regime : {"gaussian", "related"}
        The layers (:func:`trajectory_layers`).
    plain_pairs : int
        The plain baseline is timed on this many of the K x K checkpoint pairs (evenly spread)
        and scaled to K x K (every pair costs the same).
    repeats : int
        Interleaved timed runs (medians).
    out_dir : path, optional
        Write ``trajectory.json`` and ``trajectory.md`` there.
    progress : callable or None
        Called with a line of text as each measurement finishes.
    """
    import ot  # noqa: F401  (imported here, outside the timed plain runs)

    from .. import TrajectoryHOT

    say = progress or (lambda s: None)
    A = trajectory_layers(K, L, n, T, 0, regime)
    B = [[X + 0.3 * np.random.default_rng(k).standard_normal(X.shape) for X in ck]
         for k, ck in enumerate(trajectory_layers(K, L, n, T, 0, regime))]
    pairs = [(k, kp) for k in range(K) for kp in range(K)][:: max(1, K * K // plain_pairs)]
    pairs = pairs[:plain_pairs]

    def plain_distance(k, kp):
        C, _, P = plain_two_level(A[k], B[kp])
        return float(np.sum(C * P))

    ours, lazy, plain = [], [], []
    traj = err = None
    for rep in range(repeats):
        dt, traj = _timed(lambda: TrajectoryHOT().fit(A, B))
        ours.append(dt)
        dt, traj_lazy = _timed(lambda: TrajectoryHOT(lazy=True).fit(A, B))
        lazy.append(dt)
        dt, D = _timed(lambda: [plain_distance(k, kp) for k, kp in pairs])
        plain.append(dt * K * K / len(pairs))
        if rep == 0:
            err = float(max(abs(d - traj.checkpoint_costs_[k, kp])
                            for d, (k, kp) in zip(D, pairs)))
            say(f"trajectory: max |D_ours - D_plain| over {len(pairs)} pairs: {err:.2e}")
    results = {
        "environment": environment_info(),
        "config": {"K": K, "L": L, "n": n, "T": T, "regime": regime, "plain_pairs": len(pairs),
                   "repeats": repeats},
        "check": {"max_D_diff": err, "tol": TOL, "ok": err < TOL},
        "ours": _med(ours),
        "lazy": _med(lazy),
        "plain_scaled": _med(plain),
        "ratio": _med(plain) / _med(ours),
        "ratio_lazy": _med(plain) / _med(lazy),
        "lazy_fit": {
            "checkpoint_pairs_fitted": int(traj_lazy.solved_checkpoints_.sum()),
            "layer_pairs_solved": traj_lazy.n_pairs_solved_,
            "layer_pairs": K * K * L * L,
            "same_distance": bool(abs(traj_lazy.distance_ - traj.distance_)
                                  <= 1e-12 * max(1.0, traj.distance_)),
            "same_greedy": bool(np.array_equal(traj_lazy.greedy_match_, traj.greedy_match_)),
        },
        "times": {"ours": ours, "lazy": lazy, "plain_scaled": plain},
        "monotone": bool(np.all(np.diff(np.argmax(traj.checkpoint_plan_, axis=1)) >= 0)),
    }
    results["ok"] = (results["check"]["ok"] and results["lazy_fit"]["same_distance"]
                     and results["lazy_fit"]["same_greedy"])
    say(f"trajectory: ours {results['ours']:.3f} s, lazy {results['lazy']:.3f} s, plain (scaled) "
        f"{results['plain_scaled']:.3f} s")
    write_results(results, out_dir, "trajectory" if regime == "gaussian" else
                  f"trajectory_{regime}", format_trajectory_markdown)
    return results


def format_trajectory_markdown(results) -> str:
    """The TrajectoryHOT table, ratio and checks."""
    c, chk, lz = results["config"], results["check"], results["lazy_fit"]
    KK = c["K"] * c["K"]
    lines = [environment_line(results["environment"], "TrajectoryHOT benchmark")
             + f"; medians of {c['repeats']} interleaved runs.", "",
             f"| TrajectoryHOT {c['K']}x{c['K']} checkpoints, {c['L']} layers, n={c['n']}, "
             f"T={c['T']}, {c.get('regime', 'gaussian')} layers | median s |", "|---|---|",
             f"| hotalign TrajectoryHOT.fit | {results['ours']:.2f} |",
             f"| hotalign TrajectoryHOT(lazy=True).fit | {results['lazy']:.2f} |",
             f"| plain NumPy+POT two-level HOT x {KK} (timed on {c['plain_pairs']}, scaled) | "
             f"{results['plain_scaled']:.2f} |", "",
             f"ratio plain / hotalign: {results['ratio']:.1f}x; max |D_ours - D_plain| over "
             f"{c['plain_pairs']} pairs: {chk['max_D_diff']:.2e} "
             f"({'ok' if chk['ok'] else 'FAILED'}, tolerance {chk['tol']:g}); coupling support "
             f"monotone: {results['monotone']}", "",
             f"lazy: ratio plain / lazy {results['ratio_lazy']:.1f}x; checkpoint pairs fitted "
             f"{lz['checkpoint_pairs_fitted']}/{KK}, layer pairs solved "
             f"{lz['layer_pairs_solved']}/{lz['layer_pairs']}; same distance as the full fit: "
             f"{lz['same_distance']}, same greedy matches: {lz['same_greedy']}"]
    return "\n".join(lines) + "\n"
