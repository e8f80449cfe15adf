"""The version of hotalign, in one place.

pyproject.toml reads it (``[tool.setuptools.dynamic]``), ``hotalign.__version__`` re-exports it,
the cache keys include it (a new version never reuses an old cached result), and
tests/test_version.py checks that cpp/CMakeLists.txt, CITATION.cff and CHANGELOG.md agree.
"""

__version__ = "0.1.0"
