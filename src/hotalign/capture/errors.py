"""The error of a bad capture input, and PyTorch imported on first use."""

from __future__ import annotations

from ..io.system import InputError


class CaptureError(InputError):
    """Bad input to a capture (a ``ValueError``): the message names the argument and the
    problem."""


class ConstantLayerWarning(UserWarning):
    """A captured layer whose units are all constant over the stimuli (e.g. the embeddings
    layer under CLS pooling: the CLS token's embedding does not depend on the input). It
    cannot be compared; ``hotalign align --constant-units drop`` leaves it out."""


def _torch():
    try:
        import torch
    except ImportError:
        raise CaptureError("capturing activations needs PyTorch: pip install 'hotalign[torch]'"
                           ) from None
    return torch


def _check_model(model, what="model"):
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise CaptureError(f"{what}: expected a torch.nn.Module, got {type(model).__name__}")
