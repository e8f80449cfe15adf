"""Tests of ``hotalign.io``: every input format, lazy loading, and one test per bad input."""

import json
import struct

import h5py
import numpy as np
import pytest
from safetensors.numpy import save_file

import hotalign
from hotalign.datasets import make_hierarchy
from hotalign.io import (
    InputError,
    check_stimuli,
    load_system,
    natural_key,
    read_plans,
    select_layers,
    write_json,
    write_plans,
)
from hotalign.results import TransportResult

NAMES = ["layer_10", "layer_2", "layer_1"]  # natural order: layer_1, layer_2, layer_10


@pytest.fixture
def layers(rng):
    return {name: rng.standard_normal((20, 3 + k)) for k, name in enumerate(NAMES)}


def _expect_natural(system, layers):
    assert system.names == ["layer_1", "layer_2", "layer_10"]
    for name, A in zip(system.names, system):
        np.testing.assert_array_equal(A, layers[name])
    assert system.shapes == [layers[n].shape for n in system.names]
    assert system.n_stimuli == 20
    assert len(system.digest) == 64


def test_natural_key():
    names = ["b10", "b2", "a", "b1", "B3"]
    assert sorted(names, key=natural_key) == ["a", "b1", "b2", "B3", "b10"]


@pytest.mark.parametrize("compressed", [False, True])
def test_npz(tmp_path, layers, compressed):
    path = tmp_path / "x.npz"
    (np.savez_compressed if compressed else np.savez)(path, **layers)
    system = load_system(path)
    _expect_natural(system, layers)
    assert isinstance(system[0], np.memmap) != compressed  # stored members are memory-mapped


def test_npy_folder(tmp_path, layers):
    for name, A in layers.items():
        np.save(tmp_path / f"{name}.npy", A)
    ids = np.array([f"img{k}.png" for k in range(20)])
    np.save(tmp_path / "stimulus_ids.npy", ids)
    system = load_system(tmp_path)
    _expect_natural(system, layers)
    assert isinstance(system[1], np.memmap)
    np.testing.assert_array_equal(system.stimulus_ids, ids)


def test_npy_folder_thingsvision_file_names(tmp_path, layers):
    for name, A in layers.items():
        np.save(tmp_path / f"features_{name}.npy", A)
    (tmp_path / "file_names.txt").write_text("\n".join(f"s{k}" for k in range(20)) + "\n")
    system = load_system(tmp_path)
    assert system.names == ["features_layer_1", "features_layer_2", "features_layer_10"]
    assert system.stimulus_ids.tolist() == [f"s{k}" for k in range(20)]


def test_single_npy_is_one_layer(tmp_path, rng):
    A = rng.standard_normal((10, 4))
    np.save(tmp_path / "conv1.npy", A)
    system = load_system(tmp_path / "conv1.npy")
    assert system.names == ["conv1"]
    np.testing.assert_array_equal(system[0], A)


def test_safetensors(tmp_path, layers):
    path = tmp_path / "x.safetensors"
    save_file({k: np.ascontiguousarray(v) for k, v in layers.items()}
              | {"stimulus_ids": np.arange(20)}, str(path))
    system = load_system(path)
    _expect_natural(system, layers)
    assert isinstance(system[2], np.memmap)
    np.testing.assert_array_equal(system.stimulus_ids, np.arange(20))


def test_hdf5_nested_groups(tmp_path, layers):
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        for name, A in layers.items():
            f.create_dataset(f"net/{name}", data=A)
        f.create_dataset("stimulus_ids", data=np.array([b"a%d" % k for k in range(20)]))
    system = load_system(path)
    assert system.names == ["net/layer_1", "net/layer_2", "net/layer_10"]
    np.testing.assert_array_equal(system[2], layers["layer_10"])
    assert system.stimulus_ids[3] == "a3"


def test_dict_list_and_duck_typed_tensors(rng):
    class FakeTensor:  # what torch offers: .detach().cpu().numpy()
        def __init__(self, a):
            self.a = a

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.a

    A, B = rng.standard_normal((8, 3)), rng.standard_normal((8, 5))
    s = load_system({"l10": FakeTensor(B), "l9": A})
    assert s.names == ["l10", "l9"]  # a dict keeps its insertion order: the user's order
    np.testing.assert_array_equal(s[0], B)
    s = load_system([FakeTensor(B), A])
    assert s.names == ["layer_0", "layer_1"]
    np.testing.assert_array_equal(s[0], B)
    assert load_system([A, B]).digest != load_system([A, B + 1e-12]).digest


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_dtypes_kept(tmp_path, rng, dtype):
    np.savez(tmp_path / "x.npz", a=rng.standard_normal((6, 2)).astype(dtype))
    assert load_system(tmp_path / "x.npz")[0].dtype == dtype


