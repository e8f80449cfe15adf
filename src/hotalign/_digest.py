"""The package's one content hash: BLAKE2b (32 bytes, 64 hexadecimal digits).

It keys every cache entry: the raw training rows of a fit (:meth:`hotalign.cache.FitCache.key`),
the standardised layers and marginals of a layer pair (:func:`content_key`) and the pair key
built from them (:func:`text_key`).
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["content_key", "hash_array", "hasher", "text_key"]


def hasher():
    """A new BLAKE2b hash object (about 1.7x the speed of SHA-256 on array bytes)."""
    return hashlib.blake2b(digest_size=32)


def hash_array(h, A):
    """Feed the dtype, shape and bytes of ``A`` to the hash ``h``."""
    A = np.ascontiguousarray(A)
    h.update(f"|{A.dtype.str}|{A.shape}|".encode())
    h.update(A.data)


def content_key(A) -> str:
    """The hexadecimal BLAKE2b of ``A``'s dtype, shape and bytes."""
    h = hasher()
    hash_array(h, A)
    return h.hexdigest()


def text_key(*parts: str) -> str:
    """The hexadecimal BLAKE2b of ``parts`` joined by ``|``."""
    h = hasher()
    h.update("|".join(parts).encode())
    return h.hexdigest()
