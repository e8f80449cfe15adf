"""Links planted in an output folder are never written through.

Someone who can write into ``--out`` (a shared folder) plants symbolic links named like the files
a run writes, each pointing at a file of the user's (the *victim*). A run must replace each link
with its own file, or refuse with exit 2 and one line, and never change a victim's bytes or
modification time.
"""

import os
import threading

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from hotalign.cache.store import _HOST  # noqa: E402
from hotalign.cli import main  # noqa: E402
from hotalign.datasets import make_hierarchy  # noqa: E402


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, Y, _ = make_hierarchy(120, (8, 8), (8, 10), random_state=3)
    np.savez("x.npz", **{f"layer_{k}": A for k, A in enumerate(X)})
    np.savez("y.npz", **{f"layer_{k}": A for k, A in enumerate(Y)})
    return ["align", "x.npz", "y.npz", "--out", "out", "--splits", "1", "--quiet"]


def _victim(tmp_path, name):
    path = tmp_path / f"victim-{name.strip('.')}"
    path.write_bytes(b"precious " + name.encode())
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    return path


def _plant(tmp_path, folder, names):
    """Symbolic links ``folder/name -> victim`` for each name; returns ``{victim: state}``."""
    folder.mkdir(parents=True, exist_ok=True)
    victims = {}
    for name in names:
        victim = _victim(tmp_path, name.replace("/", "-"))
        (folder / name).symlink_to(victim)
        victims[victim] = (victim.read_bytes(), victim.stat().st_mtime_ns)
    return victims


def _untouched(victims):
    for victim, (data, mtime) in victims.items():
        assert victim.read_bytes() == data, victim
        assert victim.stat().st_mtime_ns == mtime, victim


def test_links_to_results_plans_figures_and_temporary_names_are_replaced(tmp_path, inputs,
                                                                          capsys):
    pid = os.getpid()
    names = ["results.json", "plans.npz", "layer_plan.png", "unit_plan.png",
             f".results.json.{pid}.tmp", f".plans.npz.{pid}.tmp"]  # the old temporary names
    out = tmp_path / "out"
    victims = _plant(tmp_path, out, names)
    assert main([*inputs, "--force"]) == 0  # --out holds something: written over on request
    _untouched(victims)
    for name in ("results.json", "plans.npz", "layer_plan.png"):
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 0
    assert (out / "results.json").read_text().startswith("{")
    assert (out / "layer_plan.png").read_bytes()[:4] == b"\x89PNG"


def test_link_to_a_cache_entry_is_replaced(tmp_path, inputs, capsys):
    assert main(inputs) == 0
    pairs = tmp_path / "out" / "cache" / "pairs"
    entries = sorted(pairs.glob("*.npz"))
    fits = sorted((tmp_path / "out" / "cache").glob("*.npz"))
    assert entries and fits
    victims = {}
    for entry in (entries[0], fits[0]):
        entry.unlink()
        victims |= _plant(tmp_path, entry.parent, [entry.name])
    # the temporary names of the old scheme (host, pid, thread), for this process's main thread
    tmp_name = f".{entries[1].name}.{_HOST}.{os.getpid()}.{threading.get_ident()}.tmp"
    victims |= _plant(tmp_path, pairs, [tmp_name])
    assert main([*inputs, "--force"]) == 0  # without --resume every entry is written again
    _untouched(victims)
    assert not entries[0].is_symlink() and entries[0].stat().st_size > 0
    assert not fits[0].is_symlink() and fits[0].stat().st_size > 0
    assert main([*inputs, "--resume"]) == 0  # and the rewritten entries read back


def test_link_as_lock_file_is_refused(tmp_path, inputs, capsys):
    victims = _plant(tmp_path, tmp_path / "out", [".hotalign.lock"])
    assert main(inputs) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".hotalign.lock is a symbolic link" in err
    _untouched(victims)
    assert not (tmp_path / "out" / "results.json").exists()


def test_hard_link_as_lock_file_is_refused(tmp_path, inputs, capsys):
    victim = _victim(tmp_path, "hard")
    before = (victim.read_bytes(), victim.stat().st_mtime_ns)
    (tmp_path / "out").mkdir()
    os.link(victim, tmp_path / "out" / ".hotalign.lock")
    assert main(inputs) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a plain file of its own" in err
    _untouched({victim: before})


def test_links_to_demo_figures_are_replaced(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    victims = _plant(tmp_path, tmp_path / "demo", ["layer_plan.png", "layer_scores.png"])
    assert main(["demo", "--stimuli", "200", "--splits", "1", "--x-layers", "2", "--y-layers",
                 "3", "--units", "8", "--seed", "4", "--out", "demo", "--quiet"]) == 0
    _untouched(victims)
    assert (tmp_path / "demo" / "layer_plan.png").read_bytes()[:4] == b"\x89PNG"
