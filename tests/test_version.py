"""The version is written once (src/hotalign/_version.py) and every other place agrees with it.

pyproject.toml reads it dynamically; cpp/CMakeLists.txt, CITATION.cff and the newest release
heading of CHANGELOG.md repeat it and are checked here, so a release cannot bump one and forget
another. The cache keys include it (tests/test_cache.py).
"""

import re
from pathlib import Path

import hotalign
from hotalign._version import __version__

ROOT = Path(__file__).resolve().parents[1]


def test_package_exports_the_single_source():
    assert hotalign.__version__ == __version__
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)?", __version__)


def test_pyproject_reads_the_version_dynamically():
    text = (ROOT / "pyproject.toml").read_text()  # no tomllib on Python 3.10: plain patterns
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    assert not re.search(r"^version\s*=", project, flags=re.M)
    assert re.search(r'^dynamic\s*=\s*\[[^\]]*"version"', project, flags=re.M)
    dynamic = text.split("[tool.setuptools.dynamic]", 1)[1].split("\n[", 1)[0]
    assert re.search(r'^version\s*=\s*\{\s*attr\s*=\s*"hotalign\._version\.__version__"',
                     dynamic, flags=re.M)


def test_cmake_project_version_agrees():
    text = (ROOT / "cpp" / "CMakeLists.txt").read_text()
    found = re.search(r"project\(\s*hotalign\s+VERSION\s+([0-9.]+)", text)
    assert found, "cpp/CMakeLists.txt: no project(hotalign VERSION x.y.z)"
    assert found.group(1) == __version__


def test_citation_version_agrees():
    text = (ROOT / "CITATION.cff").read_text()
    found = re.search(r'^version:\s*"?([^"\s]+)"?\s*$', text, flags=re.M)
    assert found and found.group(1) == __version__


def test_changelog_has_the_current_release():
    text = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[(\d[^\]]*)\]", text, flags=re.M)
    assert releases and releases[0] == __version__


def test_installed_metadata_agrees():
    from importlib.metadata import version

    assert version("hotalign") == __version__
