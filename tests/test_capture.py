"""hotalign.capture: forward hooks against manual forward passes, pooling, streaming, resume."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # installed by the test extra (CPU build): these run in CI

from capture_models import (  # noqa: E402
    SeqFirstAttention,
    TinyResNet,
    TinyTransformer,
    tokenize,
)

import hotalign  # noqa: E402
from hotalign.capture import CaptureError, capture, list_layers  # noqa: E402
from hotalign.io import load_system  # noqa: E402

HERE = Path(__file__).resolve().parent


@pytest.fixture
def resnet():
    torch.manual_seed(0)
    return TinyResNet(width=8).eval()


@pytest.fixture
def images():
    return torch.rand(40, 3, 12, 12, generator=torch.Generator().manual_seed(1))


def _manual_resnet(m, x):
    """Every stage of TinyResNet computed by hand, pooled as 'auto' pools them."""
    with torch.no_grad():
        stem = m.relu(m.bn1(m.conv1(x)))
        b = m.layer1[0]
        h = b.relu(b.bn1(b.conv1(stem)))
        l1 = b.relu(b.bn2(b.conv2(h)) + stem)
        b = m.layer2[0]
        h = b.relu(b.bn1(b.conv1(l1)))
        l2 = b.relu(b.bn2(b.conv2(h)) + b.down(l1))
        fc = m.fc(torch.flatten(m.avgpool(l2), 1))
    return {"conv1": m.conv1(x).detach().mean((2, 3)), "relu": stem.mean((2, 3)),
            "layer1.0.relu": l1.mean((2, 3)), "layer1": l1.mean((2, 3)),
            "layer2": l2.mean((2, 3)), "fc": fc}


def test_hooks_match_a_manual_forward(tmp_path, resnet, images):
    s = capture(resnet, images.split(16), tmp_path / "a", n_stimuli=40, progress=False)
    ref = _manual_resnet(resnet, images)
    for name, want in ref.items():
        got = s[s.names.index(name)]
        assert got.dtype == np.float32 and got.shape == tuple(want.shape)
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    # the shared ReLU of a block runs twice: its capture is its last output (the block output)
    np.testing.assert_array_equal(s[s.names.index("layer1.0.relu")], s[s.names.index("layer1.0")])


def test_execution_order_recorded_and_honoured_by_the_loader(tmp_path, resnet, images):
    order = list_layers(resnet, images[:2])
    assert order[:3] == ["conv1", "bn1", "relu"] and order[-1] == "fc"
    assert list_layers(resnet)[0] == "fc"  # definition order without an example
    capture(resnet, images.split(16), tmp_path / "a", layers="fc,layer*,conv1", n_stimuli=40,
            progress=False)
    meta = json.loads((tmp_path / "a" / "layers.json").read_text())
    assert meta["order"] == [n for n in order if n in meta["order"]]
    assert meta["order"][0] == "conv1" and meta["order"][-1] == "fc"
    assert sorted(meta["order"]) != meta["order"]  # natural order would differ
    assert load_system(tmp_path / "a").names == meta["order"]
    assert meta["model_class"] == "capture_models.TinyResNet"
    assert meta["torch_version"] == torch.__version__ and meta["dtype"] == "float32"
    assert meta["layers"]["layer2"]["raw_shape"] == [16, 6, 6]
    assert meta["layers"]["layer2"]["pooled_shape"] == [40, 16]
    assert meta["layers"]["layer2"]["pooled_by"] == "mean over spatial axes"
    assert meta["complete"] is True and not (tmp_path / "a.partial").exists()


def test_state_dict_fingerprint_tells_weights_apart(tmp_path, images):
    fps = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        capture(TinyResNet(), [images], tmp_path / f"m{len(fps)}", layers="fc", n_stimuli=40,
                progress=False)
        fps.append(json.loads((tmp_path / f"m{len(fps)}" / "layers.json").read_text())[
            "state_dict_fingerprint"])
    assert fps[0] == fps[1] != fps[2]


def _sentences():
    words = "the cat sat on a mat while dogs ran far away from home at night".split()
    rng = np.random.default_rng(3)
    return [" ".join(rng.choice(words, size=rng.integers(2, 9))) for _ in range(12)]


@pytest.mark.parametrize("pool", ["auto", "last", "spatial_max", "cls"])
def test_token_pooling_ignores_padding(tmp_path, pool):
    torch.manual_seed(0)
    model = TinyTransformer().eval()
    sentences = _sentences()
    padded = [tokenize(sentences[i:i + 4]) for i in range(0, 12, 4)]
    assert any((b["attention_mask"] == 0).any() for b in padded)
    alone = [tokenize([s]) for s in sentences]  # no padding at all
    a = capture(model, padded, tmp_path / "padded", layers="layers.**", pool=pool,
                n_stimuli=12, progress=False)
    b = capture(model, alone, tmp_path / "alone", layers="layers.**", pool=pool, n_stimuli=12,
                progress=False)
    assert a.names == b.names and a.names[:3] == ["layers.0.attn.qkv", "layers.0.attn.proj",
                                                  "layers.0.attn"]
    assert a.names[-1] == "layers.1" and len(a.names) == 20
    for k in range(len(a)):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-5, err_msg=a.names[k])
    # and the masked mean is the mean over the real tokens of a manual forward
    if pool == "auto":
        with torch.no_grad():
            h = model(**alone[5])
        np.testing.assert_allclose(a[a.names.index("layers.1")][5], h[0].mean(0).numpy(),
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("half", ["bfloat16", "float16"])
def test_bf16_and_fp16_outputs_are_upcast(tmp_path, resnet, images, half):
    half = getattr(torch, half)
    model, x = resnet.to(half), images.to(half)
    s = capture(model, [x], tmp_path / "a", layers="layer2,fc", n_stimuli=40, progress=False)
    with torch.no_grad():
        l2 = model.layer2(model.layer1(model.relu(model.bn1(model.conv1(x)))))
        fc = model(x)
    assert s[0].dtype == s[1].dtype == np.float32
    np.testing.assert_array_equal(s[1], fc.float().numpy())
    upcast = l2.float().mean((2, 3)).numpy()
    np.testing.assert_allclose(s[0], upcast, rtol=1e-6, atol=1e-7)
    in_half = l2.mean((2, 3)).float().numpy()  # what pooling before the upcast would give
    assert np.abs(s[0] - in_half).max() > 10 * np.abs(s[0] - upcast).max()


def test_stop_after_last_skips_the_rest_of_the_forward(tmp_path, resnet, images):
    calls = []
    resnet.fc.register_forward_hook(lambda *a: calls.append(1))
    s = capture(resnet, images.split(8), tmp_path / "a", layers="layer1", n_stimuli=40,
                stop_after_last=True, progress=False)
    assert len(calls) == 1  # only the first batch runs through (it counts module calls)
    full = capture(resnet, images.split(8), tmp_path / "b", layers="layer1", n_stimuli=40,
                   progress=False)
    np.testing.assert_array_equal(s[0], full[0])


def test_pooling_modes(tmp_path, resnet, images):
    s = capture(resnet, [images], tmp_path / "a", n_stimuli=40, progress=False,
                layers="layer2,conv1,fc", pool={"layer2": "avg2", "conv1": "spatial_max"})
    with torch.no_grad():
        l2 = resnet.layer2(resnet.layer1(resnet.relu(resnet.bn1(resnet.conv1(images)))))
        c1 = resnet.conv1(images)
    np.testing.assert_allclose(s[s.names.index("layer2")], torch.nn.functional.adaptive_avg_pool2d(
        l2, 2).reshape(40, -1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s[s.names.index("conv1")], c1.amax((2, 3)).numpy(), rtol=1e-6)
    flat = capture(resnet, [images], tmp_path / "b", n_stimuli=40, progress=False,
                   layers="layer2", pool="flatten")
    np.testing.assert_allclose(flat[0], l2.reshape(40, -1).numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(CaptureError, match=r"flattens to 1152 units, above max_units=1000"):
        capture(resnet, [images], tmp_path / "c", n_stimuli=40, progress=False,
                layers="conv1", pool="flatten", max_units=1000)
    with pytest.raises(CaptureError, match="'cls' needs a 4-D|'cls' does not apply"):
        capture(resnet, [images], tmp_path / "d", n_stimuli=40, progress=False, layers="conv1",
                pool="cls")
    with pytest.raises(CaptureError, match="unknown mode 'median'"):
        capture(resnet, [images], tmp_path / "e", n_stimuli=40, pool="median")


@pytest.mark.parametrize("pool", ["auto", "flatten", "cls"])
def test_outputs_changed_in_place_later_are_captured_as_produced(tmp_path, pool):
    torch.manual_seed(0)
    x = torch.randn(6, 3, 4)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(inplace=True)).eval()
    s = capture(model, [x], tmp_path / "a", layers="0", pool=pool, n_stimuli=6, progress=False)
    with torch.no_grad():
        h = model[0](x)
    want = {"auto": h.mean(1), "flatten": h.reshape(6, -1), "cls": h[:, 0]}[pool]
    assert (want < 0).any()  # the ReLU that ran after the hook did not clip the capture
    np.testing.assert_allclose(s[0], want.numpy(), rtol=1e-6, atol=1e-7)


def test_sequence_first_outputs_are_transposed(tmp_path):
    torch.manual_seed(0)
    model = SeqFirstAttention().eval()
    x = torch.randn(6, 5, 8)  # N = 6 stimuli, 5 tokens
    s = capture(model, [x], tmp_path / "a", layers="attn", n_stimuli=6, progress=False)
    with torch.no_grad():
        want = model(x).mean(1)
    assert json.loads((tmp_path / "a" / "layers.json").read_text())["layers"]["attn"][
        "raw_shape"] == [5, 8]
    np.testing.assert_allclose(s[0], want.numpy(), rtol=1e-5, atol=1e-6)


def test_float64_and_ids_from_batches(tmp_path, resnet, images):
    ids = [f"img{k}" for k in range(40)]
    batches = [(images[i:i + 16], ids[i:i + 16]) for i in range(0, 40, 16)]
    s = capture(resnet, batches, tmp_path / "a", layers="fc", dtype="float64", n_stimuli=40,
                progress=False)
    assert s[0].dtype == np.float64 and s.stimulus_ids.tolist() == ids
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images), batch_size=16,
                                         collate_fn=lambda rows: torch.stack([r[0] for r in rows]))
    t = capture(resnet, loader, tmp_path / "b", layers="fc", dtype="float64", progress=False)
    np.testing.assert_array_equal(s[0], t[0])  # n_stimuli from the DataLoader's dataset


_KILLED = """
import os, signal, sys
sys.path[:0] = [{tests!r}, {src!r}]
import torch
from capture_models import TinyResNet
from hotalign.capture import capture
torch.manual_seed(0)
x = torch.rand(48, 3, 12, 12, generator=torch.Generator().manual_seed(1))
def batches():
    for k in range(6):
        if k == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        yield x[8 * k:8 * k + 8], [f"s{{i}}" for i in range(8 * k, 8 * k + 8)]
