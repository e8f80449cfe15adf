"""Module paths as a tree, with each module's output shape (the glob rule of the selections
is in :mod:`hotalign.capture.globs`)."""

from __future__ import annotations

from .errors import _check_model, _torch
from .hooks import (_batch_rows, _default_forward, _first_tensor, _resolve_device, _split_item,
                    _to_device)

__all__ = ["layer_tree"]


def layer_tree(model, example=None, *, forward=None, max_depth=None) -> str:
    """The module paths of ``model`` as an indented tree, one line per module: path, class and,
    when ``example`` (one batch, as :func:`hotalign.capture.capture` takes it) is given, the
    module's output shape per stimulus (batch axis left out; ``-`` for modules that did not run
    or return no tensor). ``max_depth`` (>= 1) leaves out deeper modules.

    Examples of what it shows::

        conv1          Conv2d      (8, 12, 12)
        layer1         Sequential  (8, 12, 12)
          layer1.0     Block       (8, 12, 12)
    """
    torch = _torch()
    _check_model(model)
    if max_depth is not None and (not isinstance(max_depth, int) or max_depth < 1):
        raise ValueError(f"max_depth must be an integer >= 1 or None, got {max_depth!r}")
    modules = [(name, m) for name, m in model.named_modules() if name]
    shapes = {}
    if example is not None:
        inputs, _ = _split_item(example)
        n_rows = _batch_rows(inputs, torch)

        def hook_for(name):
            def hook(module, args, output):
                t = _first_tensor(output, torch)
                if t is not None and name not in shapes:
                    shape = tuple(int(s) for s in t.shape)
                    shapes[name] = shape[1:] if shape[:1] == (n_rows,) else shape
            return hook

        handles = [m.register_forward_hook(hook_for(name)) for name, m in modules]
        device, _ = _resolve_device(model, None, torch)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                (forward or _default_forward)(model, _to_device(inputs, device, torch))
        finally:
            for h in handles:
                h.remove()
            model.train(was_training)
    rows = []
    for name, m in modules:
        depth = name.count(".")
        if max_depth is not None and depth >= max_depth:
            continue
        shape = shapes.get(name)
        rows.append(("  " * depth + name, type(m).__name__,
                     "" if example is None else "-" if shape is None else str(shape)))
    if not rows:
        return ""
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows)
