"""Shared pieces of the benchmarks: option checks, timing (:func:`time_runs` for one function,
:func:`round_robin` for solvers compared side by side), the dual certificate of an assignment,
the environment record, cost families and the plain NumPy + POT reference implementation of
HOT's two levels.

Every benchmark module of :mod:`hotalign.bench` imports these by their public names; none imports
another's private helpers.
"""

from __future__ import annotations

import datetime as _dt
import gc
import importlib.metadata
import os
import platform
import time

import numpy as np

__all__ = ["CLOCKS", "COST_TYPES", "N_STIMULI", "OPENBLAS_VARS", "RTOL", "as_list", "best_of",
           "blas_summary", "certify_assignment", "check_choices", "check_sizes", "cost_matrix",
           "environment_info", "environment_line", "fail", "fmt_time", "int_option",
           "plain_hot", "plain_two_level", "round_robin", "time_runs", "write_results"]


N_STIMULI = 2000
RTOL = 1e-9


COST_TYPES = (
    "correlation-related",
    "correlation-independent",
    "uniform",
    "spatial",
    "logarithmic",
    "integer",
    "binary",
)


OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def fail(option: str, message: str):
    raise ValueError(f"{option}: {message}")


def as_list(value, option: str) -> list:
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    else:
        try:
            items = list(value)
        except TypeError:
            fail(option, f"expected a list or a comma-separated string, got {value!r}")
    if not items:
        fail(option, "must not be empty")
    return items


def check_sizes(sizes, option="sizes") -> list[int]:
    out = []
    for s in as_list(sizes, option):
        try:
            v = int(s)
            ok = float(s) == v if not isinstance(s, str) else str(v) == s.strip()
        except (TypeError, ValueError):
            ok = False
        if not ok or v < 1:
            fail(option, f"expected positive integers, got {s!r}")
        out.append(v)
    return out


def check_choices(values, option, choices) -> list[str]:
    out = []
    for v in as_list(values, option):
        if v not in choices:
            fail(option, f"unknown value {v!r}; choose from {', '.join(choices)}")
        if v not in out:
            out.append(v)
    return out


def int_option(value, option, minimum):
    try:
        v = int(str(value).strip())
    except ValueError:
        fail(option, f"expected an integer, got {value!r}")
    if v < minimum:
        fail(option, f"must be >= {minimum}, got {v}")
    return v


