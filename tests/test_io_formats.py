"""Formats users already have: recorded layer orders, thingsvision layouts, Brain-Score NetCDF,
bfloat16 in safetensors."""

import json
import struct

import h5py
import numpy as np
import pytest
from safetensors.numpy import save_file

from hotalign.layer import Layer
from hotalign.io import InputError, load_system

ORDER = ["features.0", "features.3", "classifier.1"]  # natural order puts classifier first


@pytest.fixture
def layers(rng):
    return {n: rng.standard_normal((10, 3 + k)).astype(np.float32) for k, n in enumerate(ORDER)}


def test_layers_json_order(tmp_path, layers):
    for n, a in layers.items():
        np.save(tmp_path / f"{n}.npy", a)
    assert load_system(tmp_path).names == sorted(ORDER)  # nothing recorded: natural order
    (tmp_path / "layers.json").write_text(json.dumps({"order": ORDER}))
    s = load_system(tmp_path)
    assert s.names == ORDER
    np.testing.assert_array_equal(s[2], layers["classifier.1"])
    assert load_system(tmp_path, "features*").names == ["features.0", "features.3"]
    (tmp_path / "layers.json").write_text(json.dumps({"written_by": "another tool"}))
    assert load_system(tmp_path).names == sorted(ORDER)  # no order in it: natural order
    (tmp_path / "layers.json").write_text(json.dumps(ORDER[:2]))
    with pytest.raises(InputError, match="does not list 'classifier.1'"):
        load_system(tmp_path)
    (tmp_path / "layers.json").write_text(json.dumps(ORDER + ["fc"]))
    with pytest.raises(InputError, match="lists 'fc', which is not there"):
        load_system(tmp_path)


def test_dict_keeps_insertion_order(layers):
    assert load_system(layers).names == ORDER


def test_safetensors_metadata_and_hdf5_attribute_order(tmp_path, layers):
    save_file(layers, tmp_path / "x.safetensors", metadata={"layer_order": json.dumps(ORDER)})
    assert load_system(tmp_path / "x.safetensors").names == ORDER
    save_file(layers, tmp_path / "y.safetensors")
    assert load_system(tmp_path / "y.safetensors").names == sorted(ORDER)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        for n in sorted(layers):
            f[n] = layers[n]
        f.attrs["layer_order"] = ORDER
    s = load_system(tmp_path / "x.h5")
    assert s.names == ORDER
    np.testing.assert_array_equal(np.asarray(s.layers()[1]), layers["features.3"])
    with h5py.File(tmp_path / "x.h5", "a") as f:
        f.attrs["layer_order"] = "not json"
    with pytest.raises(InputError, match="layer_order is not a JSON list"):
        load_system(tmp_path / "x.h5")


