"""The family suite of ``hotalign bench solvers`` (tiny sizes; no wall-clock assertions) and
the exactness of the assignment solver on every family it measures."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st

import hotalign
from hotalign import _core
from hotalign.bench import families as fam
from hotalign.bench import commands
from hotalign.bench import solvers as bench
from hotalign.bench import suites
from hotalign.bench.harness import certify_assignment

#: the families built without captured networks (the real ones: tests/test_bench_real.py)
OFFLINE = fam.SYNTHETIC_FAMILIES + fam.SCIPY_FAMILIES


def _cli(argv):
    parser = argparse.ArgumentParser()
    commands.add_solvers_arguments(parser)
    return parser.parse_args(argv)


@settings(max_examples=40)
@given(family=st.sampled_from(OFFLINE), n=st.integers(2, 24), wide=st.booleans(),
       dtype=st.sampled_from(fam.DTYPES), seed=st.integers(0, 1000))
def test_families_optimum_certificate_permutation(family, n, wide, dtype, seed):
    m = (3 * n) // 2 if wide else n
    C, layers = fam.family_problem(family, n, m, dtype, seed)
    assert C.shape == (n, m) and C.dtype == np.dtype(dtype) and C.flags.c_contiguous
    assert (layers is not None) == (family in fam.CORRELATION_FAMILIES)
    C64 = C.astype(np.float64)
    rows, cols, u, v, cost, status, _ = _core.linear_sum_assignment(C, False)
    assert certify_assignment(C64, rows, cols, u, v, cost) == []
    r, c = scipy.optimize.linear_sum_assignment(C64)
    ref = C64[r, c].sum()
    assert abs(C64[rows, cols].sum() - ref) <= 1e-9 * max(abs(ref), 1e-300)
    pr, pc = hotalign.linear_sum_assignment(C)
    np.testing.assert_array_equal(pr, np.arange(n))
    assert len(set(pc.tolist())) == n
    if not wide:  # square uniform: the transport plan is a permutation / n
        res = hotalign.solve_transport(C)
        assert res.method == "assignment"
        assert sorted(res.cols.tolist()) == list(range(n))
        assert max(res.certificate(C64).values()) < 1e-9


def test_family_problems_are_seeded():
    for family in OFFLINE:
        a, _ = fam.family_problem(family, 6, 9, "float64", 3)
        b, _ = fam.family_problem(family, 6, 9, "float64", 3)
        np.testing.assert_array_equal(a, b)


def test_partner_costs_get_flatter_as_rho_falls():
    # the planted partners are cheaper than the rest, less so for smaller rho
    gaps = []
    for rho in fam.PARTNER_RHOS:
        C, _ = fam.family_problem(f"partners-{rho}", 64, 64, "float64", 0)
        best = C.min(axis=1)
        gaps.append(float(np.median(C, axis=1).mean() - best.mean()))
    assert gaps == sorted(gaps)


def test_certificate_catches_bad_duals():
    C = np.array([[1.0, 2.0], [2.0, 1.0]])
    rows, cols, u, v, cost, *_ = _core.linear_sum_assignment(C, False)
    assert certify_assignment(C, rows, cols, u, v, cost) == []
    assert certify_assignment(C, rows, cols, u + 0.5, v, cost)  # infeasible duals
    assert certify_assignment(C, rows, cols[::-1], u, v, cost)  # not tight
    assert certify_assignment(C, rows, np.array([0, 0]), u, v, cost)  # repeated column


def test_tiny_suite_writes_both_tables(tmp_path):
    res = suites.run_families(["partners-0.7", "binary"], [8], repeats=1, peers=["scipy", "pot"],
                           out_dir=tmp_path)
    assert res["ok"] and not res["failures"]
    assert len(res["problems"]) == 4
    for p in res["problems"]:
        assert p["lsa"]["hotalign"]["status"] == "ok"
        assert p["lsa"]["scipy"]["status"] == "ok"
        assert p["best_peer"] in ("scipy", "pot.emd")
        if p["n"] == p["m"]:
            assert {"lsa", "solve_transport", "emd2"} <= set(p["paths"])
        else:
            assert p["lsa"]["pot.emd"]["status"] == "n/a"
    grid = [p for p in res["problems"] if p["family"] == "partners-0.7" and p["n"] == p["m"]]
    assert grid[0]["paths"]["solve_grid"]["status"] == "ok"
    md = (tmp_path / "families.md").read_text("utf-8")
    assert "| partners-0.7 | 8 x 12 | float64 |" in md and "Result paths" in md
    assert json.loads((tmp_path / "families.json").read_text("utf-8"))["ok"] is True


def test_cpu_clock(tmp_path):
    res = suites.run_families(["integer"], [6], ["square"], repeats=2, peers=["scipy"],
                           clock="cpu")
    assert res["config"]["clock"] == "cpu" and res["ok"]
    rec = res["problems"][0]["lsa"]["hotalign"]
    assert rec["runs"] == 2 and all(t >= 0 for t in rec["times"])
    with pytest.raises(ValueError, match="^clock: "):
        suites.run_families(["integer"], [6], clock="tsc")


def test_wrong_peer_is_a_finding(monkeypatch, tmp_path, capsys):
    def wrong(C):
        n = np.asarray(C).shape[0]
        return np.arange(n), np.roll(np.arange(n), 1)

    monkeypatch.setattr(scipy.optimize, "linear_sum_assignment", wrong)
    args = _cli(["--families", "uniform", "--sizes", "8", "--shapes", "square", "--repeats", "1",
                 "--peers", "scipy", "--out", str(tmp_path)])
    assert commands.solvers_main(args) == 0
    out = capsys.readouterr().out
    assert "Findings: 1 peer result(s)" in out and "scipy: cost" in out


def test_exit_one_only_when_hotalign_fails(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(suites, "certify_assignment", lambda *a, **k: ["duals do not hold"])
    args = _cli(["--families", "integer", "--sizes", "8", "--shapes", "rect", "--repeats", "1",
                 "--peers", "none", "--out", str(tmp_path)])
    assert commands.solvers_main(args) == 1
    captured = capsys.readouterr()
    assert "hotalign certificate: duals do not hold" in captured.out
    assert "FAILED" in captured.err


@pytest.mark.parametrize("argv, option", [
    (["--families", "gaussian"], "--families"),
    (["--shapes", "1:2"], "--shapes"),
    (["--dtype", "float64,int8"], "--dtype"),
    (["--sizes", "1"], "--sizes"),
    (["--marginals", "random"], "--marginals"),
    (["--clock", "tsc"], "--clock"),
])
def test_bad_suite_options(tmp_path, argv, option):
    with pytest.raises(ValueError, match=f"^{option}: "):
        commands.solvers_main(_cli(argv + ["--out", str(tmp_path)]))
    assert not any(tmp_path.iterdir())
