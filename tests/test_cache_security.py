"""A cache folder is untrusted input: a crafted entry never runs code, and an entry that does not
validate is a miss (recomputed, said once), never a hit that leaves stale or foreign state.

Each test writes a real entry, edits its JSON description or arrays the way an attacker (or a
damaged disk) could, and checks that the result equals a run without the cache.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from hotalign import HOT, evaluate
from hotalign.cache import CacheWarning, FitCache, Memory, PairCache
from hotalign.cli import main
from hotalign.datasets import make_hierarchy
from hotalign.grid import solve_systems
from hotalign.systems import StandardizedSystem


@pytest.fixture(scope="module")
def data():
    X, Y, _ = make_hierarchy(120, (6, 7), (8, 6, 5), random_state=11)
    return X, Y


def _rewrite(entry, edit):
    """Apply ``edit(meta, arrays)`` to the entry file, keeping its name."""
    with np.load(entry, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(bytes(arrays.pop("__meta__")).decode())
    edit(meta, arrays)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(entry, "wb") as f:
        np.savez(f, **arrays)


def _exploits(marker):
    """JSON nodes that would run ``touch marker`` if a decoder resolved names from the file."""
    command = {"t": "v", "v": f"touch {marker}"}
    return [
        {"t": "dc", "c": "hotalign.cache:os.system", "v": {"command": command}},
        {"t": "o", "c": "hotalign.cache:os.system", "v": {"command": command}},
        {"t": "o", "c": "os:system", "v": {"command": command}},
        {"t": "o", "c": "subprocess.Popen", "v": {"args": command, "shell": {"t": "v", "v": True}}},
    ]


def _fit(fits, X, Y, estimator=None):
    """``estimator.fit(X, Y)`` through the fit cache ``fits`` alone (plans stored inline)."""
    est = HOT() if estimator is None else estimator
    key, restored = fits.restore(est, X, Y)
    if not restored:
        est.fit(X, Y)
        fits.store(key, est)
    return est


def _same_fit(a, b):
    np.testing.assert_array_equal(a.layer_costs_, b.layer_costs_)
    np.testing.assert_array_equal(a.layer_plan_, b.layer_plan_)
    assert a.distance_ == b.distance_
    for ra, rb in zip(a.unit_plans_, b.unit_plans_):
        for p, q in zip(ra, rb):
            np.testing.assert_array_equal(p.to_dense(), q.to_dense())


@pytest.mark.parametrize("k", range(4))
@pytest.mark.parametrize("where", ["distance_", "x_scalers_", "unit_plans_"])
def test_crafted_fit_entry_never_runs_code(tmp_path, data, k, where):
    X, Y = data
    marker = tmp_path / "pwned"
    cache = FitCache(tmp_path / "cache")
    fresh = _fit(cache, X, Y)
    (entry,) = (tmp_path / "cache").glob("*.npz")

    def plant(meta, arrays):
        node = _exploits(marker)[k]
        if where == "distance_":
            meta["state"]["distance_"] = node
        elif where == "x_scalers_":
            meta["state"]["x_scalers_"]["v"][0] = node
        else:
            meta["state"]["unit_plans_"]["v"][0]["v"][1] = node

    _rewrite(entry, plant)
    with pytest.warns(CacheWarning, match="unknown"):
        again = _fit(cache, X, Y)
    assert not marker.exists()
    assert (cache.hits, cache.invalid) == (0, 1)
    _same_fit(again, fresh)
    assert _fit(cache, X, Y) is not None and cache.hits == 1  # rewritten whole


def _other_array(meta, arrays, shape):
    """Index of a new array of ``shape`` appended to the entry."""
    i = meta["n_arrays"]
    arrays[f"a{i}"] = np.zeros(shape)
    meta["n_arrays"] = i + 1
    return i


MALFORMED = {
    "missing attribute": lambda meta, arrays: meta["state"].pop("layer_costs_"),
    "extra attribute": lambda meta, arrays: meta["state"].update(
        evil_={"t": "v", "v": 1}),
    "wrong-typed float": lambda meta, arrays: meta["state"].update(
        distance_={"t": "v", "v": "0.5"}),
    "wrong-typed int": lambda meta, arrays: meta["state"].update(
        n_layers_x_={"t": "v", "v": 2.0}),
    "bool for int": lambda meta, arrays: meta["state"].update(
        n_constant_units_={"t": "v", "v": True}),
    "list for array": lambda meta, arrays: meta["state"].update(
        layer_plan_={"t": "l", "v": []}),
    "wrong shape": lambda meta, arrays: meta["state"].update(
        layer_costs_={"t": "a", "i": _other_array(meta, arrays, (3, 3))}),
    "wrong dtype": lambda meta, arrays: meta["state"].update(
        layer_costs_={"t": "a", "i": _other_array(meta, arrays, (2, 3)) and
                      [arrays.__setitem__(f"a{meta['n_arrays'] - 1}",
                                          np.zeros((2, 3), np.float32)), meta["n_arrays"] - 1][1]}),
    "array index out of range": lambda meta, arrays: meta["state"].update(
        layer_costs_={"t": "a", "i": 10**6}),
    "array index not an int": lambda meta, arrays: meta["state"].update(
        layer_costs_={"t": "a", "i": "0"}),
    "plain value of another type": lambda meta, arrays: meta["state"].update(
        distance_={"t": "v", "v": {"a": 1}}),
    "unknown node type": lambda meta, arrays: meta["state"].update(distance_={"t": "eval"}),
    "node not a dict": lambda meta, arrays: meta["state"].update(distance_=[1]),
    "plan of another shape": lambda meta, arrays: meta["state"]["unit_plans_"]["v"][0][
        "v"].reverse(),
    "plan field missing": lambda meta, arrays: meta["state"]["unit_plans_"]["v"][0]["v"][0][
        "v"].pop("u"),
    "plan index outside": lambda meta, arrays: arrays.__setitem__(
        f"a{meta['state']['unit_plans_']['v'][0]['v'][0]['v']['rows']['i']}",
        np.full_like(arrays[f"a{meta['state']['unit_plans_']['v'][0]['v'][0]['v']['rows']['i']}"],
                     10**9)),
    "plan status": lambda meta, arrays: meta["state"]["unit_plans_"]["v"][0]["v"][0][
        "v"].update(status={"t": "v", "v": "__import__('os')"}),
    "scaler of another width": lambda meta, arrays: meta["state"]["x_scalers_"]["v"].reverse(),
    "rotation in a plain fit": lambda meta, arrays: meta["state"].update(
        n_rounds_={"t": "a", "i": _other_array(meta, arrays, (2, 3))}),
    "constant units outside": lambda meta, arrays: meta["state"]["constant_units_"]["v"][
        "X"]["v"].__setitem__(0, {"t": "a", "i": _other_array(meta, arrays, (1,))}),
    "extra member": lambda meta, arrays: arrays.__setitem__("evil", np.zeros(1)),
    "no state": lambda meta, arrays: meta.pop("state"),
    "meta not an object": lambda meta, arrays: meta.clear() or meta.update(key=None),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_fit_entry_is_a_miss(tmp_path, data, kind):
    X, Y = data
    cache = FitCache(tmp_path)
    fresh = _fit(cache, X, Y)
    (entry,) = tmp_path.glob("*.npz")
    _rewrite(entry, MALFORMED[kind])
    with pytest.warns(CacheWarning, match="not valid"):
        again = _fit(cache, X, Y)
    assert (cache.hits, cache.misses, cache.invalid) == (0, 2, 1)
    _same_fit(again, fresh)


def test_missing_attribute_never_reports_the_previous_split(tmp_path, data):
    """The reported bug: evaluate reused one estimator, so an entry without ``layer_costs_``
    was a hit that kept the previous split's C and distance."""
    X, Y = data
    memory = Memory(tmp_path)
    cache = memory.fits
    est = HOT(memory=memory)
    clean = evaluate(X, Y, n_splits=3)
    evaluate(X, Y, n_splits=3, estimator=est)
    for entry in tmp_path.glob("*.npz"):
        _rewrite(entry, lambda meta, arrays: [meta["state"].pop(k) for k in
                                              ("layer_costs_", "distance_")])
    messages = []
    cache.report = messages.append
    again = evaluate(X, Y, n_splits=3, estimator=est)
    assert cache.invalid == 3 and len(messages) == 1  # said once
    np.testing.assert_array_equal(again.layer_costs, clean.layer_costs)
    np.testing.assert_array_equal(again.distances, clean.distances)


