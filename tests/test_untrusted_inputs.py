"""Crafted input files and folders: a declared size the file did not earn, links out of the
folder, data in other files, interrupted captures. Each must make ``hotalign align`` exit 2
with one line on stderr, without allocating what the file declares (the child's peak RSS is
measured) and without following the link.

Each case is built in ``tmp_path`` (a few KB on disk) and run in a fresh interpreter, so the
peak memory is that of one run. The time limit is generous (a loaded machine), and is a guard
against reading gigabytes of zeros, not a benchmark.
"""

import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hotalign.io import InputError, load_system

HERE = Path(__file__).resolve().parent

# Runs the command given as arguments; prints its exit code, stderr, seconds and peak RSS.
_WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"rc": p.returncode, "stderr": p.stderr, "stdout": p.stdout,
                  "seconds": time.perf_counter() - t, "rss_mb": rss}))
"""

MAX_SECONDS = 20.0
MAX_RSS_MB = 200.0


def run_cli(*args, cwd=None, env=None):
    """``python -m hotalign ARGS`` in a fresh interpreter: rc, stderr, seconds, peak RSS."""
    environ = {**os.environ, **(env or {})}
    out = subprocess.run([sys.executable, "-c", _WRAPPER, sys.executable, "-m", "hotalign",
                          *map(str, args)], capture_output=True, text=True, env=environ,
                         cwd=cwd, timeout=180)
    return json.loads(out.stdout)


def assert_refused(result, *words):
    """Exit 2, exactly one line on stderr naming ``words``, within the time and memory guards."""
    lines = result["stderr"].strip().splitlines()
    assert result["rc"] == 2, result["stderr"]
    assert len(lines) == 1, result["stderr"]
    assert lines[0].startswith("hotalign: error: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in result["stderr"]
    assert result["seconds"] < MAX_SECONDS, result
    assert result["rss_mb"] < MAX_RSS_MB, result
    return lines[0]


@pytest.fixture
def good(tmp_path):
    """A valid system of 40 stimuli to align against."""
    rng = np.random.default_rng(0)
    path = tmp_path / "good.npz"
    np.savez(path, a=rng.normal(size=(40, 5)), b=rng.normal(size=(40, 6)))
    return path


def _npy_bytes(shape, dtype, data: bytes) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_2_0(
        buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": tuple(shape)})
    return buf.getvalue() + data


# ---- declared sizes ------------------------------------------------------------------------


def test_npz_member_declaring_298_gib(tmp_path, good):
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("l1.npy", _npy_bytes((200000, 200000), "<f8", bytes(10 << 20)))
    assert bad.stat().st_size < 100_000
    line = assert_refused(run_cli("align", bad, good, "--out", tmp_path / "o"),
                          "l1", "declares", "GiB")
    assert "member" in line


def test_npz_zip_bomb_member(tmp_path, good):
    """A directory entry claiming 1 GiB for a 1 KB deflated member (beyond deflate's ratio)."""
    bad = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("l1.npy", _npy_bytes((40, 5), "<f8", bytes(1600)))
    raw = bytearray(bad.read_bytes())
    cd = raw.rindex(b"PK\x01\x02")  # central directory entry: uncompressed size at +24
    raw[cd + 24:cd + 28] = struct.pack("<I", 1 << 30)
    bad.write_bytes(bytes(raw))
    assert_refused(run_cli("align", bad, good, "--out", tmp_path / "o"), "l1")


def test_sparse_64_gib_npy(tmp_path, good):
    folder = tmp_path / "B"
    folder.mkdir()
    np.save(folder / "l1.npy", np.ones((40, 5)))
    with open(folder / "l2.npy", "wb") as f:
        f.write(_npy_bytes((1 << 16, 1 << 17), "<f8", b""))
        f.truncate(f.tell() + (1 << 36))  # 64 GiB of holes
    if os.stat(folder / "l2.npy").st_blocks * 512 > 1 << 20:
        pytest.skip("this file system does not keep sparse files")
    assert_refused(run_cli("align", good, folder, "--out", tmp_path / "o"),
                   "l2.npy", "sparse")


def test_npy_shorter_than_its_header_declares(tmp_path, good):
    folder = tmp_path / "B"
    folder.mkdir()
    (folder / "l1.npy").write_bytes(_npy_bytes((40, 1 << 30), "<f4", bytes(4096)))
    assert_refused(run_cli("align", good, folder, "--out", tmp_path / "o"),
                   "l1.npy", "truncated")


def test_thingsvision_chunk_declaring_more_than_it_holds(tmp_path, good):
    module = tmp_path / "B" / "features.layer1"
    module.mkdir(parents=True)
    np.save(module / "features_0-20.npy", np.ones((20, 5)))
    (module / "features_20-40.npy").write_bytes(_npy_bytes((20, 1 << 28), "<f8", bytes(64)))
    assert_refused(run_cli("align", good, tmp_path / "B", "--out", tmp_path / "o"),
                   "features_20-40.npy")


@pytest.mark.parametrize("width", [20_000_000, 1_500_000])
def test_hdf5_dataset_never_written(tmp_path, good, width):
    h5py = pytest.importorskip("h5py")
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("l1", data=np.ones((2000, 4), np.float32))
        f.create_dataset("l2", shape=(2000, width), dtype=np.float32, chunks=(1, 1024))
    assert bad.stat().st_size < 100_000
    assert_refused(run_cli("align", bad, good, "--out", tmp_path / "o"),
                   "'l2'", "declares", "stored")


def test_hdf5_external_storage_and_virtual_dataset(tmp_path, good):
    h5py = pytest.importorskip("h5py")
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(200, dtype=np.float64).tobytes())
    external = tmp_path / "external.h5"
    with h5py.File(external, "w") as f:
        f.create_dataset("l1", shape=(40, 5), dtype="<f8",
                         external=[(str(secret), 0, h5py.h5f.UNLIMITED)])
    line = assert_refused(run_cli("align", external, good, "--out", tmp_path / "o"),
                          "external", "--hdf5-external")
    assert str(secret) not in line
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as f:
        f.create_dataset("data", data=np.ones((40, 5)))
    virtual = tmp_path / "virtual.h5"
    layout = h5py.VirtualLayout(shape=(40, 5), dtype="f8")
    layout[:] = h5py.VirtualSource(str(source), "data", shape=(40, 5))
    with h5py.File(virtual, "w") as f:
        f.create_virtual_dataset("l1", layout)
    assert_refused(run_cli("align", virtual, good, "--out", tmp_path / "o"), "virtual")
    # the user may opt in
    for path in (external, virtual):
        system = load_system(path, allow_external=True)
        assert system[0].shape == (40, 5)
        with pytest.raises(InputError, match="other files"):
            load_system(path)


