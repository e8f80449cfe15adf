"""Every figure the CLI writes passes a check: no two drawn texts overlap, none leaves the
canvas (matplotlib's get_window_extent with the figure's renderer); cell text contrasts with
its cell; the figures of a run and of ``hotalign plot`` are the same."""

import json
from unittest import mock

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

from hotalign import plotting
from hotalign.cli import main
from hotalign.datasets import make_hierarchy


def drawn_texts(fig):
    """(text, window extent) of every non-empty text the renderer draws."""
    canvas = FigureCanvasAgg(fig)
    drawn, original = [], Text.draw

    def draw(self, renderer):
        original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)

    with mock.patch.object(Text, "draw", draw):
        canvas.draw()
    renderer = canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(renderer)) for t in drawn]


def check_figure(fig, name):
    boxes = drawn_texts(fig)
    assert boxes, name
    canvas = fig.bbox
    for text, b in boxes:
        assert b.x0 >= canvas.x0 - 0.5 and b.y0 >= canvas.y0 - 0.5 and \
            b.x1 <= canvas.x1 + 0.5 and b.y1 <= canvas.y1 + 0.5, (name, text, b, canvas)
    for i, (t1, b1) in enumerate(boxes):
        for t2, b2 in boxes[i + 1:]:
            w = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
            h = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
            assert w <= 0.5 or h <= 0.5, (name, t1, t2, b1, b2)


@pytest.fixture
def checked(monkeypatch):
    """Record (and check) every figure plotting.save writes."""
    seen = {}
    save = plotting.save

    def checking_save(fig, path, *args, **kw):
        check_figure(fig, str(path))
        seen[str(path)] = fig
        return save(fig, path, *args, **kw)

    monkeypatch.setattr(plotting, "save", checking_save)
    return seen


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    X, Y, _ = make_hierarchy(240, (16,) * 4, (20,) * 6, random_state=2)
    np.savez(d / "vision_model.npz", **{f"encoder.layer.{k}": A for k, A in enumerate(X)})
    np.savez(d / "brain.npz", **{f"V{k + 1}": B for k, B in enumerate(Y)})
    return d / "vision_model.npz", d / "brain.npz"


def test_demo_figures(tmp_path, checked):
    assert main(["demo", "--stimuli", "400", "--units", "16", "--splits", "3", "--quiet",
                 "--out", str(tmp_path)]) == 0
    assert {p.rsplit("/", 1)[1] for p in checked} == {"layer_plan", "layer_distances",
                                                     "layer_scores", "unit_plan"}


@pytest.mark.parametrize("extra", [[], ["--null", "9"], ["--rotation", "--null", "5"]])
def test_align_figures(tmp_path, pair, checked, extra):
    X, Y = pair
    out = tmp_path / "run"
    assert main(["align", str(X), str(Y), "--out", str(out), "--splits", "3", "--quiet",
                 "--no-cache", *extra]) == 0
    assert len(checked) == 4
    res = json.loads((out / "results.json").read_text())
    assert ("null" in res) == ("--null" in extra)
    plan = checked[str(out / "layer_plan")]
    assert "X (vision_model) layer" == plan.axes[0].get_ylabel()
    assert "Y (brain) layer" == plan.axes[0].get_xlabel()
    cells = [t.get_text() for t in plan.axes[0].texts]
    assert any(t.endswith("/3") for t in cells)  # agreement over the 3 splits
    scores = checked[str(out / "layer_scores")]
    labels = [t.get_text() for t in scores.legends[0].get_texts()]
    assert any(label.startswith("null") for label in labels) == ("--null" in extra)
    # `hotalign plot` redraws the same figures from the files
    checked.clear()
    assert main(["plot", str(out / "results.json"), "--out", str(tmp_path / "again"),
                 "--format", "png,pdf", "--quiet"]) == 0
    assert len(checked) == 4 and (tmp_path / "again" / "unit_plan.pdf").is_file()
    redrawn = checked[str(tmp_path / "again" / "layer_plan")]
    assert [t.get_text() for t in redrawn.axes[0].texts] == cells


def test_rotation_and_coupling_figures():
    rng = np.random.default_rng(0)
    D = rng.random((5, 6))
    G = np.zeros((5, 6))
    G[np.arange(5), [0, 1, 2, 4, 5]] = 0.2
    check_figure(plotting.plot_checkpoint_coupling(D, G, [f"step{k}" for k in range(5)],
                                                   [f"epoch{k}" for k in range(6)]), "coupling")


def _contrast(rgb, text):
    """WCAG contrast ratio of a text colour (black or white) on a cell colour."""
    c = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    lum = c @ [0.2126, 0.7152, 0.0722]
    return (lum + 0.05) / 0.05 if text == "black" else 1.05 / (lum + 0.05)


def test_cell_text_contrasts_with_its_cell():
    C = np.linspace(0, 1, 12).reshape(3, 4)
    fig = plotting.plot_layer_costs(C)
    ax = fig.axes[0]
    im = ax.images[0]
    colours = {}
    for t in ax.texts:
        m, l = (int(round(v)) for v in t.get_position())
        rgb = np.array(im.cmap(im.norm(C[l, m]))[:3])
        other = "black" if t.get_color() == "white" else "white"
        assert _contrast(rgb, t.get_color()) >= _contrast(rgb, other), (l, m, rgb)
        colours[l, m] = t.get_color()
    # magma_r: the largest distance is the darkest cell, the smallest the lightest
    assert colours[2, 3] == "white" and colours[0, 0] == "black"


def test_plot_command_errors(tmp_path):
    assert main(["plot", str(tmp_path / "missing.json")]) == 2
    bad = tmp_path / "results.json"
    bad.write_text('{"command": "trajectory"}')
    assert main(["plot", str(bad)]) == 2
    assert main(["plot", str(bad), "--format", "jpg"]) == 2


def test_one_to_one_unit_plan_shows_matched_correlations():
    from hotalign import HOT

    X, Y, _ = make_hierarchy(200, (12, 12), (12, 12), random_state=0)
    plan = HOT().fit(X, Y).unit_plans_[0][0]
    fig = plotting.plot_unit_plan(plan, x_name="X a", y_name="Y b")
    check_figure(fig, "unit_plan one-to-one")
    curve = fig.axes[0].collections[0].get_offsets()[:, 1]
    r = plotting.matched_correlations(plan)
    np.testing.assert_allclose(curve, np.sort(r)[::-1], atol=1e-12)
    # the potentials give the correlation of each matched pair
    from hotalign.costs import correlation_cost

    K = correlation_cost(X[0], Y[0])
    np.testing.assert_allclose(r, 1 - K[plan.rows, plan.cols], atol=1e-9)
