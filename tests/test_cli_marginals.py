"""``hotalign align --layer-marginals``: the relaxed layer LP from the command line."""

import json

import numpy as np
import pytest

from hotalign.cli import main
from hotalign.datasets import make_depth_mismatch


@pytest.fixture(scope="module")
def mismatched(tmp_path_factory):
    root = tmp_path_factory.mktemp("depth")
    X, Y = make_depth_mismatch(n_stimuli=300, random_state=0)[:2]
    np.savez(root / "X.npz", **{f"x{i}": a for i, a in enumerate(X)})
    np.savez(root / "Y.npz", **{f"y{i}": a for i, a in enumerate(Y)})
    return root


def test_slack_is_recorded_and_drawn(mismatched, tmp_path, capsys):
    out = tmp_path / "o"
    code = main(["align", str(mismatched / "X.npz"), str(mismatched / "Y.npz"), "--out",
                 str(out), "--splits", "2", "--layer-marginals", "slack", "--slack", "0.5"])
    assert code == 0
    record = json.loads((out / "results.json").read_text())["layer_marginals"]
    assert record["rule"] == "slack"
    assert record["slack"] in (0.5, [0.5, 0.5])
    sums = np.asarray(record["column_sums"]["all_rows"], dtype=float)
    M = sums.size
    assert abs(sums.sum() - 1.0) < 1e-12
    assert np.all(sums >= 0.5 / M - 1e-12) and np.all(sums <= 1.5 / M + 1e-12)
    assert (out / "layer_marginals.png").is_file()


def test_uniform_writes_no_marginal_figure(mismatched, tmp_path):
    out = tmp_path / "o"
    assert main(["align", str(mismatched / "X.npz"), str(mismatched / "Y.npz"), "--out",
                 str(out), "--splits", "1"]) == 0
    assert "layer_marginals" not in json.loads((out / "results.json").read_text())
    assert not (out / "layer_marginals.png").exists()


@pytest.mark.parametrize("extra, message", [
    (["--layer-marginals", "slack"], "needs --slack"),
    (["--layer-marginals", "uniform", "--slack", "0.5"], "--slack is not used"),
    (["--layer-marginals", "auto", "--slack", "0.5"], "drop --slack"),
    (["--layer-marginals", "slack", "--slack", "-1"], "expected a number >= 0"),
])
def test_bad_slack_options_exit_2(mismatched, tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as exc:
        code = main(["align", str(mismatched / "X.npz"), str(mismatched / "Y.npz"), "--out",
                     str(tmp_path / "o"), "--splits", "1", *extra])
        raise SystemExit(code)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err

