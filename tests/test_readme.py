"""README.md stays honest: its Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {"__name__": "readme"})


def _command_block():
    """The shell lines of the README's "Command line" section."""
    section = README.read_text().split("## Command line", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, flags=re.S)[1].splitlines()


@pytest.mark.slow
def test_readme_align_commands_run_and_the_second_resumes(tmp_path):
    """The README's data line and its two ``align`` commands run as written, and the second
    (``--rotation --resume``) really reuses the first's fits and says so."""
    import os
    import shlex
    import subprocess
    import sys

    lines = [line for line in _command_block()
             if line.startswith(("python -c", "hotalign align"))]
    assert len(lines) == 3 and "--resume" in lines[2]
    env = dict(os.environ)  # the installed package, as a user runs it
    outputs = []
    for line in lines:
        argv = shlex.split(line)
        argv = [sys.executable, *argv[1:]] if argv[0] == "python" else \
            [sys.executable, "-m", "hotalign", *argv[1:]]
        proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=env,
                              timeout=600, check=False)
        assert proc.returncode == 0, f"{line}\n{proc.stderr}"
        outputs.append(proc.stdout)
    reused = re.search(r"--resume: reused (\d+) of (\d+) fits", outputs[2])
    assert reused and int(reused[1]) > 0, outputs[2]
    assert f"reused {reused[1]} of {reused[2]} fits" in README.read_text()
