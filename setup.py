"""Declares the one compiled extension, hotalign._core; all metadata lives in pyproject.toml.

The C++ core is header-only (cpp/include/hotalign), so pip and CMake compile the same headers.
Set HOTALIGN_NATIVE=1 to compile with -march=native (off by default: wheels must run anywhere).
"""

import os
import sys

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

MSVC = sys.platform == "win32"  # the Windows wheels are built with MSVC (cibuildwheel)
extra_compile_args = ["/O2"] if MSVC else ["-O3"]
if os.environ.get("HOTALIGN_NATIVE") == "1":
    extra_compile_args.append("/arch:AVX2" if MSVC else "-march=native")

ext_modules = [
    Pybind11Extension(
        "hotalign._core",
        ["src/hotalign/_core.cpp"],
        include_dirs=["cpp/include"],
        cxx_std=17,
        extra_compile_args=extra_compile_args,
    )
]

setup(ext_modules=ext_modules, cmdclass={"build_ext": build_ext})
