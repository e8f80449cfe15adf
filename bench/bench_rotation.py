"""HOT+R: the numba alternation against a plain NumPy + POT alternation (issue 6).

Configuration: 6 x 12 layers, n = 384 units each, T = 2000 rows, 10 rounds per pair (the stop
rule is disabled so both run exactly 10 rounds; the objective traces are checked equal to 1e-10).
Runs are interleaved, medians reported. The machinery is
:func:`hotalign.bench.rotation.run_rotation` (also ``hotalign bench pipeline --only rotation``).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_rotation.py [--repeats 3]
        [--plain-pairs 12] [--llm] [--out rotation.json]

``--plain-pairs k`` times the plain alternation on the first k pairs of the grid (row 0) and
hotalign on the same k pairs (ratio) and on the whole grid. ``--llm`` adds one n = 3072 pair
(T = 2000) to extrapolate a 28 x 28 LLM grid.
"""

from __future__ import annotations

import argparse
import json
import sys

from hotalign.bench.rotation import format_rotation_markdown, run_rotation


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--plain-pairs", type=int, default=12)
    ap.add_argument("--n", type=int, default=384)
    ap.add_argument("--T", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--llm", action="store_true")
    ap.add_argument("--out", default=None, help="JSON file for the results")
    args = ap.parse_args(argv)
    res = run_rotation(n=args.n, T=args.T, rounds=args.rounds, plain_pairs=args.plain_pairs,
                       repeats=args.repeats, llm=args.llm)
    print(format_rotation_markdown(res))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1, default=float)
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
