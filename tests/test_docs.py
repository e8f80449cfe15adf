"""The repository stands on its own: the method is written in docs/method.md, and every place
that cites it names a section that exists there (no citation of a file outside the repo)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METHOD = ROOT / "docs" / "method.md"
CITING = [p for folder in ("src", "tests", "bench", "cpp") for p in (ROOT / folder).rglob("*")
          if p.suffix in (".py", ".md", ".hpp", ".h", ".cpp") and p.name != "test_docs.py"]
HEADINGS = [line.lstrip("#").strip() for line in METHOD.read_text().splitlines()
            if line.startswith("#")]


def _citations():
    """(file, section) for every ``docs/method.md`` citation that quotes section names."""
    out = []
    for path in CITING:
        text = " ".join(path.read_text(errors="replace").split())
        for match in re.finditer(r"docs/method\.md\)?[:,]? \(?((?:\"[^\"]+\"(?:, | and )?)+)",
                                 text):
            out += [(path.relative_to(ROOT), s) for s in re.findall(r'"([^"]+)"', match[1])]
    return out


CITATIONS = _citations()


def test_the_method_page_covers_the_paper():
    for heading in ("Level 1: units within a layer pair", "Level 2: layers",
                    "Reconstruction and score", "Baselines", "Rotation-augmented HOT (HOT+R)",
                    "Three levels: training trajectories"):
        assert heading in HEADINGS
    text = METHOD.read_text()
    assert text.count("**Choice") >= 5  # the choices made where the paper is loose
    for section in ("§2.2.1", "§2.2.2", "§2.2.3", "§2.3", "§2.4"):
        assert section in text


def test_citations_are_found():
    assert len(CITATIONS) >= 5


@pytest.mark.parametrize("path, section", CITATIONS, ids=lambda v: str(v))
def test_cited_section_exists(path, section):
    assert any(h.startswith(section) for h in HEADINGS), f"{path}: no section {section!r}"


def test_no_citation_of_an_outside_spec():
    offenders = [str(p.relative_to(ROOT)) for p in [*CITING, ROOT / "README.md"]
                 if re.search(r"\bSPEC(\.md)?\b", p.read_text(errors="replace"))]
    assert not offenders


GETTING_STARTED = (ROOT / "docs" / "getting-started.md").read_text()
#: (reason or None, code) of every Python block of getting-started.md, in order; a block is
#: skipped only when an HTML comment ``<!-- needs-download: REASON -->`` stands right above it.
PAGE_BLOCKS = [(m[1], m[2]) for m in re.finditer(
    r"(?:<!-- needs-download: ([^>]*?) -->\n)?```python\n(.*?)```", GETTING_STARTED, flags=re.S)]


def test_getting_started_python_blocks_run(tmp_path, monkeypatch, capsys):
    """Every Python block of the page not marked as needing a download runs as written, in
    order, in one namespace (as a reader pastes them), in an empty folder."""
    runnable = [code for reason, code in PAGE_BLOCKS if reason is None]
    assert len(runnable) >= 2
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "docs"}
    for k, code in enumerate(runnable):
        exec(compile(code, f"getting-started.md block {k}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "| HOT |" in out
    assert (tmp_path / "net-a" / "layers.json").is_file()


@pytest.mark.parametrize("reason", [r for r, _ in PAGE_BLOCKS if r is not None])
def test_getting_started_download_blocks_say_why(reason):
    assert len(reason.split()) >= 3  # a reason, not a bare marker
    pytest.skip(f"getting-started.md block needs a download: {reason}")


def test_install_docs_give_the_cpu_build_of_torch_first():
    """A bare ``pip install ".[torch]"`` may resolve to torch's CUDA build (several GB): the
    docs install the CPU build first, at the version the test extra pins."""
    cpu = "--index-url https://download.pytorch.org/whl/cpu"
    pin = re.search(r'"torch==([0-9.]+)"', (ROOT / "pyproject.toml").read_text())[1]
    assert f"pip install torch=={pin} {cpu}" in GETTING_STARTED
    for text in (GETTING_STARTED, (ROOT / "README.md").read_text()):
        assert f"pip install torch {cpu} && pip install \".[torch]\"" in text
        assert "CUDA build" in text
