"""Layer activations of a PyTorch model, captured with forward hooks and streamed to disk.

``capture(model, batches, out)`` runs ``model`` on every batch, keeps the output of the selected
modules (``named_modules()`` paths), pools each to ``(N, units)`` on the model's device and
writes the rows into one preallocated ``.npy`` memory map per layer. The result is a folder that
:func:`hotalign.io.load_system` (and ``hotalign align``) reads with no conversion, in the order in
which the layers ran::

    OUT/
      layers.json          order, raw and pooled shapes, pooling, model class, versions, dtype,
                           state-dict fingerprint, stimulus count
      <module path>.npy    (T, units) float32 (or float64) per layer
      stimulus_ids.npy     the T stimulus ids, when the batches or the caller name them

PyTorch is imported when a function here is called, not when :mod:`hotalign` is imported
(``pip install 'hotalign[torch]'``). Forward hooks work for any ``nn.Module``: torchvision, timm
and Hugging Face models included. No torch.fx tracing, no extra dependency.

Memory and crashes
------------------
Peak host memory is one pooled batch: rows go straight to the memory maps, whose pages belong to
the operating system's file cache. The capture is written to ``OUT.partial/`` and renamed to
``OUT`` only when complete; ``resume=True`` continues an interrupted capture from its last
complete batch (the batches must come in the same order). ``stop_after_last=True`` ends each
forward pass as soon as the last selected module has produced its output.

Selecting layers (``layers=``)
------------------------------
Comma-separated module paths or globs. In a glob ``*`` stays within one dot-separated segment
and ``**`` crosses dots: ``encoder.layer.*`` selects the blocks ``encoder.layer.0``, ... and not
their submodules (``encoder.layer.0.attention``, ...); ``encoder.layer.**`` selects everything
below. :func:`layer_tree` (``hotalign layers MODEL STIMULI --tree``, ``hotalign capture ...
--list``) shows the module tree with each module's output shape.

Pooling (per layer, ``pool=``)
------------------------------
``"auto"``
    4-D ``(N, C, H, W)`` -> spatial mean (C units); 3-D ``(N, tokens, D)`` -> mean over the
    tokens, counting only tokens whose ``attention_mask`` is 1 when the batch has one; 2-D as is;
    5-D and more -> mean over every axis after the channels.
``"mean"``
    The same as ``"auto"``.
``"spatial_max"``
    Maximum over the spatial axes (over the unmasked tokens for 3-D outputs).
``"avg<k>"``
    Adaptive average pooling of a 4-D output to ``k x k`` (``C k^2`` units).
``"cls"`` / ``"last"``
    First token / last unmasked token of a 3-D output.
``"flatten"``
    Every value a unit; refused above ``max_units`` units, since a layer's cost matrix grows with
    the square of its units.
a dict ``{glob: mode}``
    The first glob that matches a module path gives its mode; ``"auto"`` for the others.

2-D outputs are kept as they are whatever the mode. Tuple and list outputs take element 0
(Hugging Face blocks return tuples), mappings their first value. bfloat16 and float16 outputs
are upcast before pooling. A module that runs several times in one forward pass contributes its
last output; its place in the order is its first run. Sequence-first 3-D outputs ``(tokens, N,
D)`` (``nn.MultiheadAttention`` without ``batch_first``) are recognised by their second axis.
4-D outputs are taken as channels first; for channels-last ones ``(N, H, W, C)`` (some timm
models) use ``"flatten"`` on a small layer or pool them in ``forward``.

A layer whose units are all constant over the stimuli (the embeddings layer under ``"cls"``
pooling: the CLS token's embedding is the same for every input) is written, with a
:class:`ConstantLayerWarning` naming it; ``hotalign align --constant-units drop`` leaves such
layers out.

Models by name (:func:`load_model`, the ``MODEL`` of ``hotalign capture``)
--------------------------------------------------------------------------
``torchvision:NAME`` and ``timm:NAME`` load the default pretrained weights through those
packages (which download them on first use and keep them in their own cache).
``hf:NAME`` loads a Hugging Face ``AutoModel`` (with its tokenizer for sentences, its image
processor for images) without ever connecting to the network: ``NAME`` is either a local folder
holding ``config.json`` and the weights (what ``save_pretrained`` or ``huggingface-cli download
--local-dir`` writes), e.g. ``hf:./all-MiniLM-L6-v2``, or a model id already in the local
Hugging Face cache (``HF_HOME``). A model that is in neither is an error naming it (exit 2 in
the CLI); fetch it once with ``huggingface-cli download NAME`` on a machine with a
connection. ``pkg.module:factory`` (or ``path/to/file.py:factory``) calls your own function.
"""

from .errors import CaptureError, ConstantLayerWarning
from .hooks import MAX_UNITS, list_layers
from .models import load_model
from .runner import capture
from .stimuli import IMAGE_SUFFIXES, read_stimuli
from .globs import glob_match
from .tree import layer_tree
from .writer import FORMAT

__all__ = ["CaptureError", "ConstantLayerWarning", "capture", "glob_match", "layer_tree",
           "list_layers", "load_model", "read_stimuli"]
