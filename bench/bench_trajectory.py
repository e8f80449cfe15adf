"""Three-level HOT: ``TrajectoryHOT`` against calling a plain NumPy + POT two-level HOT per pair.

Configuration (issue 6): 8 x 8 checkpoints, 6 layers each, n = 384 units, T = 2000 rows. The
plain baseline standardises both checkpoints, builds every dense 1 - correlation cost and
solves it with ``ot.emd``, then the layer-level ``ot.emd``: 64 such calls. Runs are interleaved;
medians reported; D is checked equal to 1e-10. The machinery is
:func:`hotalign.bench.rotation.run_trajectory` (also ``hotalign bench pipeline --only
trajectory``).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_trajectory.py [--repeats 3]
        [--plain-pairs 8]

``--plain-pairs k`` times the plain baseline on k of the 64 checkpoint pairs and scales to 64
(every pair costs the same).
"""

from __future__ import annotations

import argparse
import sys

from hotalign.bench.rotation import format_trajectory_markdown, run_trajectory


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--plain-pairs", type=int, default=8)
    ap.add_argument("--n", type=int, default=384)
    ap.add_argument("--T", type=int, default=2000)
    args = ap.parse_args(argv)
    res = run_trajectory(n=args.n, T=args.T, plain_pairs=args.plain_pairs, repeats=args.repeats)
    print(format_trajectory_markdown(res))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
