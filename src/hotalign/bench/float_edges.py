"""Exactness at the float edges: random problems per magnitude regime, checked against oracles.

For each regime (costs near ``+-float max``, at ``(1 - 1e-3 u) max``, all negative, subnormal,
mixed magnitudes spanning ~2^2000, float32 at its own edges) and each random case (square or
rectangular shape, uniform or non-uniform marginals), it runs :func:`hotalign.linear_sum_assignment`,
:func:`hotalign.solve_transport` and :func:`hotalign.emd2` and counts a case *wrong* when any of
them disagrees with the oracle or fails its dual certificate:

- the oracle solves the same problem scaled by an exact power of two into SciPy's and POT's
  comfortable range (``scipy.optimize.linear_sum_assignment`` for assignments, ``ot.emd2`` for
  transport); objectives are compared in units of ``max|M|`` (``1e-10`` absolute);
- :meth:`hotalign.TransportResult.certificate` must hold to ``1e-9`` and the plan's marginals to
  ``1e-12`` relative.

The ``wide range`` regime puts subnormal entries beside entries near float max: no single scaling
represents it, so a clear ``ValueError`` is the right answer there and is counted as *refused*
(a solved case is still checked). A transport problem whose optimal dual potentials exceed the
float64 range (costs of both signs near float max) has no finite certificate: the solvers raise
a clear ``ValueError`` for it, counted as *refused* as well (the assignment is still checked). Run ``python -m hotalign.bench.float_edges --cases 1000``.
SciPy and POT are oracles here only.
"""

from __future__ import annotations

import argparse
import math
from collections import Counter

import numpy as np

import hotalign

__all__ = ["REGIMES", "check_case", "make_case", "run", "main"]

F64 = float(np.finfo(np.float64).max)
F32 = float(np.finfo(np.float32).max)