def test_higher_dimensional_layers_are_flattened(rng):
    s = load_system({"conv": rng.standard_normal((5, 2, 3, 4))})
    assert s.shapes == [(5, 24)] and s[0].shape == (5, 24)


def test_layer_selection():
    names = ["conv1", "conv2", "conv10", "fc1", "fc2"]
    assert select_layers(names, "fc2,conv1") == [4, 0]
    assert select_layers(names, "conv*") == [0, 1, 2]
    assert select_layers(names, "1:3") == [1, 2]
    assert select_layers(names, "-1") == [4]
    assert select_layers(names, ["fc1"]) == [3]
    with pytest.raises(InputError, match=r"no layer matches 'pool\*'"):
        select_layers(names, "pool*")
    with pytest.raises(InputError, match="out of range"):
        select_layers(names, "7")
    s = load_system({n: np.ones((4, 2)) * k for k, n in enumerate(names)}, "conv*")
    assert s.names == ["conv1", "conv2", "conv10"]


def test_stimulus_ids_checked(rng):
    A = rng.standard_normal((4, 2))
    ids = np.array(["a", "b", "c", "d"])
    x = load_system({"l": A, "stimulus_ids": ids})
    check_stimuli(x, load_system({"l": A, "stimulus_ids": ids.copy()}))
    check_stimuli(x, load_system({"l": A}))  # ids on one side only: nothing to compare
    msg = r"differ .* in order; first mismatch at row 1: 'c' vs 'b'"
    with pytest.raises(InputError, match=msg):
        check_stimuli(x, load_system({"l": A, "stimulus_ids": ids[[0, 2, 1, 3]]}))
    with pytest.raises(InputError, match=r"in set; first mismatch at row 3: 'z' vs 'd'"):
        check_stimuli(x, load_system({"l": A, "stimulus_ids": np.array(["a", "b", "c", "z"])}))
    with pytest.raises(InputError, match="has 3 stimuli"):
        check_stimuli(x, load_system({"l": A[:3]}))


# -- bad inputs: one test each, the message names the file ---------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.npz: no such file"):
        load_system(tmp_path / "nope.npz")


def test_wrong_extension(tmp_path):
    (tmp_path / "x.csv").write_text("1,2\n3,4\n")
    with pytest.raises(InputError, match=r"x\.csv: unsupported file type '\.csv'"):
        load_system(tmp_path / "x.csv")


def test_empty_file(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"")
    with pytest.raises(InputError, match=r"x\.npz: file is empty"):
        load_system(tmp_path / "x.npz")


def test_pickled_npz_refused(tmp_path):
    np.savez(tmp_path / "x.npz", good=np.ones((3, 2)), bad=np.array([{"a": 1}, None]))
    with pytest.raises(InputError, match=r"x\.npz: member 'bad' is an object \(pickled\)"):
        load_system(tmp_path / "x.npz")


def test_pickled_npy_in_folder_refused(tmp_path):
    np.save(tmp_path / "a.npy", np.array([[1, None]], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match=r"a\.npy: contains an object \(pickled\) array"):
        load_system(tmp_path)


def test_truncated_npz(tmp_path, rng):
    path = tmp_path / "x.npz"
    np.savez(path, a=rng.standard_normal((50, 40)))
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(InputError, match=r"x\.npz: not a valid \.npz \(zip\) file, or truncated"):
        load_system(path)


def test_mislabelled_npz(tmp_path):
    (tmp_path / "x.npz").write_text("this is not a zip file")
    with pytest.raises(InputError, match=r"x\.npz: not a valid \.npz"):
        load_system(tmp_path / "x.npz")


def test_layers_with_different_T(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.ones((5, 2)), b=np.ones((6, 2)))
    with pytest.raises(InputError, match=r"x\.npz: layer 'b' has 6 rows .* 'a' has 5"):
        load_system(tmp_path / "x.npz")


def test_one_dimensional_layer(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.ones(5))
    with pytest.raises(InputError, match=r"x\.npz: layer 'a' is empty or not 2-D"):
        load_system(tmp_path / "x.npz")


def test_string_layer_refused():
    with pytest.raises(InputError, match="layer 'a' is dtype <U1"):
        load_system({"a": np.array([["x"]])})


def test_corrupt_safetensors_header(tmp_path, rng):
    path = tmp_path / "x.safetensors"
    save_file({"a": rng.standard_normal((4, 3))}, str(path))
    raw = bytearray(path.read_bytes())
    raw[8:12] = b"\x00\xff{["  # break the JSON header
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"x\.safetensors: corrupt safetensors header"):
        load_system(path)


def test_safetensors_header_length_beyond_file(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 10**9) + b"{}")
    with pytest.raises(InputError, match="corrupt safetensors header .declared length"):
        load_system(path)


def test_truncated_safetensors(tmp_path, rng):
    path = tmp_path / "x.safetensors"
    save_file({"a": rng.standard_normal((40, 30))}, str(path))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match=r"x\.safetensors: truncated safetensors file"):
        load_system(path)


