"""The cost families of the solver suite (``hotalign bench solvers``): the structure axis of
HOT costs.

Every cell of a HOT grid is a correlation cost between two layers, and how related the layers
are decides how hard the assignment is: adjacent layers give near-diagonal costs, independent
systems flat ones, and most cells lie in between. :func:`family_problem` builds one problem of
a family; :mod:`hotalign.bench.suites` measures them.

Synthetic families (seeded):

``partners-RHO`` (RHO in 0.3, 0.5, 0.7, 0.9)
    ``1 - pearson`` between two layers of T = 2000 stimuli whose units are noisy readouts of a
    rank-64 latent. Unit i of X and its partner in Y (a random permutation) have loadings
    ``sqrt(RHO) * shared_i + sqrt(1 - RHO) * fresh`` (a fresh vector on each side); private noise
    as large as the signal. Y's extra units (rectangular shapes) have no partner.
``distant-layers``
    Layer 0 against layer 6 of a synthetic network whose stage latent drifts (each stage mixes
    the previous one nonlinearly with fresh variability) and whose unit loadings drift (each
    stage keeps ``sqrt(0.8)`` of a unit's loading); units of layer 6 are permuted.
``independent``
    ``1 - pearson`` between independent Gaussian columns: flat costs near 1.
``uniform``, ``spatial``, ``logarithmic``, ``integer``, ``binary``
    SciPy's linear-assignment benchmark families (:func:`hotalign.bench.harness.cost_matrix`).

Real families (``1 - pearson`` between captured layers of pretrained networks on the same
stimuli; :mod:`hotalign.bench.real` says which units make a layer of n units):

``real-adjacent``
    all-MiniLM-L6-v2 block 2 against block 3.
``real-distant``
    all-MiniLM-L6-v2 first block against last block.
``real-cross``
    all-MiniLM-L6-v2 (6 x 384) block 2 against all-mpnet-base-v2 (12 x 768) block 5: the same
    relative depth in two models.
``vision-adjacent``, ``vision-distant``
    EfficientNet-Lite0 block 9 against block 10, and block 0 against block 15.

The rectangular shape (n x 1.5n) of each takes more units from the second layer.
"""

from __future__ import annotations

import numpy as np

from .real import REAL_FAMILIES

__all__ = ["CORRELATION_FAMILIES", "DTYPES", "FAMILIES", "FULL", "PARTNER_RHOS", "QUICK",
           "REAL_FAMILIES", "SCIPY_FAMILIES", "SHAPES", "SYNTHETIC_FAMILIES", "family_problem"]

PARTNER_RHOS = (0.3, 0.5, 0.7, 0.9)
SYNTHETIC_FAMILIES = tuple(f"partners-{r}" for r in PARTNER_RHOS) + (
    "distant-layers", "independent")
#: families whose cost is ``1 - pearson`` between two layers (their activations are kept)
CORRELATION_FAMILIES = SYNTHETIC_FAMILIES + REAL_FAMILIES
SCIPY_FAMILIES = ("uniform", "spatial", "logarithmic", "integer", "binary")
FAMILIES = CORRELATION_FAMILIES + SCIPY_FAMILIES
SHAPES = ("square", "rect")
DTYPES = ("float64", "float32")
N_STIMULI = 2000
N_LATENT = 64

#: The quick default and the full configuration of ``hotalign bench solvers``.
QUICK = {"sizes": [384, 768], "shapes": ["square", "rect"], "dtypes": ["float64"],
         "families": list(FAMILIES), "repeats": 5, "time_budget": 2.0}
FULL = {"sizes": [384, 768, 1536, 2000, 3072], "shapes": ["square", "rect"],
        "dtypes": ["float64", "float32"], "families": list(FAMILIES), "repeats": 7,
        "time_budget": 4.0}


def _noisy_readout(Z, W, rng):
    """Units Z @ W / sqrt(k) plus private noise of the same variance (T x units)."""
    signal = Z @ W / np.sqrt(W.shape[0])
    return signal + rng.standard_normal(signal.shape)


def _partners(n, m, rho, rng):
    Z = rng.standard_normal((N_STIMULI, N_LATENT))
    shared = rng.standard_normal((N_LATENT, m))
    wx = np.sqrt(rho) * shared[:, :n] + np.sqrt(1.0 - rho) * rng.standard_normal((N_LATENT, n))
    wy = np.sqrt(rho) * shared + np.sqrt(1.0 - rho) * rng.standard_normal((N_LATENT, m))
    wy[:, n:] = rng.standard_normal((N_LATENT, m - n))  # extra units: no partner
    return _noisy_readout(Z, wx, rng), _noisy_readout(Z, wy[:, rng.permutation(m)], rng)


def _distant_layers(n, m, rng, depth=6, keep=0.8):
    Z = rng.standard_normal((N_STIMULI, N_LATENT))
    W = rng.standard_normal((N_LATENT, m))
    X = _noisy_readout(Z, W[:, :n], rng)
    for _ in range(depth):
        mix = np.linalg.qr(rng.standard_normal((N_LATENT, N_LATENT)))[0]
        Z = np.tanh(Z @ mix) + 0.6 * rng.standard_normal(Z.shape)
        Z /= Z.std(axis=0)
        W = np.sqrt(keep) * W + np.sqrt(1.0 - keep) * rng.standard_normal(W.shape)
    return X, _noisy_readout(Z, W[:, rng.permutation(m)], rng)


def family_problem(family, n, m, dtype="float64", seed=0, data_dir=None):
    """The seeded cost matrix of one family, and its activations for correlation families.

    Parameters
    ----------
    family : str
        One of :data:`FAMILIES`.
    n, m : int
        Shape of the cost matrix (units of X and of Y).
    dtype : {"float64", "float32"}
        dtype of the returned C-contiguous cost matrix (and activations).
    seed : int
        Base seed; each (family, n, m) derives its own (the real families have none: their
        layers are what the captured networks computed).
    data_dir : path, optional
        Folder of the captures of the real families (:mod:`hotalign.bench.real`).

    Returns
    -------
    C : ndarray, shape (n, m)
    layers : tuple (X (T, n), Y (T, m)) or None
        The activations behind a correlation family (``C = correlation_cost(X, Y)``).

    Raises
    ------
    hotalign.bench.real.RealUnavailable
        A real family whose model packages are not installed.
    """
    from .harness import cost_matrix
    from ..costs import correlation_cost

    if family not in FAMILIES:
        raise ValueError(f"families: unknown value {family!r}; choose from {', '.join(FAMILIES)}")
    dtype = np.dtype(dtype)
    rng = np.random.default_rng([seed, n, m, FAMILIES.index(family)])
    if family in REAL_FAMILIES:
        from .real import real_pair

        X, Y = real_pair(family, n, m, data_dir)
    elif family.startswith("partners-"):
        X, Y = _partners(n, m, float(family.split("-", 1)[1]), rng)
    elif family == "distant-layers":
        X, Y = _distant_layers(n, m, rng)
    elif family == "independent":
        X, Y = rng.standard_normal((N_STIMULI, n)), rng.standard_normal((N_STIMULI, m))
    else:
        return np.ascontiguousarray(cost_matrix(family, n, m, rng), dtype=dtype), None
    X, Y = X.astype(dtype), Y.astype(dtype)
    return np.ascontiguousarray(correlation_cost(X, Y, dtype=dtype)), (X, Y)
