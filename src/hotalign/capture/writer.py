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


def _read_ids(path: Path, rows):
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()[:rows]
    ids = [json.loads(s) for s in lines]
    # drop ids of a batch whose rows were not recorded
    atomic_write(path, "".join(json.dumps(s) + "\n" for s in ids).encode())
    return ids if len(ids) == rows else []
