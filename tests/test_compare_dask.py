"""hotalign.compare on a Dask cluster: the same matrices as the local thread pool."""

import numpy as np
import pytest

pytest.importorskip("dask.distributed")

from dask.distributed import Client, LocalCluster  # noqa: E402

import hotalign  # noqa: E402
from hotalign.comparison import METHODS  # noqa: E402
from hotalign.distributed import DaskBackend  # noqa: E402


@pytest.mark.slow
def test_compare_on_a_cluster_is_identical():
    systems = {f"s{k}": hotalign.datasets.make_hierarchy(120, (9, 12), (9, 12),
                                                         random_state=k)[0] for k in range(3)}
    local = hotalign.compare(systems, n_splits=2, n_threads=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0", host="127.0.0.1") as cluster, \
            Client(cluster) as client:
        remote = hotalign.compare(systems, n_splits=2, backend=DaskBackend(client))
    np.testing.assert_array_equal(remote.distances, local.distances)
    for m in METHODS:
        np.testing.assert_array_equal(remote.method_scores[m], local.method_scores[m])
