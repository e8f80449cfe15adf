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
  which are concatenated in row order lazily (a :class:`~hotalign.layer.Layer` that reads
  only the chunks holding the rows asked for). A folder holding only
  ``features_<a>-<b>.npy`` chunks is one layer, named after the folder.
- ``.npy``: a single layer; memory-mapped.
- ``.safetensors``: one tensor per layer; the header is parsed here and tensors are
  memory-mapped (float16/32/64, integer types). bfloat16 tensors are decoded here to float32,
  only the rows asked for. A ``layer_order`` entry in the header's
  ``__metadata__`` (a JSON list) gives the order.
- HDF5 (``.h5``, ``.hdf5``, ``.hdf``): every dataset of the file, at any depth (groups give
  ``group/name``); :meth:`System.layers` gives :class:`~hotalign.layer.Layer` handles that
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

Files are untrusted. Before anything is allocated, a layer's declared size (shape x itemsize)
is compared with what the file can hold (a zip member's size and a bound on its compression
ratio, a file's length and the bytes it has on disk, the storage HDF5 allocated) and, for a
layer read whole, with the memory budget (``load_system(max_memory=)``, ``--max-memory``;
default half of the available memory); a layer read row by row is never read in larger
pieces. A link that leaves an input folder, HDF5 external storage and virtual datasets (unless
``allow_external=True``), tensors sharing bytes and an incomplete capture are refused
(:mod:`hotalign.io.limits`).

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

from .readers import HDF5_SUFFIXES, load_system
from .system import (ORDER_KEY, STIMULUS_KEY, InputError, System, check_stimuli, natural_key,
                     select_layers)
from .writers import atomic_write_bytes, read_plans, write_json, write_plans

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
