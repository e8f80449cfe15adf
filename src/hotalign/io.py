"""Reading systems of layers from disk or memory, and writing results.

A *system* is an ordered list of layers, each a ``(T, n)`` array (rows = stimuli). Supported
inputs:

- ``.npz``: one array per layer (``np.savez``); members are memory-mapped when stored
  uncompressed, read on access otherwise.
- a folder of ``.npy`` files, one per layer (the layout activation-capture tools such as
  thingsvision write); memory-mapped. A ``layers.json`` in the folder (what
  :func:`hotalign.capture.capture` writes: ``{"order": [...]}``, or just the list) gives the
  layer order. thingsvision's per-module layout is read too: one subfolder per module holding
  ``features.npy``, or chunks ``features[_suffix]_<a>-<b>.npy`` / ``features_01.npy``, ...,
  which are concatenated in row order lazily (a :class:`~hotalign.handles.Layer` that reads
  only the chunks holding the rows asked for). A folder holding only
  ``features_<a>-<b>.npy`` chunks is one layer, named after the folder.
- ``.npy``: a single layer; memory-mapped.
- ``.safetensors``: one tensor per layer; the header is parsed here and tensors are
  memory-mapped (float16/32/64, integer types). bfloat16 tensors are decoded here to float32,
  only the rows asked for. A ``layer_order`` entry in the header's
  ``__metadata__`` (a JSON list) gives the order.
- HDF5 (``.h5``, ``.hdf5``, ``.hdf``): every dataset of the file, at any depth (groups give
  ``group/name``); :meth:`System.layers` gives :class:`~hotalign.handles.Layer` handles that
  read only the rows asked for (HDF5 selections), when they are asked for. A ``layer_order``
  attribute of the root group (a list of names, or a JSON list) gives the order.
- NetCDF (``.nc``, Brain-Score / xarray assemblies, through xarray in the ``io`` extra): one
  ``presentation x neuroid`` variable split into layers by its ``layer`` (or ``region``)
  coordinate in order of first appearance, or several ``presentation x ...`` variables, one per
  layer. Stimulus ids come from the ``stimulus_id`` (or ``image_id``) presentation coordinate.
- in Python: a ``dict`` name -> array (in its insertion order), a list of arrays, NumPy arrays
  or tensors (anything with ``.detach().cpu().numpy()``, e.g. torch; bfloat16 becomes float32).

Layers come in the order the input records (``layers.json``, ``layer_order``, a dict's order, a
NetCDF layer coordinate), and otherwise in natural order (``layer_2`` before ``layer_10``),
unless a selection says otherwise.
Layers with more than two dimensions are flattened to ``(T, prod(rest))``. An entry named
``stimulus_ids`` (or ``file_names.txt`` in a folder) is not a layer: it names the stimuli, and
:func:`check_stimuli` requires both systems to list the same ids in the same order.

Nothing is unpickled (``allow_pickle=False`` everywhere): object arrays are refused. A missing,
empty, truncated or mislabelled file raises :class:`InputError` (a ``ValueError``) whose message
names the file and the problem.

Memory
------
Opening a system reads only headers. A layer's data are read when the layer is used; memory-mapped
layers are paged in by the operating system. By default the estimator standardises every layer
of a split at once (one ``T x n_l`` copy per layer, in the working dtype), so the peak memory of
a fit is about ``sum_l T n_l + sum_m T n_m`` values in that dtype. With a budget of k layers
(``HOT(max_layers_in_memory=k)``, ``hotalign align --max-layers-in-memory k``) the grid runs
block by block and :func:`hotalign.evaluate` reads a split's training rows layer by layer, so
the peak is about ``k T n`` values for the standardised layers of the current pairs plus one raw
layer being read (``T n`` values of its file dtype). On top of either: per layer pair being
solved (one per thread or Dask worker), the ``n_l x n_m`` cost tile and the solver's
``O(n_l + n_m)`` working arrays. A Dask worker holds only the standardised layers of the pairs it
is given.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._validation import REAL_KINDS, as_array, as_sequence, describe
from .handles import Layer

__all__ = [
    "InputError",
    "System",
    "check_stimuli",
    "load_system",
    "natural_key",
    "read_plans",
    "write_json",
    "write_plans",
]

STIMULUS_KEY = "stimulus_ids"
ORDER_KEY = "layer_order"
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
_LAYER_KINDS = REAL_KINDS  # the API's rule: bool, int, float; complex, object, strings refused


class InputError(ValueError):
    """Bad input data: the message names the file (or argument) and the problem."""


def natural_key(name: str):
    """Sort key putting ``layer_2`` before ``layer_10``."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", name)
            if t != ""]


