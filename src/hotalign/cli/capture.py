"""``hotalign capture MODEL STIMULI``: pooled layer activations of a PyTorch model written
as a folder ``align`` reads (PyTorch imported only when it runs)."""

from __future__ import annotations

import re
import sys
import warnings

from .options import add_command
from .shared import UsageError, _say


def _capture(args) -> int:
    from pathlib import Path

    from ..capture import ConstantLayerWarning, capture, layer_tree, load_model, read_stimuli

    pool = args.pool
    if "=" in pool:  # glob=mode,glob=mode
        pool = dict(item.split("=", 1) for item in pool.split(",") if item.strip())
    models = args.model
    if args.list:
        for spec in models:
            model, preprocess = load_model(spec)
            example = next(iter(read_stimuli(args.stimuli, preprocess, batch_size=2)[1]))
            if len(models) > 1:
                print(f"{spec}:")
            print(layer_tree(model, example, max_depth=args.depth))
        return 0
    if args.out is None:
        raise UsageError("--out is required (a folder to write; with several models, the "
                         "parent folder of one capture folder per model)")
    outs = [Path(args.out)] if len(models) == 1 else [Path(args.out) / _folder_name(spec)
                                                       for spec in models]
    if len(set(outs)) != len(outs):
        raise UsageError(f"two models would be captured into the same folder: "
                         f"{', '.join(map(str, outs))}")
    for spec, out in zip(models, outs):
        model, preprocess = load_model(spec)
        ids, batches = read_stimuli(args.stimuli, preprocess, args.batch_size)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConstantLayerWarning)
            system = capture(model, batches, out, layers=args.layers, pool=pool,
                             device=args.device, dtype=args.dtype, stimulus_ids=ids,
                             resume=args.resume, progress=not args.quiet,
                             stop_after_last=True)
        for w in caught:
            if issubclass(w.category, ConstantLayerWarning):
                print(f"hotalign: warning: {w.message}", file=sys.stderr)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        _say(args, f"captured {len(system)} layers x {system.n_stimuli} stimuli into {out}")
    return 0


def _folder_name(spec: str) -> str:
    """The subfolder of a model in a parent folder: its spec's name part, with the characters
    that are not safe in file names replaced (``torchvision:resnet18`` -> ``resnet18``,
    ``hf:org/model`` -> ``org_model``)."""
    name = spec.split(":", 1)[1] if ":" in spec else spec
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"
    return name


def register(sub):
    """Add the ``capture`` subcommand to the subparsers ``sub``."""
    cap = add_command(
        sub, "capture", "capture the pooled layer activations of a PyTorch model on stimuli",
        "hotalign capture torchvision:resnet18 images/ --out resnet18 --layers 'layer?,fc'",
        "hotalign capture torchvision:resnet18 torchvision:resnet34 images/ --out captures",
        "hotalign capture hf:./all-MiniLM-L6-v2 sentences.txt --list --depth 3")
    cap.add_argument("model", nargs="+",
                     help="torchvision:NAME or timm:NAME (pretrained weights, downloaded by "
                          "those packages on first use); hf:FOLDER (a local Hugging Face model "
                          "folder with config.json) or hf:NAME (a model id in the local Hugging "
                          "Face cache): never downloaded, works offline; or pkg.module:factory "
                          "(returns model or (model, preprocess)); several models: OUT is a "
                          "parent folder with one capture folder per model")
    cap.add_argument("stimuli", help="folder of images (names = stimulus ids) or .txt of "
                                     "sentences (one per line)")
    cap.add_argument("--out", default=None,
                     help="folder to write (must not exist); with several models, the parent "
                          "folder of one subfolder per model (named after the model)")
    cap.add_argument("--layers", default="**",
                     help="comma-separated module paths or globs: '*' stays within one "
                          "dot-separated segment ('encoder.layer.*' = the blocks only), '**' "
                          "crosses dots")
    cap.add_argument("--list", action="store_true",
                     help="print the module tree with each module's output shape on one batch "
                          "of STIMULI, and capture nothing")
    cap.add_argument("--depth", type=int, default=None, metavar="K",
                     help="with --list: only modules at most K levels deep")
    cap.add_argument("--pool", default="auto",
                     help="auto, mean, spatial_max, avg<k>, cls, last, flatten, or "
                          "glob=mode,...")
    cap.add_argument("--batch-size", type=int, default=32, help="stimuli per forward pass")
    cap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps ...")
    cap.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                     help="dtype of the stored layers")
    cap.add_argument("--resume", action="store_true",
                     help="continue OUT.partial from its last complete batch")
    cap.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    cap.set_defaults(func=_capture)
