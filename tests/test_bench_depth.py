"""The depth-mismatch score table (hotalign.bench.depth, bench/bench_depth.py) on tiny data."""

import importlib.util
import math
from pathlib import Path

import numpy as np

from hotalign import HOT, evaluate
from hotalign.bench.depth import format_depth_markdown, run_depth
from hotalign.datasets import make_depth_mismatch

ROOT = Path(__file__).resolve().parents[1]


def _pair():
    return make_depth_mismatch(n_stimuli=120, deep_depth=5, shallow_depth=2, width=8,
                               random_state=0)[:2]


def test_run_depth_scores_every_method_on_the_same_splits():
    X, Y = _pair()
    res = run_depth({"tiny": (X, Y)}, grid=(0.0, 0.5, math.inf), n_splits=2)
    r = res["tiny"]
    assert r["slack"][0.0] == r["uniform"]
    assert r["slack"]["inf"] == r["pairwise_best"]  # s = inf is Pairwise-Best's plan
    half = evaluate(X, Y, methods=["hot"], n_splits=2, random_state=0,
                    estimator=HOT(layer_marginals="slack", slack=0.5))
    assert r["slack"][0.5] == half.mean("hot")
    assert len(r["chosen"]) == 2 and set(r["chosen"]) <= {0.0, 0.5, "inf"}
    table = format_depth_markdown(res)
    assert table.splitlines()[0].startswith("| pair | HOT (uniform) | s = 0.5 | s = inf | auto")
    assert "| tiny |" in table


def test_bench_script_on_captured_folders(tmp_path, capsys):
    X, Y = _pair()
    for folder, layers in (("x", X), ("y", Y)):
        (tmp_path / folder).mkdir()
        for k, A in enumerate(layers):
            np.save(tmp_path / folder / f"l{k}.npy", A)
    spec = importlib.util.spec_from_file_location("bench_depth", ROOT / "bench" / "bench_depth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--no-synthetic", "--splits", "2", "--x", str(tmp_path / "x"),
                        "--x-layers", "l1,l0", "--y", str(tmp_path / "y"),
                        "--y-layers", "l0,l1,l2,l3,l4"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 3 and " vs " in out
