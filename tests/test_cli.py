"""Tests of the ``hotalign`` command line."""

import subprocess
import sys

import pytest

import hotalign
from hotalign.cli import main


def test_demo(capsys):
    assert main(["demo", "--stimuli", "300", "--splits", "2"]) == 0
    out = capsys.readouterr().out
    assert "over 2 splits" in out
    for label in ("| HOT |", "| Perm-P |", "| Single-Best OT |", "| Pairwise-Best OT |"):
        assert label in out
    assert "-> optimal" in out
    planted = next(line for line in out.splitlines() if line.strip().startswith("planted:"))
    recovered = next(line for line in out.splitlines() if line.strip().startswith("recovered:"))
    assert planted.split(":")[1].split() == recovered.split(":")[1].split()


def test_demo_small_network(capsys):
    code = main(["demo", "--stimuli", "200", "--splits", "1", "--x-layers", "2",
                 "--y-layers", "3", "--units", "8", "--seed", "4"])
    out = capsys.readouterr().out
    assert code == 0  # certified unit-level solve and the planted layer map recovered
    assert "X (2 layers x 8 units) vs Y (3 layers x 12 units), 200 stimuli" in out
    assert "| HOT |" in out


def test_version_subprocess():
    proc = subprocess.run([sys.executable, "-m", "hotalign.cli", "--version"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"hotalign {hotalign.__version__}"


@pytest.mark.parametrize("argv", [["demo", "--splits", "x"], ["demo", "--bogus"], ["nothing"], []])
def test_invalid_argument_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: hotalign" in capsys.readouterr().err


def test_value_error_returns_2(capsys):
    # Four stimuli cannot be split into >= 3 training and >= 3 held-out rows.
    assert main(["demo", "--stimuli", "4", "--units", "4", "--splits", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hotalign: error: test_size")


# -- files, figures, resume: end to end in a temporary folder ------------------------------------

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402

import h5py  # noqa: E402
import matplotlib.image  # noqa: E402
import numpy as np  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

from hotalign import evaluate  # noqa: E402
from hotalign.datasets import make_hierarchy  # noqa: E402
from hotalign.io import read_plans  # noqa: E402


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Every test runs in its own folder (the demo writes ./hotalign-demo by default)."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def systems():
    X, Y, _ = make_hierarchy(160, (10, 12, 10), (14, 14, 16, 14), random_state=2)
    return X, Y


def _write(fmt, layers, path, ids=None):
    named = {f"layer_{k}": A for k, A in enumerate(layers)}
    if fmt == "npz":
        path = path.with_suffix(".npz")
        np.savez(path, **named, **({} if ids is None else {"stimulus_ids": ids}))
    elif fmt == "npy":
        path.mkdir()
        for k, A in named.items():
            np.save(path / f"{k}.npy", A)
        if ids is not None:
            np.save(path / "stimulus_ids.npy", ids)
    elif fmt == "safetensors":
        path = path.with_suffix(".safetensors")
        save_file({k: np.ascontiguousarray(A) for k, A in named.items()}, str(path))
    else:
        path = path.with_suffix(".h5")
        with h5py.File(path, "w") as f:
            for k, A in named.items():
                f.create_dataset(f"acts/{k}", data=A)
    return path


def _valid_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    h, w = matplotlib.image.imread(path).shape[:2]
    assert 200 <= h <= 2000 and 300 <= w <= 2500


def test_demo_writes_figures(tmp_path, capsys):
    assert main(["demo", "--stimuli", "300", "--splits", "2", "--units", "16", "--out",
                 "figs", "--quiet"]) == 0
    for name in ("layer_plan", "layer_distances", "layer_scores", "unit_plan"):
        _valid_png(tmp_path / "figs" / f"{name}.png")
    assert "Figures: figs/layer_plan.png" in capsys.readouterr().out


def test_demo_default_folder(tmp_path, capsys):
    assert main(["demo", "--stimuli", "200", "--splits", "1", "--x-layers", "2", "--y-layers",
                 "3", "--units", "8", "--seed", "4", "--figure-format", "svg"]) == 0
    assert (tmp_path / "hotalign-demo" / "layer_plan.svg").is_file()


@pytest.mark.parametrize("fmt", ["npz", "npy", "safetensors", "h5"])
def test_align_each_format(tmp_path, systems, fmt, capsys):
    X, Y = systems
    x = _write(fmt, X, tmp_path / "x")
    y = _write(fmt, Y, tmp_path / "y")
    assert main(["align", str(x), str(y), "--out", "res", "--splits", "2", "--quiet"]) == 0
    assert capsys.readouterr().out == ""  # --quiet
    res = json.loads((tmp_path / "res" / "results.json").read_text())
    ref = evaluate(X, Y, n_splits=2, random_state=0)
    for m in ref.methods:
        assert res["scores"][m]["mean"] == ref.mean(m)
        assert res["scores"][m]["std"] == ref.std(m)
        assert len(res["scores"][m]["layers"]) == 3
    assert res["distance"]["splits"] == ref.distances.tolist()
    assert np.array(res["C"]["all_rows"]).shape == (3, 4)
    P = np.array(res["P"]["all_rows"])
    np.testing.assert_allclose(P.sum(axis=1), 1 / 3)
    assert res["hotalign_version"] == hotalign.__version__
    assert len(res["inputs"]["X"]["sha256"]) == 64
    assert res["inputs"]["Y"]["layers"][0].endswith("layer_0")
    assert res["parameters"]["splits"] == 2 and res["parameters"]["test_size"] == 0.2
    plans = read_plans(tmp_path / "res" / "plans.npz")
    assert len(plans["plans"]) == 12 and plans["plans"][(2, 3)]["shape"].tolist() == [10, 14]
    np.testing.assert_allclose(plans["cost"], res["C"]["all_rows"], rtol=0, atol=0)
    for name in ("layer_plan", "layer_distances", "layer_scores", "unit_plan"):
        _valid_png(tmp_path / "res" / f"{name}.png")


def test_align_names_say_which_way_is_better(tmp_path, systems):
    X, Y = systems
    x, y = _write("npz", X, tmp_path / "x"), _write("npz", Y, tmp_path / "y")
    assert main(["align", str(x), str(y), "--out", "res", "--splits", "1", "--quiet"]) == 0
    res = json.loads((tmp_path / "res" / "results.json").read_text())
    assert "lower = more alike" in res["distance"]["meaning"]
    assert "lower = more alike" in res["C"]["meaning"]
    assert "higher is better" in res["score_meaning"]

    def keys(d, prefix=""):
        for k, v in d.items():
            yield prefix + k
            if isinstance(v, dict):
                yield from keys(v, prefix + k + ".")

    for k in keys(res):
        assert not ("score" in k and "distance" in k), k


def test_align_options(tmp_path, systems, capsys):
    X, Y = systems
    ids = np.array([f"img{k:03d}" for k in range(160)])
    x, y = _write("npz", X, tmp_path / "x", ids), _write("npy", Y, tmp_path / "y", ids)
    code = main(["align", str(x), str(y), "--out", "res", "--splits", "2", "--rotation",
                 "--dtype", "float32", "--threads", "1", "--x-layers", "layer_2,layer_0",
                 "--y-layers", "1:4", "--unit-pair", "1,2", "--figure-format", "png,pdf"])
    assert code == 0
    out = capsys.readouterr().out
    assert "| HOT+R |" in out and "| Pairwise-Best OT+R |" in out
    res = json.loads((tmp_path / "res" / "results.json").read_text())
    assert res["inputs"]["X"]["layers"] == ["layer_2", "layer_0"]
    assert res["inputs"]["Y"]["layers"] == ["layer_1", "layer_2", "layer_3"]
    assert res["parameters"]["dtype"] == "float32" and res["parameters"]["rotation"] is True
    assert "hot_r" in res["scores"] and "lower = more alike" in res["rotation"]["meaning"]
    assert np.array(res["rotation"]["P"]["all_rows"]).shape == (2, 3)
    assert read_plans(tmp_path / "res" / "plans_rotation.npz")["x_layers"] == ["layer_2",
                                                                                "layer_0"]
    assert (tmp_path / "res" / "unit_plan.pdf").read_bytes()[:5] == b"%PDF-"


def test_trajectory(tmp_path, capsys):
    X, _, _ = make_hierarchy(150, (8, 8), (8, 8), random_state=1)
    rng = np.random.default_rng(0)
    for name in ("A", "B"):
        for k in range(3):  # checkpoints that drift away from the final network
            layers = [A + (2 - k) * 0.8 * A.std(0) * rng.standard_normal(A.shape) for A in X]
            np.savez(_ckpt(tmp_path, name, k), **{f"l{i}": A for i, A in enumerate(layers)})
    assert main(["trajectory", "A", "B", "--out", "traj", "--quiet"]) == 0
    res = json.loads((tmp_path / "traj" / "results.json").read_text())
    assert res["inputs"]["A"]["checkpoints"] == ["step_2", "step_10", "step_100"]
    G = np.array(res["coupling"]["values"])
    np.testing.assert_allclose(G, np.eye(3) / 3, atol=1e-12)
    assert "lower = more alike" in res["D"]["meaning"]
    _valid_png(tmp_path / "traj" / "checkpoint_coupling.png")
    assert res["cache"]["layer_pairs"] == {"hits": 0, "misses": 36, "invalid": 0}  # 6 x 6 layers
    assert main(["trajectory", "A", "B", "--out", "traj", "--quiet", "--resume"]) == 0
    again = json.loads((tmp_path / "traj" / "results.json").read_text())
    assert again["cache"]["layer_pairs"] == {"hits": 36, "misses": 0, "invalid": 0}
    assert again["D"] == res["D"] and again["coupling"] == res["coupling"]


def _ckpt(root, name, k):
    folder = root / name
    folder.mkdir(exist_ok=True)
    return folder / f"step_{[2, 10, 100][k]}.npz"


def test_bench_solvers_wired(tmp_path, capsys):
    code = main(["bench", "solvers", "--sizes", "8", "--shapes", "square", "--costs", "uniform",
                 "--repeats", "1", "--peers", "none", "--out", "bench"])
    assert code == 0
    assert (tmp_path / "bench" / "solvers.json").is_file()


# -- bad input: exit code 2 and one line naming the file and the problem ------------------------


def _bad_inputs(tmp_path, systems):
    X, Y = systems
    good = _write("npz", X, tmp_path / "good")
    yield "missing file", ["align", str(good), "nope.npz"], "nope.npz: no such file"
    (tmp_path / "acts.csv").write_text("1,2\n")
    yield "wrong extension", ["align", str(good), "acts.csv"], "acts.csv: unsupported file type"
    np.savez(tmp_path / "pickled.npz", a=np.array([{"x": 1}], dtype=object))
    yield "pickled npz", ["align", str(good), "pickled.npz"], \
        "pickled.npz: member 'a' is an object (pickled) array"
    np.savez(tmp_path / "ragged.npz", a=np.ones((160, 2)), b=np.ones((150, 2)))
    yield "different T", ["align", str(good), "ragged.npz"], \
        "ragged.npz: layer 'b' has 150 rows"
    ids = np.arange(160)
    x_ids = _write("npz", X, tmp_path / "xi", ids)
    y_ids = _write("npz", Y, tmp_path / "yi", ids[::-1].copy())
    yield "stimulus ids", ["align", str(x_ids), str(y_ids)], \
        "yi.npz: stimulus_ids differ from"
    st = _write("safetensors", Y, tmp_path / "st")
    raw = bytearray(st.read_bytes())
    raw[9:14] = b"\xff\xfe:::"
    st.write_bytes(bytes(raw))
    yield "corrupt safetensors", ["align", str(good), str(st)], \
        "st.safetensors: corrupt safetensors header"
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.create_group("acts")
    yield "empty hdf5 group", ["align", str(good), "empty.h5"], \
        "empty.h5: HDF5 file holds no datasets"
    yield "zero splits", ["align", str(good), str(good), "--splits", "0"], \
        "--splits must be >= 1, got 0"
    yield "bad layers", ["align", str(good), str(good), "--layers", "fc*"], \
        "good.npz: no layer matches 'fc*'"


def test_bad_inputs_exit_2_with_one_line(tmp_path, systems, capsys):
    cases = list(_bad_inputs(tmp_path, systems))
    assert len(cases) == 9
    for label, argv, message in cases:
        assert main(argv + ["--out", "res"]) == 2, label
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert err.count("\n") == 0, (label, err)
        assert err.startswith("hotalign: error: ") and message in err, (label, err)
        assert "Traceback" not in captured.err + captured.out
        assert not (tmp_path / "res" / "results.json").exists()


def test_bad_input_subprocess_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hotalign.cli", "align", "a.npz", "b.npz"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr == "hotalign: error: a.npz: no such file or directory\n"


def test_other_failures_exit_1(tmp_path, systems, monkeypatch, capsys):
    X, Y = systems
    x, y = _write("npz", X, tmp_path / "x"), _write("npz", Y, tmp_path / "y")

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("hotalign.io.write_plans", boom)
    assert main(["align", str(x), str(y), "--splits", "1", "--quiet"]) == 1
    assert "hotalign: failed: RuntimeError: disk on fire" in capsys.readouterr().err


# -- resumable runs ------------------------------------------------------------------------------


def _run(argv, **kwargs):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE",)}
    return subprocess.Popen([sys.executable, "-m", "hotalign.cli", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def _entries(folder):
    return sorted(folder.glob("*.npz")) if folder.is_dir() else []


def _same_outputs(a, b):
    """results.json and plans.npz of the output folders a and b hold the same results."""
    ra, rb = (json.loads((d / "results.json").read_text()) for d in (a, b))
    for key in ("scores", "distance", "C", "P", "constant_units", "inputs"):
        assert ra[key] == rb[key], key
    pa, pb = read_plans(a / "plans.npz"), read_plans(b / "plans.npz")
    assert pa["plans"].keys() == pb["plans"].keys()
    for pair in pb["plans"]:
        for k in ("rows", "cols", "weights"):
            np.testing.assert_array_equal(pa["plans"][pair][k], pb["plans"][pair][k])
    return ra


@pytest.mark.slow
def test_run_killed_mid_grid_resumes_only_missing_pairs(tmp_path):
    rng = np.random.default_rng(5)  # random layers: ~20 ms per pair, ~0.7 s per 6 x 6 grid
    for name in ("x", "y"):
        np.savez(tmp_path / f"{name}.npz", **{f"l{i}": rng.standard_normal((400, 512), np.float32)
                                             for i in range(6)})
    argv = ["align", "x.npz", "y.npz", "--splits", "1", "--threads", "1", "--quiet",
            "--figure-format", "svg"]  # two fits (the split, all rows) of 36 pairs each

    proc = _run(argv + ["--out", "killed"])
    fits, pairs = tmp_path / "killed" / "cache", tmp_path / "killed" / "cache" / "pairs"
    deadline = time.monotonic() + 120
    while len(_entries(pairs)) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL  # killed mid-run, not finished
    assert not (tmp_path / "killed" / "results.json").exists()
    done = _entries(pairs)
    for entry in done:  # every entry on disk is complete
        with np.load(entry, allow_pickle=False) as npz:
            assert json.loads(bytes(npz["__meta__"]).decode())["key"] == entry.stem
    n_fits = len(_entries(fits))
    in_grid = len(done) - 36 * n_fits  # pairs of the grid that was running
    assert 0 < in_grid < 36

    assert main(argv + ["--out", "killed", "--resume"]) == 0
    assert main(argv + ["--out", "clean"]) == 0
    res = _same_outputs(tmp_path / "killed", tmp_path / "clean")
    assert res["cache"]["directory"] == "killed/cache" and res["cache"]["size_bytes"] > 0
    del res["cache"]["directory"], res["cache"]["size_bytes"]
    assert res["cache"] == {"fits": {"hits": n_fits, "misses": 2 - n_fits, "invalid": 0},
                            "layer_pairs": {"hits": in_grid,
                                            "misses": 36 * (2 - n_fits) - in_grid,
                                            "invalid": 0}}
    clean = json.loads((tmp_path / "clean" / "results.json").read_text())
    assert clean["cache"]["layer_pairs"] == {"hits": 0, "misses": 72, "invalid": 0}
    assert not list(pairs.glob(".*.tmp"))


KILL_IN_WRITE = """
import os, signal, sys
from hotalign.cli import main
real, calls = os.replace, []
def replace(src, dst):  # SIGKILL between the fsync of entry k and its rename
    calls.append(dst)
    if len(calls) == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
os.replace = replace
main(sys.argv[2:])
"""


def test_kill_inside_an_entry_write_leaves_no_corrupt_entry(tmp_path, systems):
    X, Y = systems  # 3 x 4 layers: 12 pairs per fit, 3 fits
    x, y = _write("npz", X, tmp_path / "x"), _write("npz", Y, tmp_path / "y")
    argv = ["align", str(x), str(y), "--splits", "2", "--threads", "1", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-c", KILL_IN_WRITE, "5", *argv, "--out", "killed"])
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    pairs = tmp_path / "killed" / "cache" / "pairs"
    assert len(_entries(pairs)) == 4 and len(list(pairs.glob(".*.tmp"))) == 1
    assert main(argv + ["--out", "killed", "--resume"]) == 0
    assert main(argv + ["--out", "clean"]) == 0
    res = _same_outputs(tmp_path / "killed", tmp_path / "clean")
    del res["cache"]["directory"], res["cache"]["size_bytes"]
    assert res["cache"] == {"fits": {"hits": 0, "misses": 3, "invalid": 0},
                            "layer_pairs": {"hits": 4, "misses": 32, "invalid": 0}}
    assert not list(pairs.glob(".*.tmp")) and len(_entries(pairs)) == 36


def test_resume_ignores_entries_of_other_parameters(tmp_path, systems):
    X, Y = systems
    x, y = _write("npz", X, tmp_path / "x"), _write("npz", Y, tmp_path / "y")
    base = ["align", str(x), str(y), "--out", "res", "--splits", "2", "--quiet"]

    def cache():
        res = json.loads((tmp_path / "res" / "results.json").read_text())["cache"]
        return ({k: res["fits"][k] for k in ("hits", "misses")},
                {k: res["layer_pairs"][k] for k in ("hits", "misses")})

    assert main(base) == 0
    assert main(base + ["--resume", "--dtype", "float32"]) == 0
    assert cache() == ({"hits": 0, "misses": 3}, {"hits": 0, "misses": 36})
    assert main(base + ["--resume", "--test-size", "0.3"]) == 0
    # only the all-rows fit is the same; the splits' pairs hold other rows
    assert cache() == ({"hits": 1, "misses": 2}, {"hits": 0, "misses": 24})
    assert main(base + ["--resume", "--threads", "1"]) == 0  # threads never change results
    assert cache() == ({"hits": 3, "misses": 0}, {"hits": 0, "misses": 0})
    assert main(base + ["--threads", "1", "--force"]) == 0  # no --resume: written, not read
    assert cache() == ({"hits": 0, "misses": 3}, {"hits": 0, "misses": 36})


def test_tqdm_progress_adapter(capsys):
    from hotalign.cli import TqdmProgress

    with TqdmProgress("pairs", "pair", disable=False) as bar:
        for done in (1, 3, 4):
            bar(done, 4)
        assert bar.bar.n == 4
        bar(1, 6)  # a new grid restarts the bar
        assert (bar.bar.n, bar.bar.total) == (1, 6)
    assert "pairs" in capsys.readouterr().err
    silent = TqdmProgress("pairs")  # stderr is not a terminal under pytest: silent
    silent(1, 2)
    assert silent.bar is None


def test_demo_without_matplotlib_skips_figures(monkeypatch, capsys, tmp_path):
    # The core install has no matplotlib: the demo still runs and says what it skipped.
    from hotalign import plotting

    monkeypatch.setattr(plotting, "available", lambda: False)
    code = main(["demo", "--stimuli", "300", "--splits", "2", "--out", str(tmp_path / "d")])
    captured = capsys.readouterr()
    assert code == 0
    assert "figures skipped: matplotlib is not installed" in captured.err
    assert "| HOT |" in captured.out
    assert not list((tmp_path / "d").glob("*.png"))


def test_align_with_a_memory_budget_matches_unlimited(tmp_path, systems):
    X, Y = systems
    x, y = _write("npy", X, tmp_path / "x"), _write("npy", Y, tmp_path / "y")  # memory-mapped
    base = ["align", str(x), str(y), "--splits", "2", "--quiet"]
    assert main([*base, "--out", "full"]) == 0
    assert main([*base, "--out", "lean", "--max-layers-in-memory", "2"]) == 0
    full = json.loads((tmp_path / "full" / "results.json").read_text())
    lean = json.loads((tmp_path / "lean" / "results.json").read_text())
    assert lean["scores"] == full["scores"]
    assert lean["C"] == full["C"] and lean["P"] == full["P"]


def test_align_bad_memory_budget_exits_2(tmp_path, systems, capsys):
    X, Y = systems
    x, y = _write("npz", X, tmp_path / "x"), _write("npz", Y, tmp_path / "y")
    code = main(["align", str(x), str(y), "--out", "r", "--max-layers-in-memory", "1"])
    assert code == 2
    assert "--max-layers-in-memory" in capsys.readouterr().err


def test_rotation_run_killed_mid_grid_resumes_only_missing_pairs(tmp_path):
    """align --rotation: HOT+R pairs are cached one by one, so --resume after a kill solves
    only the pairs that were not finished, with identical results."""
    rng = np.random.default_rng(8)
    for name in ("x", "y"):
        np.savez(tmp_path / f"{name}.npz", **{f"l{i}": rng.standard_normal((300, 200))
                                             for i in range(4)})
    argv = ["align", "x.npz", "y.npz", "--splits", "1", "--threads", "1", "--quiet",
            "--rotation", "--figure-format", "svg"]
    proc = _run(argv + ["--out", "killed"])
    pairs = tmp_path / "killed" / "cache" / "pairs"
    deadline = time.monotonic() + 240

    def n_rotation_pairs():
        n = 0
        for entry in _entries(pairs):
            with np.load(entry, allow_pickle=False) as npz:
                n += '"PairRotation"' in bytes(npz["__meta__"]).decode()
        return n

    # The split fits its 16 plain pairs first, then its 16 HOT+R pairs: counting the files
    # (no decoding, so the poll keeps up with the run) finds the third HOT+R pair.
    while len(_entries(pairs)) < 16 + 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    done = n_rotation_pairs()
    assert 3 <= done < 16  # killed inside the split's HOT+R grid (16 pairs)
    assert main(argv + ["--out", "killed", "--resume"]) == 0
    assert main(argv + ["--out", "clean"]) == 0
    res = _same_outputs(tmp_path / "killed", tmp_path / "clean")
    clean = json.loads((tmp_path / "clean" / "results.json").read_text())
    assert res["rotation"] == clean["rotation"]
    # The split's plain fit is reused whole; of its HOT+R grid exactly the finished pairs are
    # reused and the others solved; the all-rows fits (plain and HOT+R) are new.
    assert res["cache"]["fits"]["hits"] == 1
    assert res["cache"]["layer_pairs"]["hits"] == done
    assert res["cache"]["layer_pairs"]["misses"] == (16 - done) + 16 + 16
    assert clean["cache"]["layer_pairs"]["misses"] == 4 * 16
