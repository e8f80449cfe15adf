"""``hotalign layers MODEL``: the module paths of a PyTorch model (PyTorch imported only
when it runs)."""

from __future__ import annotations

from .options import add_command


def _layers(args) -> int:
    from ..capture import list_layers, load_model, read_stimuli

    model, preprocess = load_model(args.model)
    example = None
    if args.stimuli is not None:  # run one small batch: execution order
        example = next(iter(read_stimuli(args.stimuli, preprocess, batch_size=2)[1]))
    if args.tree:
        from ..capture import layer_tree

        print(layer_tree(model, example, max_depth=args.depth))
        return 0
    modules = dict(model.named_modules())
    for name in list_layers(model, example):
        print(f"{name}\t{type(modules[name]).__name__}")
    return 0


def register(sub):
    """Add the ``layers`` subcommand to the subparsers ``sub``."""
    layers = add_command(
        sub, "layers", "list the module paths of a PyTorch model (needs hotalign[torch])",
        "hotalign layers torchvision:resnet18",
        "hotalign layers my_models:build images/",
        "hotalign layers my_models:build images/ --tree --depth 2")
    layers.add_argument("model", help="torchvision:NAME, timm:NAME, hf:FOLDER or hf:NAME (a "
                                      "local Hugging Face folder or cache, never downloaded) "
                                      "or pkg.module:factory")
    layers.add_argument("stimuli", nargs="?", default=None,
                        help="optional images folder or .txt: run one batch and list the "
                             "modules in execution order")
    layers.add_argument("--tree", action="store_true",
                        help="show the module tree (with output shapes when STIMULI is given)")
    layers.add_argument("--depth", type=int, default=None, metavar="K",
                        help="with --tree: only modules at most K levels deep")
    layers.set_defaults(func=_layers)
