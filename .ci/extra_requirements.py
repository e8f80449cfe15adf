"""Print the requirements of optional extras of pyproject.toml, one per line.

.ci/run installs the maintainer tools (extras ``dev`` and ``docs``) this way, so that
pyproject.toml stays their one list and hotalign itself is not built a second time. References
to hotalign's own extras (``hotalign[test]``) are left out: those are installed already.

Usage: python .ci/extra_requirements.py EXTRA [EXTRA ...]
"""

import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pip vendors a TOML reader
    from pip._vendor import tomli as tomllib

extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
extras = extras["project"]["optional-dependencies"]
for name in sys.argv[1:]:
    if name not in extras:
        sys.exit(f"pyproject.toml has no extra {name!r}")
    for requirement in extras[name]:
        if not requirement.replace(" ", "").startswith("hotalign["):
            print(requirement)
