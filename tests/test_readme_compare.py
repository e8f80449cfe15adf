"""README.md's many-model workflow runs as written: its setup block, then its two commands."""

import re
import shlex
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("PIL.Image")

from hotalign.cli import main  # noqa: E402

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
SECTION = README.split("## Many models at once", 1)[1].split("\n## ", 1)[0]


@pytest.mark.slow
def test_capture_then_compare_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    setup = re.findall(r"```python\n(.*?)```", SECTION, flags=re.S)[0]
    exec(compile(setup, "README.md many-model setup", "exec"), {"__name__": "readme"})
    commands = re.findall(r"```bash\n(.*?)```", SECTION, flags=re.S)[0].strip().splitlines()
    assert [c.split()[:2] for c in commands] == [["hotalign", "capture"],
                                                 ["hotalign", "compare"]]
    for line in commands:
        assert main(shlex.split(line)[1:]) == 0, line
    assert sorted(p.name for p in (tmp_path / "captures").iterdir()) == ["narrow", "other",
                                                                         "wide"]
    for name in ("comparison.json", "comparison_matrices.png", "embedding.png",
                 "layer_plans.png"):
        assert (tmp_path / "comparison" / name).is_file()
