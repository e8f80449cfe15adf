"""hotalign.compare: N systems at once, against separate fits and evaluations of each pair."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import hotalign
from hotalign.comparison import METHODS, transpose_plan
from hotalign.plotting_compare import (classical_mds, cluster_order, plot_embedding,
                                       plot_matrices, plot_pair_plans)

torch = pytest.importorskip("torch")  # installed by the test extra (CPU build)

from capture_models import TinyResNet  # noqa: E402

from hotalign.capture import capture  # noqa: E402
from hotalign.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """Four captured systems of tiny random-init CNNs (two widths, two seeds each) in one parent
    folder, as ``hotalign capture MODEL... --out PARENT`` writes them."""
    parent = tmp_path_factory.mktemp("captures")
    images = torch.rand(60, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    for k, (width, seed) in enumerate([(6, 0), (6, 1), (8, 2), (10, 3)]):
        torch.manual_seed(seed)
        model = TinyResNet(width=width).eval()
        capture(model, [images[i:i + 20] for i in range(0, 60, 20)], parent / f"net{k}",
                layers="conv1,layer1,layer2,fc", progress=False)
    return parent


@pytest.fixture(scope="module")
def systems(captures):
    return {p.name: hotalign.io.load_system(p) for p in sorted(captures.iterdir())}


@pytest.fixture(scope="module")
def comparison(systems):
    return hotalign.compare(systems, n_splits=2, n_threads=2)


def test_distances_equal_separate_fits_and_scores_separate_evaluations(systems, comparison):
    names = list(systems)
    assert comparison.names == names
    for i, x in enumerate(names):
        for j, y in enumerate(names):
            if i == j:
                continue
            X, Y = systems[x].layers(), systems[y].layers()
            hot = hotalign.HOT().fit(X, Y)
            assert abs(comparison.distances[i, j] - hot.distance_) <= 1e-12
            np.testing.assert_allclose(comparison.layer_costs[x, y], hot.layer_costs_,
                                       rtol=0, atol=1e-12)
            np.testing.assert_allclose(comparison.layer_plans[x, y], hot.layer_plan_,
                                       rtol=0, atol=1e-15)
            ev = hotalign.evaluate(X, Y, methods=list(METHODS), n_splits=2)
            for m in METHODS:
                np.testing.assert_allclose(comparison.method_scores[m][:, i, j],
                                           ev.split_scores[m], rtol=0, atol=1e-12)
            assert abs(comparison.scores[i, j] - ev.mean("hot")) <= 1e-12


def test_diagonal_symmetry_and_summaries(comparison):
    D, S = comparison.distances, comparison.scores
    assert np.all(np.diag(D) == 0) and np.all(np.diag(S) == 1)
    assert comparison.distance_asymmetry <= 1e-12  # uniform marginals: (Y, X) is (X, Y)^T
    assert not np.allclose(S, S.T)  # reconstruction is directed
    np.testing.assert_array_equal(comparison.symmetric_scores, (S + S.T) / 2)
    for x, y in [("net0", "net3"), ("net2", "net1")]:
        np.testing.assert_allclose(comparison.layer_plans[x, y], comparison.layer_plans[y, x].T,
                                   atol=1e-15)
    record = json.loads(comparison.to_json())
    assert record["names"] == comparison.names
    assert np.array_equal(record["distances"]["matrix"], D)
    assert len(record["pairs"]) == 12 and set(record["baselines"]) == {"single_best",
                                                                        "pairwise_best"}
    # Pairwise-Best takes each layer's cheapest match: never above HOT's distance
    assert np.all(comparison.method_distances["pairwise_best"] <= D + 1e-12)


def test_budget_and_cache_give_identical_results(systems, comparison, tmp_path):
    budgeted = hotalign.compare(systems, n_splits=2, n_threads=1, max_layers_in_memory=3)
    cached = hotalign.compare(systems, n_splits=2, memory=tmp_path / "cache")
    again = hotalign.compare(systems, n_splits=2, memory=tmp_path / "cache")
    for other in (budgeted, cached, again):
        np.testing.assert_array_equal(other.distances, comparison.distances)
        for m in METHODS:
            np.testing.assert_array_equal(other.method_scores[m], comparison.method_scores[m])
    assert hotalign.cache.Memory(tmp_path / "cache").pairs.hits == 0  # a fresh handle
    n_pairs = comparison.params["n_layer_pairs_solved_per_split"]
    assert n_pairs == 6 * 16  # 6 unordered system pairs x 4 x 4 layers, solved once each
    assert len(list((tmp_path / "cache" / "pairs").glob("*.npz"))) <= 3 * n_pairs


def test_progress_covers_the_whole_set(systems):
    seen = []
    hotalign.compare(systems, n_splits=1, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (2 * 96, 2 * 96) and all(t == 192 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_transposed_plan_solves_the_transposed_problem():
    rng = np.random.default_rng(0)
    M = rng.random((5, 7))
    res = hotalign.solve_transport(M)
    t = transpose_plan(res)
    np.testing.assert_array_equal(t.to_dense(), res.to_dense().T)
    assert max(t.certificate(M.T).values()) < 1e-12


@pytest.mark.parametrize("bad, message", [
    ([np.zeros((5, 2))], "mapping"),
    ({"a": [np.ones((10, 2))]}, "at least two"),
])
def test_bad_systems(bad, message):
    with pytest.raises(ValueError, match=message):
        hotalign.compare(bad)


def test_bad_arguments():
    X, Y, _ = hotalign.datasets.make_hierarchy(60, (4, 4), (4, 4), random_state=0)
    with pytest.raises(ValueError, match="unknown keyword"):
        hotalign.compare({"a": X, "b": Y}, rotation=True)
    with pytest.raises(ValueError, match="method"):
        hotalign.compare({"a": X, "b": Y}, method="CKA")
    with pytest.raises(ValueError, match="rows"):
        hotalign.compare({"a": X, "b": [B[:50] for B in Y]})


def test_mds_and_clustering():
    rng = np.random.default_rng(1)
    pts = rng.standard_normal((6, 2))
    D = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    Y = classical_mds(D)
    np.testing.assert_allclose(np.linalg.norm(Y[:, None] - Y[None], axis=2), D, atol=1e-10)
    D2 = np.full((4, 4), 1.0) - np.eye(4)
    D2[0, 2] = D2[2, 0] = D2[1, 3] = D2[3, 1] = 0.1
    order = cluster_order(D2)
    assert abs(order.index(0) - order.index(2)) == 1 and abs(order.index(1) - order.index(3)) == 1


def _drawn_texts(fig):
    """Every text the figure draws: titles, axis labels, tick labels inside the view
    limits, cell texts, legend entries."""
    out = [fig._suptitle] if fig._suptitle is not None else []
    for ax in fig.axes:
        out += [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            out += [t.label1 for t in axis.get_major_ticks()
                    if lo - 1e-9 <= t.get_loc() <= hi + 1e-9]
        if ax.get_legend() is not None:
            out += ax.get_legend().get_texts()
    return out


@pytest.mark.parametrize("order", ["given", "cluster"])
def test_figures_have_names_and_no_overlapping_or_clipped_text(comparison, order):
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for fig in (plot_matrices(comparison, order=order), plot_embedding(comparison),
                plot_pair_plans(comparison, order=order)):
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        texts = [t for t in _drawn_texts(fig) if t.get_visible() and t.get_text().strip()]
        drawn = " ".join(t.get_text() for t in texts)
        assert all(name in drawn for name in comparison.names)
        page = fig.bbox
        boxes = [t.get_window_extent(renderer) for t in texts]
        for t, b in zip(texts, boxes):
            assert page.x0 - 1 <= b.x0 and b.x1 <= page.x1 + 1, t.get_text()
            assert page.y0 - 1 <= b.y0 and b.y1 <= page.y1 + 1, t.get_text()
        for a in range(len(boxes)):
            for c in range(a + 1, len(boxes)):
                if boxes[a].width and boxes[c].width:
                    assert not boxes[a].overlaps(boxes[c]), (texts[a].get_text(),
                                                             texts[c].get_text())


def test_cell_text_contrasts_with_its_cell(comparison):
    pytest.importorskip("matplotlib")
    from matplotlib.colors import to_rgb

    fig = plot_matrices(comparison)
    for ax in fig.axes[:2]:
        image = ax.images[0]
        for t in ax.texts:
            j, i = (int(round(v)) for v in t.get_position())
            r, g, b = image.cmap(image.norm(image.get_array()[i, j]))[:3]
            cell = 0.2126 * r + 0.7152 * g + 0.0722 * b
            text = to_rgb(t.get_color())
            assert abs(cell - (0.2126 * text[0] + 0.7152 * text[1] + 0.0722 * text[2])) > 0.4


def test_cli_writes_the_files(captures, comparison, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compare", str(captures), "--out", str(out), "--splits", "2",
                 "--order", "cluster", "--quiet"]) == 0
    record = json.loads((out / "comparison.json").read_text())
    assert record["names"] == comparison.names
    np.testing.assert_array_equal(record["scores"]["matrix"], comparison.scores)
    np.testing.assert_array_equal(record["distances"]["matrix"], comparison.distances)
    for name in ("comparison_matrices", "embedding", "layer_plans"):
        assert (out / f"{name}.png").stat().st_size > 0
    files = [str(captures / n) for n in comparison.names[:2]]
    assert main(["compare", *files, "--names", "a,a", "--out", str(tmp_path / "o")]) == 2
    assert "same name" in capsys.readouterr().err
    assert main(["compare", files[0], "--out", str(tmp_path / "o")]) == 2


def _run(argv, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE",)}
    return subprocess.Popen([sys.executable, "-m", "hotalign.cli", *argv], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_killed_compare_resumes_with_identical_results(tmp_path):
    rng = np.random.default_rng(5)  # random layers: ~20 ms per pair
    for k in range(3):
        np.savez(tmp_path / f"s{k}.npz", **{f"l{i}": rng.standard_normal((300, 384), np.float32)
                                           for i in range(4)})
    argv = ["compare", "s0.npz", "s1.npz", "s2.npz", "--splits", "1", "--threads", "1",
            "--quiet", "--figure-format", "svg"]  # two grids (split, all rows) of 48 pairs
    proc = _run(argv + ["--out", "killed"], tmp_path)
    pairs = tmp_path / "killed" / "cache" / "pairs"
    deadline = time.monotonic() + 120
    while (len(list(pairs.glob("*.npz"))) < 5 if pairs.is_dir() else True) and \
            proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "comparison.json").exists()
    done = len(list(pairs.glob("*.npz")))
    assert 0 < done < 96
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(argv + ["--out", "killed", "--resume"]) == 0
        assert main(argv + ["--out", "clean"]) == 0
    finally:
        os.chdir(cwd)
    a, b = (json.loads((tmp_path / d / "comparison.json").read_text()) for d in ("killed",
                                                                                  "clean"))
    assert a["run"]["cache"]["layer_pairs"]["hits"] == done
    assert b["run"]["cache"]["layer_pairs"]["hits"] == 0
    for key in ("names", "distances", "scores", "baselines", "pairs"):
        assert a[key] == b[key], key


# -- HOT.predict on extreme finite inputs --------------------------------------------------------


@pytest.mark.parametrize("where", ["all", "one"])
def test_predict_on_float_max_is_an_error_and_scores_stay_finite(where):
    X, Y, _ = hotalign.datasets.make_hierarchy(100, (6, 6), (6, 6), random_state=0)
    hot = hotalign.HOT().fit(X, Y)
    big = np.finfo(np.float64).max
    Y2 = [B.copy() for B in Y]
    if where == "all":
        Y2[0][::2], Y2[0][1::2] = big, -big
    else:
        Y2[0][0, 0] = big
    with pytest.raises(ValueError, match=r"Y\[0\].*too far from the training mean"):
        hot.predict(Y2)
    scores = hot.layer_scores(X, Y2)  # correlations: the unit-norm scale, finite
    assert np.isfinite(scores).all()
    refit = hotalign.HOT().fit(X, Y2)  # fitted on such rows: finite z-scores and predictions
    assert all(np.isfinite(P).all() for P in refit.predict(Y2))


def test_bench_compare_runs_and_agrees_with_the_loop(capsys):
    from hotalign.bench import compare as bench

    r = bench.run(n_systems=3, n_stimuli=60, widths=(6, 8), n_splits=1, repeats=1)
    assert r["max_distance_difference"] <= 1e-12 and r["max_score_difference"] <= 1e-12
    assert r["loop_seconds"] > 0 and r["compare_seconds"] > 0
    assert bench.main(["--quick", "--systems", "2", "--splits", "1"]) == 0
    assert "| 2 |" in capsys.readouterr().out


def test_capture_is_an_attribute_and_import_stays_torch_free():
    code = ("import sys, hotalign; assert 'torch' not in sys.modules; "
            "assert callable(hotalign.capture.capture) and callable(hotalign.compare)")
    subprocess.run([sys.executable, "-c", code], check=True)