@dataclass(eq=False)
class System:
    """An ordered list of named layers, read lazily.

    Attributes
    ----------
    source : str
        The file or folder it came from, or ``"<python>"``.
    names : list of str
        Layer names, in order.
    handles : list of hotalign.handles.Layer
        One handle per layer: its shape and dtype (known without reading the data) and
        ``read(rows=None)``.
    stimulus_ids : ndarray or None
        Optional ids of the T stimuli.
    digest : str
        SHA-256 of the input's content (file bytes, or array bytes for Python inputs).
    """

    source: str
    names: list
    handles: list = field(repr=False)
    stimulus_ids: np.ndarray | None = None
    digest: str = ""

    @property
    def shapes(self) -> list:
        """``(T, n)`` of every layer (known without reading the data)."""
        return [h.shape for h in self.handles]

    def __len__(self):
        return len(self.names)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        return _as_2d(self.handles[k].read(), self.source, self.names[k])

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def layers(self) -> list:
        """The layers for a fit, read as late as possible: the handle where reading some rows
        costs less than reading the layer (HDF5 datasets, thingsvision chunks, bfloat16
        tensors), memory-mapped arrays where the format allows, arrays otherwise."""
        return [h if h.on_demand else self[k] for k, h in enumerate(self.handles)]

    @property
    def n_stimuli(self) -> int:
        return int(self.shapes[0][0])

    def select(self, spec) -> System:
        """A system with only the layers named by ``spec`` (see :func:`select_layers`)."""
        idx = select_layers(self.names, spec, self.source)
        return System(self.source, [self.names[i] for i in idx], [self.handles[i] for i in idx],
                      self.stimulus_ids, self.digest)


def _layer(source, name, shape, dtype, reader, *, on_demand) -> Layer:
    """The handle of layer ``name`` of ``source``: ``reader`` as :class:`Layer` wants it, with
    read errors (corrupt or truncated files) reported as :class:`InputError` naming both."""

    def read(rows):
        try:
            return reader(rows)
        except InputError:
            raise
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            raise InputError(f"{source}: cannot read layer {name!r}: {exc}") from None

    return Layer(shape, dtype, read, on_demand=on_demand, name=f"{source}:{name}")


def _array_layer(source, name, arr) -> Layer:
    """The handle of an array (or memory map) that is already open."""
    return _layer(source, name, arr.shape, arr.dtype,
                  lambda rows: arr if rows is None else arr[rows], on_demand=False)


