"""Layer selection, pooling and the forward hooks that collect pooled layer outputs."""

from __future__ import annotations

import collections.abc
import difflib
import itertools
import re

import numpy as np

from .errors import CaptureError, _check_model, _torch
from .globs import glob_match


MAX_UNITS = 16384


_MODES = ("auto", "mean", "spatial_max", "cls", "last", "flatten")


class _StopForward(BaseException):
    """Raised by the last hook of a forward pass when ``stop_after_last`` is set; caught by
    :func:`capture` (a BaseException, so that model code catching ``Exception`` lets it pass)."""


def _module_names(model):
    return [name for name, _ in model.named_modules() if name]


def _select(names, layers):
    """``[(name, explicit)]`` for a comma-separated string or list of names / globs (``*``
    within one dot-separated segment, ``**`` across dots: :func:`hotalign.capture.tree.glob_match`)."""
    items = [s.strip() for s in layers.split(",")] if isinstance(layers, str) else list(layers)
    items = [str(s) for s in items if str(s) != ""]
    if not items:
        raise CaptureError("layers: selects no module")
    chosen = {}
    for item in items:
        if item in names:
            chosen.setdefault(item, True)
            continue
        hits = [n for n in names if glob_match(n, item)]
        if not hits:
            close = difflib.get_close_matches(item, names, n=5, cutoff=0.5)
            hint = (f"close matches: {', '.join(close)}" if close else
                    f"modules: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}")
            raise CaptureError(f"layers: no module matches {item!r}; {hint}")
        for n in hits:
            chosen.setdefault(n, False)
    return chosen


def _parse_mode(mode, where):
    if not isinstance(mode, str) or not (mode in _MODES or re.fullmatch(r"avg[1-9]\d*", mode)):
        raise CaptureError(f"pool: unknown mode {mode!r} for {where}; expected one of "
                           f"{', '.join(_MODES)}, avg<k> (e.g. avg2) or a dict {{glob: mode}}")
    return mode


def _pool_for(pool):
    """A function name -> mode, after checking every mode."""
    if isinstance(pool, collections.abc.Mapping):
        rules = [(str(g), _parse_mode(m, f"glob {g!r}")) for g, m in pool.items()]
        return lambda name: next((m for g, m in rules if glob_match(name, g)), "auto")
    mode = _parse_mode(pool, "every layer")
    return lambda name: mode


def _pooled_by(mode, ndim, masked):
    """What ``mode`` does to an output of ``ndim`` dimensions, in words (for layers.json)."""
    if ndim <= 2:
        return "none (N, units)"
    if mode == "flatten":
        return "flatten"
    if ndim == 3:
        what = {"cls": "first token", "last": "last token", "spatial_max": "max over tokens"}
        text = what.get(mode, "mean over tokens")
        return text + (" (attention_mask)" if masked and mode != "cls" else "")
    if mode.startswith("avg"):
        return f"adaptive average to {mode[3:]}x{mode[3:]}"
    return ("max" if mode == "spatial_max" else "mean") + " over spatial axes"


def _first_tensor(output, torch):
    while True:
        if isinstance(output, torch.Tensor):
            return output
        if isinstance(output, (tuple, list)) and output:
            output = output[0]
        elif isinstance(output, collections.abc.Mapping) and output:
            output = next(iter(output.values()))
        else:
            return None


def _pool(t, mode, mask, name, work, max_units, torch):
    """Pool one layer output ``t`` (batch axis first) to ``(N, units)`` in dtype ``work``."""
    t = t.detach().to(work)  # bf16 / fp16 / integer outputs are upcast before any arithmetic
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim == 2:
        return t
    if mode == "flatten":
        units = int(np.prod(t.shape[1:]))
        if units > max_units:
            raise CaptureError(
                f"pool: layer {name!r} flattens to {units} units, above max_units={max_units}; "
                f"a layer's cost matrix grows with units squared ({units}^2 values), so pool it "
                "('auto', 'avg2', 'spatial_max') or raise max_units")
        return t.reshape(t.shape[0], -1)
    if t.ndim == 3:
        m = None
        if mask is not None and mask.ndim == 2 and mask.shape[1] == t.shape[1]:
            m = mask.to(device=t.device, dtype=torch.bool)
        if mode in ("auto", "mean"):
            if m is None:
                return t.mean(1)
            w = m.to(work)[..., None]
            return (t * w).sum(1) / w.sum(1).clamp(min=1)
        if mode == "spatial_max":
            return (t if m is None else t.masked_fill(~m[..., None], float("-inf"))).amax(1)
        if mode == "cls":
            return t[:, 0]
        if mode == "last":
            if m is None:
                return t[:, -1]
            pos = torch.arange(t.shape[1], device=t.device)
            idx = (m.to(torch.long) * (pos + 1)).argmax(1)  # last position whose mask is 1
            return t[torch.arange(t.shape[0], device=t.device), idx]
        raise CaptureError(f"pool: {mode!r} needs a 4-D (N, C, H, W) output but layer {name!r} "
                           f"gives {tuple(t.shape)} (N, tokens, D); use mean, cls or last")
    axes = tuple(range(2, t.ndim))
    if mode in ("auto", "mean"):
        return t.mean(axes)
    if mode == "spatial_max":
        return t.amax(axes)
    if mode.startswith("avg") and t.ndim == 4:
        k = int(mode[3:])
        return torch.nn.functional.adaptive_avg_pool2d(t, k).reshape(t.shape[0], -1)
    raise CaptureError(f"pool: {mode!r} does not apply to layer {name!r} with output shape "
                       f"{tuple(t.shape)}")


