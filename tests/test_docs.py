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