def _bf16_file(path, arrays, order=None):
    """Write a safetensors file with BF16 tensors by hand (safetensors.numpy cannot)."""
    header, blobs, offset = {}, [], 0
    for name, a in arrays.items():
        bits = (np.ascontiguousarray(a, dtype=np.float32).view(np.uint32) >> 16).astype("<u2")
        blob = bits.tobytes()
        header[name] = {"dtype": "BF16", "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if order:
        header["__metadata__"] = {"layer_order": json.dumps(order)}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def test_bf16_safetensors_decoded_to_float32(tmp_path, rng):
    a = rng.standard_normal((12, 2, 3)).astype(np.float32)
    b = rng.standard_normal((12, 4)).astype(np.float32)
    _bf16_file(tmp_path / "x.safetensors", {"b": b, "a": a}, order=["b", "a"])
    s = load_system(tmp_path / "x.safetensors")
    assert s.names == ["b", "a"] and s.shapes == [(12, 4), (12, 6)]
    truncated = (a.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32).reshape(12, 6)
    np.testing.assert_array_equal(s[1], truncated)  # the exact bfloat16 values
    assert s[1].dtype == np.float32 and np.abs(s[1] - a.reshape(12, 6)).max() < 1e-2
    lazy = s.layers()[1]
    assert isinstance(lazy, Layer) and lazy.on_demand and lazy.shape == (12, 6)
    np.testing.assert_array_equal(lazy[np.array([1, 5, 7])], truncated[[1, 5, 7]])
    np.testing.assert_array_equal(lazy.read([7, 1, 7]), truncated[[7, 1, 7]])
    raw = (tmp_path / "x.safetensors").read_bytes()
    (tmp_path / "t.safetensors").write_bytes(raw[:-10])
    with pytest.raises(InputError, match="truncated safetensors file"):
        load_system(tmp_path / "t.safetensors")


def test_bf16_torch_tensors():
    torch = pytest.importorskip("torch")
    t = torch.randn(6, 4).to(torch.bfloat16)
    s = load_system({"x": t})
    assert s[0].dtype == np.float32
    np.testing.assert_array_equal(s[0], t.float().numpy())


def _thingsvision_chunks(root, module, data, bounds, suffix=""):
    (root / module).mkdir(parents=True)
    for a, b in zip(bounds[:-1], bounds[1:]):
        np.save(root / module / f"features{suffix}_{a}-{b}.npy", data[a:b])


def test_thingsvision_per_module_chunks_read_lazily(tmp_path, rng):
    conv = rng.standard_normal((50, 4, 2, 2)).astype(np.float32)
    fc = rng.standard_normal((50, 7)).astype(np.float32)
    _thingsvision_chunks(tmp_path, "features.3", conv, [0, 16, 32, 48, 50])
    _thingsvision_chunks(tmp_path, "classifier.1", fc, [0, 20, 40, 50])
    (tmp_path / "file_names.txt").write_text("\n".join(f"img{k}.jpg" for k in range(50)) + "\n")
    s = load_system(tmp_path)
    assert s.names == ["classifier.1", "features.3"] and s.shapes == [(50, 7), (50, 16)]
    np.testing.assert_array_equal(s[1], conv.reshape(50, 16))
    assert s.stimulus_ids[-1] == "img49.jpg"
    lazy = s.layers()[1]
    assert isinstance(lazy, Layer) and lazy.on_demand
    rows = np.array([0, 15, 16, 33, 49])
    np.testing.assert_array_equal(lazy[rows], conv.reshape(50, 16)[rows])
    np.testing.assert_array_equal(lazy[40:45], conv.reshape(50, 16)[40:45])
    (tmp_path / "layers.json").write_text(json.dumps(["features.3", "classifier.1"]))
    assert load_system(tmp_path).names == ["features.3", "classifier.1"]
    assert load_system(tmp_path, "features*").layers()[0].on_demand


def test_thingsvision_flat_and_split_layouts(tmp_path, rng):
    a = rng.standard_normal((9, 3))
    b = rng.standard_normal((9, 5))
    for name, arr in (("conv1", a), ("fc", b)):  # save_features per module: <module>/features.npy
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "features.npy", arr)
    s = load_system(tmp_path)
    assert s.names == ["conv1", "fc"]
    np.testing.assert_array_equal(s[1], b)
    (tmp_path / "fc" / "features.npy").unlink()
    np.save(tmp_path / "fc" / "features_01.npy", b[:4])
    np.save(tmp_path / "fc" / "features_02.npy", b[4:])
    np.testing.assert_array_equal(load_system(tmp_path)[1], b)
    # a folder of row-range chunks is one layer
    _thingsvision_chunks(tmp_path, "only", a, [0, 5, 9])
    s = load_system(tmp_path / "only")
    assert s.names == ["only"]
    np.testing.assert_array_equal(s[0], a)


