"""Stimuli from the command line: a folder of images or a ``.txt`` of sentences, in batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.system import natural_key
from .errors import CaptureError, _torch


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm")


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
