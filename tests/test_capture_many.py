"""Capturing several models into one parent folder, the module tree, the glob rule and the
stimulus count of a list of batches; then ``hotalign compare`` on the parent folder."""

import json

import pytest

torch = pytest.importorskip("torch")  # installed by the test extra (CPU build)
pytest.importorskip("PIL.Image")

from capture_models import TinyResNet, TinyTransformer, tokenize  # noqa: E402

from hotalign.capture import capture, glob_match, layer_tree  # noqa: E402
from hotalign.cli import main  # noqa: E402
from hotalign.io import load_system  # noqa: E402


@pytest.mark.parametrize("name, pattern, hit", [
    ("encoder.layer.0", "encoder.layer.*", True),
    ("encoder.layer.0.attention", "encoder.layer.*", False),
    ("encoder.layer.0.attention", "encoder.layer.**", True),
    ("encoder.layer.11", "encoder.layer.?", False),
    ("encoder.layer.1", "encoder.layer.?", True),
    ("layer1", "layer*", True),
    ("layer1.0.conv1", "layer*", False),
    ("layer1.0.conv1", "**conv1", True),
    ("layer1.0.conv1", "*.*.conv[12]", True),
    ("layer1.0.conv3", "*.*.conv[!3]", False),
    ("a+b", "a+b", True),
])
def test_glob_star_stays_within_a_segment(name, pattern, hit):
    assert glob_match(name, pattern) is hit


def test_blocks_only_selection_and_n_stimuli_from_a_list_of_tokenizer_batches(tmp_path):
    torch.manual_seed(0)
    model = TinyTransformer().eval()
    sentences = ["a b c", "d e", "f g h i", "j", "k l", "m n o"]
    batches = [tokenize(sentences[i:i + 4]) for i in range(0, 6, 4)]  # sizes 4 and 2
    s = capture(model, batches, tmp_path / "t", layers="layers.*", progress=False)
    assert s.names == ["layers.0", "layers.1"] and s.n_stimuli == 6  # no n_stimuli= needed


def test_layer_tree_shows_paths_classes_and_shapes():
    torch.manual_seed(0)
    model = TinyResNet(width=8)
    text = layer_tree(model, torch.rand(2, 3, 12, 12))
    lines = text.splitlines()
    row = next(line for line in lines if line.split()[0] == "layer2")
    assert row.split()[1] == "Sequential" and row.endswith("(16, 6, 6)")
    assert any(line.startswith("  layer1.0 ") for line in lines)  # indented by depth
    assert any(line.startswith("    layer1.0.conv1 ") for line in lines)
    shallow = layer_tree(model, max_depth=1).splitlines()
    assert [line.split()[0] for line in shallow] == ["fc", "conv1", "bn1", "relu", "layer1",
                                                    "layer2", "avgpool"]
    with pytest.raises(ValueError, match="max_depth"):
        layer_tree(model, max_depth=0)


def _images(folder, n=30):
    from PIL import Image
    import numpy as np

    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(n):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(
            folder / f"img_{k}.png")
    return folder


def test_capture_many_models_into_one_parent_then_compare(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _images(tmp_path / "images")
    assert main(["capture", "capture_models:tiny_cnn", "images", "--list", "--depth", "2"]) == 0
    tree = capsys.readouterr().out
    assert "layer1.0" in tree and "layer1.0.conv1" not in tree and "(16, 8, 8)" in tree
    assert main(["capture", "capture_models:tiny_cnn", "capture_models:tiny_cnn_wide", "images",
                 "--out", "parent", "--layers", "conv1,layer*,fc", "--quiet"]) == 0
    names = sorted(p.name for p in (tmp_path / "parent").iterdir())
    assert names == ["tiny_cnn", "tiny_cnn_wide"]
    assert load_system(tmp_path / "parent" / "tiny_cnn").names == ["conv1", "layer1", "layer2",
                                                                    "fc"]
    assert main(["layers", "capture_models:tiny_cnn", "--tree"]) == 0
    assert "  layer1.0" in capsys.readouterr().out
    assert main(["compare", "parent", "--out", "cmp", "--splits", "2", "--quiet"]) == 0
    record = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert record["names"] == ["tiny_cnn", "tiny_cnn_wide"]
    assert main(["capture", "capture_models:tiny_cnn", "images"]) == 2
    assert "--out is required" in capsys.readouterr().err
