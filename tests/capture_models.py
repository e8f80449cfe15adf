"""Tiny random-init PyTorch models and model factories for the capture tests.

The factories are what ``hotalign capture MODULE:FACTORY`` imports: they return a model, or
``(model, preprocess)`` where ``preprocess`` maps a list of stimuli (PIL images or strings) to
one batch. Everything here is deterministic (seeded) so that two processes build the same
weights.
"""

import numpy as np
import torch
from torch import nn


class Block(nn.Module):
    """A ResNet basic block: like torchvision's, it calls the same ReLU twice."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                      nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.down is None else self.down(x)))


class TinyResNet(nn.Module):
    """conv-bn-relu stem, two stages of one basic block, global average pool, classifier.

    The classifier is defined first, so definition order, natural name order and execution
    order all differ."""

    def __init__(self, width=8, n_classes=10, in_channels=3):
        super().__init__()
        self.fc = nn.Linear(2 * width, n_classes)
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(Block(width, width))
        self.layer2 = nn.Sequential(Block(width, 2 * width, stride=2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class Attention(nn.Module):
    """Single-head self-attention whose keys ignore padding (attention_mask == 0)."""

    def __init__(self, d):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x, mask):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        scores = q @ k.transpose(1, 2) / q.shape[-1] ** 0.5
        scores = scores.masked_fill(~mask[:, None, :].bool(), float("-inf"))
        return self.proj(scores.softmax(-1) @ v)


class Layer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.attn = Attention(d)
        self.norm1 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.norm2 = nn.LayerNorm(d)

    def forward(self, x, mask):
        x = self.norm1(x + self.attn(x, mask))
        return self.norm2(x + self.mlp(x)), mask  # a tuple, like Hugging Face blocks


class TinyTransformer(nn.Module):
    """Token embedding + learned positions + 2 post-norm layers; called as
    ``model(input_ids=..., attention_mask=...)`` like a Hugging Face encoder."""

    def __init__(self, vocab=64, d=16, max_len=32, n_layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.layers = nn.ModuleList(Layer(d) for _ in range(n_layers))

    def forward(self, input_ids, attention_mask=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.embed(input_ids) + self.pos(pos)[None]
        for layer in self.layers:
            x, attention_mask = layer(x, attention_mask)
        return x


def tokenize(sentences, vocab=64):
    """Whitespace tokenizer (word -> stable id), right-padded with 0, with an attention mask."""
    ids = [[1 + sum(map(ord, w)) % (vocab - 1) for w in s.split()] for s in sentences]
    n = max(len(t) for t in ids)
    input_ids = torch.zeros(len(ids), n, dtype=torch.long)
    mask = torch.zeros(len(ids), n, dtype=torch.long)
    for i, t in enumerate(ids):
        input_ids[i, :len(t)] = torch.tensor(t)
        mask[i, :len(t)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def to_batch(images, size=16):
    """Resize PIL images to size x size RGB and stack them: (N, 3, size, size) in [0, 1]."""
    arr = np.stack([np.asarray(im.convert("RGB").resize((size, size)), dtype=np.float32)
                    for im in images]) / 255.0
    return torch.from_numpy(arr.transpose(0, 3, 1, 2).copy())


# -- factories for `hotalign capture MODULE:FACTORY` -------------------------------------------


def tiny_cnn():
    """A model only: images are turned into tensors by hotalign (they must share one size)."""
    torch.manual_seed(0)
    return TinyResNet(width=8)


def tiny_cnn_wide():
    torch.manual_seed(1)
    return TinyResNet(width=12), to_batch


def tiny_text():
    torch.manual_seed(2)
    return TinyTransformer(), tokenize


def not_a_module():
    return {"weights": np.zeros(3)}


class TinyViT(nn.Module):
    """4x4 patches -> tokens -> ``depth`` blocks (``blocks.0`` ...), mean-pooled head."""

    def __init__(self, d=16, depth=12, n_classes=10):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, d, 4, stride=4)
        self.blocks = nn.ModuleList(Layer(d) for _ in range(depth))
        self.head = nn.Linear(d, n_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        mask = torch.ones(x.shape[:2], dtype=torch.long, device=x.device)
        for block in self.blocks:
            x, mask = block(x, mask)
        return self.head(x.mean(1))


class SeqFirstAttention(nn.Module):
    """Batch-first in and out, but its attention runs sequence-first, as older code does."""

    def __init__(self, d=8):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, 2)  # batch_first=False: (tokens, N, d)

    def forward(self, x):
        s = x.transpose(0, 1)
        return self.attn(s, s, s)[0].transpose(0, 1)


class PixelModel(TinyResNet):
    """Called as ``model(pixel_values=...)``, like a Hugging Face vision model."""

    def forward(self, pixel_values):
        return super().forward(pixel_values)
