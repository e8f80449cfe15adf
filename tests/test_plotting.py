"""Tests of ``hotalign.plotting``: every figure renders to valid PNG, SVG and PDF files."""

import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

from hotalign import HOT, plotting
from hotalign.datasets import make_hierarchy


@pytest.fixture(scope="module")
def fitted():
    X, Y, _ = make_hierarchy(200, (12, 12, 12), (16, 16, 16, 16), random_state=0)
    return HOT().fit(X, Y)


def _figures(hot):
    L, M = hot.layer_plan_.shape
    xn, yn = [f"conv{k}" for k in range(L)], [f"block{k}" for k in range(M)]
    rng = np.random.default_rng(0)
    scores = {"hot": rng.random(L), "pairwise_best": rng.random(L), "hot_r": rng.random(L)}
    D = rng.random((4, 5))
    G = np.zeros((4, 5))
    G[np.arange(4), [0, 1, 3, 4]] = 0.25
    return {
        "plan": plotting.plot_layer_plan(hot.layer_plan_, xn, yn),
        "costs": plotting.plot_layer_costs(hot.layer_costs_, xn, yn),
        "scores": plotting.plot_layer_scores(scores, xn, errors={k: v / 10 for k, v in
                                                                 scores.items()}),
        "unit": plotting.plot_unit_plan(hot.unit_plans_[0][1], x_name="conv0", y_name="block1"),
        "coupling": plotting.plot_checkpoint_coupling(D, G),
        "marginals": plotting.plot_layer_plan_with_marginals(
            hot.layer_plan_, hot.layer_marginals_["lower"], hot.layer_marginals_["upper"],
            xn, yn),
    }


def test_figures_are_valid_pngs(tmp_path, fitted):
    for name, fig in _figures(fitted).items():
        assert isinstance(fig, Figure)
        (path,) = plotting.save(fig, tmp_path / name)
        assert path.suffix == ".png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = matplotlib.image.imread(path)
        h, w = img.shape[:2]
        assert 200 <= h <= 2000 and 300 <= w <= 2500, (name, img.shape)
        assert img[..., :3].std() > 0.05  # not a blank canvas


def test_svg_and_pdf(tmp_path, fitted):
    fig = _figures(fitted)["plan"]
    svg, pdf = plotting.save(fig, tmp_path / "plan", ("svg", "pdf"))
    assert b"<svg" in svg.read_bytes()[:1000]
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_heatmap_labels(fitted):
    fig = plotting.plot_layer_plan(fitted.layer_plan_, ["a", "b", "c"], list("wxyz"))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_xticklabels()] == list("wxyz")


def test_score_bars_named_by_method(fitted):
    fig = plotting.plot_layer_scores({"hot": [0.5, 0.6], "hot_r": [0.7, 0.8]})
    labels = [t.get_text() for t in fig.legends[0].get_texts()]  # outside the axes
    assert labels == ["HOT", "HOT+R"]
    assert "higher is better" in fig.axes[0].get_ylabel()


def test_bad_format(tmp_path, fitted):
    with pytest.raises(ValueError, match="figure format must be one of"):
        plotting.save(_figures(fitted)["plan"], tmp_path / "x", ("jpg",))


def test_marginal_bars_show_row_and_column_sums():
    X, Y, _ = make_hierarchy(200, (12, 12), (16, 16, 16, 16, 16), random_state=0)
    hot = HOT(layer_marginals="slack", slack=1.0).fit(X, Y)
    record = hot.layer_marginals_
    fig = plotting.plot_layer_plan_with_marginals(hot.layer_plan_, record["lower"],
                                                  record["upper"])
    heat, _, rows, cols, _ = fig.axes  # the heatmap, its colorbar, two bar plots, the key
    assert heat.get_title() == "Layer plan P and its marginals"
    np.testing.assert_allclose([p.get_width() for p in rows.patches], 1.0, rtol=1e-12)
    np.testing.assert_allclose([p.get_height() for p in cols.patches],
                               hot.layer_plan_.sum(axis=0) * 5, rtol=1e-12)
    with pytest.raises(ValueError, match="upper must be a real array of shape"):
        plotting.plot_layer_plan_with_marginals(hot.layer_plan_, upper=[1.0])