def test_netcdf_variable_never_written(tmp_path, good):
    h5netcdf = pytest.importorskip("h5netcdf")
    pytest.importorskip("xarray")
    bad = tmp_path / "bad.nc"
    with h5netcdf.File(bad, "w") as f:
        f.dimensions = {"presentation": 1000, "neuroid": 1_600_000}
        f.create_variable("data", ("presentation", "neuroid"), "f4", chunks=(1, 4096))
    assert bad.stat().st_size < 100_000
    assert_refused(run_cli("align", bad, good, "--out", tmp_path / "o"), "'data'", "GiB")


def test_classic_netcdf_declaring_more_than_its_file(tmp_path, good):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("scipy")
    path = tmp_path / "classic.nc"
    da = xr.DataArray(np.ones((40, 8), np.float32), dims=("presentation", "neuroid"))
    da.to_dataset(name="data").to_netcdf(path, engine="scipy")
    raw = bytearray(path.read_bytes())
    at = raw.index(b"neuroid") + 8  # the dimension's length follows its padded name
    raw[at:at + 4] = struct.pack(">i", 50_000_000)
    path.write_bytes(bytes(raw))
    assert_refused(run_cli("align", path, good, "--out", tmp_path / "o"), str(path),
                   "corrupt or truncated")


def test_sparse_npz_is_refused_before_it_is_hashed(tmp_path, good):
    path = tmp_path / "sparse.npz"
    np.savez(path, a=np.ones((40, 5)))
    with open(path, "r+b") as f:
        f.truncate(1 << 34)  # 16 GiB of holes after the archive
    if os.stat(path).st_blocks * 512 > 1 << 20:
        pytest.skip("this file system does not keep sparse files")
    assert_refused(run_cli("align", path, good, "--out", tmp_path / "o"), "sparse")


