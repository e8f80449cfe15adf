"""The command line's conveniences: ``python -m hotalign``, help pages and ``hotalign info``."""

import argparse
import json
import shlex
import subprocess
import sys

import numpy as np
import pytest
import scipy

import hotalign
from hotalign.cli import build_parser, main


def _commands(parser, prefix=()):
    """(path, parser) of every subcommand, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _commands(sub, (*prefix, name))


COMMANDS = dict(_commands(build_parser()))


def test_python_m_hotalign_is_the_command():
    proc = subprocess.run([sys.executable, "-m", "hotalign", "--version"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"hotalign {hotalign.__version__}"
    proc = subprocess.run([sys.executable, "-m", "hotalign"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 2 and "usage: hotalign" in proc.stderr


def test_every_command_is_listed():
    assert {"demo", "align", "trajectory", "info", "bench"} <= {p[0] for p in COMMANDS}
    assert {("bench", "solvers"), ("bench", "pipeline")} <= set(COMMANDS)


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_help_has_a_description_defaults_and_examples(path):
    sub = COMMANDS[path]
    text = sub.format_help()
    assert sub.description and "\n" not in sub.description.strip()
    examples = [line.strip() for line in text.split("examples:\n", 1)[1].splitlines()
                if line.strip()]
    assert 2 <= len(examples) <= 3
    assert all(line.startswith("hotalign " + " ".join(path)) for line in examples)
    for action in sub._actions:
        unshown = action.default is None or action.default is False or \
            action.default is argparse.SUPPRESS  # by identity: a default of 0 is shown
        shown = action.option_strings and not unshown
        if shown and action.help:
            assert "%(default)s" in sub._get_formatter()._get_help_string(action), action.dest


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_help_examples_parse(path):
    text = COMMANDS[path].format_help()
    for line in text.split("examples:\n", 1)[1].splitlines():
        if line.strip():
            argv = shlex.split(line.split(" > ")[0])[1:]
            args = build_parser().parse_args(argv)  # SystemExit (code 2) if an example is wrong
            assert callable(args.func)


def test_align_help_shows_defaults(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["align", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "random train/test splits (default: 5)" in out
    assert "held-out fraction (default: 0.2)" in out
    assert "output folder (default: hotalign-results)" in out
    assert "(default: None)" not in out and "(default: False)" not in out
    assert "seed of the random splits (default: 0)" in out  # 0 == False, shown all the same


def test_info_text(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    lines = dict(line.split(None, 1) for line in out.splitlines() if line.split()[0] in
                 ("hotalign", "numpy", "scipy", "numba", "threadpoolctl"))
    assert lines["hotalign"].strip() == hotalign.__version__
    assert lines["numpy"].strip() == np.__version__
    assert lines["scipy"].strip() == scipy.__version__
    simd = next(line for line in out.splitlines() if line.startswith("assignment SIMD"))
    assert simd.split()[-1] in ("avx2", "sse2", "scalar")
    assert any(line.startswith("BLAS") for line in out.splitlines())
    assert "workers (default)" in out and "extra [io]" in out


def test_info_json(capsys):
    from hotalign import _core
    from hotalign._validation import resolve_threads

    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["hotalign"] == hotalign.__version__
    assert info["dependencies"]["numpy"] == np.__version__
    assert info["assignment_simd_path"] == _core.assignment_simd_path()
    assert info["threads"]["default_worker_threads"] == resolve_threads(None)
    assert info["blas"], "scipy's BLAS must be found"
    assert all(lib["num_threads"] >= 1 and lib["filepath"] for lib in info["blas"])
    assert set(info["optional"]) >= {"io", "plot", "distributed"}


def test_info_reports_a_missing_extra(monkeypatch):
    from hotalign import _info

    real = _info._version_of
    monkeypatch.setattr(_info, "_version_of",
                        lambda name: None if name == "matplotlib" else real(name))
    text = _info.format_info(_info.system_info())
    assert "extra [plot]" in text
    assert next(line for line in text.splitlines()
                if line.startswith("extra [plot]")).endswith("not installed")