def _sign(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


REGIMES = {
    "near +max": lambda rng, s: F64 * rng.uniform(0.5, 1.0, s),
    "near -max": lambda rng, s: -F64 * rng.uniform(0.5, 1.0, s),
    "mixed sign at max": lambda rng, s: F64 * rng.uniform(-1.0, 1.0, s),
    "+-(1-1e-3u) max": lambda rng, s: _sign(rng, s) * F64 * (1.0 - 1e-3 * rng.random(s)),
    "all negative": lambda rng, s: -F64 * rng.random(s),
    "subnormal": lambda rng, s: np.ldexp(rng.uniform(-1.0, 1.0, s), -1040),
    "mixed magnitude": lambda rng, s: _sign(rng, s) * np.ldexp(F64 * rng.random(s),
                                                               -rng.integers(0, 2000, s)),
    "float32 at max": lambda rng, s: (F32 * rng.uniform(-1.0, 1.0, s)).astype(np.float32),
    "float32 subnormal": lambda rng, s: np.float32(np.ldexp(1.0, -140)) *
    rng.uniform(-1.0, 1.0, s).astype(np.float32),
    "wide range": lambda rng, s: _wide(rng, s),
}


def _wide(rng, s):
    M = F64 * rng.uniform(0.5, 1.0, s)
    k = max(1, M.size // 10)
    M.flat[rng.choice(M.size, k, replace=False)] = np.ldexp(rng.integers(1, 64, k), -1074)
    return M


def make_case(rng, regime: str, n_max: int = 30):
    """One random case: ``(M, a, b)``; a and b None (uniform) or positive, summing to 1."""
    n = int(rng.integers(1, n_max + 1))
    m = n if rng.random() < 0.5 else int(rng.integers(1, n_max + 1))
    M = REGIMES[regime](rng, (n, m))
    if rng.random() < 0.5:
        return M, None, None
    a = rng.uniform(0.05, 1.0, n)
    b = rng.uniform(0.05, 1.0, m)
    return M, a / a.sum(), b / b.sum() * (a / a.sum()).sum()


def _oracle_exponent(M: np.ndarray):
    """s such that M * 2^s is exact with max |.| in [1/2, 1) (or, failing that, at most 2^900,
    where SciPy and POT are still comfortable); None when no such scaling is exact."""
    peak = float(np.abs(M).max())
    if peak == 0.0:
        return 0
    e = int(np.frexp(peak)[1])
    for s in (-e, min(0, 900 - e)):
        if np.array_equal(np.ldexp(np.ldexp(M, s), -s), M):
            return s
    return None


def _refusal(err: ValueError) -> bool:
    """A clear refusal: no exact scaling exists, or no finite dual certificate does."""
    return "dynamic range" in str(err) or "exceed the double range" in str(err)


def _check_assignment(M64, Mn, s, e) -> str:
    import scipy.optimize

    try:
        rows, cols = hotalign.linear_sum_assignment(M64)
    except ValueError as err:
        return "refused" if _refusal(err) else f"wrong: {err}"
    if s is None:
        return "ok"
    r, c = scipy.optimize.linear_sum_assignment(np.ldexp(M64, s))
    got, opt = math.fsum(Mn[rows, cols]), math.ldexp(math.fsum(np.ldexp(M64, s)[r, c]), -s - e)
    if len(rows) != min(M64.shape) or abs(got - opt) > 1e-10 * max(1, len(rows)):
        return f"wrong: assignment {got} vs oracle {opt} (2^{e} units)"
    return "ok"


def _check_transport(M, M64, Mn, s, e, a, b) -> str:
    import ot

    a_, b_ = ([] if a is None else a), ([] if b is None else b)
    try:
        res = hotalign.solve_transport(M, a, b)
        cost2 = float(hotalign.emd2(a_, b_, M))
    except ValueError as err:
        return "refused" if _refusal(err) else f"wrong: {err}"
    cert = res.certificate(M64, a, b)
    if max(cert.values()) > 1e-9:
        return f"wrong: certificate {cert}"
    if cost2 != res.cost and not abs(cost2 - res.cost) <= 1e-12 * float(np.abs(M64).max()):
        return f"wrong: emd2 {cost2} vs solve_transport {res.cost}"
    if s is None:
        return "ok"
    ours = math.fsum(res.weights * Mn[res.rows, res.cols])
    want = math.ldexp(float(ot.emd2(a_, b_, np.ldexp(M64, s))), -s - e)
    if abs(ours - want) > 1e-10:
        return f"wrong: transport {ours} vs oracle {want} (2^{e} units)"
    return "ok"


def check_case(M, a=None, b=None) -> str:
    """``"ok"``, ``"refused"`` (a clear ValueError: see the module doc) or ``"wrong: ..."``.

    Transport (solve_transport, emd2) is checked on every case, the assignment
    (linear_sum_assignment) on cases with uniform marginals; the worst outcome is returned.
    """
    M64 = np.asarray(M, dtype=np.float64)
    peak = float(np.abs(M64).max())
    e = int(np.frexp(peak)[1]) if peak > 0 else 0
    Mn = np.ldexp(M64, -e)  # objectives in units of 2^e (max |Mn| in [1/2, 1))
    s = _oracle_exponent(M64)
    outcomes = [_check_transport(M, M64, Mn, s, e, a, b)]
    if a is None:
        outcomes.append(_check_assignment(M64, Mn, s, e))
    for worst in ("wrong", "refused"):
        for outcome in outcomes:
            if outcome.startswith(worst):
                return outcome
    return "ok"


def run(cases: int = 1000, seed: int = 0, n_max: int = 30, regimes=None) -> dict:
    """Counts of outcomes per regime: ``{regime: Counter(ok=..., refused=..., wrong=...)}``.

    ``wrong`` examples are kept under the key ``"examples"`` of each counter's regime entry.
    """
    out = {}
    for k, regime in enumerate(regimes or REGIMES):
        rng = np.random.default_rng([seed, k])
        tally, examples = Counter(), []
        for _ in range(cases):
            outcome = check_case(*make_case(rng, regime, n_max))
            tally[outcome.split(":")[0]] += 1
            if outcome.startswith("wrong") and len(examples) < 3:
                examples.append(outcome)
        out[regime] = {"counts": tally, "examples": examples}
    return out


def main(argv=None) -> int:
    """Print the table regime -> wrong / refused / ok out of ``--cases``; exit 1 on a wrong case."""
    p = argparse.ArgumentParser(prog="python -m hotalign.bench.float_edges",
                                description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=1000, help="random cases per regime")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-max", type=int, default=30, help="largest side of a random problem")
    args = p.parse_args(argv)
    table = run(args.cases, args.seed, args.n_max)
    print(f"| regime | wrong | refused | ok |  (out of {args.cases} per regime)")
    print("|---|---|---|---|")
    wrong = 0
    for regime, rec in table.items():
        c = rec["counts"]
        wrong += c["wrong"]
        print(f"| {regime} | {c['wrong']} | {c['refused']} | {c['ok']} |")
        for ex in rec["examples"]:
            print(f"|   {ex[:150]} | | | |")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