def test_cached_fit_never_keeps_state_of_an_earlier_fit(tmp_path, data):
    X, Y = data
    est = HOT(memory=Memory(tmp_path))
    est.fit(X, Y)
    est.fit([A[:, :5] for A in X], Y)  # another fit on the same object
    assert est.unit_plans_[0][0].shape == (5, Y[0].shape[1])
    assert est.x_scalers_[0].mean_.shape == (5,)


# -- layer-pair entries ---------------------------------------------------------------------------


def _layers():
    rng = np.random.default_rng(1)
    return ([rng.standard_normal((40, n)) for n in (5, 7)],
            [rng.standard_normal((40, n)) for n in (6, 4)])


def _grid(cache, Zx, Zy):
    return solve_systems(StandardizedSystem.from_standardized(Zx),
                         StandardizedSystem.from_standardized(Zy), cache=cache, n_threads=1)


def test_pair_entry_copied_from_another_pair_is_a_miss(tmp_path):
    """A well-formed plan of another pair (another shape) stored under this pair's key."""
    Zx, Zy = _layers()
    cache = PairCache(tmp_path)
    ref = _grid(cache, Zx, Zy)
    entries = {}
    for p in tmp_path.glob("*.npz"):
        with np.load(p, allow_pickle=False) as npz:
            meta = json.loads(bytes(npz["__meta__"]).decode())
        entries[p] = meta
    (a, meta_a), (b, _) = list(entries.items())[:2]
    content = b.read_bytes()
    a.write_bytes(content)
    _rewrite(a, lambda meta, arrays: meta.update(key=meta_a["key"]))  # a consistent forgery
    with pytest.warns(CacheWarning, match="expected"):
        again = _grid(cache, Zx, Zy)
    assert (cache.hits, cache.invalid) == (3, 1)
    np.testing.assert_array_equal(again.costs, ref.costs)


