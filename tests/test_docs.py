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


def test_getting_started_align_example_runs(tmp_path, monkeypatch, capsys):
    """The Python example of "2. Align them" runs on two captures as ``hotalign capture``
    writes them (a folder of .npy layers each)."""
    import numpy as np

    from hotalign.datasets import make_hierarchy

    page = (ROOT / "docs" / "getting-started.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", page, flags=re.S)
                 if "load_system" in b)
    X, Y, _ = make_hierarchy(120, (6, 6), (8, 8, 8), random_state=0)
    for name, layers in (("resnet18", X), ("resnet50", Y)):
        (tmp_path / name).mkdir()
        for k, A in enumerate(layers):
            np.save(tmp_path / name / f"layer{k}.npy", A)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "getting-started.md", "exec"), {"__name__": "docs"})
    assert "| HOT |" in capsys.readouterr().out
