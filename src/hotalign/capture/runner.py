""":func:`capture`: run a model on batches and stream its pooled layers to disk."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

from ..io.readers import load_system
from .errors import CaptureError, _check_model, _torch
from .hooks import (MAX_UNITS, _batch_rows, _default_forward, _Hooks, _module_names, _pool_for,
                    _resolve_device, _select, _split_item, _to_device)
from .writer import _prepare_out, _read_meta, _Writer


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


def _n_stimuli(n_stimuli, stimulus_ids, batches, torch):
    """The stimulus count: ``n_stimuli``, else the length of ``stimulus_ids``, of a DataLoader's
    sized dataset, or the sum of the batch axes of a list or tuple of batches (tokenizer
    outputs, tensors, ``(inputs, ids)``), read without running the model."""
    if n_stimuli is None and stimulus_ids is not None:
        n_stimuli = len(stimulus_ids)
    if n_stimuli is None:
        dataset = getattr(batches, "dataset", None)
        if dataset is not None and hasattr(dataset, "__len__"):
            n_stimuli = len(dataset)
    if n_stimuli is None and isinstance(batches, (list, tuple)):
        n_stimuli = sum(_batch_rows(_split_item(item)[0], torch) for item in batches)
    if n_stimuli is None:
        raise CaptureError("n_stimuli: cannot tell how many stimuli `batches` yields; pass "
                           "n_stimuli= (or stimulus_ids=, a list of batches, or a DataLoader "
                           "over a sized dataset)")
    if int(n_stimuli) < 1:
        raise CaptureError(f"n_stimuli: must be >= 1, got {n_stimuli}")
    if stimulus_ids is not None and len(stimulus_ids) != int(n_stimuli):
        raise CaptureError(f"stimulus_ids: lists {len(stimulus_ids)} stimuli but n_stimuli is "
                           f"{n_stimuli}")
    return int(n_stimuli)


def capture(model, batches, out, *, layers="**", pool="auto", forward=None, device="auto",
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
        Module paths or globs (comma-separated in a string), e.g. ``"layer*"`` (``*`` within one
        dot-separated segment, ``**`` across dots: ``"encoder.layer.*"`` is the blocks only);
        default ``"**"``, every module whose output is a tensor with a batch axis. A glob that matches nothing raises,
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
        Rows T to preallocate; default ``len(stimulus_ids)``, ``len(batches.dataset)``, or for a
        list or tuple of batches the sum of their batch axes (e.g. tokenizer outputs).
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
    n = _n_stimuli(n_stimuli, stimulus_ids, batches, torch)
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
        meta = _read_meta(partial)
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
