"""Cache policy: plans stored once, size and pruning, and the CLI's ``--no-cache``,
``--cache-dir`` and ``hotalign cache info|prune``."""

import json
import os
import time

import numpy as np
import pytest

from hotalign import HOT
from hotalign.cache import FitCache, Memory, prune, usage
from hotalign.cache.store import _HOST
from hotalign.cli import main
from hotalign.cli.cache import _duration
from hotalign.datasets import make_hierarchy


@pytest.fixture(scope="module")
def data():
    X, Y, _ = make_hierarchy(150, (8, 9), (10, 8, 7), random_state=4)
    return X, Y


def _meta(path):
    with np.load(path, allow_pickle=False) as npz:
        return json.loads(bytes(npz["__meta__"]).decode())


def _nodes(node):
    """Every JSON node of an entry's state, depth first."""
    if isinstance(node, dict):
        if "t" in node:
            yield node
        for v in node.values():
            yield from _nodes(v)
    elif isinstance(node, list):
        for v in node:
            yield from _nodes(v)


def _fit_through(memory, X, Y, **params):
    return HOT(memory=memory, **params).fit(X, Y)


def _same_fit(a, b):
    for name in ("layer_costs_", "layer_plan_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.distance_ == b.distance_
    for ra, rb in zip(a.unit_plans_, b.unit_plans_):
        for p, q in zip(ra, rb):
            for k in ("rows", "cols", "weights", "u", "v"):
                np.testing.assert_array_equal(getattr(p, k), getattr(q, k))
            assert (p.cost, p.status, p.method, p.shape) == (q.cost, q.status, q.method, q.shape)


# -- plans stored once ---------------------------------------------------------------------------


def test_fit_entries_refer_to_pair_entries(tmp_path, data):
    X, Y = data
    memory = Memory(tmp_path)
    fresh = _fit_through(memory, X, Y)
    (entry,) = tmp_path.glob("*.npz")
    nodes = list(_nodes(_meta(entry)["state"]))
    refs = [n for n in nodes if n["t"] == "r"]
    assert len(refs) == len(X) * len(Y) == len(memory.pairs)
    assert {f"{n['k']}.npz" for n in refs} == {p.name for p in (tmp_path / "pairs").iterdir()}
    assert not [n for n in nodes if n.get("c") == "TransportResult"]  # no second copy
    # Without the pair cache the same fit stores its plans inline: the entry is much larger.
    inline = FitCache(tmp_path / "inline")
    inline.store(inline.key(HOT(), X, Y), HOT().fit(X, Y))
    (inline_entry,) = (tmp_path / "inline").glob("*.npz")
    assert entry.stat().st_size < inline_entry.stat().st_size / 2

    again = Memory(tmp_path)
    loaded = _fit_through(again, X, Y)
    assert again.fits.hits == 1
    _same_fit(loaded, fresh)


def test_excluded_units_are_stored_inline_rotation_plans_by_reference(tmp_path, data):
    X, Y = data
    X = [A.copy() for A in X]
    X[0][:, 2] = 1.5  # constant: layer 0's plans are re-indexed, not the pair entries' objects
    memory = Memory(tmp_path)
    fresh = _fit_through(memory, X, Y)
    (entry,) = tmp_path.glob("*.npz")
    nodes = list(_nodes(_meta(entry)["state"]))
    assert len([n for n in nodes if n["t"] == "r"]) == (len(X) - 1) * len(Y)
    assert len([n for n in nodes if n.get("c") == "TransportResult"]) == len(Y)
    _same_fit(_fit_through(Memory(tmp_path), X, Y), fresh)
    rot = _fit_through(memory, X, Y, rotation=True, max_rounds=3)
    rot_entry = next(p for p in tmp_path.glob("*.npz") if p != entry)
    refs = [n for n in _nodes(_meta(rot_entry)["state"]) if n["t"] == "r"]
    assert len(refs) == (len(X) - 1) * len(Y) and all(n["p"] == "plan" for n in refs)
    reloaded = Memory(tmp_path)
    _same_fit(_fit_through(reloaded, X, Y, rotation=True, max_rounds=3), rot)
    assert reloaded.fits.hits == 1


def test_fit_whose_pair_entries_are_gone_is_recomputed(tmp_path, data):
    X, Y = data
    fresh = _fit_through(Memory(tmp_path), X, Y)
    next((tmp_path / "pairs").glob("*.npz")).unlink()
    memory = Memory(tmp_path, report=lambda message: None)
    again = _fit_through(memory, X, Y)
    fits, pairs = memory.fits, memory.pairs
    assert (fits.hits, fits.misses, fits.invalid) == (0, 1, 1)
    assert (pairs.hits, pairs.misses) == (len(X) * len(Y) - 1, 1)
    _same_fit(again, fresh)


@pytest.mark.parametrize("key", ["../../elsewhere", "0" * 63, "A" * 64, 7, None])
def test_reference_with_a_bad_key_is_a_miss(tmp_path, data, key):
    X, Y = data
    _fit_through(Memory(tmp_path), X, Y)
    (entry,) = tmp_path.glob("*.npz")
    meta = _meta(entry)
    next(n for n in _nodes(meta["state"]) if n["t"] == "r")["k"] = key
    with np.load(entry, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(entry, **arrays)
    fits = Memory(tmp_path, report=lambda m: None).fits
    assert fits.load(entry.stem, HOT(), X, Y) is None
    assert fits.invalid == 1


def test_references_need_the_pair_cache(tmp_path, data):
    X, Y = data
    _fit_through(Memory(tmp_path), X, Y)
    lone = FitCache(tmp_path, report=lambda m: None)  # no pair cache to resolve references
    assert lone.restore(HOT(), X, Y)[1] is False
    assert (lone.hits, lone.invalid) == (0, 1)


# -- size and pruning ------------------------------------------------------------------------------


def _populate(folder, data):
    X, Y = data
    _fit_through(Memory(folder), X, Y)
    return len(X) * len(Y)


def test_usage_counts_each_kind(tmp_path, data):
    n_pairs = _populate(tmp_path, data)
    (tmp_path / "notes.txt").write_text("not an entry")
    live = tmp_path / "pairs" / f".{'a' * 64}.npz.{_HOST}.{os.getpid()}.1.tmp"
    live.write_bytes(b"12345")
    use = usage(tmp_path)
    assert use["fits"]["entries"] == 1 and use["layer_pairs"]["entries"] == n_pairs
    assert use["temporary"] == {"entries": 1, "bytes": 5}
    assert use["entries"] == 1 + n_pairs
    on_disk = sum(p.stat().st_size for p in [*tmp_path.glob("*.npz"),
                                             *(tmp_path / "pairs").glob("*.npz")])
    assert use["bytes"] == on_disk + 5
    assert use["oldest"] <= use["newest"] <= time.time()
    assert usage(tmp_path / "missing")["entries"] == 0


def test_prune_by_last_use_and_never_foreign_files(tmp_path, data):
    n_pairs = _populate(tmp_path, data)
    foreign = [tmp_path / "layer_0.npz", tmp_path / "notes.txt", tmp_path / "pairs" / "x.npz"]
    for path in foreign:
        path.write_bytes(b"keep me")
    old = time.time() - 10 * 86400
    stale = sorted((tmp_path / "pairs").glob("*.npz"))[:2]
    for path in stale:
        os.utime(path, (old, old))
    done = prune(tmp_path, older_than=7 * 86400)
    assert done["entries"] == 2 and not any(p.exists() for p in stale)
    assert usage(tmp_path)["entries"] == n_pairs - 1
    done = prune(tmp_path)
    assert done["entries"] == n_pairs - 1 and usage(tmp_path)["entries"] == 0
    assert all(p.read_bytes() == b"keep me" for p in foreign)
    with pytest.raises(ValueError, match="older_than"):
        prune(tmp_path, older_than=-1)


def test_a_hit_refreshes_last_use(tmp_path, data):
    X, Y = data
    _populate(tmp_path, data)
    old = time.time() - 30 * 86400
    for path in [*tmp_path.glob("*.npz"), *(tmp_path / "pairs").glob("*.npz")]:
        os.utime(path, (old, old))
    memory = Memory(tmp_path)
    _fit_through(memory, X, Y)
    assert memory.fits.hits == 1
    assert prune(tmp_path, older_than=86400)["entries"] == 0  # the fit and its pairs were used


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("12h", 43200), ("7d", 604800),
                                           ("2w", 1209600), ("3", 259200), ("0", 0),
                                           ("1.5h", 5400)])
