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
