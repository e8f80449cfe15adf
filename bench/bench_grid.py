"""The layer-pair grid alone: costs + exact solves + sparse plans, 1 vs 2 threads, vs the
best off-the-shelf assembly and the GEMM floor. Same machinery and cases as bench_hot.py
(its "Grid" table); this script prints only that table.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE HOTALIGN_LAPX_PATH=/path/to/lapx \
        python bench/bench_grid.py [--quick]
"""

import argparse

from hotalign.bench_pipeline import format_pipeline_markdown, run_pipeline


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cases = ((3, 4, 64),) if args.quick else ((6, 12, 384), (12, 12, 768))
    results = run_pipeline(cases, T=400 if args.quick else 2000,
                           repeats=1 if args.quick else args.repeats, include_plain=False)
    print(format_pipeline_markdown(results).split("### HOT end to end")[0])


if __name__ == "__main__":
    main()
