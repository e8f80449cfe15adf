"""``python -m hotalign``: the ``hotalign`` command (see :mod:`hotalign.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