capture(TinyResNet(), batches(), {out!r}, layers="layer*,fc", n_stimuli=48, progress=False)
"""


def test_resume_after_a_killed_capture(tmp_path):
    out = tmp_path / "a"
    # the child imports hotalign from where this process did (an install, or src/ in place)
    script = _KILLED.format(tests=str(HERE), src=str(Path(hotalign.__file__).parents[1]),
                            out=str(out))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                          timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    partial = tmp_path / "a.partial"
    assert not out.exists() and partial.is_dir()
    assert json.loads((partial / "progress.json").read_text()) == {"batches": 3, "rows": 24}
    torch.manual_seed(0)
    model = TinyResNet()
    x = torch.rand(48, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    batches = [(x[8 * k:8 * k + 8], [f"s{i}" for i in range(8 * k, 8 * k + 8)])
               for k in range(6)]
    with pytest.raises(CaptureError, match="interrupted capture; pass resume=True"):
        capture(model, batches, out, layers="layer*,fc", n_stimuli=48, progress=False)
    ran = []
    handle = model.fc.register_forward_hook(lambda *a: ran.append(1))
    resumed = capture(model, batches, out, layers="layer*,fc", n_stimuli=48, progress=False,
                      resume=True)
    handle.remove()
    assert len(ran) == 3  # only the batches that were not on disk
    whole = capture(model, batches, tmp_path / "b", layers="layer*,fc", n_stimuli=48,
                    progress=False)
    assert resumed.names == whole.names
    for k in range(len(whole)):
        np.testing.assert_array_equal(resumed[k], whole[k])
    assert resumed.stimulus_ids.tolist() == [f"s{i}" for i in range(48)]
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".npy")) == [
        "layers.json"]
    # resuming a finished capture just opens it; a different model is refused
    assert capture(model, batches, out, n_stimuli=48, resume=True).names == whole.names
    capture_partial = tmp_path / "c.partial"
    (tmp_path / "a").rename(capture_partial)
    torch.manual_seed(5)
    with pytest.raises(CaptureError, match="different state_dict_fingerprint"):
        capture(TinyResNet(), batches, tmp_path / "c", layers="layer*,fc", n_stimuli=48,
                progress=False, resume=True)


def _anonymous_kib():
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1])
    raise AssertionError("no Anonymous line")


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="Linux /proc only")
def test_peak_memory_is_one_batch_not_the_capture(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 4096), torch.nn.ReLU()).eval()
    T, B = 2048, 64  # 2 x 2048 x 4096 float32 = 64 MiB captured; one pooled batch = 2 MiB
    seen, last = [], []

    def batches():
        g = torch.Generator().manual_seed(0)
        for _ in range(T // B):
            seen.append(_anonymous_kib())
            last[:] = [torch.randn(B, 8, generator=g)]
            yield last[0]

    s = capture(model, batches(), tmp_path / "a", layers="0,1", n_stimuli=T, progress=False)
    growth_mib = (max(seen) - seen[1]) / 1024
    assert s.shapes == [(T, 4096), (T, 4096)]
    assert growth_mib < 16, f"anonymous memory grew {growth_mib:.1f} MiB over the capture"
    with torch.no_grad():
        np.testing.assert_allclose(s[1][-B:], model(last[0]).numpy(), rtol=1e-5, atol=1e-6)


def test_bad_input(tmp_path, resnet, images):
    with pytest.raises(CaptureError, match="expected a torch.nn.Module, got dict"):
        capture({"w": 1}, [images], tmp_path / "a", n_stimuli=40)
    with pytest.raises(CaptureError, match="no module matches 'layr1'; close matches: layer1"):
        capture(resnet, [images], tmp_path / "a", layers="layr1", n_stimuli=40)
    with pytest.raises(CaptureError, match="batches yielded 32 stimuli but n_stimuli is 40"):
        capture(resnet, [images[:16], images[16:32]], tmp_path / "a", n_stimuli=40,
                progress=False)
    with pytest.raises(CaptureError, match="more than n_stimuli=30"):
        capture(resnet, images.split(16), tmp_path / "b", n_stimuli=30, progress=False)
    with pytest.raises(CaptureError, match="n_stimuli: cannot tell"):
        capture(resnet, iter([images]), tmp_path / "c")
    with pytest.raises(CaptureError, match="'a' names more than one stimulus"):
        capture(resnet, [(images[:2], ["a", "a"])], tmp_path / "d", n_stimuli=2, progress=False)
    bad = images.clone()
    bad[3] = float("nan")
    with pytest.raises(CaptureError, match="NaN or inf activations in batch 0"):
        capture(resnet, [bad], tmp_path / "e", layers="conv1", n_stimuli=40, progress=False)
    with pytest.raises(CaptureError, match="module 'avgpool' did not run"):
        capture(_Unused(), [torch.ones(2, 3)], tmp_path / "f", layers="avgpool", n_stimuli=2,
                progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(CaptureError, match="sees no CUDA device"):
            capture(resnet, [images], tmp_path / "h", n_stimuli=40, device="cuda")
    with pytest.raises(CaptureError, match="dtype: expected 'float32' or 'float64'"):
        capture(resnet, [images], tmp_path / "h", n_stimuli=40, dtype="int8")
    capture(resnet, [images], tmp_path / "g", layers="fc", n_stimuli=40, progress=False)
    with pytest.raises(CaptureError, match="exists; pass resume=True"):
        capture(resnet, [images], tmp_path / "g", layers="fc", n_stimuli=40)


class _Stats(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 4)
        self.norm = _Scalar()

    def forward(self, x):
        h = self.lin(x)
        return h / self.norm(h)


class _Scalar(torch.nn.Module):
    def forward(self, h):
        return h.abs().mean() + 1  # no batch axis


def test_glob_skips_outputs_without_a_batch_axis(tmp_path):
    x = torch.randn(5, 3)
    s = capture(_Stats(), [x], tmp_path / "a", n_stimuli=5, progress=False)
    assert s.names == ["lin"]
    meta = json.loads((tmp_path / "a" / "layers.json").read_text())
    assert meta["skipped"] == {"norm": "its output () has no batch axis of 5 stimuli"}
    with pytest.raises(CaptureError, match=r"module 'norm' cannot be captured: its output \(\)"):
        capture(_Stats(), [x], tmp_path / "b", layers="norm", n_stimuli=5, progress=False)


class _Unused(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.lin(x)