def select_layers(names, spec, source="input") -> list[int]:
    """Indices of the layers a selection names, in the selection's order.

    ``spec`` is None (all layers), or a comma-separated string (or list) of items, each a layer
    name, a glob pattern (``block*``, expanded in the system's order) or an index range ``a:b`` /
    index ``k`` into the system's order (negative indices count from the end).
    """
    if spec is None:
        return list(range(len(names)))
    if isinstance(spec, str):
        items = [s.strip() for s in spec.split(",")]
    else:
        items = as_sequence(spec, "layers", "a selection string such as 'block*,2:8' or a list "
                                            "of layer names and indices", numbers_ok=True)
        bad = [s for s in items if not isinstance(s, (str, int, np.integer))
               or isinstance(s, (bool, np.bool_))]
        if bad:
            raise InputError(f"{source}: layers: {describe(bad[0])} is not a layer name or "
                             "index")
    items = [s for s in items if s != ""]
    if not items:
        raise InputError(f"{source}: --layers selects no layer")
    out = []
    for item in items:
        item = str(item)
        if item in names:
            out.append(names.index(item))
        elif re.fullmatch(r"-?\d*:-?\d*", item):
            a, b = item.split(":")
            out.extend(range(len(names))[slice(int(a) if a else None, int(b) if b else None)])
        elif re.fullmatch(r"-?\d+", item):
            k = int(item)
            if not -len(names) <= k < len(names):
                raise InputError(f"{source}: layer index {k} out of range ({len(names)} layers)")
            out.append(k % len(names))
        else:
            hits = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, item)]
            if not hits:
                raise InputError(f"{source}: no layer matches {item!r} (layers: "
                                 f"{', '.join(names[:8])}{' ...' if len(names) > 8 else ''})")
            out.extend(hits)
    if not out:
        raise InputError(f"{source}: --layers {spec!r} selects no layer")
    return out


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------


def load_system(source, layers=None, *, name="input") -> System:
    """Open a system from a path or a Python object, reading headers only.

    Parameters
    ----------
    source : str, os.PathLike, dict, list or System
        A ``.npz``/``.npy``/``.safetensors``/HDF5/NetCDF file, a folder of ``.npy`` files (or
        thingsvision's per-module folders), a dict name -> array (kept in insertion order), or
        a list of arrays (named ``layer_0``, ``layer_1``, ...). Arrays may be
        NumPy arrays or tensors with ``.detach().cpu().numpy()``.
    layers : str or list, optional
        Layer selection (see :func:`select_layers`); default all layers in the recorded order.
    name : str
        What to call a Python input in error messages.

    Returns
    -------
    System

    Raises
    ------
    InputError
        Missing file, unsupported extension, empty/truncated/mislabelled file, object arrays,
        layers of different lengths T, non-numeric layers; the message names the file.
    """
    if isinstance(source, System):
        system = source
    elif isinstance(source, (str, os.PathLike)):
        system = _load_path(Path(source))
    elif isinstance(source, dict):
        system = _from_arrays({str(k): v for k, v in source.items()}, name, sort=False)
    elif isinstance(source, (list, tuple)):
        system = _from_arrays({f"layer_{k}": v for k, v in enumerate(source)}, name, sort=False)
    else:
        raise InputError(f"{name}: expected a path, a dict of arrays or a list of arrays, got "
                         f"{type(source).__name__}")
    if layers is not None:
        system = system.select(layers)
    _check_lengths(system)
    return system


def _to_numpy(value, where):
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch-like tensor, duck-typed
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":  # NumPy has no bfloat16
            value = value.float()
        value = value.numpy()
    try:
        return as_array(value, where)
    except (TypeError, ValueError) as exc:  # masked, ragged: an InputError like any bad input
        raise InputError(str(exc)) from None


