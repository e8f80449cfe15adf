"""NetCDF files (Brain-Score / xarray assemblies, through xarray)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..layer import Layer
from .system import _LAYER_KINDS, InputError, System, _check_ids, _file_digest, _layer

__all__ = ["load"]


def load(path: Path) -> System:
    """A NetCDF assembly: layers by the ``layer``/``region`` coordinate, or one per variable."""
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
