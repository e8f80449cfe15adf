"""Layer activations of a PyTorch model, captured with forward hooks and streamed to disk.

``capture(model, batches, out)`` runs ``model`` on every batch, keeps the output of the selected
modules (``named_modules()`` paths), pools each to ``(N, units)`` on the model's device and
writes the rows into one preallocated ``.npy`` memory map per layer. The result is a folder that
:func:`hotalign.io.load_system` (and ``hotalign align``) reads with no conversion, in the order in
which the layers ran::

    OUT/
      layers.json          order, raw and pooled shapes, pooling, model class, versions, dtype,
                           state-dict fingerprint, stimulus count
      <module path>.npy    (T, units) float32 (or float64) per layer
      stimulus_ids.npy     the T stimulus ids, when the batches or the caller name them

PyTorch is imported when a function here is called, not when :mod:`hotalign` is imported
(``pip install 'hotalign[torch]'``). Forward hooks work for any ``nn.Module``: torchvision, timm
and Hugging Face models included. No torch.fx tracing, no extra dependency.

Memory and crashes
------------------
Peak host memory is one pooled batch: rows go straight to the memory maps, whose pages belong to
the operating system's file cache. The capture is written to ``OUT.partial/`` and renamed to
``OUT`` only when complete; ``resume=True`` continues an interrupted capture from its last
complete batch (the batches must come in the same order). ``stop_after_last=True`` ends each
forward pass as soon as the last selected module has produced its output.

Pooling (per layer, ``pool=``)
------------------------------
``"auto"``
    4-D ``(N, C, H, W)`` -> spatial mean (C units); 3-D ``(N, tokens, D)`` -> mean over the
    tokens, counting only tokens whose ``attention_mask`` is 1 when the batch has one; 2-D as is;
    5-D and more -> mean over every axis after the channels.
``"mean"``
    The same as ``"auto"``.
``"spatial_max"``
    Maximum over the spatial axes (over the unmasked tokens for 3-D outputs).
``"avg<k>"``
    Adaptive average pooling of a 4-D output to ``k x k`` (``C k^2`` units).
``"cls"`` / ``"last"``
    First token / last unmasked token of a 3-D output.
``"flatten"``
    Every value a unit; refused above ``max_units`` units, since a layer's cost matrix grows with
    the square of its units.
a dict ``{glob: mode}``
    The first glob that matches a module path gives its mode; ``"auto"`` for the others.

2-D outputs are kept as they are whatever the mode. Tuple and list outputs take element 0
(Hugging Face blocks return tuples), mappings their first value. bfloat16 and float16 outputs
are upcast before pooling. A module that runs several times in one forward pass contributes its
last output; its place in the order is its first run. Sequence-first 3-D outputs ``(tokens, N,
D)`` (``nn.MultiheadAttention`` without ``batch_first``) are recognised by their second axis.
4-D outputs are taken as channels first; for channels-last ones ``(N, H, W, C)`` (some timm
models) use ``"flatten"`` on a small layer or pool them in ``forward``.
"""

from __future__ import annotations

import collections.abc
import difflib
import fnmatch
import hashlib
import importlib
import importlib.util
import itertools
import json
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np

from .io import STIMULUS_KEY, InputError, load_system, natural_key, write_json

__all__ = ["CaptureError", "capture", "list_layers", "load_model", "read_stimuli"]

FORMAT = "hotalign-capture/1"
MAX_UNITS = 16384
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm")
_MODES = ("auto", "mean", "spatial_max", "cls", "last", "flatten")


class CaptureError(InputError):
    """Bad input to a capture (a ``ValueError``): the message names the argument and the
    problem."""


class _StopForward(BaseException):
    """Raised by the last hook of a forward pass when ``stop_after_last`` is set; caught by
    :func:`capture` (a BaseException, so that model code catching ``Exception`` lets it pass)."""


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


# ----------------------------------------------------------------------------------------------
# layer selection and pooling
# ----------------------------------------------------------------------------------------------


