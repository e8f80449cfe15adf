"""The command line's edges: constant layers, progress off a terminal, the cache bound, the
``--out`` guard, "did you mean", flattened layers and what ``--help`` says."""

import argparse
import io
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from hotalign.cache import prune, usage
from hotalign.cli import build_parser, main
from hotalign.cli.options import _byte_size
from hotalign.cli.shared import TqdmProgress



@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _systems(constant=True, seed=0):
    """X (two layers) and Y with a layer 'emb' whose units are all constant (as CLS pooling
    makes the embeddings layer) and a 4-D layer 'deep'."""
    rng = np.random.default_rng(seed)
    np.savez("X.npz", a=rng.random((60, 4)), b=rng.random((60, 5)))
    Y = {"enc": rng.random((60, 5)), "deep": rng.random((60, 2, 2, 2))}
    if constant:
        Y["emb"] = np.full((60, 3), 0.25)
    np.savez("Y.npz", **Y)


def _lines(text):
    return [line for line in text.splitlines() if line.strip()]


def _align(*extra):
    return main(["align", "X.npz", "Y.npz", "--out", "res", "--splits", "2", "--quiet",
                 *extra])


# -- --constant-units -------------------------------------------------------------------------


def test_constant_layer_error_names_the_layer_and_the_way_round(capsys):
    _systems()
    assert _align() == 2
    err = _lines(capsys.readouterr().err)[-1]
    assert err.startswith("hotalign: error: ")
    assert "layer 'emb' of Y.npz" in err and "Y[" not in err
    assert "--constant-units drop" in err and "--layers" in err


def test_constant_units_drop_leaves_the_layer_out(capsys, tmp_path):
    _systems()
    assert _align("--constant-units", "drop") == 0
    err = capsys.readouterr().err
    assert "--constant-units drop: left out 1 layer(s)" in err and "'emb'" in err
    res = json.loads((tmp_path / "res" / "results.json").read_text())
    assert res["parameters"]["constant_units"] == "drop"
    assert res["parameters"]["dropped_constant_layers"] == {"X": [], "Y": ["emb"]}
    assert res["inputs"]["Y"]["layers"] == ["deep", "enc"]
    # the same as selecting the other layers by hand
    assert _align("--y-layers", "deep,enc", "--out", "res2") == 0
    again = json.loads((tmp_path / "res2" / "results.json").read_text())
    assert again["distance"] == res["distance"] and again["C"] == res["C"]


def test_constant_units_drop_of_every_layer_is_an_error(capsys):
    np.savez("X.npz", a=np.ones((30, 3)))
    np.savez("Y.npz", a=np.random.default_rng(0).random((30, 3)))
    assert _align("--constant-units", "drop") == 2
    assert "every layer has only constant units" in capsys.readouterr().err


def test_trajectory_constant_units(capsys, tmp_path):
    rng = np.random.default_rng(1)
    for run in ("A", "B"):
        for c in ("c1", "c2"):
            (tmp_path / run / c).mkdir(parents=True)
            np.save(tmp_path / run / c / "l1.npy", rng.random((40, 5)))
            np.save(tmp_path / run / c / "l2.npy", np.zeros((40, 3)) + (run == "A"))
    assert main(["trajectory", "A", "B", "--out", "t", "--quiet"]) == 2
    err = _lines(capsys.readouterr().err)[-1]
    assert "layer 'l2' of checkpoint 0 of A" in err and "--constant-units drop" in err
    assert main(["trajectory", "A", "B", "--out", "t2", "--quiet", "--constant-units",
                 "drop"]) == 0
    res = json.loads((tmp_path / "t2" / "results.json").read_text())
    assert res["parameters"]["constant_units"] == "drop"


def test_capture_warns_about_a_constant_layer(tmp_path):
    torch = pytest.importorskip("torch")
    from hotalign.capture import ConstantLayerWarning, capture

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Linear(6, 3))
    with torch.no_grad():
        model[1].weight.zero_()  # its output is its bias: the same for every stimulus
    batches = [torch.rand(10, 4) for _ in range(3)]
    with pytest.warns(ConstantLayerWarning, match=r"'1'.*--constant-units drop"):
        capture(model, batches, tmp_path / "cap", n_stimuli=30, progress=False)
    assert (tmp_path / "cap" / "layers.json").is_file()  # written all the same