def test_thingsvision_bad_layouts(tmp_path, rng):
    a = rng.standard_normal((9, 3))
    _thingsvision_chunks(tmp_path / "gap", "m", a, [0, 4])
    np.save(tmp_path / "gap" / "m" / "features_5-9.npy", a[5:])
    with pytest.raises(InputError, match="previous chunks end at row 4"):
        load_system(tmp_path / "gap")
    _thingsvision_chunks(tmp_path / "sets", "m", a, [0, 9], suffix="_train")
    np.save(tmp_path / "sets" / "m" / "features_val_0-9.npy", a)
    with pytest.raises(InputError, match="several sets"):
        load_system(tmp_path / "sets")
    _thingsvision_chunks(tmp_path / "rows", "m", a, [0, 9])
    np.save(tmp_path / "rows" / "m" / "features_9-12.npy", a[:2])
    with pytest.raises(InputError, match="named for rows 9-12 but holds 2 rows"):
        load_system(tmp_path / "rows")


def _assembly(rng, T=20):
    xr = pytest.importorskip("xarray")
    pd = pytest.importorskip("pandas")
    layer = ["features.3"] * 4 + ["classifier.1"] * 3 + ["features.0"] * 2
    data = rng.standard_normal((T, len(layer)))
    assembly = xr.DataArray(
        data, dims=["presentation", "neuroid"],
        coords={"presentation": pd.MultiIndex.from_arrays(
                    [[f"stim{k}" for k in range(T)], [f"/images/stim{k}.png" for k in range(T)]],
                    names=["stimulus_id", "stimulus_path"]),
                "neuroid": pd.MultiIndex.from_arrays(
                    [[f"n{k}" for k in range(len(layer))], layer, ["alexnet"] * len(layer)],
                    names=["neuroid_id", "layer", "model"])})
    return assembly.reset_index(["presentation", "neuroid"]), data  # as Brain-Score writes it


@pytest.mark.parametrize("engine", ["h5netcdf", "scipy"])
def test_brainscore_netcdf(tmp_path, rng, engine):
    assembly, data = _assembly(rng)
    assembly.to_netcdf(tmp_path / "a.nc", engine=engine)
    s = load_system(tmp_path / "a.nc")
    assert s.names == ["features.3", "classifier.1", "features.0"]  # order of appearance
    assert s.shapes == [(20, 4), (20, 3), (20, 2)]
    np.testing.assert_array_equal(s[1], data[:, 4:7])
    assert s.stimulus_ids.tolist() == [f"stim{k}" for k in range(20)]
    assert load_system(tmp_path / "a.nc", "features*").names == ["features.3", "features.0"]


def test_netcdf_region_layers_and_errors(tmp_path, rng):
    xr = pytest.importorskip("xarray")
    data = rng.standard_normal((6, 5))
    xr.DataArray(data[:, :, None], dims=["presentation", "neuroid", "time_bin"],
                 coords={"region": ("neuroid", ["V4", "IT", "V4", "IT", "IT"]),
                         "stimulus_id": ("presentation", list("abcdef"))}
                 ).to_netcdf(tmp_path / "brain.nc", engine="h5netcdf")
    s = load_system(tmp_path / "brain.nc")
    assert s.names == ["V4", "IT"]
    np.testing.assert_array_equal(s[0], data[:, [0, 2]])
    np.testing.assert_array_equal(s[1], data[:, [1, 3, 4]])
    xr.DataArray(rng.standard_normal((3, 2, 2)), dims=["presentation", "neuroid", "time_bin"]
                 ).to_netcdf(tmp_path / "bins.nc", engine="h5netcdf")
    with pytest.raises(InputError, match="expected presentation x neuroid"):
        load_system(tmp_path / "bins.nc")
    xr.DataArray(rng.standard_normal((3, 2)), dims=["x", "y"]).to_netcdf(
        tmp_path / "other.nc", engine="h5netcdf")
    with pytest.raises(InputError, match="no variable has a 'presentation' dimension"):
        load_system(tmp_path / "other.nc")
    (tmp_path / "junk.nc").write_bytes(b"not a netcdf file at all")
    with pytest.raises(InputError, match="not a readable NetCDF file"):
        load_system(tmp_path / "junk.nc")