def test_netcdf_within_its_file_still_reads(tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    rng = np.random.default_rng(1)
    da = xr.DataArray(rng.normal(size=(30, 8)), dims=("presentation", "neuroid"),
                      coords={"layer": ("neuroid", ["a"] * 3 + ["b"] * 5)})
    path = tmp_path / "ok.nc"
    da.to_dataset(name="data").to_netcdf(path, engine="h5netcdf")
    system = load_system(path)
    assert system.names == ["a", "b"] and system[1].shape == (30, 5)


def test_safetensors_overlapping_and_deep_header(tmp_path, good):
    data = np.ones((40, 5), "<f4").tobytes()
    header = {f"l{k}": {"dtype": "F32", "shape": [40, 5], "data_offsets": [0, len(data)]}
              for k in range(100)}
    raw = json.dumps(header).encode()
    shared = tmp_path / "shared.safetensors"
    shared.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    assert_refused(run_cli("align", shared, good, "--out", tmp_path / "o"), "overlap")
    deep = tmp_path / "deep.safetensors"
    raw = b"[" * 100_000 + b"]" * 100_000
    deep.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    assert_refused(run_cli("align", deep, good, "--out", tmp_path / "o"), "nested")


def test_deep_layers_json(tmp_path, good):
    folder = tmp_path / "B"
    folder.mkdir()
    np.save(folder / "l1.npy", np.ones((40, 5)))
    (folder / "layers.json").write_text("[" * 100_000 + "]" * 100_000)
    assert_refused(run_cli("align", good, folder, "--out", tmp_path / "o"), "layers.json")


def test_memory_budget(tmp_path, good):
    """A layer read whole (a compressed member) over --max-memory: one line naming the file,
    the layer, its size and the budget; under it the run succeeds."""
    rng = np.random.default_rng(2)
    path = tmp_path / "big.npz"
    np.savez_compressed(path, a=rng.normal(size=(40, 4000)), b=rng.normal(size=(40, 6)))
    line = assert_refused(run_cli("align", path, good, "--out", tmp_path / "o",
                                  "--max-memory", "1M"), str(path), "'a'", "1 MiB")
    assert "1.22 MiB" in line
    with pytest.raises(InputError, match="over the memory budget"):
        load_system(path, max_memory="1M")
    assert load_system(path, max_memory="2M")[0].shape == (40, 4000)
    bad = run_cli("align", path, good, "--out", tmp_path / "o", "--max-memory", "lots")
    assert bad["rc"] == 2 and "--max-memory" in bad["stderr"]


def test_lazy_layer_read_in_pieces_within_the_budget(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "lazy.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("l1", data=np.ones((1000, 100)))
    (layer,) = load_system(path, max_memory=100_000).layers()
    assert layer.read(np.arange(100)).shape == (100, 100)  # 80 KB: within
    with pytest.raises(InputError, match="would read 1000 x 100 float64"):
        layer.read()  # 800 KB: over


# ---- links ---------------------------------------------------------------------------------


def test_link_out_of_an_input_folder(tmp_path, good):
    folder = tmp_path / "B"
    folder.mkdir()
    np.save(folder / "l1.npy", np.ones((40, 5)))
    (folder / "l9.npy").symlink_to("/etc/passwd")
    line = assert_refused(run_cli("align", good, folder, "--out", tmp_path / "o"),
                          "l9.npy", "outside the folder")
    assert "pickled" not in line


def test_linked_file_names_does_not_leak(tmp_path, good):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-LINE\n" * 40)
    folder = tmp_path / "B"
    folder.mkdir()
    np.save(folder / "l1.npy", np.ones((40, 5)))
    (folder / "file_names.txt").symlink_to(secret)
    line = assert_refused(run_cli("align", good, folder, "--out", tmp_path / "o"),
                          "file_names.txt", "outside the folder")
    assert "TOP-SECRET" not in line and str(secret) not in line


def test_links_inside_the_folder_are_followed(tmp_path):
    folder = tmp_path / "B"
    (folder / "data").mkdir(parents=True)
    np.save(folder / "data" / "x.npy", np.ones((40, 5)))
    (folder / "l1.npy").symlink_to(folder / "data" / "x.npy")
    assert load_system(folder).names == ["l1"]


def test_linked_module_folder_of_thingsvision(tmp_path, good):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    np.save(outside / "features.npy", np.ones((40, 5)))
    folder = tmp_path / "B"
    folder.mkdir()
    np.save(folder / "l1.npy", np.ones((40, 5)))
    (folder / "features.conv").symlink_to(outside, target_is_directory=True)
    assert_refused(run_cli("align", good, folder, "--out", tmp_path / "o"),
                   "features.conv", "outside the folder")


# ---- captures ------------------------------------------------------------------------------


def _capture_folder(folder, complete):
    folder.mkdir()
    np.save(folder / "l1.npy", np.zeros((40, 5)))
    (folder / "layers.json").write_text(json.dumps(
        {"format": "hotalign-capture/1", "order": ["l1"], "layers": {"l1": {}},
         "complete": complete}))
    return folder


@pytest.mark.parametrize("name,complete", [("OUT.partial", False), ("OUT", False),
                                           ("OUT.partial", True)])
def test_incomplete_capture_refused(tmp_path, good, name, complete):
    folder = _capture_folder(tmp_path / name, complete)
    assert_refused(run_cli("align", folder, good, "--out", tmp_path / "o"),
                   "incomplete", "--resume")
    with pytest.raises(InputError, match="resume"):
        load_system(folder)


def test_complete_capture_reads(tmp_path):
    assert load_system(_capture_folder(tmp_path / "OUT", True)).names == ["l1"]


@pytest.mark.parametrize("text", ['{"batches": "3", "rows": 30}', '{"batches": -1, "rows": 0}',
                                  '{"batches": 2, "rows": 1000}', '{"batches": 5, "rows": 4}',
                                  '[1, 2]', '{"batches": true, "rows": 1}', "[" * 100_000,
                                  '{"batches": 1.5, "rows": 10}'])
def test_progress_json_validated(tmp_path, text):
    from hotalign.capture import CaptureError
    from hotalign.capture.writer import _read_progress

    (tmp_path / "progress.json").write_text(text)
    with pytest.raises(CaptureError, match="progress.json"):
        _read_progress(tmp_path, 40)
    (tmp_path / "progress.json").write_text('{"batches": 2, "rows": 20}')
    assert _read_progress(tmp_path, 40) == (2, 20)


@pytest.mark.parametrize("meta", ['{"order": ["../../etc/x"], "layers": {"../../etc/x": {}}}',
                                  '{"order": "l1", "layers": {}}', "[" * 100_000, "[]"])
def test_resumed_layers_json_validated(tmp_path, meta):
    from hotalign.capture import CaptureError
    from hotalign.capture.writer import _read_meta

    (tmp_path / "layers.json").write_text(meta)
    with pytest.raises(CaptureError, match="layers.json"):
        _read_meta(tmp_path)
