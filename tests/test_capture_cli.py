"""``hotalign layers`` / ``hotalign capture`` end to end, model specs, and bad input (exit 2)."""

import json
import re
import shlex
import sys
import types
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # installed by the test extra (CPU build): these run in CI
Image = pytest.importorskip("PIL.Image")  # Pillow comes with matplotlib and the torch extra

import capture_models  # noqa: E402

from hotalign.cli import main  # noqa: E402
from hotalign.io import load_system  # noqa: E402

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"


def _images(folder, n=40, size=(16, 16), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(n):
        s = size if isinstance(size, tuple) else size[k % len(size)]
        Image.fromarray((rng.random((s[1], s[0], 3)) * 255).astype(np.uint8)).save(
            folder / f"img_{k}.png")
    return folder


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hotalign: error: "), err
    return err[0]


def test_layers_command(tmp_path, capsys):
    assert main(["layers", "capture_models:tiny_cnn"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "fc\tLinear" and "layer1.0.relu\tReLU" in lines  # definition order
    assert main(["layers", "capture_models:tiny_cnn", str(_images(tmp_path / "im", 3))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "conv1\tConv2d" and lines[-1] == "fc\tLinear"  # execution order


def test_capture_two_models_then_align(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    images = _images(tmp_path / "images")
    assert main(["capture", "capture_models:tiny_cnn", "images", "--out", "A", "--layers",
                 "conv1,layer?,fc", "--batch-size", "16", "--quiet"]) == 0
    factory_file = f"{HERE / 'capture_models.py'}:tiny_cnn_wide"  # a file path works too
    assert main(["capture", factory_file, str(images), "--out", "B", "--pool",
                 "layer*=avg2,*=auto", "--layers", "conv1,layer1,layer2,avgpool,fc"]) == 0
    assert "captured 5 layers x 40 stimuli into B" in capsys.readouterr().out
    a, b = load_system("A"), load_system("B")
    assert a.names == ["conv1", "layer1", "layer2", "fc"]
    assert b.shapes[2] == (40, 4 * 24)  # layer2 of the wide net: 24 channels x 2 x 2
    assert a.stimulus_ids.tolist() == [f"img_{k}.png" for k in range(40)]
    assert main(["align", "A", "B", "--out", "res", "--splits", "2", "--quiet"]) == 0
    results = json.loads((tmp_path / "res" / "results.json").read_text())
    text = json.dumps(results)
    assert "layer2" in text and "HOT" in text


def test_capture_sentences(tmp_path):
    (tmp_path / "s.txt").write_text("the cat sat\n\na dog ran far away\nhello\nsun and moon\n")
    assert main(["capture", "capture_models:tiny_text", str(tmp_path / "s.txt"), "--out",
                 str(tmp_path / "T"), "--layers", "layers.?", "--pool", "last", "--quiet"]) == 0
    s = load_system(tmp_path / "T")
    assert s.names == ["layers.0", "layers.1"] and s.shapes == [(4, 16), (4, 16)]
    assert s.stimulus_ids.tolist() == ["1", "3", "4", "5"]  # line numbers of the sentences
    meta = json.loads((tmp_path / "T" / "layers.json").read_text())
    assert meta["layers"]["layers.1"]["pooled_by"] == "last token (attention_mask)"


def test_bad_input_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _images(tmp_path / "im")
    _images(tmp_path / "mixed", 4, size=[(16, 16), (20, 12)])
    _images(tmp_path / "few", 30)
    (tmp_path / "s.txt").write_text("a sentence\n")
    cases = [
        (["capture", "capture_models:tiny_cnn", "im", "--out", "x", "--layers", "layr1"],
         r"no module matches 'layr1'; close matches: layer1"),
        (["capture", "capture_models:not_a_module", "im", "--out", "x"],
         r"returned dict, not a torch.nn.Module"),
        (["capture", "capture_models:tiny_cnn", "mixed", "--out", "x"],
         r"images have different sizes \(img_0.png is 16x16, img_1.png is 20x12\) and MODEL "
         r"gives no preprocess"),
        (["capture", "capture_models:tiny_cnn", "s.txt", "--out", "x"],
         r"sentences need a tokenizer"),
        (["capture", "capture_models:no_such_factory", "im", "--out", "x"],
         r"has no function 'no_such_factory'"),
        (["capture", "nonsense", "im", "--out", "x"], r"expected torchvision:NAME"),
        (["capture", "capture_models:tiny_cnn", "im", "--out", "x", "--pool", "median"],
         r"unknown mode 'median'"),
    ]
    for argv, pattern in cases:
        assert main(argv) == 2, argv
        assert re.search(pattern, _error_line(capsys)), argv
    assert not Path("x").exists()
    # the mixed sizes are fine with a preprocess that resizes
    assert main(["capture", "capture_models:tiny_cnn_wide", "mixed", "--out", "m", "--quiet"]) == 0
    # --out exists without --resume; with it, the finished capture is kept
    assert main(["capture", "capture_models:tiny_cnn", "im", "--out", "A", "--quiet"]) == 0
    assert main(["capture", "capture_models:tiny_cnn", "im", "--out", "A"]) == 2
    assert "A exists; pass resume=True (--resume)" in _error_line(capsys)
    assert main(["capture", "capture_models:tiny_cnn", "im", "--out", "A", "--resume",
                 "--quiet"]) == 0
    # mismatched stimulus counts between two captures
    assert main(["capture", "capture_models:tiny_cnn", "few", "--out", "F", "--quiet"]) == 0
    assert main(["align", "A", "F", "--out", "r"]) == 2
    assert "has 30 stimuli (rows) but A has 40" in _error_line(capsys)


@pytest.mark.parametrize("spec,package", [("torchvision:resnet18", "torchvision"),
                                          ("timm:resnet18", "timm"), ("hf:gpt2", "transformers")])
def test_missing_model_packages_exit_2(tmp_path, capsys, monkeypatch, spec, package):
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed
    assert main(["layers", spec]) == 2
    assert f"needs the package {package} (pip install {package})" in _error_line(capsys)


def _fake_packages(monkeypatch):
    """torchvision, timm and transformers as far as hotalign calls them, building tiny models:
    no downloads, no weights."""

    class Weights:
        def transforms(self):
            return lambda im: capture_models.to_batch([im])[0]

    tv = types.ModuleType("torchvision")
    tv.models = types.ModuleType("torchvision.models")
    tv.models.get_model_weights = lambda name: types.SimpleNamespace(DEFAULT=Weights())
    tv.models.get_model = lambda name, weights=None: capture_models.tiny_cnn()
    timm = types.ModuleType("timm")
    timm.data = types.ModuleType("timm.data")
    timm.create_model = lambda name, pretrained=False: capture_models.TinyViT()
    timm.data.resolve_data_config = lambda args, model=None: {"input_size": (3, 16, 16)}
    timm.data.create_transform = lambda input_size: (
        lambda im: capture_models.to_batch([im], input_size[1])[0])
    tr = types.ModuleType("transformers")
    tr.AutoModel = types.SimpleNamespace(from_pretrained=lambda name, local_files_only: (
        capture_models.PixelModel() if "vision" in name else capture_models.TinyTransformer()))
    tr.AutoImageProcessor = types.SimpleNamespace(from_pretrained=lambda name, local_files_only: (
        lambda images, return_tensors: {"pixel_values": capture_models.to_batch(images)}))

    class Tokenizer:
        pad_token = None
        eos_token = "<eos>"

        def __call__(self, texts, padding, truncation, return_tensors):
            return capture_models.tokenize(texts)

    tr.AutoTokenizer = types.SimpleNamespace(
        from_pretrained=lambda name, local_files_only: Tokenizer())
    for name, mod in [("torchvision", tv), ("torchvision.models", tv.models), ("timm", timm),
                      ("timm.data", timm.data), ("transformers", tr)]:
        monkeypatch.setitem(sys.modules, name, mod)


def test_hf_spec_with_sentences_and_images(tmp_path, monkeypatch):
    _fake_packages(monkeypatch)
    (tmp_path / "s.txt").write_text("one two\nthree four five six\n")
    assert main(["capture", "hf:tiny", str(tmp_path / "s.txt"), "--out", str(tmp_path / "H"),
                 "--layers", "layers.?", "--quiet"]) == 0
    assert load_system(tmp_path / "H").shapes == [(2, 16), (2, 16)]
    _images(tmp_path / "im", 5, size=[(16, 16), (24, 20)])  # the processor resizes them
    assert main(["capture", "hf:tiny-vision", str(tmp_path / "im"), "--out",
                 str(tmp_path / "V"), "--layers", "layer2,fc", "--quiet"]) == 0
    assert load_system(tmp_path / "V").shapes == [(5, 16), (5, 10)]


def test_readme_commands_run(tmp_path, monkeypatch, capsys):
    """The command lines of README's "From a model to an answer" run as written (torchvision
    and timm replaced by stand-ins that build tiny models)."""
    section = README.read_text().split("## From a model to an answer")[1].split("\n## ")[0]
    lines = [ln.split("  #")[0].strip() for block in re.findall(r"```bash\n(.*?)```", section,
                                                                 flags=re.S)
             for ln in block.splitlines() if ln.startswith("hotalign ")]
    assert len(lines) >= 4
    _fake_packages(monkeypatch)
    monkeypatch.chdir(tmp_path)
    _images(tmp_path / "images", 30)
    for line in lines:
        assert main(shlex.split(line)[1:] + (["--quiet"] if " capture " in line or
                                             " align " in line else [])) == 0, line
    assert json.loads(next(tmp_path.glob("*/results.json")).read_text())
