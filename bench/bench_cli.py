"""The tool around the method: `hotalign align` against the Python API it calls, and the Dask
backend (2-worker LocalCluster) against the local thread pool, on 12 x 12 layers of 768 units,
T=2000 (issue 7's case). Medians of interleaved runs.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_cli.py [--repeats 3]

The CLI run does what the API call does (2 random splits of evaluate + a fit on all rows), plus
what only the tool does: input hashing, per-pair cache entries, results.json, plans.npz and the
figures.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import hotalign
from hotalign import distributed


def api_run(x_path, y_path):
    X = [np.asarray(a) for a in np.load(x_path).values()]
    Y = [np.asarray(a) for a in np.load(y_path).values()]
    hotalign.evaluate(X, Y, n_splits=2, test_size=0.2, random_state=0)
    hotalign.HOT().fit(X, Y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hotalign-bench-cli-"))
    X, Y, _ = hotalign.datasets.make_hierarchy(2000, (768,) * 12, (768,) * 12, random_state=0)
    np.savez(tmp / "X.npz", **{f"layer_{i}": a for i, a in enumerate(X)})
    np.savez(tmp / "Y.npz", **{f"layer_{i}": a for i, a in enumerate(Y)})
    cli = [sys.executable, "-m", "hotalign.cli", "align", str(tmp / "X.npz"), str(tmp / "Y.npz"),
           "--out", str(tmp / "out"), "--splits", "2", "--quiet"]
    here, xp, yp = str(Path(__file__).parent), str(tmp / "X.npz"), str(tmp / "Y.npz")
    api = [sys.executable, "-c",
           f"import sys; sys.path.insert(0, {here!r}); import bench_cli; "
           f"bench_cli.api_run({xp!r}, {yp!r})"]
    times = {"cli": [], "api": []}
    for _ in range(args.repeats):  # interleaved, each in a fresh process (imports included)
        for name, cmd in (("cli", cli), ("api", api)):
            shutil.rmtree(tmp / "out", ignore_errors=True)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t0)
    cli_t, api_t = statistics.median(times["cli"]), statistics.median(times["api"])
    print(f"| 12x12, n=768, T=2000, 2 splits + full fit | hotalign align | Python API | "
          f"overhead |\n|---|---|---|---|\n| median of {args.repeats} | {cli_t:.2f} s | "
          f"{api_t:.2f} s | {100 * (cli_t / api_t - 1):+.0f}% |")

    def timed(f):
        f()
        ts = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            r = f()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts), r

    pool_t, g1 = timed(lambda: hotalign.solve_grid(X, Y, dtype="float32"))
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        dask_t, g2 = timed(lambda: distributed.solve_grid(X, Y, client=client, dtype="float32"))
    print(f"\n| solve_grid 12x12, n=768, float32 | thread pool (2 threads) | Dask LocalCluster "
          f"(2 workers) | ratio |\n|---|---|---|---|\n| median of {args.repeats} | {pool_t:.2f} s "
          f"| {dask_t:.2f} s | {dask_t / pool_t:.2f} (identical C: "
          f"{np.array_equal(g1.costs, g2.costs)}) |")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