def _from_arrays(arrays: dict, name: str, sort: bool) -> System:
    ids = arrays.pop(STIMULUS_KEY, None)
    if ids is not None:
        ids = _check_ids(_to_numpy(ids, f"{name}: {STIMULUS_KEY}"), name)
    keys = sorted(arrays, key=natural_key) if sort else list(arrays)
    if not keys:
        raise InputError(f"{name}: no layers")
    mats = {}
    h = hashlib.sha256()
    for k in keys:
        arr = _as_2d(_to_numpy(arrays[k], f"{name}: layer {k!r}"), name, k)
        mats[k] = arr
        h.update(f"{k}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(np.ascontiguousarray(arr).data)
    if ids is not None:
        h.update(b"ids|" + np.ascontiguousarray(ids).astype(str).tobytes())
    return System(name, keys, [_array_layer(name, k, mats[k]) for k in keys], ids, h.hexdigest())


def _as_2d(arr, source, layer):
    if arr.dtype.kind not in _LAYER_KINDS:
        what = "an object (pickled) array" if arr.dtype.kind == "O" else f"dtype {arr.dtype}"
        raise InputError(f"{source}: layer {layer!r} is {what}; layers must be float or integer "
                         "arrays")
    if arr.ndim < 2:
        raise InputError(f"{source}: layer {layer!r} must have at least 2 dimensions (stimuli x "
                         f"units), got shape {arr.shape}")
    if arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{source}: layer {layer!r} is empty (shape {arr.shape})")
    return arr


def _check_ids(ids, source):
    if ids.dtype.kind == "O":
        raise InputError(f"{source}: stimulus_ids is an object (pickled) array")
    if ids.dtype.kind == "S":
        ids = ids.astype(str)
    return np.asarray(ids).reshape(-1)


def _check_lengths(system: System):
    for k, h in enumerate(system.handles):
        shape = h.raw_shape
        if len(shape) < 2 or shape[0] == 0 or int(np.prod(shape[1:])) == 0:
            raise InputError(f"{system.source}: layer {system.names[k]!r} is empty or not 2-D "
                             f"(shape {tuple(shape)})")
    T = system.shapes[0][0]
    for k, shape in enumerate(system.shapes):
        if shape[0] != T:
            raise InputError(
                f"{system.source}: layer {system.names[k]!r} has {shape[0]} rows (stimuli) but "
                f"{system.names[0]!r} has {T}; every layer must hold the same stimuli"
            )
    if system.stimulus_ids is not None and system.stimulus_ids.shape[0] != T:
        raise InputError(f"{system.source}: stimulus_ids lists {system.stimulus_ids.shape[0]} "
                         f"stimuli but the layers have {T} rows")


def _load_path(path: Path) -> System:
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        return _load_folder(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path)
    if suffix == ".npy":
        return System(str(path), [path.stem], [_array_layer(str(path), path.stem,
                                                             _open_npy(path))], None,
                      _file_digest(path))
    if suffix == ".safetensors":
        return _load_safetensors(path)
    if suffix in HDF5_SUFFIXES:
        return _load_hdf5(path)
    if suffix in (".nc", ".nc4", ".netcdf"):
        return _load_netcdf(path)
    raise InputError(f"{path}: unsupported file type {path.suffix or '(no extension)'!r}; "
                     "expected .npz, .npy, .safetensors, .h5/.hdf5, .nc or a folder of .npy "
                     "files")


def _file_digest(path: Path, h=None):
    own = h is None
    h = hashlib.sha256() if own else h
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest() if own else h


def _open_npy(path: Path):
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        msg = str(exc)
        if "allow_pickle" in msg or "Object arrays" in msg or "Python objects" in msg:
            raise InputError(f"{path}: contains an object (pickled) array, which is not "
                             "loaded (allow_pickle=False)") from None
        raise InputError(f"{path}: not a valid .npy file or truncated ({msg})") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: not a valid .npy file ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{path}: not a .npy array file")
    return arr


def _parse_order(value, source):
    """A recorded layer order: a list of names, or a JSON list in a string."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InputError(f"{source}: {ORDER_KEY} is not a JSON list of layer names") from None
    if isinstance(value, dict):
        value = value.get("order")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise InputError(f"{source}: the recorded layer order is not a list of layer names")
    return [v.decode() if isinstance(v, bytes) else str(v) for v in value]


def _ordered(keys, order, source):
    """``keys`` in the recorded ``order`` (which must name each exactly once), or in natural
    order when nothing was recorded."""
    if order is None:
        return sorted(keys, key=natural_key)
    missing = [k for k in order if k not in keys]
    unlisted = [k for k in keys if k not in order]
    if missing or unlisted or len(set(order)) != len(order):
        what = (f"lists {missing[0]!r}, which is not there" if missing else
                f"does not list {unlisted[0]!r}" if unlisted else "lists a layer twice")
        raise InputError(f"{source}: the recorded layer order {what}")
    return list(order)


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


def _load_folder(path: Path) -> System:
    files = sorted((p for p in path.iterdir() if p.suffix.lower() == ".npy" and p.is_file()),
                   key=lambda p: natural_key(p.stem))
    ids = None
    layer_files = []
    for p in files:
        if p.stem == STIMULUS_KEY:
            ids = _check_ids(np.load(p, allow_pickle=False) if p.stat().st_size else
                             np.empty(0), str(p))
        else:
            layer_files.append(p)
    if ids is None and (path / "file_names.txt").is_file():  # thingsvision's stimulus list
        ids = np.array((path / "file_names.txt").read_text().split("\n"))
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
    for sub in sorted((d for d in path.iterdir() if d.is_dir()), key=lambda d: natural_key(d.name)):
        feats = sorted((p for p in sub.iterdir() if p.is_file() and p.suffix.lower() == ".npy"),
                       key=lambda p: natural_key(p.name))
        chunks = _thingsvision_files(feats, str(sub))
        if chunks is not None:  # thingsvision: one folder per module
            if sub.name in entries:
                raise InputError(f"{path}: layer {sub.name!r} is both a file and a folder")
            entries[sub.name] = (chunks[0], _chunked_layer(*chunks, where=str(sub)))
    if not entries:
        raise InputError(f"{path}: folder holds no .npy layer files (nor thingsvision module "
                         "folders of features*.npy)")
    order = None
    if (path / "layers.json").is_file():
        try:
            doc = json.loads((path / "layers.json").read_text())
        except ValueError as exc:
            raise InputError(f"{path / 'layers.json'}: not valid JSON ({exc})") from None
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


def _load_npz(path: Path) -> System:
    try:
        zf = zipfile.ZipFile(path)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a valid .npz (zip) file, or truncated ({exc})") from None
    members = {}
    ids = None
    try:
        for info in infos:
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[:-4]
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
                header_len = f.tell() if hasattr(f, "tell") else None
            if dtype.hasobject:
                raise InputError(f"{path}: member {key!r} is an object (pickled) array, which is "
                                 "not loaded (allow_pickle=False)")
            nbytes = int(np.prod(shape)) * dtype.itemsize
            if key == STIMULUS_KEY:
                ids = _check_ids(_read_npz_member(path, key), str(path))
                continue
            members[key] = (shape, fortran, dtype, info, header_len, nbytes)
    except InputError:
        raise
    except (ValueError, zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise InputError(f"{path}: corrupt or truncated .npz ({exc})") from None
    finally:
        zf.close()
    if not members:
        raise InputError(f"{path}: .npz holds no layer arrays")
    keys = sorted(members, key=natural_key)
    size = path.stat().st_size
    handles = [_npz_layer(path, k, *members[k], size) for k in keys]
    return System(str(path), keys, handles, ids, _file_digest(path))


def _npz_layer(path, key, shape, fortran, dtype, info, header_len, nbytes, size) -> Layer:
    """A member of an ``.npz``: memory-mapped in place when stored uncompressed, else read
    (decompressed) whole when asked for."""
    reader = _npz_reader(path, key, shape, fortran, dtype, info, header_len, nbytes, size)

    def read(rows):
        A = reader()
        return A if rows is None else A[rows]

    return _layer(str(path), key, shape, dtype, read, on_demand=False)


def _npz_reader(path, key, shape, fortran, dtype, info, header_len, nbytes, size):
    if info.compress_type == zipfile.ZIP_STORED and header_len is not None and nbytes > 0:
        # Uncompressed member: memory-map it in place (offset = local header + npy header).
        with open(path, "rb") as f:
            f.seek(info.header_offset)
            local = f.read(30)
        if len(local) == 30 and local[:4] == b"PK\x03\x04":
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            offset = info.header_offset + 30 + name_len + extra_len + header_len
            if offset + nbytes > size:
                raise InputError(f"{path}: member {key!r} is truncated")
            order = "F" if fortran else "C"
            return lambda: np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                                     order=order)
    return lambda: _read_npz_member(path, key)


def _read_npz_member(path, key):
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            return npz[key]
    except ValueError as exc:
        raise InputError(f"{path}: member {key!r} cannot be read ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"{path}: member {key!r} is corrupt or truncated ({exc})") from None


_ST_DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "I8": "i1", "I16": "<i2", "I32": "<i4",
              "I64": "<i8", "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8"}


def _is_count(x) -> bool:
    """A JSON integer >= 0 (not a bool, not a float such as 10.0 or 10.5)."""
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _load_safetensors(path: Path) -> System:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise InputError(f"{path}: truncated safetensors file (no header length)")
        (n,) = struct.unpack("<Q", head)
        if n == 0 or n > min(size - 8, 100_000_000):
            raise InputError(f"{path}: corrupt safetensors header (declared length {n} bytes, "
                             f"file has {size})")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: corrupt safetensors header ({exc})") from None
    metadata = header.pop("__metadata__", None)
    order = None
    if isinstance(metadata, dict) and ORDER_KEY in metadata:
        order = _parse_order(metadata[ORDER_KEY], f"{path} (__metadata__)")
    base = 8 + n
    entries = {}
    for key, spec in header.items():
        try:
            dt, shape, (start, stop) = spec["dtype"], spec["shape"], spec["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{path}: corrupt safetensors header entry {key!r}") from None
        if not isinstance(dt, str) or (dt not in _ST_DTYPES and dt != "BF16"):
            raise InputError(f"{path}: tensor {key!r} has unsupported dtype {dt!r:.40} "
                             f"(supported: {', '.join(_ST_DTYPES)}, BF16)")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise InputError(f"{path}: corrupt safetensors header: tensor {key!r} shape "
                             f"{shape!r:.60} is not a list of nonnegative integers")
        if not (_is_count(start) and _is_count(stop)):
            raise InputError(f"{path}: corrupt safetensors header: tensor {key!r} data_offsets "
                             f"{spec['data_offsets']!r:.60} are not nonnegative integers")
        shape = tuple(shape)
        dtype = np.dtype("<u2" if dt == "BF16" else _ST_DTYPES[dt])  # BF16: decoded on read
        if stop - start != math.prod(shape) * dtype.itemsize:
            raise InputError(f"{path}: corrupt safetensors header: tensor {key!r} offsets do not "
                             "match its shape")
        if base + stop > size:
            raise InputError(f"{path}: truncated safetensors file (tensor {key!r} ends at byte "
                             f"{base + stop}, file has {size})")
        entries[key] = (dtype, shape, base + start, dt == "BF16")

    def tensor(key, dtype, shape, offset, bf16) -> Layer:
        if int(np.prod(shape)) == 0:
            return _array_layer(str(path), key, np.empty(shape, np.float32 if bf16 else dtype))
        if bf16:
            return _bf16_layer(path, key, offset, shape)
        return _array_layer(str(path), key, np.memmap(path, dtype=dtype, mode="r",
                                                      offset=offset, shape=shape))

    ids = None
    if STIMULUS_KEY in entries:
        ids = _check_ids(np.array(tensor(STIMULUS_KEY, *entries.pop(STIMULUS_KEY)).read()),
                         str(path))
    if not entries:
        raise InputError(f"{path}: safetensors file holds no layer tensors")
    keys = _ordered(list(entries), order, f"{path} (__metadata__ {ORDER_KEY})")
    return System(str(path), keys, [tensor(k, *entries[k]) for k in keys], ids,
                  _file_digest(path))


def _bf16_to_float32(raw):
    """bfloat16 bit patterns (uint16) to float32: bfloat16 is the top half of a float32."""
    return (np.asarray(raw, dtype=np.uint32) << 16).view(np.float32)


def _bf16_layer(path, key, offset, shape) -> Layer:
    """A bfloat16 tensor of a ``.safetensors`` file as a float32 ``(T, n)`` layer, decoded from
    the memory-mapped bytes only for the rows asked for (NumPy has no bfloat16 type)."""
    flat = (int(shape[0]), int(np.prod(shape[1:], dtype=np.int64))) if len(shape) >= 2 else \
        tuple(shape)

    def read(rows):
        raw = np.memmap(path, dtype="<u2", mode="r", offset=int(offset), shape=flat)
        return _bf16_to_float32(raw if rows is None else raw[rows])

    return _layer(str(path), key, shape, np.float32, read, on_demand=len(shape) >= 2)


def _load_hdf5(path: Path) -> System:
    try:
        import h5py
    except ImportError:  # pragma: no cover - optional dependency
        raise InputError(f"{path}: reading HDF5 needs h5py (pip install 'hotalign[io]')") from None
    try:
        with h5py.File(path, "r") as f:
            found = {}

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    found[name] = (obj.shape, obj.dtype)

            f.visititems(visit)
            ids = None
            if STIMULUS_KEY in found:
                ids = _check_ids(np.asarray(f[STIMULUS_KEY][()]), str(path))
                del found[STIMULUS_KEY]
            order = f.attrs.get(ORDER_KEY)
    except OSError as exc:
        raise InputError(f"{path}: not a valid HDF5 file, or truncated ({exc})") from None
    if not found:
        raise InputError(f"{path}: HDF5 file holds no datasets (empty groups only)")
    for key, (_shape, dtype) in found.items():
        if dtype.kind not in _LAYER_KINDS:
            raise InputError(f"{path}: dataset {key!r} has dtype {dtype}; layers must be float "
                             "or integer arrays")

    order = None if order is None else _parse_order(order, f"{path} (attribute {ORDER_KEY})")
    keys = _ordered(list(found), order, f"{path} (attribute {ORDER_KEY})")
    return System(str(path), keys, [_h5_layer(path, k, *found[k]) for k in keys], ids,
                  _file_digest(path))


def _load_netcdf(path: Path) -> System:
    try:
        import xarray as xr
    except ImportError:  # pragma: no cover - optional dependency
        raise InputError(f"{path}: reading NetCDF needs xarray (pip install 'hotalign[io]')"
                         ) from None
    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"{path}: not a readable NetCDF file; reading one needs xarray with "
                         f"h5netcdf or netCDF4 (pip install 'hotalign[io]') ({exc})") from None
    with ds:
        names = [v for v in ds.data_vars if "presentation" in ds[v].dims]
        if not names:
            raise InputError(f"{path}: no variable has a 'presentation' dimension (expected a "
                             "Brain-Score assembly: presentation x neuroid)")
        views = {}  # layer name -> (variable, other dimension, index or slice)
        for v in names:
            da = ds[v]
            other = [d for d in da.dims if d != "presentation" and da.sizes[d] != 1]
            if len(other) != 1:
                raise InputError(f"{path}: variable {v!r} has dimensions {da.dims}; expected "
                                 "presentation x neuroid (select or average the others first)")
            dim = other[0]
            split = next((c for c in ("layer", "region") if c in da.coords and
                          da[c].dims == (dim,)), None) if len(names) == 1 else None
            if split is None:  # the variable is one layer
                views[v] = (v, dim, slice(None), da.sizes[dim])
                continue
            labels = np.asarray(da[split].values).astype(str)
            for label in dict.fromkeys(labels.tolist()):
                idx = np.flatnonzero(labels == label)
                if idx[-1] - idx[0] + 1 == idx.size:
                    idx = slice(int(idx[0]), int(idx[-1]) + 1)
                views[label] = (v, dim, idx, int(np.size(labels[idx])))
        ids = None
        for c in ("stimulus_id", "image_id", "presentation"):
            if c in ds.coords and ds[c].dims == ("presentation",):
                ids = _check_ids(np.asarray(ds[c].values).astype(str), str(path))
                break
        T = ds.sizes["presentation"]
        kinds = {v: ds[v].dtype for v in names}
    for v, kind in kinds.items():
        if kind.kind not in _LAYER_KINDS:
            raise InputError(f"{path}: variable {v!r} has dtype {kind}; layers must be float or "
                             "integer arrays")

    def variable(key, v, dim, idx, width) -> Layer:
        def read(rows):
            with xr.open_dataset(path) as d:
                da = d[v].isel({dim: idx}).squeeze(
                    [x for x in d[v].dims if x not in ("presentation", dim)])
                A = np.asarray(da.transpose("presentation", dim).values)
            return A if rows is None else A[rows]

        return _layer(str(path), key, (T, width), kinds[v], read, on_demand=False)

    keys = list(views)
    return System(str(path), keys, [variable(k, *views[k]) for k in keys], ids,
                  _file_digest(path))


def _h5_layer(path, key, shape, dtype) -> Layer:
    """One HDF5 dataset as a ``(T, n)`` layer, read only when (and as far as) needed: rows are
    an HDF5 selection (h5py wants them sorted and distinct, which :class:`Layer` ensures).
    Datasets of more than two dimensions are flattened to ``(T, n)`` as the other readers do."""

    def read(rows):
        import h5py

        with h5py.File(path, "r") as f:
            return np.asarray(f[key][() if rows is None else rows])

    return _layer(str(path), key, shape, dtype, read, on_demand=True)


def check_stimuli(x: System, y: System) -> None:
    """Both systems must hold the same T stimuli in the same order.

    Raises InputError naming the first mismatch when both carry ``stimulus_ids`` that differ in
    set or order, or when the numbers of rows differ.
    """
    if x.n_stimuli != y.n_stimuli:
        raise InputError(f"{y.source}: has {y.n_stimuli} stimuli (rows) but {x.source} has "
                         f"{x.n_stimuli}; both systems must hold the same stimuli")
    if x.stimulus_ids is None or y.stimulus_ids is None:
        return
    a, b = x.stimulus_ids.astype(str), y.stimulus_ids.astype(str)
    diff = np.flatnonzero(a != b)
    if diff.size:
        k = int(diff[0])
        kind = "order" if set(a.tolist()) == set(b.tolist()) else "set"
        raise InputError(f"{y.source}: stimulus_ids differ from {x.source} in {kind}; first "
                         f"mismatch at row {k}: {str(b[k])!r} vs {str(a[k])!r}")


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path, obj) -> None:
    """Write a JSON document atomically (NaN written as null)."""
    text = json.dumps(_jsonable(obj), indent=2, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def write_plans(path, unit_plans, x_names, y_names) -> None:
    """Save sparse unit plans to ``.npz``: ``{l}_{m}_rows/cols/weights`` per pair, plus
    ``shape_{l}_{m}``, ``cost`` (L, M) and the layer names (no pickles; atomic). Pairs a lazy
    fit did not solve (plan None) are left out, with cost NaN."""
    import io as _io

    arrays = {"x_layers": np.array(x_names, dtype=str), "y_layers": np.array(y_names, dtype=str)}
    costs = np.empty((len(unit_plans), len(unit_plans[0])))
    for l, row in enumerate(unit_plans):
        for m, plan in enumerate(row):
            if plan is None:
                costs[l, m] = np.nan
                continue
            arrays[f"{l}_{m}_rows"] = plan.rows
            arrays[f"{l}_{m}_cols"] = plan.cols
            arrays[f"{l}_{m}_weights"] = plan.weights
            arrays[f"{l}_{m}_shape"] = np.array(plan.shape, dtype=np.int64)
            costs[l, m] = plan.cost
    arrays["cost"] = costs
    buf = _io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_plans(path) -> dict:
    """Read :func:`write_plans` output: ``{"x_layers", "y_layers", "cost", "plans"}`` where
    ``plans[(l, m)]`` is a dense-free dict of ``rows``, ``cols``, ``weights``, ``shape``."""
    with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
        out = {"x_layers": npz["x_layers"].tolist(), "y_layers": npz["y_layers"].tolist(),
               "cost": npz["cost"], "plans": {}}
        for l in range(len(out["x_layers"])):
            for m in range(len(out["y_layers"])):
                if f"{l}_{m}_rows" not in npz.files:  # not solved by a lazy fit
                    continue
                out["plans"][(l, m)] = {k: npz[f"{l}_{m}_{k}"]
                                        for k in ("rows", "cols", "weights", "shape")}
    return out
