"""Writing files into folders that may hold planted links: one atomic, link-safe write.

Every file the package writes (results, plans, figures, cache entries, capture metadata) goes
through :func:`atomic_write`: the bytes go to a new temporary file in the destination's folder,
created with ``O_CREAT | O_EXCL`` under an unpredictable name (:func:`tempfile.mkstemp`), and
are then moved onto the destination with :func:`os.replace`. A symbolic link (or hard link)
planted at the destination is replaced itself, never written through, and a planted link can
never take the place of the temporary file. A process killed at any moment leaves the old file
or the whole new one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()  # what open(path, "w") would give a new file


def atomic_write(path, data, *, sync=True, prefix=None) -> Path:
    """Write ``data`` to ``path`` atomically, never through a link at ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The destination; its folder must exist.
    data : bytes-like or callable
        The content, or ``write(f)`` that writes it to the open binary file ``f``.
    sync : bool
        ``fsync`` the file before the rename (durable across a machine crash).
    prefix : str, optional
        Start of the temporary file's name (default ``.<name>.``); a random part and ``.tmp``
        follow it.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix or f".{path.name}.", suffix=".tmp",
                               dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            with contextlib.suppress(OSError):  # not every file system allows it
                os.fchmod(f.fileno(), _MODE)
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
