"""Tests of the solver benchmark machinery (``hotalign.bench.solvers``). No wall-clock assertions."""

import argparse
import json
import sys

import numpy as np
import pytest

from hotalign.bench import peers
from hotalign.bench import commands
from hotalign.bench import solvers as bench

TINY = dict(sizes=[16, 32], shapes=["square", "1:2"], costs=["uniform", "correlation-related"],
            marginals=["uniform", "random"], dtype="float64", repeats=1)


@pytest.fixture(autouse=True)
def _no_lapx(monkeypatch):
    """lapx is an optional peer from its own folder: keep it out unless a test asks for it."""
    monkeypatch.delenv(bench.LAPX_ENV, raising=False)


def _cli_args(argv):
    parser = argparse.ArgumentParser()
    commands.add_solvers_arguments(parser)
    return parser.parse_args(argv)


def test_tiny_run_writes_parseable_outputs(tmp_path):
    res = bench.run_solvers(**TINY, peers=["pot", "scipy", "lap"], out_dir=tmp_path,
                            transpose=True)
    assert res["ok"] and res["failures"] == []
    # 2 costs x 2 marginals x (2 square + 2 rectangular + 2 transposed)
    assert len(res["problems"]) == 24
    for p in res["problems"]:
        ours = p["solvers"]["hotalign"]
        assert ours["status"] == "ok" and ours["runs"] == 1 and len(ours["times"]) == 1
        assert ours["method"] == ("assignment" if p["n"] == p["m"] and p["marginals"] == "uniform"
                                  else "network_simplex")
        for key, rec in p["solvers"].items():
            if key == "scipy" and not (p["n"] == p["m"] and p["marginals"] == "uniform"):
                assert rec["status"] == "n/a"
            if rec["status"] == "ok" and key != "hotalign":
                assert rec["ratio"] > 0
                assert rec["cost"] == pytest.approx(ours["cost"], rel=1e-9)
        if p["transposed"]:
            assert p["transpose_ratio"] > 0

    loaded = json.loads((tmp_path / "solvers.json").read_text(encoding="utf-8"))
    assert loaded["ok"] is True
    assert loaded["meta"]["versions"]["numpy"] == np.__version__
    assert set(loaded["meta"]["env"]) == {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
    assert {s["solver"] for s in loaded["slopes"]} >= {"hotalign"}
    assert all(np.isfinite(s["k"]) and s["sizes"] == [16, 32] for s in loaded["slopes"])

    md = (tmp_path / "solvers.md").read_text(encoding="utf-8")
    table = [line for line in md.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header[:5] == ["cost", "n x m", "marginals", "method", "hotalign"]
    rows = [r for r in table[1:] if r.split("|")[1].strip() in ("uniform", "correlation-related")
            and " x " in r.split("|")[2]]
    assert len(rows) == 24
    assert all(len(r.strip("|").split("|")) == len(header) for r in rows)
    assert "All optimal costs agree with hotalign." in md
    assert md == bench.format_markdown(loaded)  # the JSON alone reproduces the table
    png = tmp_path / "solvers.png"
    assert png.exists() or "Plot skipped" in md


def test_transposed_problem_is_the_transpose():
    spec = bench.ProblemSpec("correlation-independent", 24, 40, "random")
    spec_t = bench.ProblemSpec("correlation-independent", 40, 24, "random", transposed=True)
    M, a, b = bench.make_problem(spec, seed=3)
    Mt, at, bt = bench.make_problem(spec_t, seed=3)
    np.testing.assert_array_equal(Mt, M.T)
    np.testing.assert_array_equal(at, b)
    np.testing.assert_array_equal(bt, a)
    assert a.sum() == pytest.approx(1.0) and b.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("cost", bench.COST_TYPES)
def test_problem_families_are_seeded(cost):
    spec = bench.ProblemSpec(cost, 12, 20)
    M1, _, _ = bench.make_problem(spec, "float32", seed=1)
    M2, _, _ = bench.make_problem(spec, "float32", seed=1)
    assert M1.shape == (12, 20) and M1.dtype == np.float32 and M1.flags.c_contiguous
    np.testing.assert_array_equal(M1, M2)
    assert np.all(np.isfinite(M1))


def test_shapes():
    specs = bench.problem_grid([8], ["square", "1:2", "2:1", "896x2048"], ["uniform"])
    assert [(s.n, s.m) for s in specs] == [(8, 8), (8, 16), (16, 8), (896, 2048)]
    assert [s.ratio for s in specs] == ["square", "1:2", "2:1", "7:16"]


@pytest.mark.parametrize("peer, module", [("pot", "ot"), ("scipy", "scipy.optimize"),
                                          ("lap", "lap")])
def test_missing_peer_is_skipped(monkeypatch, tmp_path, peer, module):
    monkeypatch.setitem(sys.modules, module, None)  # any import of it now fails
    res = bench.run_solvers([16], ["square"], ["uniform"], ["uniform"], repeats=1,
                            peers=[peer], out_dir=tmp_path)
    assert res["ok"]
    assert res["skipped"][peer].startswith("skipped (not installed")
    assert all(peer not in p["solvers"] for p in res["problems"])
    assert f"- {peer}: skipped (not installed" in (tmp_path / "solvers.md").read_text("utf-8")


@pytest.mark.parametrize("value", [None, "/nonexistent/hotalign-lapx"])
def test_lapx_without_its_folder_is_skipped(monkeypatch, value):
    if value is not None:
        monkeypatch.setenv(bench.LAPX_ENV, value)
    res = bench.run_solvers([16], ["square"], ["uniform"], ["uniform"], repeats=1,
                            peers=["lapx"])
    assert res["skipped"]["lapx"].startswith("skipped (not installed")
    assert bench.LAPX_ENV in res["skipped"]["lapx"]


def test_wrong_peer_is_a_finding_not_a_failure(monkeypatch, tmp_path):
    import scipy.optimize

    def wrong_lsap(C):
        n = np.asarray(C).shape[0]
        return np.arange(n), np.roll(np.arange(n), 1)  # a feasible but non-optimal assignment

    monkeypatch.setattr(scipy.optimize, "linear_sum_assignment", wrong_lsap)
    results = bench.run_solvers([16, 24], ["square"], ["uniform"], ["uniform"], repeats=1,
                                peers=["scipy"], out_dir=tmp_path)
    assert results["ok"] and not results["failures"]
    assert {f["solver"] for f in results["findings"]} == {"scipy"}
    assert all(p["solvers"]["scipy"]["status"] == "mismatch" for p in results["problems"])
    # reported on disk, not averaged away
    assert len(json.loads((tmp_path / "solvers.json").read_text("utf-8"))["findings"]) == 2
    md = (tmp_path / "solvers.md").read_text("utf-8")
    assert "MISMATCH" in md and "Findings: 2 peer result(s)" in md and "FAILED" not in md


def test_cli_exit_code_zero_on_peer_mismatch(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(peers.Peer, "cost", lambda self, out, C64, a=None, b=None: -1.0)
    args = _cli_args(["--sizes", "16", "--shapes", "square", "--costs", "integer",
                      "--repeats", "1", "--peers", "scipy", "--out", str(tmp_path)])
    assert commands.solvers_main(args) == 0
    captured = capsys.readouterr()
    assert "MISMATCH" in captured.out and "FAILED" not in captured.err


def test_cli_exit_code_one_when_hotalign_certificate_fails(monkeypatch, tmp_path, capsys):
    from hotalign.results import TransportResult

    monkeypatch.setattr(TransportResult, "certificate",
                        lambda self, M, a=None, b=None: {"dual_infeasibility": 1.0})
    args = _cli_args(["--sizes", "16", "--shapes", "square", "--costs", "integer",
                      "--repeats", "1", "--peers", "none", "--out", str(tmp_path)])
    assert commands.solvers_main(args) == 1
    captured = capsys.readouterr()
    assert "dual certificate fails" in captured.out and "FAILED" in captured.err


def test_cli_tiny_run(tmp_path, capsys):
    args = _cli_args(["--sizes", "16,32", "--shapes", "square,2:1", "--costs", "binary,spatial",
                      "--marginals", "uniform,random", "--dtype", "float32", "--repeats", "1",
                      "--peers", "none", "--out", str(tmp_path)])
    assert commands.solvers_main(args) == 0
    out = capsys.readouterr().out
    assert "| binary | 16 x 16 | uniform | JV |" in out
    assert json.loads((tmp_path / "solvers.json").read_text("utf-8"))["config"]["dtype"] == \
        "float32"


def test_plot_skipped_without_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    res = bench.run_solvers([16], ["square"], ["uniform"], ["uniform"], repeats=1, peers=[],
                            out_dir=tmp_path)
    assert not (tmp_path / "solvers.png").exists()
    assert "matplotlib" in res["plot_note"]
    assert "Plot skipped" in (tmp_path / "solvers.md").read_text("utf-8")


@pytest.mark.parametrize("kwargs, option", [
    (dict(sizes=[0]), "sizes"),
    (dict(sizes="16,-4"), "sizes"),
    (dict(sizes=[]), "sizes"),
    (dict(costs=["gaussian"]), "costs"),
    (dict(shapes=["3-by-4"]), "shapes"),
    (dict(marginals=["peaked"]), "marginals"),
    (dict(dtype="int8"), "dtype"),
    (dict(repeats=0), "repeats"),
    (dict(peers=["cplex"]), "peers"),
])
def test_bad_arguments_raise_value_error(kwargs, option):
    call = dict(TINY, peers=["scipy"])
    call.update(kwargs)
    with pytest.raises(ValueError, match=f"^{option}: "):
        bench.run_solvers(**call)


@pytest.mark.parametrize("argv, option", [
    (["--sizes", "0"], "--sizes"),
    (["--sizes", "abc"], "--sizes"),
    (["--costs", "gaussian"], "--costs"),
    (["--peers", "cplex"], "--peers"),
    (["--shapes", "wide"], "--shapes"),
    (["--dtype", "float16"], "--dtype"),
    (["--repeats", "0"], "--repeats"),
    (["--time-budget", "-1"], "--time-budget"),
])
def test_bad_cli_options_raise_value_error(tmp_path, argv, option):
    args = _cli_args(argv + ["--out", str(tmp_path)])
    with pytest.raises(ValueError, match=f"^{option}: "):
        commands.solvers_main(args)
    assert not any(tmp_path.iterdir())  # rejected before any work
