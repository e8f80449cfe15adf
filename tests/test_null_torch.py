"""The permutation null on tiny random-init torch models captured with hotalign.capture: a pair
that shares nothing gets a large p-value, a related pair a small one (fixed seeds)."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from capture_models import TinyResNet  # noqa: E402

from hotalign import evaluate  # noqa: E402
from hotalign.capture import capture  # noqa: E402
from hotalign.io import load_system  # noqa: E402

N_NULL = 39
LAYERS = "conv1,layer1,layer2,fc"


def _model(seed):
    torch.manual_seed(seed)
    return TinyResNet(width=8)


def _images(seed, n=120):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 16, 16, generator=g)


def _captured(model, images, out):
    capture(model, [images[i:i + 40] for i in range(0, len(images), 40)], out, layers=LAYERS,
            n_stimuli=len(images), device="cpu", dtype="float64", progress=False)
    return load_system(out).layers()


def _null(X, Y):
    return evaluate(X, Y, n_splits=2, n_null=N_NULL, random_state=0).to_dict()["null"]


@pytest.mark.slow
def test_null_separates_unrelated_from_related_models(tmp_path):
    images = _images(0)
    a = _captured(_model(0), images, tmp_path / "a")
    # shares nothing: an independent init seeing independent stimuli
    independent = _captured(_model(1), _images(1), tmp_path / "independent")
    # shares: the same model with small weight noise, on the same stimuli
    noisy = copy.deepcopy(_model(0))
    with torch.no_grad():
        g = torch.Generator().manual_seed(2)
        for p in noisy.parameters():
            p.add_(0.05 * p.std() * torch.randn(p.shape, generator=g, dtype=p.dtype))
    related = _captured(noisy, images, tmp_path / "related")

    unrelated_null, related_null = _null(a, independent), _null(a, related)
    for key in ("hot_score", "distance"):
        assert unrelated_null[key]["p_value"] > 0.1, unrelated_null[key]
        assert related_null[key]["p_value"] == pytest.approx(1 / (N_NULL + 1)), related_null[key]
    lo, hi = unrelated_null["hot_score"]["range_95"]
    assert lo - 0.05 <= unrelated_null["hot_score"]["observed"] <= hi + 0.05
    assert related_null["hot_score"]["observed"] > related_null["hot_score"]["range_95"][1]
    # deterministic: the same seeds give the same null
    np.testing.assert_array_equal(_null(a, independent)["hot_score"]["values"],
                                  unrelated_null["hot_score"]["values"])
