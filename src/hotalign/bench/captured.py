"""``hotalign bench pipeline --only real``: HOT, HOT+R and the lazy grid on two captured models.

X is all-MiniLM-L6-v2 (6 blocks x 384), Y all-mpnet-base-v2 (12 blocks x 768): the mean-pooled
block outputs on the same :data:`hotalign.bench.real.N_REAL` template-grammar sentences
(:mod:`hotalign.bench.real`; captured once into the data folder). Fit on the last 80% of the
sentences, score on the first 20%, float32, wall-clock medians over repeats, side by side:

- ``HOT`` and ``HOT(lazy=True)`` (same distance, layer plan and unit plans: checked);
- ``HOT(rotation=True)`` and ``HOT(rotation=True, lazy=True)`` (same distance: checked);
- the plain NumPy + POT pipeline (:func:`hotalign.bench.harness.plain_hot`), its layer plan's
  support checked against ours.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

__all__ = ["format_captured_markdown", "run_captured"]

MODELS = ("minilm", "mpnet")


def _fit(est, Xtr, Ytr, Xte, Yte):
    t0 = time.perf_counter()
    fitted = est.fit(Xtr, Ytr)
    score = fitted.score(Xte, Yte)
    return time.perf_counter() - t0, fitted, score


def run_captured(*, data_dir=None, repeats=3, plain=True, progress=None, systems=None) -> dict:
    """Time HOT, HOT+R and their lazy fits on two captured models.

    Parameters
    ----------
    data_dir : path, optional
        The captures' folder (:func:`hotalign.bench.real.default_data_dir`).
    repeats : int
        Timed fits of each estimator (medians).
    plain : bool
        Also time the plain NumPy + POT pipeline (``max(1, repeats - 1)`` runs).
    progress : callable, optional
        Called with one line per estimator.
    systems : (list of (T, n) arrays, list of (T, m) arrays), optional
        Layers to use instead of the captures (tests).

    Returns
    -------
    dict
        ``models``, ``shapes``, ``T``, ``rows`` (per estimator: median seconds, distance,
        score, pairs solved) and ``ok`` (every lazy fit equal to its full fit).

    Raises
    ------
    hotalign.bench.real.RealUnavailable
        The model packages are not installed.
    """
    from ..estimator import HOT
    from .harness import plain_hot
    from .lazy import _identical, _split
    from .real import block_outputs

    say = progress or (lambda s: None)
    if systems is None:
        systems = tuple(block_outputs(name, data_dir) for name in MODELS)
    X, Y = ([np.asarray(A, dtype=np.float32) for A in S] for S in systems)
    Xtr, Ytr, Xte, Yte = _split(X, Y)
    estimators = {
        "HOT": lambda: HOT(dtype="float32"),
        "HOT lazy": lambda: HOT(dtype="float32", lazy=True),
        "HOT+R": lambda: HOT(rotation=True, dtype="float32"),
        "HOT+R lazy": lambda: HOT(rotation=True, dtype="float32", lazy=True),
    }
    times = {k: [] for k in estimators}
    fitted, scores = {}, {}
    for _ in range(repeats):  # interleaved: the estimators share the machine's state
        for name, make in estimators.items():
            dt, fitted[name], scores[name] = _fit(make(), Xtr, Ytr, Xte, Yte)
            times[name].append(dt)
    rows = []
    for name in estimators:
        est = fitted[name]
        rows.append({"estimator": name, "time_s": statistics.median(times[name]),
                     "distance": float(est.distance_), "score": float(scores[name]),
                     "pairs_solved": int(getattr(est, "n_pairs_solved_", len(X) * len(Y))),
                     "pairs": len(X) * len(Y)})
        say(f"captured {name}: {rows[-1]}")
    same_hot = _identical(fitted["HOT"], fitted["HOT lazy"])
    d_full, d_lazy = fitted["HOT+R"].distance_, fitted["HOT+R lazy"].distance_
    same_rot = bool(abs(d_full - d_lazy) <= 1e-9 * max(1.0, abs(d_full)))
    out = {"models": list(MODELS), "shapes": [[A.shape[1] for A in X], [B.shape[1] for B in Y]],
           "T": int(X[0].shape[0]), "repeats": repeats, "rows": rows,
           "lazy_identical": {"HOT": same_hot, "HOT+R": same_rot}, "ok": same_hot and same_rot}
    if plain:
        t_plain = []
        for _ in range(max(1, repeats - 1)):
            t0 = time.perf_counter()
            _, P_plain, s_plain = plain_hot(Xtr, Ytr, Xte, Yte)
            t_plain.append(time.perf_counter() - t0)
        out["plain"] = {"time_s": statistics.median(t_plain), "score": float(s_plain),
                        "same_P_support": bool(np.array_equal(
                            P_plain > 1e-12, fitted["HOT"].layer_plan_ > 1e-12))}
        say(f"captured plain NumPy+POT: {out['plain']}")
    return out


def format_captured_markdown(res) -> str:
    """The captured-models table (Markdown)."""
    nx, ny = res["shapes"]
    head = (f"HOT on captured models: {res['models'][0]} ({len(nx)} blocks x {nx[0]}) against "
            f"{res['models'][1]} ({len(ny)} blocks x {ny[0]}), T = {res['T']} sentences "
            f"(fit 80%, score 20%), float32, medians of {res['repeats']} fits")
    lines = [head, "", "| estimator | pairs solved | time (s) | distance | score | "
             "plain NumPy+POT / this |", "|---|---|---|---|---|---|"]
    plain = res.get("plain", {}).get("time_s")
    for r in res["rows"]:
        ratio = f"{plain / r['time_s']:.1f}x" if plain and not r["estimator"].startswith(
            "HOT+R") else "n/a"
        lines.append(f"| {r['estimator']} | {r['pairs_solved']}/{r['pairs']} | "
                     f"{r['time_s']:.3f} | {r['distance']:.6f} | {r['score']:.4f} | {ratio} |")
    lines.append("")
    same = res["lazy_identical"]
    lines.append(f"Lazy fits equal to the full fits: HOT {'yes' if same['HOT'] else 'NO'}, "
                 f"HOT+R {'yes' if same['HOT+R'] else 'NO'}."
                 + (f" Plain NumPy + POT HOT: {plain:.2f} s, same layer-plan support: "
                    f"{'yes' if res['plain']['same_P_support'] else 'NO'}." if plain else ""))
    return "\n".join(lines) + "\n"
