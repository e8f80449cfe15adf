"""Models named on the command line: ``torchvision:NAME``, ``timm:NAME``, ``hf:NAME``,
``pkg.module:factory``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from .errors import CaptureError, _torch


def _need(module, spec):
    try:
        return importlib.import_module(module)
    except ImportError:
        pkg = module.split(".")[0]
        raise CaptureError(f"MODEL {spec}: needs the package {pkg} (pip install {pkg})"
                           ) from None


def _per_image(transform, torch):
    return lambda images: torch.stack([transform(im.convert("RGB")) for im in images])


def load_model(spec: str):
    """``(model, preprocess)`` from a command-line model spec.

    ``torchvision:NAME`` (default weights), ``timm:NAME`` (pretrained), ``hf:NAME`` (Hugging Face
    ``AutoModel`` from a local folder or the local cache, never downloaded; its tokenizer for
    sentences and image processor for images), or ``pkg.module:factory`` / ``path/to/file.py:factory``, where
    ``factory()`` returns a model or ``(model, preprocess)``. ``preprocess`` maps a list of
    stimuli (PIL images, or strings for a ``.txt`` of sentences) to one batch; it is None when
    the spec gives none.
    """
    torch = _torch()
    kind, sep, name = str(spec).partition(":")
    if not sep or not kind or not name:
        raise CaptureError(f"MODEL {spec}: expected torchvision:NAME, timm:NAME, hf:NAME or "
                           "pkg.module:factory")
    if kind == "torchvision":
        tv = _need("torchvision.models", spec)
        weights = tv.get_model_weights(name).DEFAULT
        return tv.get_model(name, weights=weights), _per_image(weights.transforms(), torch)
    if kind == "timm":
        timm = _need("timm", spec)
        data = _need("timm.data", spec)
        model = timm.create_model(name, pretrained=True)
        config = data.resolve_data_config({}, model=model)
        return model, _per_image(data.create_transform(**config), torch)
    if kind == "hf":
        tr = _need("transformers", spec)
        model = _hf_model(tr, name, spec)
        return model, _hf_preprocess(tr, name, spec)
    return _factory(kind, name, spec, torch)


def _hf_model(tr, name, spec):
    """``AutoModel`` of a local folder or the local cache; a model in neither is a
    CaptureError (one line), never a download and never a traceback about a connection."""
    folder = Path(name).expanduser()
    looks_local = folder.is_absolute() or name.startswith((".", "~")) or folder.exists()
    if looks_local and not (folder / "config.json").is_file():
        what = "no such folder" if not folder.exists() else "no config.json in the folder"
        raise CaptureError(f"MODEL {spec}: {what} {folder} (an hf: folder is what "
                           "save_pretrained or 'huggingface-cli download --local-dir' writes)")
    try:
        return tr.AutoModel.from_pretrained(str(folder) if looks_local else name,
                                            local_files_only=True)
    except (OSError, ValueError) as exc:  # not in the cache, or not a model transformers knows
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if looks_local:
            raise CaptureError(f"MODEL {spec}: cannot load the folder {folder}: {first}"
                               ) from None
        raise CaptureError(
            f"MODEL {spec}: not in the local Hugging Face cache and not a folder (hf: models "
            f"are never downloaded); fetch it once with 'huggingface-cli download {name}', "
            f"or give the folder that holds it as hf:./path") from None


def _hf_preprocess(tr, name, spec):
    state = {}

    def preprocess(items):
        if items and isinstance(items[0], str):
            if "tok" not in state:
                tok = tr.AutoTokenizer.from_pretrained(name, local_files_only=True)
                if tok.pad_token is None:
                    tok.pad_token = tok.eos_token
                state["tok"] = tok
            return dict(state["tok"](list(items), padding=True, truncation=True,
                                     return_tensors="pt"))
        if "img" not in state:
            state["img"] = tr.AutoImageProcessor.from_pretrained(name, local_files_only=True)
        return dict(state["img"](images=[im.convert("RGB") for im in items],
                                 return_tensors="pt"))
    return preprocess


def _factory(module, attr, spec, torch):
    try:
        if module.endswith(".py"):
            path = Path(module)
            if not path.is_file():
                raise CaptureError(f"MODEL {spec}: no such file {path}")
            loader = importlib.util.spec_from_file_location(path.stem, path)
            mod = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(mod)
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            mod = importlib.import_module(module)
    except ImportError as exc:
        raise CaptureError(f"MODEL {spec}: cannot import {module} ({exc})") from None
    factory = getattr(mod, attr, None)
    if not callable(factory):
        raise CaptureError(f"MODEL {spec}: {module} has no function {attr!r}")
    made = factory()
    model, preprocess = made if isinstance(made, tuple) and len(made) == 2 else (made, None)
    if not isinstance(model, torch.nn.Module):
        raise CaptureError(f"MODEL {spec}: {attr}() returned {type(model).__name__}, not a "
                           "torch.nn.Module (or a (model, preprocess) pair)")
    if preprocess is not None and not callable(preprocess):
        raise CaptureError(f"MODEL {spec}: the preprocess returned by {attr}() is not callable")
    return model, preprocess
