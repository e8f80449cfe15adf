"""Which reader opens which input: a suffix -> reader registry, and :func:`load_system`.

Adding a format is one module under :mod:`hotalign.io` with a ``load(path) -> System`` and one
line in :data:`READERS`.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import hdf5, netcdf, npy, npz, safetensors
from .limits import Limits, file_holds
from .system import InputError, System, _apply_budget, _check_lengths, _from_arrays

__all__ = ["READERS", "load_system"]

#: File suffix (lower case) -> ``load(path, limits) -> System``. A folder is read by
#: :func:`hotalign.io.npy.load_folder`.
READERS = {
    ".npz": npz.load,
    ".npy": npy.load,
    ".safetensors": safetensors.load,
    ".h5": hdf5.load,
    ".hdf5": hdf5.load,
    ".hdf": hdf5.load,
    ".nc": netcdf.load,
    ".nc4": netcdf.load,
    ".netcdf": netcdf.load,
}
HDF5_SUFFIXES = tuple(s for s, reader in READERS.items() if reader is hdf5.load)


def load_system(source, layers=None, *, name="input", max_memory=None,
                allow_external=None) -> System:
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
    max_memory : int or str, optional
        Memory budget of the readers, in bytes or as ``"4G"``, ``"512M"``: a layer read whole
        whose declared size exceeds it is refused when the file is opened, and a layer read row
        by row is never read in larger pieces. Default: half of the available memory
        (:func:`hotalign.io.limits.default_budget`). Python inputs are not checked.
    allow_external : bool
        Read HDF5 datasets whose data lie in other files (external storage, virtual
        datasets); refused by default, since a file would then read any file it names.

    Returns
    -------
    System

    Raises
    ------
    InputError
        Missing file, unsupported extension, empty/truncated/mislabelled file, object arrays,
        layers of different lengths T, non-numeric layers, a declared size the file cannot
        hold or over ``max_memory``, a link out of an input folder, an incomplete capture; the
        message names the file.
    """
    try:
        limits = Limits.of(max_memory, allow_external)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if isinstance(source, System):
        system = source
    elif isinstance(source, (str, os.PathLike)):
        system = _load_path(Path(source), limits)
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
    if isinstance(source, (str, os.PathLike)):
        _apply_budget(system, limits.max_memory)
    return system


def _load_path(path: Path, limits: Limits) -> System:
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        return npy.load_folder(path, limits)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    problem = file_holds(path, 0, "the input")
    if problem:
        raise InputError(f"{path}: {problem}")
    reader = READERS.get(path.suffix.lower())
    if reader is not None:
        return reader(path, limits)
    raise InputError(f"{path}: unsupported file type {path.suffix or '(no extension)'!r}; "
                     "expected .npz, .npy, .safetensors, .h5/.hdf5, .nc or a folder of .npy "
                     "files")
