"""The ``OUT.partial`` folder of a capture: memory maps, ids, progress and resume."""

from __future__ import annotations

import collections.abc
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from .._files import atomic_write
from ..io.system import STIMULUS_KEY
from ..io.writers import write_json
from .errors import CaptureError, ConstantLayerWarning
from .hooks import _pooled_by


FORMAT = "hotalign-capture/1"


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
            self.batches_done, self.rows = _read_progress(folder, n)
            self.maps = {}
            for nm in self.layers:
                mm = np.lib.format.open_memmap(folder / f"{nm}.npy", mode="r+")
                if mm.shape[0] != n or mm.ndim != 2:
                    raise CaptureError(f"resume: {folder / (nm + '.npy')} has shape "
                                       f"{mm.shape}, not ({n}, units); delete {folder} and "
                                       "capture again")
                self.maps[nm] = mm
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
            ids = np.array(self.ids, dtype=str)
            atomic_write(self.folder / f"{STIMULUS_KEY}.npy", lambda f: np.save(f, ids))
        self._warn_constant()
        self.close()
        self.meta["complete"] = True
        write_json(self.folder / "layers.json", self.meta)
        for f in ("progress.json", "ids.jsonl"):
            (self.folder / f).unlink(missing_ok=True)
        os.replace(self.folder, out)

    def _warn_constant(self):
        """One :class:`ConstantLayerWarning` naming the layers whose units are all constant."""
        from ..costs import ZScore

        constant = [nm for nm in self.layers
                    if ZScore().fit(np.asarray(self.maps[nm]), f"layer {nm!r}").constant_.all()]
        if constant:
            warnings.warn(
                f"{len(constant)} captured layer(s) have only constant units over the "
                f"{self.n} stimuli and cannot be compared: {', '.join(map(repr, constant))} "
                "(e.g. an embeddings layer under CLS pooling); align them with "
                "--constant-units drop, or choose other layers with --layers",
                ConstantLayerWarning, stacklevel=4)

    def close(self):
        for mm in self.maps.values():
            mm.flush()
        self.maps = {}


def _count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _read_progress(folder: Path, n):
    """``(batches, rows)`` recorded in ``progress.json`` (0, 0 when there is none), validated:
    two integers, ``0 <= batches <= rows <= n`` (every batch holds a stimulus)."""
    path = folder / "progress.json"
    if not path.is_file():
        return 0, 0
    again = f"delete {folder} and capture again"
    try:
        prog = json.loads(path.read_bytes()[:1 << 16].decode("utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise CaptureError(f"resume: {path} is not valid JSON; {again}") from None
    if not isinstance(prog, dict) or not all(_count(prog.get(k)) for k in ("batches", "rows")):
        raise CaptureError(f"resume: {path} must hold integer counts 'batches' and 'rows' "
                           f"(>= 0); {again}")
    batches, rows = prog["batches"], prog["rows"]
    if rows > n or batches > rows:
        raise CaptureError(f"resume: {path} records {batches} batches of {rows} stimuli, "
                           f"impossible for a capture of {n} stimuli; {again}")
    return batches, rows


def _read_meta(folder: Path):
    """The ``layers.json`` of an interrupted capture, validated enough to resume from."""
    path = folder / "layers.json"
    again = f"delete {folder} and capture again"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise CaptureError(f"resume: {path} is not valid JSON; {again}") from None
    order = meta.get("order") if isinstance(meta, dict) else None
    layers = meta.get("layers") if isinstance(meta, dict) else None
    if not isinstance(order, list) or not isinstance(layers, dict) or not all(
            isinstance(nm, str) and nm and "/" not in nm and "\\" not in nm
            and nm not in (".", "..") and isinstance(layers.get(nm), dict) for nm in order):
        raise CaptureError(f"resume: {path} does not describe a capture (an 'order' of layer "
                           f"names, each in 'layers'); {again}")
    return meta


def _read_ids(path: Path, rows):
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()[:rows]
    ids = [json.loads(s) for s in lines]
    # drop ids of a batch whose rows were not recorded
    atomic_write(path, "".join(json.dumps(s) + "\n" for s in ids).encode())
    return ids if len(ids) == rows else []