# -- hf: ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["hf:./no-such-folder", "hf:no-such-org/no-such-model-xyz"])
def test_missing_hf_model_is_one_line_and_exit_2(spec, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    (tmp_path / "s.txt").write_text("a sentence\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf-home")}
    proc = subprocess.run([sys.executable, "-m", "hotalign", "capture", spec, "s.txt", "--out",
                           "o"], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = _lines(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"hotalign: error: MODEL {spec}")
    assert "Traceback" not in proc.stderr and "connect" not in proc.stderr


@pytest.mark.slow
def test_hf_folder_loads_offline(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from hotalign.capture import load_model

    config = transformers.BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=16)
    transformers.BertModel(config).save_pretrained(tmp_path / "tiny-bert")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, preprocess = load_model("hf:./tiny-bert")
    assert type(model).__name__ == "BertModel" and callable(preprocess)


# -- progress off a terminal ---------------------------------------------------------------------


def test_progress_lines_when_stderr_is_not_a_terminal(monkeypatch):
    fake = io.StringIO()  # isatty() is False
    monkeypatch.setattr(sys, "stderr", fake)
    monkeypatch.setenv("HOTALIGN_PROGRESS_INTERVAL", "3600")
    bar = TqdmProgress("layer pairs", "pair", label="align")
    for done in range(1, 5):
        bar(done, 4)
    assert fake.getvalue() == ""  # within the interval: nothing until it has passed
    monkeypatch.setenv("HOTALIGN_PROGRESS_INTERVAL", "0")
    bar = TqdmProgress("layer pairs", "pair", label="align")
    for done in range(1, 4):
        bar(done, 3)
    bar(3, 3)  # a completed count is said once
    lines = fake.getvalue().splitlines()
    assert [re.sub(r"[0-9.]+ s$", "T s", x) for x in lines] == [
        f"align: {k}/3 layer pairs, T s" for k in (1, 2, 3)]
    assert TqdmProgress("x", disable=True).lines is False


def test_align_prints_progress_lines_to_a_pipe(tmp_path):
    _systems(constant=False)
    env = {**os.environ, "HOTALIGN_PROGRESS_INTERVAL": "0"}
    argv = [sys.executable, "-m", "hotalign", "align", "X.npz", "Y.npz", "--splits", "2"]
    proc = subprocess.run([*argv, "--out", "r"], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    progress = [x for x in proc.stderr.splitlines() if x.startswith("align: ")]
    assert any(re.fullmatch(r"align: \d+/4 layer pairs, [0-9.]+ s", x) for x in progress)
    assert any(re.fullmatch(r"align: 2/2 splits, [0-9.]+ s", x) for x in progress)
    quiet = subprocess.run([*argv, "--out", "q", "--quiet"], cwd=tmp_path,
                           capture_output=True, text=True, env=env, timeout=300, check=False)
    assert quiet.returncode == 0
    assert not [x for x in quiet.stderr.splitlines() if x.startswith("align: ")]


# -- the cache bound ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, size", [("0", 0), ("500", 500), ("2K", 2048),
                                         ("1.5GiB", 3 << 29), ("4g", 4 << 30), ("3MB", 3 << 20)])
def test_byte_size(text, size):
    assert _byte_size(text) == size


