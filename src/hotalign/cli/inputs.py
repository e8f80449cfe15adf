"""How the subcommands read their systems: the note on layers flattened into units, the
``--constant-units`` policy on whole constant layers, and error messages that name a layer by
its name in the file instead of its index."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import sys

import numpy as np

#: The hint of every message about a layer whose units are all constant.
CONSTANT_HINT = ("pass --constant-units drop to leave such layers out, or choose other layers "
                 "with --layers")


def load(path, layers, noted=None):
    """:func:`hotalign.io.load_system` with a note on stderr for each layer of more than two
    dimensions, which is flattened into units: once per layer name and shape, ``noted`` (a set)
    remembering them across the systems of one run (the checkpoints of a trajectory)."""
    from ..io import load_system

    system = load_system(path, layers)
    noted = set() if noted is None else noted
    for name, handle in zip(system.names, system.handles):
        raw = getattr(handle, "raw_shape", handle.shape)
        if len(raw) > 2 and (name, raw[1:]) not in noted:
            noted.add((name, raw[1:]))
            print(f"hotalign: note: {system.source}: layer {name!r}: shape "
                  f"({', '.join(['n', *map(str, raw[1:])])}) flattened to (n, "
                  f"{handle.shape[1]}) units", file=sys.stderr)
    return system


def _constant(system, k) -> bool:
    """Whether every unit of layer ``k`` of ``system`` is constant on all rows (as
    :class:`hotalign.ZScore` decides it, relative to the unit's magnitude)."""
    from ..costs import ZScore

    A = np.asarray(system[k])
    if A.dtype.kind not in "f":
        A = A.astype(np.float64)
    return bool(ZScore().fit(A, f"{system.source}: layer {system.names[k]!r}").constant_.all())


def drop_constant_layers(groups, policy):
    """Apply ``--constant-units`` to groups of systems that share their layers (one group for
    each side of ``align``; every checkpoint of one side for ``trajectory``).

    ``policy="error"`` returns the groups as they are (a constant layer then stops the fit with
    a message that :func:`layer_message` names). ``"drop"`` removes from every system of a
    group the layers whose units are all constant in any of its systems, with a note on stderr
    naming them; dropping every layer of a system is a ValueError.

    Returns
    -------
    groups : list of list of System
    dropped : list of list of str
        The layer names dropped, per group.
    """
    groups = [list(g) for g in groups]
    if policy != "drop":
        return groups, [[] for _ in groups]
    out, dropped = [], []
    for systems in groups:
        names = systems[0].names
        gone = [n for k, n in enumerate(names) if any(_constant(s, k) for s in systems)]
        if len(gone) == len(names):
            raise ValueError(f"{systems[0].source}: every layer has only constant units "
                             f"({', '.join(map(repr, gone))}); nothing is left to compare")
        keep = [k for k, n in enumerate(names) if n not in gone]
        if gone:
            print(f"hotalign: note: {systems[0].source}: --constant-units drop: left out "
                  f"{len(gone)} layer(s) whose units are all constant: "
                  f"{', '.join(map(repr, gone))}", file=sys.stderr)
        out.append([dataclasses.replace(s, names=[s.names[k] for k in keep],
                                        handles=[s.handles[k] for k in keep]) for s in systems])
        dropped.append(gone)
    return out, dropped


_INDEX = re.compile(r"\b(X|Y|A|B)((?:\[\d+\])+)")


def layer_message(message: str, names: dict) -> str:
    """``message`` of the API with ``X[k]`` (or ``A[c][k]``) replaced by the layer's name.

    ``names`` maps a system's tag (``"X"``, ``"Y"``, ``"A"``, ``"B"``) to ``(label, layer
    names)``, the label being what the user named (the file). A message about a layer whose
    units are all constant gets the hint of ``--constant-units drop``.
    """
    def name(match):
        tag, indices = match[1], [int(i) for i in re.findall(r"\d+", match[2])]
        if tag not in names or (tag in "AB" and len(indices) < 2):  # A[c]: a checkpoint
            return match[0]
        label, layers = names[tag]
        k = indices[-1]
        if not 0 <= k < len(layers):
            return match[0]
        where = f"checkpoint {indices[0]} of " if len(indices) > 1 else ""
        return f"layer {layers[k]!r} of {where}{label}"

    text = _INDEX.sub(name, message)
    if "every unit is constant" in message:
        text += f"; {CONSTANT_HINT}"
    return text


@contextlib.contextmanager
def named_layers(names: dict):
    """Re-raise a ValueError of the block with its layers named (see :func:`layer_message`)."""
    try:
        yield
    except ValueError as exc:
        text = layer_message(str(exc), names)
        if text == str(exc):
            raise
        try:
            new = type(exc)(text)
        except Exception:  # an exception type with another constructor
            new = ValueError(text)
        raise new from None