def test_duration(text, seconds):
    assert _duration(text) == seconds


# -- command line ------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path, monkeypatch, data):
    monkeypatch.chdir(tmp_path)
    X, Y = data
    np.savez(tmp_path / "x.npz", *X)
    np.savez(tmp_path / "y.npz", *Y)
    return tmp_path


ALIGN = ["align", "x.npz", "y.npz", "--splits", "2", "--figure-format", "svg"]


def test_run_prints_the_cache_size_and_stores_plans_once(files, capsys):
    assert main([*ALIGN, "--out", "res"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    use = usage(files / "res" / "cache")
    assert last.startswith("cache: ") and f"in {use['entries']} entries at res/cache" in last
    assert "hotalign cache prune res/cache --max-size" in last  # frees space right after a run
    res = json.loads((files / "res" / "results.json").read_text())
    assert res["cache"]["directory"] == "res/cache" and res["cache"]["size_bytes"] == use["bytes"]
    for entry in (files / "res" / "cache").glob("*.npz"):  # 3 fits: 2 splits and all rows
        assert not [n for n in _nodes(_meta(entry)["state"]) if n.get("c") == "TransportResult"]


def test_no_cache_writes_no_cache_and_gives_the_same_results(files, capsys):
    assert main([*ALIGN, "--out", "cached", "--quiet"]) == 0
    assert main([*ALIGN, "--out", "plain", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert not (files / "plain" / "cache").exists()
    assert "cache:" not in out and "reused" not in out
    a, b = (json.loads((files / d / "results.json").read_text()) for d in ("cached", "plain"))
    assert b["cache"] is None
    for key in ("scores", "distance", "C", "P"):
        assert a[key] == b[key]


def test_cache_dir_elsewhere_is_used_and_resumed(files, capsys):
    assert main([*ALIGN, "--out", "one", "--cache-dir", "shared", "--quiet"]) == 0
    assert not (files / "one" / "cache").exists()
    fits_before = usage(files / "shared")["fits"]["entries"]
    assert fits_before == 3
    assert main([*ALIGN, "--out", "two", "--cache-dir", "shared", "--resume", "--quiet"]) == 0
    res = json.loads((files / "two" / "results.json").read_text())
    assert res["cache"]["fits"]["hits"] == 3 and res["cache"]["fits"]["misses"] == 0
    assert usage(files / "shared")["fits"]["entries"] == fits_before


def test_trajectory_cache_options(files, capsys):
    X, Y = make_hierarchy(100, (6, 6), (6, 6), random_state=1)[:2]
    for run in ("A", "B"):
        (files / run).mkdir()
        for k in range(2):
            np.savez(files / run / f"ckpt{k}.npz", *(X if k == 0 else Y))
    assert main(["trajectory", "A", "B", "--out", "t1", "--no-cache", "--quiet",
                 "--figure-format", "svg"]) == 0
    assert not (files / "t1" / "cache").exists()
    assert main(["trajectory", "A", "B", "--out", "t2", "--cache-dir", "tc", "--quiet",
                 "--figure-format", "svg"]) == 0
    assert usage(files / "tc")["layer_pairs"]["entries"] > 0
    r1, r2 = (json.loads((files / d / "results.json").read_text()) for d in ("t1", "t2"))
    assert r1["D"] == r2["D"] and r1["cache"] is None


@pytest.mark.parametrize("argv, message", [
    (["--no-cache", "--resume"], "--resume reads the cache"),
    (["--no-cache", "--cache-dir", "c"], "--cache-dir names a cache"),
    (["--cache-dir", "x.npz"], "--cache-dir x.npz: exists and is not a directory"),
])
def test_bad_cache_options_exit_2(files, capsys, argv, message):
    assert main([*ALIGN, "--out", "res", *argv]) == 2
    assert message in capsys.readouterr().err


def test_cache_info_and_prune_commands(files, capsys):
    assert main([*ALIGN, "--out", "res", "--quiet"]) == 0
    use = usage(files / "res" / "cache")
    assert main(["cache", "info", "res"]) == 0  # an --out folder means its cache/
    out = capsys.readouterr().out
    assert out.startswith(f"cache res/cache: ") and f"in {use['entries']} entries" in out
    assert main(["cache", "info", "res/cache", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bytes"] == use["bytes"]
    assert main(["cache", "prune", "res", "--older-than", "7d"]) == 0
    assert "removed 0 entries not used for 1w" in capsys.readouterr().out
    assert usage(files / "res" / "cache")["entries"] == use["entries"]
    assert main(["cache", "prune", "res"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"removed {use['entries']} entries") and "0 B in 0 entries left" in out
    assert (files / "res" / "results.json").is_file()  # only cache entries are removed


def test_cache_command_bad_input_exits_2(files, capsys):
    assert main(["cache", "info", "nowhere"]) == 2
    assert "nowhere: not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["cache", "prune", ".", "--older-than", "soon"])
    assert exc.value.code == 2
    assert "expected a duration" in capsys.readouterr().err
