"""End-to-end HOT (fit on 80% of T=2000 rows + score on 20%) and the layer-pair grid.

Compares hotalign side by side in one run with a plain NumPy + POT implementation of docs/method.md,
the best off-the-shelf assembly (float32 GEMM + lap.lapjv / lapx lapjvh per pair, index plans)
and the GEMM floor, for 6 x 12 layers of 384 units and 12 x 12 layers of 768 units.

Run (the OpenBLAS variables this machine sets halve NumPy's GEMM speed: unset both, here only):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE HOTALIGN_LAPX_PATH=/path/to/lapx \
        python bench/bench_hot.py [--quick] [--out DIR]

lapx installs a module named ``lap`` too, so keep it in its own folder
(``pip install --target DIR lapx``) and name that folder in HOTALIGN_LAPX_PATH.
"""

import argparse

from hotalign.bench.pipeline import format_pipeline_markdown, run_pipeline


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cases, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="/tmp/hotalign-bench/pipeline")
    args = parser.parse_args()
    cases = ((3, 4, 64),) if args.quick else ((6, 12, 384), (12, 12, 768))
    results = run_pipeline(cases, T=400 if args.quick else 2000,
                           repeats=1 if args.quick else args.repeats, out_dir=args.out)
    print(format_pipeline_markdown(results))


if __name__ == "__main__":
    main()
