"""Entry keys: one BLAKE2b over the format, the version and the content solved."""

from __future__ import annotations

import json

from .._digest import hash_array, hasher, text_key
from .. import _version
from ..kinds import pair_kind

__all__ = ["RESULT_NEUTRAL_PARAMS", "fit_key", "pair_key"]

_FORMAT = "hotalign-fit-cache-3"
_PAIR_FORMAT = "hotalign-pair-cache-4"  # 4: BLAKE2b keys (entries of 3, SHA-256 keys, are misses)
#: Parameters that never change a result (left out of the key).
RESULT_NEUTRAL_PARAMS = frozenset({"n_threads", "max_layers_in_memory", "memory"})


def fit_key(estimator, X, Y) -> str:
    """The entry key of ``estimator.fit(X, Y)``: format, version, the estimator's class and
    result-changing parameters, and the dtype, shape and bytes of every layer of X and Y."""
    h = hasher()
    cls = type(estimator)
    h.update(f"{_FORMAT}|{_version.__version__}|{cls.__module__}.{cls.__qualname__}|".encode())
    params = {k: repr(v) for k, v in estimator.get_params().items()
              if k not in RESULT_NEUTRAL_PARAMS}
    h.update(json.dumps(params, sort_keys=True).encode())
    for tag, layers in (("X", X), ("Y", Y)):
        h.update(f"|{tag}|{len(layers)}".encode())
        for A in layers:
            hash_array(h, A)
    return h.hexdigest()


def pair_key(x_key, y_key, a_key=None, b_key=None, max_iter=None, kind=None) -> str:
    """The entry key of one layer pair from the content keys of its standardised layers and
    marginals (None: uniform), its pivot limit (None or 0: none) and its pair kind's
    :meth:`~hotalign.kinds.PairKind.cache_tag` (None: plain)."""
    return text_key(_PAIR_FORMAT, _version.__version__, x_key, y_key, a_key or "uniform",
                    b_key or "uniform", str(int(max_iter or 0)), pair_kind(kind).cache_tag())
