"""Addresses of scipy's BLAS ``dgemm`` / ``sgemm`` for the C++ correlation-cost kernel.

``scipy.linalg.cython_blas`` exports its BLAS wrappers as PyCapsules in ``__pyx_capi__``. Each
capsule holds a pointer to a C function with the Fortran gemm signature (all arguments by
pointer, 32-bit ``int`` sizes, no hidden string lengths)::

    void dgemm(char *transa, char *transb, int *m, int *n, int *k, double *alpha, double *a,
               int *lda, double *b, int *ldb, double *beta, double *c, int *ldc)

which is what ``hotalign::Gemm<double>`` / ``hotalign::Gemm<float>`` (``dgemm_t`` / ``sgemm_t`` in
``cpp/include/hotalign/correlation_cost.hpp``) expect. Passing these addresses makes the C++ core
run its GEMM on the BLAS scipy ships (scipy-openblas in the wheels) without linking any BLAS
itself. Thread count is that library's: limit it with ``threadpoolctl``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import threading

__all__ = ["blas_threads", "gemm_pointers", "single_threaded_blas"]


def _capsule_address(capsule: object) -> int:
    """Return the pointer stored in a PyCapsule (looked up under the capsule's own name)."""
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    address = get_pointer(capsule, get_name(capsule))
    if not address:
        raise RuntimeError("scipy.linalg.cython_blas returned a null gemm pointer")
    return int(address)


@functools.cache
def gemm_pointers() -> tuple[int, int]:
    """Return ``(dgemm_address, sgemm_address)`` of scipy's BLAS as Python ints (cached).

    The addresses point to ``scipy.linalg.cython_blas.dgemm`` / ``sgemm`` (Fortran calling
    convention, column-major, 32-bit integers). They stay valid while scipy is imported, which
    this function ensures by importing it.
    """
    from scipy.linalg import cython_blas

    capi = cython_blas.__pyx_capi__
    return _capsule_address(capi["dgemm"]), _capsule_address(capi["sgemm"])


_CONTROLLER = None
_CONTROLLER_LOCK = threading.Lock()


def _controller():
    """The threadpoolctl controller, built once, after scipy's BLAS (the one the C++ kernels
    call) is loaded: scanning the loaded libraries costs milliseconds, too much per call."""
    global _CONTROLLER
    with _CONTROLLER_LOCK:
        if _CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            gemm_pointers()
            _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


# single_threaded_blas() holders. The BLAS thread limit is process-wide, so the first holder
# sets it and the last one restores the original; in between, holders only count.
_HOLDERS = 0
_LIMITER = None
_HOLDERS_LOCK = threading.Lock()


@contextlib.contextmanager
def single_threaded_blas():
    """Context manager limiting every loaded BLAS to one thread (our pools bring parallelism).

    Re-entrant and thread-safe: the limit is process-wide, so concurrent or nested holders
    share one limit, set when the first enters and restored (to the thread counts from before
    the first) when the last leaves. While any holder is inside, BLAS calls from other threads
    also run on one thread.
    """
    global _HOLDERS, _LIMITER
    controller = _controller()
    with _HOLDERS_LOCK:
        if _HOLDERS == 0:
            _LIMITER = controller.limit(limits=1, user_api="blas")
        _HOLDERS += 1
    try:
        yield
    finally:
        with _HOLDERS_LOCK:
            _HOLDERS -= 1
            if _HOLDERS == 0:
                limiter, _LIMITER = _LIMITER, None
                limiter.restore_original_limits()


def blas_threads() -> int:
    """Threads the BLAS our kernels call uses right now (cheap: no library scan)."""
    counts = [lib.num_threads for lib in _controller().select(user_api="blas").lib_controllers]
    return max(1, min(counts)) if counts else 1
