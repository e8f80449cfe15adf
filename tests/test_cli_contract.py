"""The CLI contract for bad input (issue 14, item 3): exit code 2 and one line on stderr naming
the file or option, never a traceback, and no work done before the check."""

import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from hotalign import distributed
from hotalign.cli import main
from hotalign.datasets import make_hierarchy


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def pair(tmp_path):
    X, Y, _ = make_hierarchy(60, (4, 5), (6, 4), random_state=0)
    np.savez(tmp_path / "x.npz", **{f"l{k}": A for k, A in enumerate(X)})
    np.savez(tmp_path / "y.npz", **{f"l{k}": B for k, B in enumerate(Y)})
    return ["x.npz", "y.npz"]


def _one_error_line(capsys, *needles):
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err + captured.out
    assert err.count("\n") == 1 and err.startswith("hotalign: error: "), err
    for needle in needles:
        assert needle in err, err
    return err


def _safetensors(path, spec):
    header = json.dumps({"layer": spec}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(512))


@pytest.mark.parametrize(("spec", "what"), [
    ({"dtype": "F64", "shape": [10.5, 2], "data_offsets": [0, 168]}, "shape"),
    ({"dtype": "F64", "shape": [10.0, 2], "data_offsets": [0, 160]}, "shape"),
    ({"dtype": "F64", "shape": ["10", 2], "data_offsets": [0, 160]}, "shape"),
    ({"dtype": "F64", "shape": [True, 2], "data_offsets": [0, 16]}, "shape"),
    ({"dtype": "F64", "shape": [-10, -2], "data_offsets": [0, 160]}, "shape"),
    ({"dtype": "F64", "shape": None, "data_offsets": [0, 8]}, "shape"),
    ({"dtype": "F64", "shape": {"a": 1}, "data_offsets": [0, 8]}, "shape"),
    ({"dtype": "F64", "shape": [10, 2], "data_offsets": [0.0, 160.5]}, "data_offsets"),
    ({"dtype": "F64", "shape": [10, 2], "data_offsets": ["0", 160]}, "data_offsets"),
    ({"dtype": "F64", "shape": [10, 2], "data_offsets": [0, None]}, "data_offsets"),
    ({"dtype": "F64", "shape": [2, 2], "data_offsets": [-32, 0]}, "data_offsets"),
    ({"dtype": ["F64"], "shape": [2, 2], "data_offsets": [0, 32]}, "dtype"),
    ({"dtype": "F64", "shape": [2**70, 2**70], "data_offsets": [0, 0]}, "offsets"),
])
def test_safetensors_header_with_non_integer_fields(tmp_path, pair, capsys, spec, what):
    _safetensors(tmp_path / "bad.safetensors", spec)
    assert main(["align", "bad.safetensors", pair[1], "--out", "res", "--quiet"]) == 2
    _one_error_line(capsys, "bad.safetensors: ", what)
    assert not (tmp_path / "res").exists()


def test_out_below_a_file(tmp_path, pair, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["align", *pair, "--out", "afile/sub/res", "--quiet"]) == 2
    _one_error_line(capsys, "--out afile/sub/res: afile is a file, not a folder")
    assert main(["align", *pair, "--out", "afile", "--quiet"]) == 2
    _one_error_line(capsys, "--out afile: exists and is not a directory")


@pytest.mark.parametrize("out", ["/proc/self", "/proc/hotalign-out", "/sys/kernel/hotalign-out"])
def test_out_on_a_read_only_location(pair, capsys, out):
    assert main(["align", *pair, "--out", out, "--quiet"]) == 2
    _one_error_line(capsys, f"--out {out}: cannot write there")


def test_out_not_writable(tmp_path, pair, capsys, monkeypatch):
    """A read-only mount, simulated (the tests may run as root, who ignores permissions)."""
    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    assert main(["align", *pair, "--out", "res", "--quiet"]) == 2
    _one_error_line(capsys, "--out res: cannot write there (Read-only file system)")
    assert main(["demo", "--out", "demo", "--quiet"]) == 2  # checked before the demo runs
    _one_error_line(capsys, "--out demo: cannot write there")


@pytest.mark.parametrize("sub", ["cache", "cache/pairs"])
def test_cache_folder_that_is_a_file(tmp_path, pair, capsys, sub):
    (tmp_path / "res" / sub).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "res" / sub).write_text("not a folder")
    assert main(["align", *pair, "--out", "res", "--quiet", "--resume"]) == 2
    _one_error_line(capsys, f"--out res: res/{sub} exists and is not a directory")
    assert not (tmp_path / "res" / "results.json").exists()
    a, b = tmp_path / "A", tmp_path / "B"
    for root in (a, b):
        root.mkdir()
        for k in range(2):
            np.savez(root / f"ckpt{k}.npz", l0=np.random.default_rng(k).standard_normal((20, 3)))
    assert main(["trajectory", "A", "B", "--out", "res", "--quiet"]) == 2
    _one_error_line(capsys, f"res/{sub} exists and is not a directory")


def test_unit_pair_out_of_range_is_checked_before_computing(tmp_path, pair, capsys,
                                                             monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("evaluate ran before --unit-pair was checked")

    monkeypatch.setattr("hotalign.evaluation.evaluate", never)
    for bad in ("2,0", "0,2", "-1,0"):
        assert main(["align", *pair, "--out", "res", "--quiet", f"--unit-pair={bad}"]) == 2
        _one_error_line(capsys, f"--unit-pair {bad}: out of range (2 x 2 layers)")
    assert not (tmp_path / "res").exists()


@pytest.mark.parametrize(("address", "message"), [
    ("tcp://127.0.0.1:1", "no Dask scheduler answered at 'tcp://127.0.0.1:1' within"),
    ("nonsense", "scheduler address 'nonsense' is malformed"),
    ("foo://host:1", "scheduler address 'foo://host:1' is malformed"),
])
def test_unreachable_scheduler(tmp_path, pair, address, message):
    # A subprocess: a failed dask Client may leave threads behind in the test process.
    # The timeout only guards the test run; connect() gives up after CONNECT_TIMEOUT seconds.
    proc = subprocess.run([sys.executable, "-m", "hotalign.cli", "align", *pair, "--out", "res",
                           "--quiet", "--splits", "1", "--scheduler", address],
                          capture_output=True, text=True, timeout=120, check=False,
                          cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("hotalign: error: --scheduler: ") and message in proc.stderr
    assert not (tmp_path / "res" / "results.json").exists()


def test_connect_names_the_address():
    with pytest.raises(ValueError, match=r"^scheduler must be 'local' or an address string"):
        distributed.connect(8786)
    with pytest.raises(ValueError, match=r"scheduler address 'tcp://\[::1' is malformed"):
        distributed.connect("tcp://[::1")