def cost_matrix(cost: str, n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    if cost == "correlation-related":
        from ..costs import correlation_cost
        from ..datasets import make_activation_pair

        X, Y, _ = make_activation_pair(N_STIMULI, n, m, random_state=rng)
        return correlation_cost(X, Y)
    if cost == "correlation-independent":
        from ..costs import correlation_cost

        return correlation_cost(rng.standard_normal((N_STIMULI, n)),
                                rng.standard_normal((N_STIMULI, m)))
    if cost == "uniform":
        return rng.random((n, m))
    if cost == "spatial":
        P, Q = rng.random((n, 2)), rng.random((m, 2))
        return np.sqrt(((P[:, None, :] - Q[None, :, :]) ** 2).sum(axis=-1))
    if cost == "logarithmic":
        return 10.0 ** rng.uniform(-20.0, 20.0, (n, m))
    if cost == "integer":
        return rng.integers(0, 100, (n, m)).astype(np.float64)
    if cost == "binary":
        return rng.integers(0, 2, (n, m)).astype(np.float64)
    fail("costs", f"unknown value {cost!r}; choose from {', '.join(COST_TYPES)}")


def time_runs(fn, repeats, budget):
    """One untimed warm-up, then ``repeats`` timed runs (fewer if a budget is exceeded)."""
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    warm = time.perf_counter() - t0
    runs = repeats
    if budget is not None and warm > 0:
        runs = max(1, min(repeats, int(budget // warm)))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, warm, times


CLOCKS = ("wall", "cpu")
#: wall: time.perf_counter; cpu: time.process_time (CPU seconds of the whole process, all
#: threads), immune to the descheduling of a shared machine; every assignment solver here is
#: single-threaded, so for them both clocks measure the same work.
_CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}


def round_robin(fns, repeats, budget, clock="wall"):
    """Time several functions side by side: one untimed warm-up round, then ``repeats`` timed
    rounds over all of them (fewer for a function whose warm-up exceeds ``budget`` seconds).

    Returns ``(out, times, warm)``: per name the warm-up's result (or the exception it raised),
    the timed runs in seconds of ``clock`` (none for a function that raised) and the warm-up's
    wall seconds."""
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
    return out, times, warm


def best_of(records):
    """``(name, median)`` of the fastest record whose status is ok, or ``(None, None)``."""
    ok = {k: r for k, r in records.items() if r.get("status") == "ok"}
    if not ok:
        return None, None
    name = min(ok, key=lambda k: ok[k]["median"])
    return name, ok[name]["median"]


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


def environment_info(peer_versions=None) -> dict:
    """Date, machine, library versions, BLAS kernel and OpenBLAS variables, for the record.

    Parameters
    ----------
    peer_versions : dict, optional
        Extra ``{name: version}`` entries (e.g. lapx, which lives outside this interpreter).

    Returns
    -------
    dict
        JSON-serialisable.
    """
    def version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    cpu = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    try:
        from threadpoolctl import threadpool_info

        blas = [{k: d.get(k) for k in ("user_api", "internal_api", "version", "architecture",
                                       "num_threads", "threading_layer", "filepath")}
                for d in threadpool_info()]
    except ImportError:
        blas = None
    from .. import __version__

    versions = {
        "hotalign": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": version("scipy"),
        "pot": version("pot") or version("POT"),
        "lap": version("lap"),
        "threadpoolctl": version("threadpoolctl"),
    }
    versions.update(peer_versions or {})
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu or platform.processor() or None,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "versions": versions,
        "blas": blas,
        "env": {k: os.environ.get(k) for k in OPENBLAS_VARS},
    }


def environment_line(env, title) -> str:
    """``title, date, cpu, cores, BLAS; OPENBLAS env`` from :func:`environment_info`."""
    blas = ", ".join(f"{b.get('internal_api')} {b.get('version')} {b.get('architecture')} "
                     f"x{b.get('num_threads')}" for b in (env.get("blas") or []))
    return (f"{title}, {env['date']}, {env.get('cpu')}, {env.get('usable_cores')} cores, "
            f"BLAS: {blas}; OPENBLAS env: {env.get('env')}")


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def blas_summary(meta):
    blas = meta.get("blas")
    if not blas:
        return "unknown (threadpoolctl not installed)"
    parts = [f"{d.get('internal_api')} {d.get('version')} ({d.get('architecture')}, "
             f"{d.get('num_threads')} threads)" for d in blas if d.get("user_api") == "blas"]
    return "; ".join(parts) or "none found"


def standardize(A, dtype):
    A = np.asarray(A, dtype=np.float64)
    A = A - A.mean(axis=0)
    A /= np.linalg.norm(A, axis=0)
    return np.ascontiguousarray(A, dtype=dtype)


def plain_two_level(Xtr, Ytr):
    """The unit and layer levels of docs/method.md in plain NumPy + POT.

    z-score each layer, dense ``1 - Zx.T @ Zy`` and ``ot.emd`` (uniform marginals) per pair,
    then ``ot.emd`` on the layer costs C. Returns ``(C, Q, P)``: C (L, M), the dense unit plans
    ``Q[l][m]`` and the dense layer plan P.
    """
    import ot

    Zx = [standardize(A, np.float64) for A in Xtr]
    Zy = [standardize(B, np.float64) for B in Ytr]
    L, M = len(Zx), len(Zy)
    C = np.empty((L, M))
    Q = [[None] * M for _ in range(L)]
    for l in range(L):
        for m in range(M):
            K = 1.0 - Zx[l].T @ Zy[m]
            Q[l][m] = ot.emd([], [], K, numItermax=10_000_000)
            C[l, m] = np.sum(K * Q[l][m])
    P = ot.emd([], [], C)
    return C, Q, P


def write_results(results, out_dir, name, fmt):
    """Write ``name.json`` and ``name.md`` (``fmt(results)``) into ``out_dir`` (None: nowhere)."""
    import json
    from pathlib import Path

    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(results, indent=1, default=float) + "\n")
        (out / f"{name}.md").write_text(fmt(results))


def plain_hot(Xtr, Ytr, Xte, Yte):
    """docs/method.md in plain NumPy + POT: dense costs, ``ot.emd`` per pair, dense reconstruction.

    Returns ``(C, P, score)``.
    """
    C, Q, P = plain_two_level(Xtr, Ytr)
    L, M = C.shape
    scores = []
    for l in range(L):
        Xhat = 0.0
        for m in range(M):
            if P[l, m] > 0:
                B = Ytr[m]
                Zte = (Yte[m] - B.mean(axis=0)) / B.std(axis=0)
                W = Q[l][m] * Q[l][m].shape[0]
                Xhat = Xhat + L * P[l, m] * (Zte @ W.T)
        A = Xte[l] - Xte[l].mean(axis=0)
        Bh = Xhat - Xhat.mean(axis=0)
        r = (A * Bh).sum(axis=0) / np.sqrt((A * A).sum(axis=0) * (Bh * Bh).sum(axis=0))
        scores.append(np.nanmean(r))
    return C, P, float(np.mean(scores))
