"""The error of a bad capture input, and PyTorch imported on first use."""

from __future__ import annotations

from ..io.system import InputError


class CaptureError(InputError):
    """Bad input to a capture (a ``ValueError``): the message names the argument and the
    problem."""


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
