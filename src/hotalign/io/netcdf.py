"""NetCDF files (Brain-Score / xarray assemblies, through xarray)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..layer import Layer
from .limits import Limits, declared_bytes, shape_text, size_text
from .system import _LAYER_KINDS, InputError, System, _check_ids, _file_digest, _layer

__all__ = ["load"]


_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


_PHONY = b"This is a netCDF dimension but not a netCDF variable"


def _check_hdf5(path: Path, limits: Limits):
    """NetCDF-4 (HDF5) files: refuse, before xarray reads anything, a variable that declares
    more data than HDF5 stored for it or whose data lie in other files (a dimension without
    values is stored as an empty dataset, which is fine)."""
    import h5py

    from .hdf5 import dataset_problem

    def visit(name, obj):
        if not isinstance(obj, h5py.Dataset):
            return
        label = obj.attrs.get("NAME", b"")
        if isinstance(label, (bytes, str)) and str(label).find(_PHONY.decode()) >= 0:
            return
        problem = dataset_problem(obj, limits.allow_external)
        if problem:
            raise InputError(f"{path}: variable {name!r} {problem}")

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: not a readable NetCDF-4 (HDF5) file ({exc})") from None


def _check_classic(path: Path, ds):
    """Classic NetCDF files: no variable may declare more data than the file's length."""
    size = path.stat().st_size
    for v in ds.variables:
        need = declared_bytes(ds[v].shape, ds[v].dtype.itemsize)
        if need > size:
            raise InputError(f"{path}: variable {v!r} declares "
                             f"{shape_text(ds[v].shape, ds[v].dtype)} ({size_text(need)}) but "
                             f"the file has {size} bytes")


def load(path: Path, limits: Limits | None = None) -> System:
    """A NetCDF assembly: layers by the ``layer``/``region`` coordinate, or one per variable.
    Each variable's declared size is checked against what the file stores before it is read."""
    limits = limits or Limits.of()
    try:
        import xarray as xr
    except ImportError:  # pragma: no cover - optional dependency
        raise InputError(f"{path}: reading NetCDF needs xarray (pip install 'hotalign[io]')"
                         ) from None
    with open(path, "rb") as f:
        magic = f.read(8)
    hdf5 = magic == _HDF5_MAGIC
    if hdf5:
        _check_hdf5(path, limits)
    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError, RuntimeError, TypeError, KeyError, RecursionError) as exc:
        if magic[:3] == b"CDF":  # classic NetCDF, which xarray reads itself (through SciPy)
            raise InputError(f"{path}: corrupt or truncated NetCDF file (its header declares "
                             f"what the file does not hold: {exc})") from None
        raise InputError(f"{path}: not a readable NetCDF file; reading one needs xarray with "
                         f"h5netcdf or netCDF4 (pip install 'hotalign[io]') ({exc})") from None
    with ds:
        if not hdf5:
            _check_classic(path, ds)
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
