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

import ctypes
import functools

__all__ = ["gemm_pointers"]


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