def _split_item(item):
    """``(inputs, ids or None)`` of one item of ``batches``: a 2-sequence whose second element
    is a list, tuple or array of strings or integers is ``(inputs, ids)``."""
    if isinstance(item, (tuple, list)) and len(item) == 2 and \
            isinstance(item[1], (list, tuple, np.ndarray)):
        ids = item[1].reshape(-1).tolist() if isinstance(item[1], np.ndarray) else list(item[1])
        if all(isinstance(s, (str, int, np.integer, np.str_)) for s in ids):
            return item[0], [str(s) for s in ids]
    return item, None


def _to_device(x, device, torch):
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, collections.abc.Mapping):
        return {k: _to_device(v, device, torch) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_to_device(v, device, torch) for v in x)
    return x


def _batch_rows(inputs, torch):
    if isinstance(inputs, torch.Tensor):
        return int(inputs.shape[0]) if inputs.ndim else 1
    values = (list(inputs.values()) if isinstance(inputs, collections.abc.Mapping) else
              list(inputs) if isinstance(inputs, (list, tuple)) else [])
    for v in values:
        if isinstance(v, torch.Tensor) and v.ndim:
            return int(v.shape[0])
    raise CaptureError(f"batches: cannot tell the number of stimuli of a batch of type "
                       f"{type(inputs).__name__}; yield tensors, dicts of tensors or "
                       "(inputs, ids)")


def _default_forward(model, inputs):
    if isinstance(inputs, collections.abc.Mapping):
        return model(**inputs)
    if isinstance(inputs, (list, tuple)):
        return model(*inputs)
    return model(inputs)


class _Hooks:
    """Forward hooks on every module of ``model``; records call order and pooled outputs."""

    def __init__(self, model, wanted, mode_of, work, max_units, torch):
        self.torch, self.wanted, self.mode_of, self.work = torch, set(wanted), mode_of, work
        self.max_units = max_units
        self.handles = []
        self.stop_counts = None
        for name, module in model.named_modules():
            if name:
                self.handles.append(module.register_forward_hook(self._hook(name)))

    def reset(self, n_rows, mask):
        self.n_rows, self.mask = n_rows, mask
        self.order, self.calls, self.outputs, self.raw, self.bad = [], {}, {}, {}, {}
        self.pending = None if self.stop_counts is None else dict(self.stop_counts)

    def _hook(self, name):
        def hook(module, args, output):
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.calls[name] == 1:
                self.order.append(name)
            if name in self.wanted:
                self._keep(name, output)
                if self.pending is not None and name in self.pending:
                    self.pending[name] -= 1
                    if self.pending[name] == 0:
                        del self.pending[name]
                        if not self.pending:
                            raise _StopForward
        return hook

    def _keep(self, name, output):
        t = _first_tensor(output, self.torch)
        if t is None:
            self.bad[name] = f"its output is {type(output).__name__}, not a tensor"
            return
        if t.ndim == 0 or t.shape[0] != self.n_rows:
            if t.ndim == 3 and t.shape[1] == self.n_rows:
                t = t.transpose(0, 1)  # sequence first: (tokens, N, D)
            else:
                self.bad[name] = (f"its output {tuple(t.shape)} has no batch axis of "
                                  f"{self.n_rows} stimuli")
                return
        self.bad.pop(name, None)
        self.raw[name] = tuple(int(s) for s in t.shape[1:])
        pooled = _pool(t, self.mode_of(name), self.mask, name, self.work, self.max_units,
                       self.torch)
        if pooled.untyped_storage().data_ptr() == t.untyped_storage().data_ptr():
            pooled = pooled.clone()  # a view: a later in-place op (ReLU(inplace=True)) would
        self.outputs[name] = pooled  # change it before it is written

    def run(self, model, forward, inputs, n_rows):
        mask = inputs.get("attention_mask") if isinstance(inputs, collections.abc.Mapping) \
            else None
        self.reset(n_rows, mask)
        try:
            forward(model, inputs)
        except _StopForward:
            pass

    def remove(self):
        for h in self.handles:
            h.remove()


def _resolve_device(model, device, torch):
    """``(device, move)``: where the inputs go, and whether the model must be moved there."""
    params = list(itertools.chain(model.parameters(), model.buffers()))
    devices = {p.device for p in params}
    current = params[0].device if params else torch.device("cpu")
    if device in (None, "auto"):
        if len(devices) > 1 or current.type != "cpu" or not torch.cuda.is_available():
            return current, False
        dev = torch.device("cuda")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise CaptureError(f"device: {device!r} is not a device ({exc})") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise CaptureError(f"device: {device!r} but this PyTorch sees no CUDA device")
    return dev, len(devices) <= 1 and dev != current


def list_layers(model, example=None, *, forward=None):
    """Module paths of ``model`` (``named_modules()``, the root left out).

    Parameters
    ----------
    model : torch.nn.Module
    example : batch, optional
        One batch as :func:`capture` takes it (a tensor, a dict such as tokenizer output, or
        ``(inputs, ids)``). When given, the model runs on it once and the paths come in
        execution order (the order in which modules produce their outputs), leaving out modules
        that did not run.
    forward : callable, optional
        ``forward(model, inputs)`` to call instead of ``model(inputs)``.

    Returns
    -------
    list of str
    """
    torch = _torch()
    _check_model(model)
    names = _module_names(model)
    if example is None:
        return names
    inputs, _ = _split_item(example)
    device, _ = _resolve_device(model, None, torch)
    hooks = _Hooks(model, [], lambda n: "auto", torch.float32, MAX_UNITS, torch)
    was_training = model.training
    model.eval()  # as for a capture (and batch-norm statistics stay as they are)
    try:
        with torch.no_grad():
            hooks.run(model, forward or _default_forward, _to_device(inputs, device, torch),
                      _batch_rows(inputs, torch))
    finally:
        hooks.remove()
        model.train(was_training)
    return list(hooks.order)
