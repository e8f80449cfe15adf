"""Tests of ``hotalign bench pipeline`` (hotalign.bench.pipeline, hotalign.bench.rotation).

Only the quick configurations (tiny sizes, one repeat) run here; no wall-clock assertions.
"""

import json

import pytest

from hotalign.bench import pipeline as bench_pipeline
from hotalign.bench import rotation as bench_rotation
from hotalign.cli import main


@pytest.fixture(autouse=True)
def _no_lapx(monkeypatch):
    """lapx is an optional peer loaded from a folder: keep it out of the tests."""
    monkeypatch.delenv(bench_pipeline.LAPX_ENV, raising=False)


def _table_header(md):
    """The cells of the first Markdown table header in ``md``."""
    lines = md.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("| ") and lines[i + 1].startswith("|---"):
            return [c.strip() for c in line.strip("|").split("|")]
    raise AssertionError(f"no Markdown table in:\n{md}")


def _load(out, name):
    return (json.loads((out / f"{name}.json").read_text()), (out / f"{name}.md").read_text())


def test_quick_runs_every_part_and_writes_parseable_outputs(tmp_path, capsys):
    assert main(["bench", "pipeline", "--quick", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out

    res, md = _load(tmp_path, "pipeline")
    assert res["repeats"] == 1 and res["parts"] == ["grid", "hot"]
    assert {"environment", "T", "cases"} <= set(res)
    (case,) = res["cases"]
    assert set(case["grid"]) == set(case["hot"]) == {"float32", "float64"}
    assert {"ours_1t", "ours_2t", "floor", "floor_1t"} <= set(case["grid"]["float64"])
    assert {"ours", "ours_score", "floor"} <= set(case["hot"]["float64"])
    assert case["plain"]["same_P"] is True and case["plain"]["C_maxdiff_float64"] < 1e-10
    assert _table_header(md)[:4] == ["case", "dtype", "ours 1 thread", "ours 2 threads"]
    assert "### Grid thread scaling" in md
    assert "### HOT end to end" in md

    res, md = _load(tmp_path, "rotation")
    assert res["ok"] is True and res["check"]["max_trace_diff"] < 1e-10
    assert set(res["rows"]) == {"plain_per_pair", "ours_per_pair", "ours_full_grid",
                                "ours_full_grid_cold", "plain_full_grid_extrapolated"}
    assert set(res["plain_breakdown"]) == {"gemm", "transport", "svd"}
    assert {"warm", "cold", "shape"} <= set(res["warm_start"])
    assert {"one_pair", "one_pair_cold", "network_simplex_warm"} <= set(res["pair_breakdown"])
    assert "llm" not in res
    assert _table_header(md) == ["HOT+R n=32 T=200 3 rounds", "median s"]

    for name, regime in (("trajectory", "gaussian"), ("trajectory_related", "related")):
        res, md = _load(tmp_path, name)
        assert res["ok"] is True and res["check"]["max_D_diff"] < 1e-10
        assert {"ours", "lazy", "plain_scaled", "ratio", "ratio_lazy", "monotone",
                "config"} <= set(res)
        assert res["lazy_fit"]["same_distance"] and res["lazy_fit"]["same_greedy"]
        assert _table_header(md) == [
            f"TrajectoryHOT 3x3 checkpoints, 2 layers, n=24, T=120, {regime} layers", "median s"]

    res, md = _load(tmp_path, "lazy")
    assert res["ok"] is True and [r["regime"] for r in res["rows"]] == [
        "related", "drifting", "independent"]
    assert all(r["identical"] and r["plain_same_P"] and r["plain_s"] > 0 for r in res["rows"])
    assert "plain / lazy" in md
    for md in ("HOT+R n=32", "TrajectoryHOT 3x3", "### Grid", "| related |"):
        assert md in printed


def test_only_selects_parts(tmp_path, capsys):
    assert main(["bench", "pipeline", "--quick", "--only", "grid,trajectory",
                 "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "pipeline.json", "pipeline.md", "trajectory.json", "trajectory.md",
        "trajectory_related.json", "trajectory_related.md"]
    res, md = _load(tmp_path, "pipeline")
    assert res["parts"] == ["grid"] and res["cases"][0]["hot"] == {}
    assert "plain" not in res["cases"][0] and "### HOT end to end" not in md


def test_rotation_llm_extrapolation_tiny():
    res = bench_rotation.run_rotation(n=16, T=60, rounds=2, L=1, M=2, plain_pairs=2, repeats=1,
                                      llm=True, llm_n=24, llm_T=40, progress=None)
    assert res["ok"] and res["config"]["plain_pairs"] == 2
    assert {"basis_s", "pair_s", "plain_round_s", "grid_hours_ours",
            "grid_hours_plain"} <= set(res["llm"])
    json.dumps(res)
    assert "28x28 extrapolated" in bench_rotation.format_rotation_markdown(res)


@pytest.mark.parametrize("argv, option", [
    (["--only", "grid,nope"], "--only"),
    (["--only", ""], "--only"),
    (["--repeats", "0"], "--repeats"),
    (["--repeats", "two"], "--repeats"),
    (["--threads", "0"], "--threads"),
    (["--threads", "1,x"], "--threads"),
])
def test_bad_arguments_exit_2(tmp_path, capsys, argv, option):
    assert main(["bench", "pipeline", "--quick", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert option in err and err.startswith("hotalign: error:")
    assert not any(tmp_path.iterdir())


def test_thread_scaling_table(tmp_path, capsys):
    from hotalign.bench import pipeline as bench_pipeline

    assert bench_pipeline.thread_counts(16) == [1, 2, 4, 8, 16]
    assert bench_pipeline.thread_counts(12) == [1, 2, 4, 8, 12]
    assert bench_pipeline.thread_counts(1) == [1, 2]
    assert main(["bench", "pipeline", "--quick", "--only", "grid", "--threads", "1,3",
                 "--out", str(tmp_path)]) == 0
    res, md = _load(tmp_path, "pipeline")
    assert res["threads"] == [1, 2, 3]
    (case,) = res["cases"]
    assert {"ours_1t", "ours_2t", "ours_3t"} <= set(case["grid"]["float32"])
    assert "| 1 thr | 2 thr | 3 thr | speed-up 3 thr | efficiency |" in md


def test_lazy_part_reports_pairs_and_identity(tmp_path, capsys):
    from hotalign.bench.lazy import format_lazy_markdown, run_lazy

    res = run_lazy(L=3, M=4, n=40, T=300, rank=8, repeats=1, regimes=("related", "independent"))
    assert res["ok"]
    related, independent = res["rows"]
    assert related["pairs_solved"] < 12 and related["identical"]
    assert independent["pairs_solved"] <= 12 and independent["identical"]
    table = format_lazy_markdown(res)
    assert "| related |" in table and "| independent |" in table
    assert main(["bench", "pipeline", "--quick", "--only", "lazy", "--out",
                 str(tmp_path / "b")]) == 0
    assert "pairs solved" in capsys.readouterr().out


def test_lazy_llm_part_tiny(tmp_path, capsys):
    """``--only lazy --llm`` at a tiny size: plain HOT full and lazy, HOT+R lazy against the
    extrapolated full grid, results written and identical where compared."""
    from hotalign.bench.lazy import format_lazy_llm_markdown, run_lazy_llm

    res = run_lazy_llm(L=3, n=40, T=200, rank=8)
    assert res["ok"]
    related, independent = res["rows"]
    assert related["identical"] and "full_s" in related and "full_s" not in independent
    g = res["rotation"]
    assert g["pairs_solved"] <= 9 and g["full_extrapolated_s"] > 0 and g["lazy_s"] > 0
    table = format_lazy_llm_markdown(res)
    assert "| HOT, related |" in table and "HOT+R, related" in table
    assert main(["bench", "pipeline", "--quick", "--only", "lazy", "--llm", "--out",
                 str(tmp_path)]) == 0
    capsys.readouterr()
    assert {"lazy.json", "lazy.md", "lazy_llm.json", "lazy_llm.md"} <= {
        p.name for p in tmp_path.iterdir()}
