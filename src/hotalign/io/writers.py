"""Writing results: JSON documents and sparse unit plans, atomically and never through a link."""

from __future__ import annotations

import io as _io
import json
from pathlib import Path

import numpy as np

from .._files import atomic_write

__all__ = ["atomic_write_bytes", "read_plans", "write_json", "write_plans"]


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a new temporary file in the same folder and
    ``os.replace`` (a link at ``path`` is replaced, never written through)."""
    atomic_write(Path(path), data)


def write_json(path, obj) -> None:
    """Write a JSON document atomically (NaN written as null)."""
    text = json.dumps(_jsonable(obj), indent=2, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def write_plans(path, unit_plans, x_names, y_names) -> None:
    """Save sparse unit plans to ``.npz``: ``{l}_{m}_rows/cols/weights/shape`` and the
    dual potentials ``{l}_{m}_u/v`` per pair, ``cost`` (L, M) and the layer names (no pickles; atomic). Pairs a lazy
    fit did not solve (plan None) are left out, with cost NaN."""
    arrays = {"x_layers": np.array(x_names, dtype=str), "y_layers": np.array(y_names, dtype=str)}
    costs = np.empty((len(unit_plans), len(unit_plans[0])))
    for l, row in enumerate(unit_plans):
        for m, plan in enumerate(row):
            if plan is None:
                costs[l, m] = np.nan
                continue
            arrays[f"{l}_{m}_rows"] = plan.rows
            arrays[f"{l}_{m}_cols"] = plan.cols
            arrays[f"{l}_{m}_weights"] = plan.weights
            arrays[f"{l}_{m}_shape"] = np.array(plan.shape, dtype=np.int64)
            arrays[f"{l}_{m}_u"] = np.asarray(plan.u, dtype=np.float64)
            arrays[f"{l}_{m}_v"] = np.asarray(plan.v, dtype=np.float64)
            costs[l, m] = plan.cost
    arrays["cost"] = costs
    buf = _io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_plans(path) -> dict:
    """Read :func:`write_plans` output: ``{"x_layers", "y_layers", "cost", "plans"}`` where
    ``plans[(l, m)]`` is a dense-free dict of ``rows``, ``cols``, ``weights``, ``shape``."""
    with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
        out = {"x_layers": npz["x_layers"].tolist(), "y_layers": npz["y_layers"].tolist(),
               "cost": npz["cost"], "plans": {}}
        for l in range(len(out["x_layers"])):
            for m in range(len(out["y_layers"])):
                if f"{l}_{m}_rows" not in npz.files:  # not solved by a lazy fit
                    continue
                out["plans"][(l, m)] = {k: npz[f"{l}_{m}_{k}"]
                                        for k in ("rows", "cols", "weights", "shape", "u", "v")
                                        if f"{l}_{m}_{k}" in npz.files}
    return out