def _module_names(model):
    return [name for name, _ in model.named_modules() if name]


def _select(names, layers):
    """``[(name, explicit)]`` for a comma-separated string or list of names / globs."""
    items = [s.strip() for s in layers.split(",")] if isinstance(layers, str) else list(layers)
    items = [str(s) for s in items if str(s) != ""]
    if not items:
        raise CaptureError("layers: selects no module")
    chosen = {}
    for item in items:
        if item in names:
            chosen.setdefault(item, True)
            continue
        hits = [n for n in names if fnmatch.fnmatchcase(n, item)]
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
        return lambda name: next((m for g, m in rules if fnmatch.fnmatchcase(name, g)), "auto")
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


# ----------------------------------------------------------------------------------------------
# batches
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# the hooked forward pass
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# capture
# ----------------------------------------------------------------------------------------------


def _fingerprint(model, torch, per_tensor=4096):
    """SHA-256 of every state-dict entry's name, dtype, shape and up to ``per_tensor`` evenly
    spaced values: different weights give a different fingerprint, in time linear in the number
    of tensors rather than of parameters."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        if not isinstance(t, torch.Tensor):
            continue
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        flat = t.detach().reshape(-1)
        if flat.numel():
            idx = torch.linspace(0, flat.numel() - 1, min(per_tensor, flat.numel()),
                                 device=flat.device, dtype=torch.float64).long()
            h.update(flat[idx].to(torch.float64).cpu().numpy().tobytes())
    return h.hexdigest()


def _n_stimuli(n_stimuli, stimulus_ids, batches):
    if n_stimuli is None and stimulus_ids is not None:
        n_stimuli = len(stimulus_ids)
    if n_stimuli is None:
        dataset = getattr(batches, "dataset", None)
        if dataset is not None and hasattr(dataset, "__len__"):
            n_stimuli = len(dataset)
    if n_stimuli is None:
        raise CaptureError("n_stimuli: cannot tell how many stimuli `batches` yields; pass "
                           "n_stimuli= (or stimulus_ids=, or a DataLoader over a sized dataset)")
    if int(n_stimuli) < 1:
        raise CaptureError(f"n_stimuli: must be >= 1, got {n_stimuli}")
    if stimulus_ids is not None and len(stimulus_ids) != int(n_stimuli):
        raise CaptureError(f"stimulus_ids: lists {len(stimulus_ids)} stimuli but n_stimuli is "
                           f"{n_stimuli}")
    return int(n_stimuli)


def _prepare_out(out: Path, resume: bool):
    partial = out.with_name(out.name + ".partial")
    if out.exists():
        if not resume:
            raise CaptureError(f"out: {out} exists; pass resume=True (--resume) to reuse a "
                               "finished capture, or choose another folder")
        if not (out / "layers.json").is_file():
            raise CaptureError(f"out: {out} exists and is not a finished capture (no "
                               "layers.json)")
        return partial, True
    if partial.exists():
        if not resume:
            raise CaptureError(f"out: {partial} holds an interrupted capture; pass resume=True "
                               "(--resume) to continue it, or delete it")
        if not (partial / "layers.json").is_file():
            shutil.rmtree(partial)  # killed before its first write: nothing to keep
    return partial, False


def capture(model, batches, out, *, layers="*", pool="auto", forward=None, device="auto",
            dtype="float32", n_stimuli=None, stimulus_ids=None, resume=False, progress=True,
            stop_after_last=False, max_units=MAX_UNITS):
    """Capture the pooled outputs of ``model``'s modules on ``batches`` into the folder ``out``.

    Parameters
    ----------
    model : torch.nn.Module
        Put in eval mode for the capture (its mode is restored after).
    batches : iterable
        Any iterable, e.g. a ``DataLoader``, always in the same order. Items are tensors (batch
        axis first), dicts of tensors (tokenizer output; an ``attention_mask`` entry makes token
        pooling skip padding), or ``(inputs, ids)`` with ``ids`` naming the stimuli.
    out : str or os.PathLike
        Folder to create (must not exist unless ``resume``).
    layers : str or list of str
        Module paths or globs (comma-separated in a string), e.g. ``"layer*"``; default every
        module whose output is a tensor with a batch axis. A glob that matches nothing raises,
        listing close matches.
    pool : str or dict
        Pooling mode, or ``{glob: mode}`` (see the module docstring).
    forward : callable, optional
        ``forward(model, inputs)`` instead of ``model(inputs)`` / ``model(**inputs)``.
    device : str
        ``"auto"`` (the model's device; CUDA if it is on the CPU and CUDA is available), or a
        torch device string. The model is moved there for the capture and moved back after.
    dtype : {"float32", "float64"}
        dtype of the stored layers; pooling runs in it on the device.
    n_stimuli : int, optional
        Rows T to preallocate; default ``len(stimulus_ids)`` or ``len(batches.dataset)``.
    stimulus_ids : sequence of str, optional
        Ids of the T stimuli (checked against ids carried by the batches).
    resume : bool
        Continue ``OUT.partial`` from its last complete batch, or return a finished ``OUT``.
    progress : bool
        A progress bar on a terminal.
    stop_after_last : bool
        End every forward pass once the selected modules have run (after the first batch, which
        runs fully to count how often each module runs).
    max_units : int
        Largest layer ``"flatten"`` may produce.

    Returns
    -------
    hotalign.io.System
        The finished capture, opened with :func:`hotalign.io.load_system`.

    Raises
    ------
    CaptureError
        A ``ValueError`` naming the argument: not an ``nn.Module``, unknown layers or modes,
        ``out`` exists without ``resume``, batches that yield more or fewer stimuli than
        ``n_stimuli``, ids that disagree or repeat, NaN or inf activations, a resumed capture
        whose model, layers or settings differ.
    """
    torch = _torch()
    _check_model(model)
    if dtype not in ("float32", "float64"):
        raise CaptureError(f"dtype: expected 'float32' or 'float64', got {dtype!r}")
    out = Path(out)
    partial, finished = _prepare_out(out, resume)
    if finished:
        return load_system(out)
    n = _n_stimuli(n_stimuli, stimulus_ids, batches)
    if stimulus_ids is not None:
        stimulus_ids = [str(s) for s in stimulus_ids]
    names = _module_names(model)
    chosen = _select(names, layers)
    mode_of = _pool_for(pool)
    forward = forward or _default_forward
    dev, move = _resolve_device(model, device, torch)
    home = next(itertools.chain(model.parameters(), model.buffers()), None)
    home = home.device if home is not None else None
    work = torch.float32 if dtype == "float32" else torch.float64
    meta = None
    if (partial / "layers.json").is_file():
        meta = json.loads((partial / "layers.json").read_text())
    was_training = model.training
    model.eval()
    if move:
        model.to(dev)
    hooks = _Hooks(model, chosen, mode_of, work, max_units, torch)
    state = _Writer(partial, n, dtype, meta)
    bar = None
    try:
        if progress:
            from tqdm.auto import tqdm

            total = len(batches) if hasattr(batches, "__len__") else None
            bar = tqdm(total=total, desc=f"capture {out.name}", unit="batch", disable=None)
        with torch.no_grad():
            for k, item in enumerate(batches):
                inputs, ids = _split_item(item)
                rows = _batch_rows(inputs, torch)
                if k < state.batches_done:  # resume: this batch is on disk already
                    state.skip(k, rows)
                    if bar is not None:
                        bar.update(1)
                    continue
                hooks.run(model, forward, _to_device(inputs, dev, torch), rows)
                if state.layers is None:
                    state.start(_settle(hooks, chosen), hooks, _describe(
                        model, torch, dtype, pool, n), mode_of)
                elif not state.checked:
                    state.check_resume(_describe(model, torch, dtype, pool, n), hooks)
                if stop_after_last and hooks.stop_counts is None:  # counted on a full pass
                    hooks.stop_counts = {nm: hooks.calls[nm] for nm in state.layers}
                ids = _batch_ids(ids, stimulus_ids, state.rows, rows)
                state.write(k, rows, ids, hooks)
                if bar is not None:
                    bar.update(1)
        state.finish(out)
    finally:
        if bar is not None:
            bar.close()
        hooks.remove()
        state.close()
        if move and home is not None:
            model.to(home)
        model.train(was_training)
    return load_system(out)


def _batch_ids(ids, stimulus_ids, start, rows):
    if ids is not None and len(ids) != rows:
        raise CaptureError(f"batches: a batch of {rows} stimuli carries {len(ids)} ids")
    if stimulus_ids is None:
        return ids
    given = stimulus_ids[start:start + rows]
    if ids is not None and ids != given:
        k = next((i for i, (a, b) in enumerate(zip(ids, given)) if a != b), len(given))
        expected = given[k] if k < len(given) else None
        raise CaptureError(f"stimulus_ids: row {start + k} is {expected!r} but the batch names "
                           f"it {ids[k]!r}")
    return given


def _settle(hooks, chosen):
    """The captured layers, in execution order, after the first batch: explicitly named modules
    must have run and given a usable tensor; glob matches that did not are left out."""
    for name, explicit in chosen.items():
        if not explicit:
            continue
        if name not in hooks.calls:
            raise CaptureError(f"layers: module {name!r} did not run in the forward pass")
        if name in hooks.bad:
            raise CaptureError(f"layers: module {name!r} cannot be captured: {hooks.bad[name]}")
    hooks.chosen = chosen
    keep = [nm for nm in hooks.order if nm in chosen and nm in hooks.outputs]
    if not keep:
        raise CaptureError("layers: none of the selected modules gave a tensor with a batch axis "
                           f"({len(chosen)} selected)")
    return keep


def _describe(model, torch, dtype, pool, n):
    return {"model_class": f"{type(model).__module__}.{type(model).__qualname__}",
            "torch_version": torch.__version__, "dtype": dtype,
            "state_dict_fingerprint": _fingerprint(model, torch),
            "pool": pool if isinstance(pool, str) else dict(pool), "n_stimuli": n}


class _Writer:
    """The ``OUT.partial`` folder: memory maps, ids and progress of a capture."""

    def __init__(self, folder: Path, n, dtype, meta):
        self.folder, self.n, self.dtype = folder, n, dtype
        self.meta = meta
        self.layers = None if meta is None else list(meta["order"])
        self.maps = {}
        self.rows, self.batches_done, self.checked = 0, 0, False
        self.skipped_rows = 0
        if meta is not None:
            prog = json.loads((folder / "progress.json").read_text()) \
                if (folder / "progress.json").is_file() else {"batches": 0, "rows": 0}
            self.batches_done, self.rows = int(prog["batches"]), int(prog["rows"])
            self.maps = {nm: np.lib.format.open_memmap(folder / f"{nm}.npy", mode="r+")
                         for nm in self.layers}
            self.ids = _read_ids(folder / "ids.jsonl", self.rows)

    def start(self, layers, hooks, describe, mode_of):
        self.folder.mkdir(parents=True)
        self.layers = layers
        info = {nm: {"file": f"{nm}.npy", "raw_shape": list(hooks.raw[nm]),
                     "pooled_shape": [self.n, int(hooks.outputs[nm].shape[1])],
                     "pooling": mode_of(nm), "pooled_by": _pooled_by(
                         mode_of(nm), len(hooks.raw[nm]) + 1, hooks.mask is not None),
                     "calls_per_forward": hooks.calls[nm]}
                for nm in layers}
        for nm in layers:
            self.maps[nm] = np.lib.format.open_memmap(
                self.folder / f"{nm}.npy", mode="w+", dtype=self.dtype,
                shape=(self.n, info[nm]["pooled_shape"][1]))
        self.ids = []
        skipped = {nm: hooks.bad.get(nm, "it did not run") for nm in hooks.chosen
                   if nm not in info}
        self.meta = {"format": FORMAT, "order": layers, "layers": info, "skipped": skipped,
                     **describe, "complete": False}
        write_json(self.folder / "layers.json", self.meta)
        self.checked = True

    def check_resume(self, describe, hooks):
        for key in ("model_class", "state_dict_fingerprint", "dtype", "pool", "n_stimuli"):
            if self.meta.get(key) != describe[key]:
                raise CaptureError(f"resume: {self.folder} was captured with a different {key} "
                                   f"({self.meta.get(key)!r}, now {describe[key]!r}); delete it "
                                   "or capture into another folder")
        for nm in self.layers:
            if nm not in hooks.outputs or \
                    int(hooks.outputs[nm].shape[1]) != self.meta["layers"][nm]["pooled_shape"][1]:
                raise CaptureError(f"resume: layer {nm!r} of {self.folder} no longer gives the "
                                   "same output; delete it or capture into another folder")
        if self.skipped_rows != self.rows:
            raise CaptureError(f"resume: the batches before batch {self.batches_done} hold "
                               f"{self.skipped_rows} stimuli, but {self.folder} recorded "
                               f"{self.rows}; the batches must come in the same order")
        self.checked = True

    def skip(self, k, rows):
        self.skipped_rows += rows

    def write(self, k, rows, ids, hooks):
        if self.rows + rows > self.n:
            raise CaptureError(f"n_stimuli: the batches yield more than n_stimuli={self.n} "
                               "stimuli")
        for nm in self.layers:
            if nm not in hooks.outputs:
                raise CaptureError(f"batches: layer {nm!r} gave no usable output on batch {k}")
            block = hooks.outputs[nm]
            if not bool(hooks.outputs[nm].isfinite().all()):
                raise CaptureError(f"layer {nm!r} has NaN or inf activations in batch {k} "
                                   f"(rows {self.rows}..{self.rows + rows - 1})")
            self.maps[nm][self.rows:self.rows + rows] = block.cpu().numpy()
        for mm in self.maps.values():
            mm.flush()
        if ids is not None:
            if len(self.ids) != self.rows:
                raise CaptureError(f"batches: batch {k} names its stimuli but earlier batches "
                                   "did not")
            with open(self.folder / "ids.jsonl", "a") as f:
                f.write("".join(json.dumps(s) + "\n" for s in ids))
                f.flush()
                os.fsync(f.fileno())
            self.ids.extend(ids)
        elif self.ids:
            raise CaptureError(f"batches: batch {k} does not name its stimuli but earlier ones "
                               "did")
        self.rows += rows
        self.batches_done = k + 1
        write_json(self.folder / "progress.json", {"batches": self.batches_done,
                                                   "rows": self.rows})

    def finish(self, out: Path):
        if self.layers is None:
            raise CaptureError("batches: yielded no batch")
        if self.rows != self.n:
            raise CaptureError(f"n_stimuli: the batches yielded {self.rows} stimuli but "
                               f"n_stimuli is {self.n}")
        if self.ids:
            if len(set(self.ids)) != len(self.ids):
                dup = next(s for s, c in collections.Counter(self.ids).items() if c > 1)
                raise CaptureError(f"stimulus ids: {dup!r} names more than one stimulus (were "
                                   "class labels passed as ids?)")
            np.save(self.folder / f"{STIMULUS_KEY}.npy", np.array(self.ids, dtype=str))
        self.close()
        self.meta["complete"] = True
        write_json(self.folder / "layers.json", self.meta)
        for f in ("progress.json", "ids.jsonl"):
            (self.folder / f).unlink(missing_ok=True)
        os.replace(self.folder, out)

    def close(self):
        for mm in self.maps.values():
            mm.flush()
        self.maps = {}


def _read_ids(path: Path, rows):
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()[:rows]
    ids = [json.loads(s) for s in lines]
    with open(path, "w") as f:  # drop ids of a batch whose rows were not recorded
        f.write("".join(json.dumps(s) + "\n" for s in ids))
    return ids if len(ids) == rows else []


# ----------------------------------------------------------------------------------------------
# models and stimuli from the command line
# ----------------------------------------------------------------------------------------------


def _need(module, spec):
    try:
        return importlib.import_module(module)
    except ImportError:
        pkg = module.split(".")[0]
        raise CaptureError(f"MODEL {spec}: needs the package {pkg} (pip install {pkg})"
                           ) from None


def _per_image(transform, torch):
    return lambda images: torch.stack([transform(im.convert("RGB")) for im in images])


def load_model(spec: str):
    """``(model, preprocess)`` from a command-line model spec.

    ``torchvision:NAME`` (default weights), ``timm:NAME`` (pretrained), ``hf:NAME`` (Hugging Face
    ``AutoModel`` from the local cache only, never downloaded; its tokenizer for sentences and
    image processor for images), or ``pkg.module:factory`` / ``path/to/file.py:factory``, where
    ``factory()`` returns a model or ``(model, preprocess)``. ``preprocess`` maps a list of
    stimuli (PIL images, or strings for a ``.txt`` of sentences) to one batch; it is None when
    the spec gives none.
    """
    torch = _torch()
    kind, sep, name = str(spec).partition(":")
    if not sep or not kind or not name:
        raise CaptureError(f"MODEL {spec}: expected torchvision:NAME, timm:NAME, hf:NAME or "
                           "pkg.module:factory")
    if kind == "torchvision":
        tv = _need("torchvision.models", spec)
        weights = tv.get_model_weights(name).DEFAULT
        return tv.get_model(name, weights=weights), _per_image(weights.transforms(), torch)
    if kind == "timm":
        timm = _need("timm", spec)
        data = _need("timm.data", spec)
        model = timm.create_model(name, pretrained=True)
        config = data.resolve_data_config({}, model=model)
        return model, _per_image(data.create_transform(**config), torch)
    if kind == "hf":
        tr = _need("transformers", spec)
        model = tr.AutoModel.from_pretrained(name, local_files_only=True)
        return model, _hf_preprocess(tr, name, spec)
    return _factory(kind, name, spec, torch)


def _hf_preprocess(tr, name, spec):
    state = {}

    def preprocess(items):
        if items and isinstance(items[0], str):
            if "tok" not in state:
                tok = tr.AutoTokenizer.from_pretrained(name, local_files_only=True)
                if tok.pad_token is None:
                    tok.pad_token = tok.eos_token
                state["tok"] = tok
            return dict(state["tok"](list(items), padding=True, truncation=True,
                                     return_tensors="pt"))
        if "img" not in state:
            state["img"] = tr.AutoImageProcessor.from_pretrained(name, local_files_only=True)
        return dict(state["img"](images=[im.convert("RGB") for im in items],
                                 return_tensors="pt"))
    return preprocess


def _factory(module, attr, spec, torch):
    try:
        if module.endswith(".py"):
            path = Path(module)
            if not path.is_file():
                raise CaptureError(f"MODEL {spec}: no such file {path}")
            loader = importlib.util.spec_from_file_location(path.stem, path)
            mod = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(mod)
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            mod = importlib.import_module(module)
    except ImportError as exc:
        raise CaptureError(f"MODEL {spec}: cannot import {module} ({exc})") from None
    factory = getattr(mod, attr, None)
    if not callable(factory):
        raise CaptureError(f"MODEL {spec}: {module} has no function {attr!r}")
    made = factory()
    model, preprocess = made if isinstance(made, tuple) and len(made) == 2 else (made, None)
    if not isinstance(model, torch.nn.Module):
        raise CaptureError(f"MODEL {spec}: {attr}() returned {type(model).__name__}, not a "
                           "torch.nn.Module (or a (model, preprocess) pair)")
    if preprocess is not None and not callable(preprocess):
        raise CaptureError(f"MODEL {spec}: the preprocess returned by {attr}() is not callable")
    return model, preprocess


def read_stimuli(path, preprocess=None, batch_size=32):
    """``(ids, batches)`` for a folder of images or a ``.txt`` of sentences.

    Images: every image file under the folder (natural order of relative paths, which are the
    stimulus ids), opened one batch at a time with Pillow. Without ``preprocess`` they become
    ``(N, C, H, W)`` float tensors in [0, 1] (C = 1 when the first image is grayscale, else 3),
    so every image must have the same size. Sentences: one per non-empty line, ids ``"1"``,
    ``"2"``, ... (line numbers); they need ``preprocess`` (a tokenizer).

    ``batches`` is a re-iterable sized object yielding ``(inputs, ids)``.
    """
    torch = _torch()
    path = Path(path)
    if batch_size < 1:
        raise CaptureError(f"--batch-size must be >= 1, got {batch_size}")
    if path.is_file() and path.suffix.lower() == ".txt":
        lines = path.read_text(encoding="utf-8").splitlines()
        items = [(str(k + 1), s) for k, s in enumerate(lines) if s.strip()]
        if not items:
            raise CaptureError(f"STIMULI {path}: holds no sentences")
        if preprocess is None:
            raise CaptureError(f"STIMULI {path}: sentences need a tokenizer; use hf:NAME or a "
                               "factory that returns (model, preprocess)")
        return [i for i, _ in items], _Batches(items, lambda xs: preprocess(xs), batch_size)
    if not path.is_dir():
        raise CaptureError(f"STIMULI {path}: expected a folder of images or a .txt of sentences")
    try:
        from PIL import Image
    except ImportError:
        raise CaptureError("STIMULI: reading images needs Pillow (pip install pillow)") from None
    files = sorted((p for p in path.rglob("*") if p.is_file() and
                    p.suffix.lower() in IMAGE_SUFFIXES),
                   key=lambda p: natural_key(p.relative_to(path).as_posix()))
    if not files:
        raise CaptureError(f"STIMULI {path}: holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    items = [(p.relative_to(path).as_posix(), p) for p in files]

    def open_all(ps):
        out = []
        for p in ps:
            try:
                with Image.open(p) as im:
                    im.load()
                    out.append(im)
            except OSError as exc:
                raise CaptureError(f"STIMULI {p}: not a readable image ({exc})") from None
        return out

    if preprocess is None:
        sizes = {}
        for i, p in items:
            try:
                with Image.open(p) as im:
                    sizes.setdefault(im.size, i)
                    mode = sizes.setdefault("mode", "L" if im.mode in ("L", "1") else "RGB")
            except OSError as exc:
                raise CaptureError(f"STIMULI {p}: not a readable image ({exc})") from None
        shapes = [s for s in sizes if s != "mode"]
        if len(shapes) > 1:
            (a, b) = shapes[:2]
            raise CaptureError(f"STIMULI {path}: images have different sizes ({sizes[a]} is "
                               f"{a[0]}x{a[1]}, {sizes[b]} is {b[0]}x{b[1]}) and MODEL gives no "
                               "preprocess; use a factory that returns (model, preprocess)")

        def to_tensor(images):
            arr = np.stack([np.asarray(im.convert(mode), dtype=np.float32) / 255.0
                            for im in images])
            arr = arr[:, None] if arr.ndim == 3 else arr.transpose(0, 3, 1, 2)
            return torch.from_numpy(np.ascontiguousarray(arr))

        return [i for i, _ in items], _Batches(items, lambda ps: to_tensor(open_all(ps)),
                                               batch_size)
    return [i for i, _ in items], _Batches(items, lambda ps: preprocess(open_all(ps)),
                                           batch_size)


class _Batches:
    def __init__(self, items, make, batch_size):
        self.items, self.make, self.batch_size = items, make, batch_size

    def __len__(self):
        return -(-len(self.items) // self.batch_size)

    def __iter__(self):
        for s in range(0, len(self.items), self.batch_size):
            chunk = self.items[s:s + self.batch_size]
            yield self.make([x for _, x in chunk]), [i for i, _ in chunk]
