"""``hotalign capture MODEL STIMULI``: pooled layer activations of a PyTorch model written
as a folder ``align`` reads (PyTorch imported only when it runs)."""

from __future__ import annotations

import sys
import warnings

from .options import add_command
from .shared import _say


def _capture(args) -> int:
    from ..capture import ConstantLayerWarning, capture, load_model, read_stimuli

    pool = args.pool
    if "=" in pool:  # glob=mode,glob=mode
        pool = dict(item.split("=", 1) for item in pool.split(",") if item.strip())
    model, preprocess = load_model(args.model)
    ids, batches = read_stimuli(args.stimuli, preprocess, args.batch_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConstantLayerWarning)
        system = capture(model, batches, args.out, layers=args.layers, pool=pool,
                         device=args.device, dtype=args.dtype, stimulus_ids=ids,
                         resume=args.resume, progress=not args.quiet, stop_after_last=True)
    for w in caught:
        if issubclass(w.category, ConstantLayerWarning):
            print(f"hotalign: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    _say(args, f"captured {len(system)} layers x {system.n_stimuli} stimuli into {args.out}")
    return 0


def register(sub):
    """Add the ``capture`` subcommand to the subparsers ``sub``."""
    cap = add_command(
        sub, "capture", "capture the pooled layer activations of a PyTorch model on stimuli",
        "hotalign capture torchvision:resnet18 images/ --out resnet18 --layers 'layer?,fc'",
        "hotalign capture hf:bert-base-uncased sentences.txt --out bert --layers "
        "'encoder.layer.*' --pool mean",
        "hotalign capture hf:./all-MiniLM-L6-v2 sentences.txt --out minilm --pool cls")
    cap.add_argument("model", help="torchvision:NAME or timm:NAME (pretrained weights, "
                                   "downloaded by those packages on first use); hf:FOLDER (a "
                                   "local Hugging Face model folder with config.json) or "
                                   "hf:NAME (a model id in the local Hugging Face cache): "
                                   "never downloaded, works offline; or pkg.module:factory "
                                   "(returns model or (model, preprocess))")
    cap.add_argument("stimuli", help="folder of images (names = stimulus ids) or .txt of "
                                     "sentences (one per line)")
    cap.add_argument("--out", required=True, help="folder to write (must not exist)")
    cap.add_argument("--layers", default="*", help="comma-separated module paths or globs")
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
