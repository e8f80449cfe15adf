"""The type stub ``hotalign/_core.pyi`` matches the compiled module, argument by argument.

mypy's stubtest (run by .ci/run) checks that every name exists on both sides, but it cannot read
the signatures of pybind11 functions. pybind11 writes each signature as the first line of the
docstring; this test parses those lines and compares names, order and defaults with the stub.
"""

import ast
from pathlib import Path

import pytest

from hotalign import _core

STUB = Path(_core.__file__).with_name("_core.pyi")  # installed beside the extension


def _split_top_level(text):
    """Split ``text`` on commas outside brackets."""
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:k].strip())
            start = k + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts


def runtime_signature(obj):
    """[(name, default text or None)] from a pybind11 docstring, without ``self``."""
    first = obj.__doc__.strip().splitlines()[0]
    inner = first[first.index("(") + 1:first.rindex(") -> ")]
    params = []
    for part in _split_top_level(inner):
        name, _, rest = part.partition(":")
        default = rest.split(" = ", 1)[1].strip() if " = " in rest else None
        if name.strip() != "self":
            params.append((name.strip(), default))
    return params


def stub_signature(node):
    args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
    defaults = [None] * (len(node.args.posonlyargs + node.args.args) - len(node.args.defaults))
    defaults += [ast.unparse(d) for d in node.args.defaults]
    defaults += [None if d is None else ast.unparse(d) for d in node.args.kw_defaults]
    return [(a.arg, d) for a, d in zip(args, defaults) if a.arg != "self"]


def _stub_functions():
    tree = ast.parse(STUB.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    out[f"{node.name}.{item.name}"] = item
    return out


STUB_FUNCTIONS = _stub_functions()


def _runtime(name):
    obj = _core
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def test_every_public_runtime_function_is_in_the_stub():
    public = [n for n in dir(_core) if not n.startswith("_") and callable(getattr(_core, n))
              and not isinstance(getattr(_core, n), type)]
    missing = [n for n in public if n not in STUB_FUNCTIONS]
    assert not missing, f"_core.pyi lacks {missing}"
    methods = [f"GridJob.{n}" for n in vars(_core.GridJob) if not n.startswith("_")]
    assert not [m for m in methods if m not in STUB_FUNCTIONS]


@pytest.mark.parametrize("name", sorted(STUB_FUNCTIONS))
def test_stub_signature_matches_the_binding(name):
    assert stub_signature(STUB_FUNCTIONS[name]) == runtime_signature(_runtime(name))


def test_the_parser_sees_a_mismatch():
    # A stub without the `threads` argument of correlation_cost must not pass.
    node = ast.parse("def correlation_cost(X, Y, out, gemm_address, workspace=None): ...").body[0]
    assert stub_signature(node) != runtime_signature(_core.correlation_cost)
