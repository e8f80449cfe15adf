"""Golden results on fixed seeds: restructuring must not change a single bit.

``tests/data/golden.npz`` was recorded from the code before the method-layer redesign (issue 12)
with ``python tests/test_golden.py --record``. It holds C, P, the distance, the held-out scores of
every method, unit plans and HOT+R traces for a few fixed problems. On the machine and BLAS
kernel that recorded it (the one CI runs on) every value must be bit-identical; elsewhere, where a
different GEMM kernel sums in another order, to 1e-12.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).parent / "data" / "golden.npz"


def _blas_kernel():
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS)
    from threadpoolctl import threadpool_info

    return ";".join(sorted(f"{i.get('internal_api')}:{i.get('architecture')}"
                           for i in threadpool_info() if i.get("user_api") == "blas"))


def compute() -> dict:
    """Every golden value, from fixed seeds."""
    import hotalign

    out = {}
    X, Y, _ = hotalign.datasets.make_hierarchy(240, (10, 12, 9), (11, 10, 12, 8), random_state=7)
    X[1][:, 3] = 2.0  # a constant unit: the exclusion bookkeeping is part of the result
    for dtype in ("float64", "float32"):
        hot = hotalign.HOT(dtype=dtype, n_threads=2).fit(X, Y)
        out[f"hot_{dtype}_C"] = hot.layer_costs_
        out[f"hot_{dtype}_P"] = hot.layer_plan_
        out[f"hot_{dtype}_distance"] = np.float64(hot.distance_)
        for l, m in ((0, 0), (1, 2), (2, 3)):
            p = hot.unit_plans_[l][m]
            for f in ("rows", "cols", "weights", "u", "v"):
                out[f"hot_{dtype}_plan{l}{m}_{f}"] = getattr(p, f)
        for m, pred in enumerate(hot.predict(Y[:2] + Y[2:])):
            out[f"hot_{dtype}_predict{m}"] = pred
        out[f"hot_{dtype}_score"] = np.float64(hot.score(X, Y))
    budget = hotalign.HOT(max_layers_in_memory=3, n_threads=1).fit(X, Y)
    out["hot_budget_C"] = budget.layer_costs_
    rot = hotalign.HOT(rotation=True, max_rounds=4, n_threads=2).fit(X[:2], Y[:2])
    out["hotr_C"] = rot.layer_costs_
    out["hotr_P"] = rot.layer_plan_
    out["hotr_errors"] = rot.reconstruction_errors_
    out["hotr_rounds"] = rot.n_rounds_
    for l in range(2):
        for m in range(2):
            out[f"hotr_trace{l}{m}"] = np.asarray(rot.objective_traces_[l][m])
            out[f"hotr_R{l}{m}"] = rot.rotations_[l][m]
    ev = hotalign.evaluate(X[:2], Y[:3], methods=hotalign.baselines.ALL_METHODS, n_splits=2,
                           random_state=3, estimator=hotalign.HOT(max_rounds=3))
    for m in ev.methods:
        out[f"eval_{m}_split"] = ev.split_scores[m]
        out[f"eval_{m}_layers"] = ev.layer_scores[m]
    out["eval_layer_costs"] = ev.layer_costs
    out["eval_distances"] = ev.distances
    out["eval_rotation_costs"] = ev.rotation_layer_costs
    A = [hotalign.datasets.make_hierarchy(120, (8, 8), (8, 8), random_state=k)[0] for k in range(3)]
    B = [hotalign.datasets.make_hierarchy(120, (8, 8), (8, 8), random_state=k + 1)[0]
         for k in range(2)]
    traj = hotalign.TrajectoryHOT(n_threads=2).fit(A, B)
    out["traj_D"] = traj.checkpoint_costs_
    out["traj_G"] = traj.checkpoint_plan_
    out["traj_C"] = traj.layer_costs_
    rng = np.random.default_rng(0)
    a = [rng.random(A.shape[1]) for A in X]
    grid = hotalign.solve_grid(X, Y, a=[w / w.sum() for w in a], constant_units="cost_one")
    out["grid_marginals_C"] = grid.costs
    return out


def test_golden_results_are_unchanged():
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing: record it with `python {__file__} --record`")
    with np.load(GOLDEN, allow_pickle=False) as npz:
        golden = {k: npz[k] for k in npz.files}
    kernel = str(golden.pop("__blas__"))
    now = compute()
    assert sorted(now) == sorted(golden)
    same_kernel = kernel == _blas_kernel()
    for key, want in golden.items():
        if same_kernel:
            np.testing.assert_array_equal(now[key], want, err_msg=key)
        else:  # pragma: no cover - another machine's GEMM kernel
            np.testing.assert_allclose(now[key], want, rtol=1e-12, atol=1e-12, err_msg=key)


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit(f"usage: python {sys.argv[0]} --record")
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, __blas__=np.array(_blas_kernel()), **compute())
    print(f"recorded {GOLDEN}")
