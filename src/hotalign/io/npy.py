"""``.npy`` files and folders of them, thingsvision's per-module layouts included."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from ..layer import Layer
from .limits import Limits, declared_bytes, file_holds, inside, over_budget
from .system import (STIMULUS_KEY, InputError, System, _array_layer, _check_ids, _file_digest,
                     _layer, _ordered, _parse_order, natural_key)

__all__ = ["load", "load_folder"]

_MAX_TEXT = 1 << 28  # a stimulus list or layers.json larger than this is not one


def _read_text(path: Path, limits: Limits, what="a list of stimulus names") -> str:
    """A small text file of the folder (its size checked first), as UTF-8."""
    size = path.stat().st_size
    if size > min(_MAX_TEXT, limits.max_memory):
        raise InputError(f"{path}: {size} bytes is too large for {what}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None


def _read_ids(path: Path, limits: Limits):
    """The stimulus ids of ``stimulus_ids.npy``, size checked before they are read."""
    if not path.stat().st_size:
        return np.empty(0)
    arr = _open_npy(path)
    need = declared_bytes(arr.shape, arr.dtype.itemsize)
    if need > limits.max_memory:
        raise InputError(over_budget(path, STIMULUS_KEY, arr.shape, arr.dtype, need,
                                     limits.max_memory))
    return np.array(arr)


def load(path: Path, limits: Limits | None = None) -> System:
    """A single ``.npy`` file: one layer named after the file, memory-mapped."""
    return System(str(path), [path.stem], [_array_layer(str(path), path.stem, _open_npy(path))],
                  None, _file_digest(path))


def read_header(f):
    """``(shape, fortran_order, dtype)`` from the ``.npy`` header at the position of ``f``."""
    version = np.lib.format.read_magic(f)
    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
            else np.lib.format.read_array_header_2_0)
    return read(f)


def _npy_header(path: Path):
    """``(shape, dtype)`` of a ``.npy`` file from its header, after checking that the file
    holds the data the header declares (length, and bytes actually on disk)."""
    with open(path, "rb") as f:
        shape, _fortran, dtype = read_header(f)
        offset = f.tell()
    if dtype.hasobject:
        raise InputError(f"{path}: contains an object (pickled) array, which is not loaded "
                         "(allow_pickle=False)")
    problem = file_holds(path, offset + declared_bytes(shape, dtype.itemsize),
                         f"the array ({' x '.join(map(str, shape))} {dtype})")
    if problem:
        raise InputError(f"{path}: {problem}")
    return shape, dtype


def _open_npy(path: Path):
    try:
        _npy_header(path)
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except InputError:
        raise
    except ValueError as exc:
        msg = str(exc)
        if "allow_pickle" in msg or "Object arrays" in msg or "Python objects" in msg:
            raise InputError(f"{path}: contains an object (pickled) array, which is not "
                             "loaded (allow_pickle=False)") from None
        raise InputError(f"{path}: not a valid .npy file or truncated ({msg})") from None
    except (OSError, EOFError, SyntaxError) as exc:
        raise InputError(f"{path}: not a valid .npy file ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{path}: not a .npy array file")
    return arr


_TV_CHUNK = re.compile(r"features(?P<suffix>.*?)(?:_(?P<a>\d+)-(?P<b>\d+)|_(?P<k>\d+))?\.npy")


def _thingsvision_files(files, where, top=False):
    """``(files, row ranges or None)`` of one layer in row order, from thingsvision's names:
    ``features[_suffix].npy``, chunks ``features[_suffix]_<a>-<b>.npy`` or splits
    ``features_01.npy``, ``features_02.npy``, ...; None when ``files`` do not all follow them
    (at the top of a folder, ``top``, only row-range chunks count: other names are layers)."""
    parsed = [(p, _TV_CHUNK.fullmatch(p.name)) for p in files]
    if not files or any(m is None for _, m in parsed):
        return None
    if top and any(m["a"] is None for _, m in parsed):
        return None
    suffixes = sorted({m["suffix"] for _, m in parsed})
    if len(suffixes) > 1:
        sets = ", ".join("features" + s for s in suffixes)
        raise InputError(f"{where}: holds features of several sets ({sets}); keep one per "
                         "folder")
    ranged = [(int(m["a"]), int(m["b"]), p) for p, m in parsed if m["a"] is not None]
    numbered = [(int(m["k"]), p) for p, m in parsed if m["k"] is not None]
    whole = [p for p, m in parsed if m["a"] is None and m["k"] is None]
    if sum(bool(x) for x in (ranged, numbered, whole)) > 1 or len(whole) > 1:
        raise InputError(f"{where}: mixes a whole features file with chunks "
                         f"({', '.join(p.name for p in files[:4])}); keep one or the other")
    if whole:
        return whole, None
    if numbered:
        numbered.sort(key=lambda t: t[0])
        if [k for k, _ in numbered] != list(range(1, len(numbered) + 1)):
            raise InputError(f"{where}: split files {', '.join(p.name for _, p in numbered)} "
                             "are not numbered 01, 02, ... without gaps")
        return [p for _, p in numbered], None
    ranged.sort(key=lambda t: t[0])
    stop = 0
    for a, b, p in ranged:
        if a != stop or b <= a:
            raise InputError(f"{p}: chunk covers rows {a}-{b} but the previous chunks end at "
                             f"row {stop}; a chunk is missing or repeated")
        stop = b
    return [p for _, _, p in ranged], [(a, b) for a, b, _ in ranged]


def _chunked_layer(files, ranges=None, where="input", name=None) -> Layer:
    """One layer stored as ``.npy`` chunks of consecutive rows (thingsvision's
    ``features_<a>-<b>.npy``), read only when and as far as needed.

    Reading rows touches only the chunks that hold them; reading the layer concatenates every
    chunk. Only headers are read here; chunks are memory-mapped one at a time on access.
    """
    files = [Path(p) for p in files]
    shapes, dtypes = [], set()
    for p in files:
        if p.stat().st_size == 0:
            raise InputError(f"{p}: file is empty")
        arr = _open_npy(p)
        shapes.append(arr.shape)
        dtypes.add(arr.dtype)
        del arr
    if any(len(s) < 2 or s[1:] != shapes[0][1:] for s in shapes) or len(dtypes) != 1:
        raise InputError(f"{where}: chunks differ in shape past the first axis or in dtype "
                         f"({', '.join(f'{p.name} {s}' for p, s in zip(files, shapes))})")
    counts = [s[0] for s in shapes]
    if ranges is not None:
        for p, (a, b), r in zip(files, ranges, counts):
            if b - a != r:
                raise InputError(f"{p}: named for rows {a}-{b} but holds {r} rows")
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    dtype = dtypes.pop()
    width = int(np.prod(shapes[0][1:], dtype=np.int64))

    def chunk(k):
        return _open_npy(files[k]).reshape(-1, width)

    def read(rows):
        if rows is None:
            out = np.empty((int(starts[-1]), width), dtype)
            for k in range(len(files)):
                out[starts[k]:starts[k + 1]] = chunk(k)
            return out
        which = np.searchsorted(starts, rows, side="right") - 1
        out = np.empty((rows.size, width), dtype)
        for k in np.unique(which):
            sel = which == k
            out[sel] = chunk(k)[rows[sel] - starts[k]]
        return out

    return _layer(where, name or Path(where).name, (int(starts[-1]), *shapes[0][1:]), dtype,
                  read, on_demand=True)


_READ = ("file_names.txt", "layers.json")  # the files of a folder read besides .npy files


def _entries(folder: Path, root: Path):
    """The entries of ``folder`` (inside the input folder ``root``); a link that leads out of
    ``root`` and would be read (a ``.npy`` file, a module folder, the stimulus names, the layer
    order) is refused, never followed, naming the link and not its target."""
    out = []
    for p in folder.iterdir():
        used = p.suffix.lower() == ".npy" or p.name in _READ or p.is_dir()
        if used and p.is_symlink() and not inside(root, p):
            raise InputError(f"{p}: a symbolic link that leads outside the folder {root}; "
                             "refusing to follow it (copy the file into the folder)")
        out.append(p)
    return out


def _check_capture(path: Path, limits: Limits) -> dict | None:
    """The ``layers.json`` of a folder (None when there is none); an interrupted capture
    (``OUT.partial``, or ``"complete": false``) is refused."""
    resume = ("finish it with `hotalign capture ... --resume` (capture(..., resume=True)) and "
              "read the finished folder")
    doc = None
    if (path / "layers.json").is_file():
        try:
            doc = json.loads(_read_text(path / "layers.json", limits, "a list of layers"))
        except (ValueError, RecursionError) as exc:
            why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise InputError(f"{path / 'layers.json'}: not valid JSON ({why})") from None
    if path.name.endswith(".partial") or (isinstance(doc, dict) and doc.get("complete") is False):
        raise InputError(f"{path}: an incomplete (interrupted) capture; {resume}")
    return doc


def load_folder(path: Path, limits: Limits | None = None) -> System:
    """A folder of ``.npy`` layers, or of thingsvision module folders. Links that leave the
    folder are refused, and so is an incomplete capture."""
    limits = limits or Limits.of()
    listing = _entries(path, path)
    doc = _check_capture(path, limits)
    files = sorted((p for p in listing if p.suffix.lower() == ".npy" and p.is_file()),
                   key=lambda p: natural_key(p.stem))
    ids = None
    layer_files = []
    for p in files:
        if p.stem == STIMULUS_KEY:
            ids = _check_ids(_read_ids(p, limits), str(p))
        else:
            layer_files.append(p)
    names_txt = path / "file_names.txt"
    if ids is None and names_txt.is_file():  # thingsvision's stimulus list
        ids = np.array(_read_text(names_txt, limits).split("\n"))
        ids = ids[ids != ""]
    entries = {}  # name -> (files, Layer)
    chunks = _thingsvision_files(layer_files, str(path), top=True)
    if chunks is not None:
        entries[path.name] = (chunks[0], _chunked_layer(*chunks, where=str(path)))
    else:
        for p in layer_files:
            if p.stat().st_size == 0:
                raise InputError(f"{p}: file is empty")
            entries[p.stem] = ([p], _array_layer(str(path), p.stem, _open_npy(p)))
    for sub in sorted((d for d in listing if d.is_dir()), key=lambda d: natural_key(d.name)):
        feats = sorted((p for p in _entries(sub, path) if p.is_file() and
                        p.suffix.lower() == ".npy"), key=lambda p: natural_key(p.name))
        chunks = _thingsvision_files(feats, str(sub))
        if chunks is not None:  # thingsvision: one folder per module
            if sub.name in entries:
                raise InputError(f"{path}: layer {sub.name!r} is both a file and a folder")
            entries[sub.name] = (chunks[0], _chunked_layer(*chunks, where=str(sub)))
    if not entries:
        raise InputError(f"{path}: folder holds no .npy layer files (nor thingsvision module "
                         "folders of features*.npy)")
    order = None
    if isinstance(doc, list) or (isinstance(doc, dict) and "order" in doc):
        order = _parse_order(doc, str(path / "layers.json"))
    names = _ordered(list(entries), order, f"{path / 'layers.json'}")
    h = hashlib.sha256()
    for name in names:
        for p in entries[name][0]:
            h.update(p.relative_to(path).as_posix().encode() + b"|")
            _file_digest(p, h)
    if ids is not None:
        h.update(b"ids|" + ids.astype(str).tobytes())
    return System(str(path), names, [entries[n][1] for n in names], ids, h.hexdigest())
