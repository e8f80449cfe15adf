"""What ``hotalign info`` prints: the versions and the machine facts a bug report needs.

Versions come from the installed distributions' metadata (nothing heavy is imported for them);
the BLAS libraries from threadpoolctl after scipy's BLAS, the one the correlation-cost kernel
calls, is loaded; the SIMD path from the compiled core.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version

__all__ = ["format_info", "system_info"]

#: Distributions every install has (pyproject ``dependencies``).
REQUIRED = ("numpy", "scipy", "numba", "threadpoolctl", "tqdm")
#: Distributions of the optional extras, by extra.
OPTIONAL = {
    "io": ("h5py", "safetensors", "xarray", "h5netcdf"),
    "plot": ("matplotlib",),
    "distributed": ("dask", "distributed"),
    "torch": ("torch", "pillow", "torchvision", "transformers", "timm"),
}


def _version_of(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def system_info() -> dict:
    """Versions, BLAS, SIMD path and threads, as a JSON-serialisable dict.

    Returns
    -------
    dict
        ``hotalign``, ``python``, ``platform``: strings; ``dependencies``: name -> version;
        ``optional``: extra -> {name: version or None when not installed}; ``blas``: one dict per
        loaded BLAS library (threadpoolctl's ``internal_api``, ``version``, ``num_threads``,
        ``architecture``, ``filepath``); ``assignment_simd_path``: ``"avx2"``, ``"sse2"`` or
        ``"scalar"``; ``threads``: the default worker threads of the grids and the CPU count.
    """
    from . import _core
    from ._version import __version__
    from ._blas import _controller, blas_threads
    from ._validation import resolve_threads

    blas = [
        {key: lib.get(key) for key in ("internal_api", "version", "num_threads",
                                        "threading_layer", "architecture", "filepath")}
        for lib in _controller().info() if lib.get("user_api") == "blas"
    ]
    return {
        "hotalign": __version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()}, "
                  f"{sys.executable})",
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "dependencies": {name: _version_of(name) for name in REQUIRED},
        "optional": {extra: {name: _version_of(name) for name in names}
                     for extra, names in OPTIONAL.items()},
        "blas": blas,
        "assignment_simd_path": _core.assignment_simd_path(),
        "threads": {"default_worker_threads": resolve_threads(None),
                    "blas_threads": blas_threads(),
                    "cpu_count": os.cpu_count()},
    }


def format_info(info: dict) -> str:
    """The dict of :func:`system_info` as aligned text, one fact per line."""
    rows = [("hotalign", info["hotalign"]), ("python", info["python"]),
            ("platform", info["platform"])]
    rows += [(name, v or "not installed") for name, v in info["dependencies"].items()]
    for extra, names in info["optional"].items():
        have = [f"{n} {v}" for n, v in names.items() if v is not None]
        rows.append((f"extra [{extra}]", ", ".join(have) if have else "not installed"))
    if not info["blas"]:
        rows.append(("BLAS", "none found by threadpoolctl"))
    for lib in info["blas"]:
        rows.append(("BLAS", f"{lib['internal_api']} {lib['version']}, {lib['num_threads']} "
                             f"threads, {lib['threading_layer']}, {lib['architecture']}: "
                             f"{lib['filepath']}"))
    rows.append(("assignment SIMD", info["assignment_simd_path"]))
    t = info["threads"]
    rows.append(("threads", f"{t['default_worker_threads']} workers (default), "
                            f"{t['blas_threads']} BLAS, {t['cpu_count']} CPUs"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