@pytest.mark.parametrize("text", ["", "-1G", "4X", "G", "1.2.3"])
def test_bad_byte_size(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected a size"):
        _byte_size(text)


def _entry(folder, k, size, mtime):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{k:064x}.npz"
    path.write_bytes(b"x" * size)
    os.utime(path, (mtime, mtime))
    return path


def test_prune_max_bytes_removes_least_recently_used_first(tmp_path):
    now = time.time()
    cache = tmp_path / "cache"
    pairs = [_entry(cache / "pairs", k, 100, now - 1000 + k) for k in range(5)]
    fit = _entry(cache, 99, 100, now - 1000)  # as old as the oldest pair: removed before it
    other = cache / "notes.txt"
    other.write_text("not an entry")
    done = prune(cache, max_bytes=450)
    assert done == {"entries": 2, "bytes": 200}
    assert not fit.exists() and not pairs[0].exists()
    assert all(p.exists() for p in pairs[1:]) and other.exists()
    assert usage(cache)["bytes"] == 400
    assert prune(cache, max_bytes=400) == {"entries": 0, "bytes": 0}
    assert prune(cache, max_bytes=0)["entries"] == 4 and usage(cache)["entries"] == 0
    with pytest.raises(ValueError, match="max_bytes"):
        prune(cache, max_bytes=-1)


def test_prune_older_than_and_max_bytes_together(tmp_path):
    now = time.time()
    old = _entry(tmp_path, 1, 100, now - 10 * 86400)
    mid = _entry(tmp_path, 2, 100, now - 100)
    new = _entry(tmp_path, 3, 100, now)
    assert prune(tmp_path, 86400, max_bytes=100)["entries"] == 2
    assert not old.exists() and not mid.exists() and new.exists()


def test_cache_prune_max_size_command(tmp_path, capsys):
    now = time.time()
    for k in range(4):
        _entry(tmp_path / "res" / "cache" / "pairs", k, 1024, now - 100 + k)
    assert main(["cache", "prune", "res", "--max-size", "2K"]) == 0
    out = capsys.readouterr().out
    assert "removed 2 entries (2.0 KiB), least recently used first to fit 2.0 KiB, from" in out
    assert usage(tmp_path / "res" / "cache")["entries"] == 2
    with pytest.raises(SystemExit) as exc:
        main(["cache", "prune", "res", "--max-size", "lots"])
    assert exc.value.code == 2
    assert "--max-size: expected a size such as 500M" in capsys.readouterr().err


def test_align_bounds_its_cache(tmp_path, capsys):
    _systems(constant=False)
    assert _align() == 0
    full = usage(tmp_path / "res" / "cache")["bytes"]
    assert full > 0
    capsys.readouterr()
    assert _align("--out", "small", "--cache-max-size", str(full // 2)) == 0
    err = capsys.readouterr().err
    assert "least recently used entries" in err and "--cache-max-size" in err
    assert 0 < usage(tmp_path / "small" / "cache")["bytes"] <= full // 2
    # what is left is still reused, and the results do not change
    assert _align("--out", "small", "--cache-max-size", str(full // 2), "--resume") == 0
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("res", "small"))
    assert a["distance"] == b["distance"]


# -- --out and --resume ---------------------------------------------------------------------------


def test_align_refuses_a_non_empty_out(tmp_path, capsys):
    _systems(constant=False)
    assert _align() == 0
    before = (tmp_path / "res" / "results.json").stat().st_mtime_ns
    capsys.readouterr()
    assert _align() == 2
    err = [x for x in _lines(capsys.readouterr().err) if "note:" not in x]
    assert len(err) == 1 and "hotalign: error: --out res is not empty" in err[0]
    assert "--resume" in err[0] and "--force" in err[0]
    assert (tmp_path / "res" / "results.json").stat().st_mtime_ns == before
    assert _align("--force") == 0
    assert _align("--resume") == 0
    (tmp_path / "empty").mkdir()
    assert _align("--out", "empty") == 0  # an empty folder is fine


def test_a_failed_run_does_not_block_the_next(tmp_path, capsys):
    _systems()  # the constant layer stops the first run after --out was created
    assert _align() == 2
    assert (tmp_path / "res").is_dir()
    assert _align("--constant-units", "drop") == 0


def test_resume_says_what_it_reused(tmp_path, capsys):
    _systems(constant=False)
    base = ["align", "X.npz", "Y.npz", "--out", "res", "--splits", "2"]
    assert main(base + ["--dtype", "float32"]) == 0
    capsys.readouterr()
    assert main(base + ["--resume"]) == 0  # float64: nothing matches
    out = capsys.readouterr().out
    assert "--resume: reused 0 of 3 fits and 0 of 12 layer pairs" in out
    assert "nothing matched" in out and "--dtype" in out
    assert main(base + ["--resume", "--rotation"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"--resume: reused (\d+) of (\d+) fits", out)
    assert found and int(found[1]) == 3 and int(found[2]) == 6


# -- did you mean, no prefixes ------------------------------------------------------------------


@pytest.mark.parametrize("argv, usage_of, suggestion", [
    (["algin", "X", "Y"], "usage: hotalign ", "did you mean 'align'?"),
    (["align", "X", "Y", "--splts", "3"], "usage: hotalign align", "did you mean --splits?"),
    (["align", "X", "Y", "--split", "3"], "usage: hotalign align", "did you mean --splits?"),
    (["align", "X", "Y", "--rotatoin"], "usage: hotalign align", "did you mean --rotation?"),
    (["cache", "prun", "DIR"], "usage: hotalign cache", "did you mean 'prune'?"),
    (["cache", "prune", "DIR", "--max-szie=1G"], "usage: hotalign cache prune",
     "did you mean --max-size?"),
    (["demo", "--stim", "30"], "usage: hotalign demo", "did you mean --stimuli?"),
    (["align", "X", "Y", "--constant-units", "dorp"], "usage: hotalign align",
     "did you mean 'drop'?"),
])
def test_did_you_mean(argv, usage_of, suggestion, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage_of) and err.rstrip().endswith(suggestion)


def test_no_suggestion_for_nonsense(capsys):
    with pytest.raises(SystemExit):
        main(["align", "X", "Y", "--zzzzzzzz"])
    assert "did you mean" not in capsys.readouterr().err


def _parsers(parser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_no_parser_accepts_a_prefix():
    parsers = list(_parsers(build_parser()))
    assert len(parsers) > 10 and all(not p.allow_abbrev for p in parsers)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["align", "X", "Y", "--rot"])


# -- flattened layers, help ------------------------------------------------------------------------


def test_flattening_is_noted_once_per_layer(tmp_path, capsys):
    _systems(constant=False)
    assert _align() == 0
    notes = [x for x in capsys.readouterr().err.splitlines() if "flattened" in x]
    assert notes == ["hotalign: note: Y.npz: layer 'deep': shape (n, 2, 2, 2) flattened to "
                     "(n, 8) units"]


def _help(*command):
    with pytest.raises(SystemExit):
        main([*command, "--help"])


def test_align_help_names_every_format_and_default(capsys):
    _help("align")
    text = " ".join(capsys.readouterr().out.split())
    for fmt in (".npz", "folder of .npy", "single .npy", ".safetensors", ".h5/.hdf5", ".nc",
                "thingsvision", "capture"):
        assert fmt in text, fmt
    assert "seed of the random splits (default: 0)" in text
    assert "execution order" in text and "flattened into units" in text
    assert "(default: 4G)" in text and "(default: error)" in text
    assert "--force" in text


def test_capture_help_documents_hf_folders(capsys):
    _help("capture")
    text = " ".join(capsys.readouterr().out.split())
    assert "hf:FOLDER" in text and "never downloaded" in text and "offline" in text


def test_flattening_is_noted_once_across_checkpoints(tmp_path, capsys):
    rng = np.random.default_rng(2)
    for run in ("A", "B"):
        for c in ("c1", "c2"):
            (tmp_path / run / c).mkdir(parents=True)
            np.save(tmp_path / run / c / "conv.npy", rng.random((30, 2, 3)))
    assert main(["trajectory", "A", "B", "--out", "t", "--quiet"]) == 0
    notes = [x for x in capsys.readouterr().err.splitlines() if "flattened" in x]
    assert len(notes) == 1, notes  # one note, not one per checkpoint
    assert "layer 'conv': shape (n, 2, 3) flattened to (n, 6) units" in notes[0]