def test_empty_hdf5_group(tmp_path):
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_group("layers")
    with pytest.raises(InputError, match=r"x\.h5: HDF5 file holds no datasets"):
        load_system(path)


def test_mislabelled_hdf5(tmp_path):
    with open(tmp_path / "x.h5", "wb") as f:
        np.savez(f, a=np.ones((3, 2)))
    with pytest.raises(InputError, match=r"x\.h5: not a valid HDF5 file"):
        load_system(tmp_path / "x.h5")


def test_empty_folder(tmp_path):
    with pytest.raises(InputError, match="folder holds no .npy layer files"):
        load_system(tmp_path)


# -- writing ------------------------------------------------------------------------------------


def test_plans_round_trip(tmp_path):
    plan = TransportResult(rows=np.array([0, 1]), cols=np.array([1, 0]),
                           weights=np.array([0.5, 0.5]), cost=0.25, u=np.zeros(2),
                           v=np.zeros(2), status="optimal", n_iter=2, shape=(2, 2))
    write_plans(tmp_path / "plans.npz", [[plan, plan]], ["a"], ["b", "c"])
    back = read_plans(tmp_path / "plans.npz")
    assert back["x_layers"] == ["a"] and back["y_layers"] == ["b", "c"]
    np.testing.assert_array_equal(back["cost"], [[0.25, 0.25]])
    np.testing.assert_array_equal(back["plans"][(0, 1)]["cols"], [1, 0])
    assert not list(tmp_path.glob("*.tmp"))


def test_write_json_nan_is_null(tmp_path):
    write_json(tmp_path / "r.json", {"a": np.array([1.0, np.nan]), "b": np.int64(3)})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": [1.0, None], "b": 3}


def test_hdf5_layers_stay_lazy_and_read_only_requested_rows(tmp_path):
    from hotalign._validation import check_layers
    from hotalign.layer import Layer

    rng = np.random.default_rng(0)
    layers = [rng.standard_normal((30, 4)), rng.standard_normal((30, 2, 3))]
    path = tmp_path / "acts.h5"
    with h5py.File(path, "w") as f:
        f["block_10"] = layers[0]
        f["block_2"] = layers[1]
    system = load_system(path)
    lazy = system.layers()
    assert all(isinstance(A, Layer) and A.on_demand for A in lazy)
    assert [A.shape for A in lazy] == [(30, 6), (30, 4)]  # natural order, flattened
    assert check_layers(lazy, "X")[0] is lazy[0]  # validated without reading
    rows = np.array([1, 4, 9])
    np.testing.assert_array_equal(lazy[1][rows], layers[0][rows])
    np.testing.assert_array_equal(np.asarray(lazy[0]), layers[1].reshape(30, 6))
    np.testing.assert_array_equal(lazy[1][::2], layers[0][::2])
    # unsorted and repeated rows (an HDF5 selection must be sorted and distinct)
    np.testing.assert_array_equal(lazy[1].read([9, 1, 9, 4]), layers[0][[9, 1, 9, 4]])
    np.testing.assert_array_equal(lazy[1][:, 0], layers[0][:, 0])  # any other key: full read


def test_hot_on_lazy_hdf5_layers_equals_arrays(tmp_path):
    X, Y, _ = make_hierarchy(120, (8, 10), (9, 7, 8), random_state=7)
    paths = []
    for name, system in (("x", X), ("y", Y)):
        p = tmp_path / f"{name}.h5"
        with h5py.File(p, "w") as f:
            for k, A in enumerate(system):
                f[f"layer_{k}"] = A
        paths.append(p)
    Xl, Yl = load_system(paths[0]).layers(), load_system(paths[1]).layers()
    for est in (hotalign.HOT(), hotalign.HOT(max_layers_in_memory=2)):
        a = hotalign.evaluate(Xl, Yl, n_splits=2, estimator=est)
        b = hotalign.evaluate(X, Y, n_splits=2, estimator=est)
        for m in a.methods:
            np.testing.assert_array_equal(a.split_scores[m], b.split_scores[m])


def test_layer_selection_on_hdf5_stays_lazy(tmp_path):
    """--layers on an HDF5 input keeps the lazy handles (it used to read every layer whole)."""
    import tracemalloc

    path = tmp_path / "big.h5"
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        for k in range(4):
            f[f"layer_{k}"] = rng.standard_normal((2000, 500))  # 8 MB each
    system = load_system(path, "layer_1,layer_3")
    tracemalloc.start()
    try:
        layers = system.layers()
        rows = layers[1][np.arange(0, 2000, 400)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert system.names == ["layer_1", "layer_3"]
    assert all(A.on_demand for A in layers)
    assert peak < 2_000_000  # five rows read, not 2 x 8 MB
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(rows, f["layer_3"][::400])
