"""The glob rule of layer and pooling selections.

Globs match module paths (``named_modules()`` names) segment-wise: ``*`` matches any run of
characters *within* one dot-separated segment and ``?`` one character of a segment, so
``encoder.layer.*`` matches ``encoder.layer.0`` but not ``encoder.layer.0.attention``; ``**``
matches across dots (``encoder.**`` is every module below ``encoder``); ``[seq]`` and ``[!seq]``
are character classes, as in :mod:`fnmatch`.
"""

from __future__ import annotations

import functools
import re

__all__ = ["glob_match"]


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern:
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append(r"[^.]*")
        elif c == "?":
            out.append(r"[^.]")
        elif c == "[":
            j = pattern.find("]", i + 2 if pattern[i + 1:i + 2] in ("!", "]") else i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:j]
                neg = body.startswith("!")
                body = body[1:] if neg else body
                out.append("[" + ("^" if neg else "") + body.replace("\\", "\\\\") + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def glob_match(name: str, pattern: str) -> bool:
    """Whether module path ``name`` matches ``pattern`` (``*`` within a segment, ``**`` across
    dots; see the module docstring)."""
    return _glob_regex(pattern).match(name) is not None