def test_crafted_pair_entry_never_runs_code(tmp_path):
    Zx, Zy = _layers()
    cache = PairCache(tmp_path)
    ref = _grid(cache, Zx, Zy)
    marker = tmp_path / "pwned"
    for entry, node in zip(sorted(tmp_path.glob("*.npz")), _exploits(marker)):
        _rewrite(entry, lambda meta, arrays, node=node: meta["state"].update(plan=node))
    with pytest.warns(CacheWarning):
        again = _grid(cache, Zx, Zy)
    assert not marker.exists() and cache.invalid == 4
    np.testing.assert_array_equal(again.costs, ref.costs)


# -- the command line: --resume on a crafted folder, two runs on one --out -----------------------


@pytest.fixture
def files(tmp_path, data, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, Y = data
    np.savez(tmp_path / "x.npz", **{f"l{i}": A for i, A in enumerate(X)})
    np.savez(tmp_path / "y.npz", **{f"l{i}": A for i, A in enumerate(Y)})
    return tmp_path


def _plant_everywhere(folder, marker):
    """Replace a field of every fit and pair entry under ``folder`` by an exploit node."""
    nodes = _exploits(marker)
    for n, entry in enumerate(sorted(folder.rglob("*.npz"))):
        node = nodes[n % len(nodes)]

        def plant(meta, arrays, node=node):
            key = "plan" if "plan" in meta["state"] else "distance_"
            meta["state"][key] = node

        _rewrite(entry, plant)


def test_align_resume_on_a_crafted_cache(files, capsys):
    argv = ["align", "x.npz", "y.npz", "--splits", "2", "--quiet", "--figure-format", "svg"]
    assert main(argv + ["--out", "run"]) == 0
    assert main(argv + ["--out", "clean"]) == 0
    marker = files / "pwned"
    _plant_everywhere(files / "run" / "cache", marker)
    capsys.readouterr()
    assert main(argv + ["--out", "run", "--resume"]) == 0
    err = capsys.readouterr().err
    assert not marker.exists()
    warnings = [line for line in err.splitlines() if "not valid" in line]
    assert len(warnings) == 2  # once for the fit cache, once for the pair cache
    ra, rb = (json.loads((files / d / "results.json").read_text()) for d in ("run", "clean"))
    for key in ("scores", "distance", "C", "P"):
        assert ra[key] == rb[key]
    assert ra["cache"]["fits"] == {"hits": 0, "misses": 3, "invalid": 3}
    assert ra["cache"]["layer_pairs"]["hits"] == 0 and ra["cache"]["layer_pairs"]["invalid"] > 0


def test_trajectory_resume_on_a_crafted_cache(files, data, capsys):
    X, _ = data
    for name in ("A", "B"):
        (files / name).mkdir()
        for k in range(2):
            np.savez(files / name / f"step_{k}.npz",
                     **{f"l{i}": A + 0.3 * k * A.std(0) for i, A in enumerate(X)})
    assert main(["trajectory", "A", "B", "--out", "traj", "--quiet"]) == 0
    clean = json.loads((files / "traj" / "results.json").read_text())
    marker = files / "pwned"
    _plant_everywhere(files / "traj" / "cache", marker)
    capsys.readouterr()
    assert main(["trajectory", "A", "B", "--out", "traj", "--quiet", "--resume"]) == 0
    assert not marker.exists()
    assert "not valid" in capsys.readouterr().err  # not silent
    again = json.loads((files / "traj" / "results.json").read_text())
    assert again["D"] == clean["D"]
    assert again["cache"]["layer_pairs"]["invalid"] == again["cache"]["layer_pairs"]["misses"]


def test_second_run_on_one_out_stops_and_first_finishes(files):
    rng = np.random.default_rng(3)  # large enough that the first run is still busy (~5 s)
    for name in ("bx", "by"):
        np.savez(files / f"{name}.npz",
                 **{f"l{i}": rng.standard_normal((600, 700)) for i in range(6)})
    argv = ["align", "bx.npz", "by.npz", "--splits", "2", "--threads", "1", "--quiet",
            "--figure-format", "svg", "--out", "shared"]
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    first = subprocess.Popen([sys.executable, "-m", "hotalign.cli", *argv], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lock = files / "shared" / ".hotalign.lock"
    deadline = time.monotonic() + 120
    while first.poll() is None and time.monotonic() < deadline and not (
            lock.exists() and lock.read_text().strip() == str(first.pid)):
        time.sleep(0.01)
    assert first.poll() is None, "the first run ended before the second could start"
    second = subprocess.run([sys.executable, "-m", "hotalign.cli", *argv, "--resume"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert second.returncode == 2
    assert second.stderr.count("\n") == 1
    assert f"in use by another hotalign run (pid {first.pid})" in second.stderr
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err.decode()
    assert (files / "shared" / "results.json").exists()
    # the lock is released with its holder: a later run on the folder goes ahead
    assert main(argv + ["--resume"]) == 0


def test_run_on_a_locked_out_exits_2_naming_the_holder(files):
    from hotalign.cache import locked

    (files / "held").mkdir()
    with locked(files / "held"):  # another run holds it (this process)
        proc = subprocess.run([sys.executable, "-m", "hotalign.cli", "align", "x.npz", "y.npz",
                               "--splits", "1", "--quiet", "--out", "held"],
                              capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert f"in use by another hotalign run (pid {os.getpid()})" in proc.stderr
    assert not (files / "held" / "results.json").exists()
    assert main(["align", "x.npz", "y.npz", "--splits", "1", "--quiet", "--out", "held"]) == 0


# -- declared sizes, weights and links of cache entries -------------------------------------------


def _npy_member(shape, dtype, data=b""):
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_2_0(
        buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": tuple(shape)})
    return buf.getvalue() + data


def _declaring_7_tib(entry):
    """A 1 KB entry whose description declares 7 TiB."""
    import zipfile

    with zipfile.ZipFile(entry, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("__meta__.npy", _npy_member((7 << 40,), "u1", bytes(800)))


def _zip_bomb(entry, size=1 << 30):
    """A deflated member of ``size`` zero bytes (about size / 1000 on disk)."""
    import zipfile

    with zipfile.ZipFile(entry, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("__meta__.npy", "w", force_zip64=True) as f:
        f.write(_npy_member((size,), "u1"))
        block = bytes(1 << 20)
        for _ in range(size >> 20):
            f.write(block)


def _weights(value):
    def edit(meta, arrays):
        i = meta["state"]["plan"]["v"]["weights"]["i"]
        arrays[f"a{i}"] = arrays[f"a{i}"].copy()
        arrays[f"a{i}"][0] = value
    return lambda entry: _rewrite(entry, edit)


@pytest.mark.parametrize("craft,reason", [
    (_declaring_7_tib, "declares"), (lambda e: _zip_bomb(e, 1 << 24), "compressed"),
    (_weights(np.nan), "NaN"), (_weights(-0.25), "negative")])
def test_crafted_pair_entry_sizes_and_weights_are_a_miss(tmp_path, craft, reason):
    Zx, Zy = _layers()
    cache = PairCache(tmp_path)
    ref = _grid(cache, Zx, Zy)
    for entry in sorted(tmp_path.glob("*.npz")):
        craft(entry)
    with pytest.warns(CacheWarning, match=reason):
        again = _grid(cache, Zx, Zy)
    assert cache.invalid == 4 and cache.hits == 0
    np.testing.assert_array_equal(again.costs, ref.costs)
    for l, row in enumerate(again.plans):
        for m, plan in enumerate(row):
            assert np.isfinite(plan.weights).all() and plan.weights.min() >= 0
            np.testing.assert_array_equal(plan.to_dense(), ref.plans[l][m].to_dense())


def test_linked_pairs_folder_is_not_followed(tmp_path, data):
    X, Y = data
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "pairs").symlink_to(elsewhere, target_is_directory=True)
    memory = Memory(tmp_path / "cache")
    with pytest.warns(CacheWarning, match="symbolic link") as said:
        a = HOT(memory=memory).fit(X, Y)
        b = HOT(memory=memory).fit(X, Y)
    assert len(said) == 1  # said once
    assert list(elsewhere.iterdir()) == []  # nothing written through the link
    _same_fit(a, b)
    assert memory.pairs.hits == 0 and memory.fits.hits == 1


def test_linked_entry_is_a_miss(tmp_path):
    Zx, Zy = _layers()
    cache = PairCache(tmp_path)
    ref = _grid(cache, Zx, Zy)
    victim = tmp_path / "victim.npz"
    first = sorted(tmp_path.glob("[0-9a-f]*.npz"))[0]
    first.rename(victim)
    first.symlink_to(victim)
    with pytest.warns(CacheWarning, match="symbolic link"):
        again = _grid(cache, Zx, Zy)
    np.testing.assert_array_equal(again.costs, ref.costs)
    assert not first.is_symlink()  # rewritten in place of the link
    assert victim.is_file()


@pytest.mark.slow
def test_align_resume_on_a_zip_bomb_entry_stays_small(files):
    """--resume on a 1 MB pair entry that inflates to 1 GiB: recomputed, said once, and the
    run's peak memory stays far below what the entry declares."""
    from test_untrusted_inputs import run_cli

    argv = ["align", "x.npz", "y.npz", "--splits", "1", "--quiet", "--figure-format", "svg",
            "--out", "run"]
    assert main(argv) == 0
    clean = json.loads((files / "run" / "results.json").read_text())
    entries = sorted((files / "run" / "cache" / "pairs").glob("*.npz"))
    _zip_bomb(entries[0])
    _declaring_7_tib(entries[1])
    assert entries[0].stat().st_size < 2 << 20
    result = run_cli(*argv, "--resume", cwd=files)
    assert result["rc"] == 0, result["stderr"]
    warnings = [line for line in result["stderr"].splitlines() if "not valid" in line]
    # once for the pair cache, once for the fit cache whose entry refers to the pair
    assert len(warnings) == 2 and "Traceback" not in result["stderr"]
    assert result["rss_mb"] < 200, result
    again = json.loads((files / "run" / "results.json").read_text())
    assert again["distance"] == clean["distance"] and again["C"] == clean["C"]
