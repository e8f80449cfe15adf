"""Synthetic activations with known structure, for the demo, the tests and the benchmarks."""

from __future__ import annotations

import numpy as np

from ._validation import as_sequence, check_float, check_int, check_random_state

__all__ = ["make_activation_pair", "make_depth_mismatch", "make_hierarchy"]


def make_activation_pair(n_stimuli=2000, n_units=384, m_units=None, *, n_latent=64,
                         noise=1.0, random_state=0):
    """Two layers' activations driven by one stimulus latent, Y's units a noisy permuted copy.

    Parameters
    ----------
    n_stimuli : int
        Number of stimuli T (rows).
    n_units : int
        Width n of the first layer.
    m_units : int, optional
        Width m of the second layer (default ``n_units``). Unit j of Y copies unit
        ``permutation[j]`` of a pool of ``max(n, m)`` units, of which X holds the first ``n``.
    n_latent : int
        Dimension of the shared stimulus latent.
    noise : float
        Standard deviation of Y's private noise relative to a unit's spread (0: exact copies).
    random_state : int or numpy.random.Generator

    Returns
    -------
    X : ndarray, shape (n_stimuli, n_units)
    Y : ndarray, shape (n_stimuli, m_units)
    permutation : ndarray of int64, shape (m_units,)
        ``Y[:, j]`` is a noisy copy of pool unit ``permutation[j]`` (a column of X when < n).
    """
    n_stimuli = check_int(n_stimuli, "n_stimuli", minimum=2)
    n_units = check_int(n_units, "n_units", minimum=1)
    m_units = check_int(m_units, "m_units", minimum=1, allow_none=True)
    n_latent = check_int(n_latent, "n_latent", minimum=1)
    noise = check_float(noise, "noise", low=0.0)
    rng = np.random.default_rng(check_random_state(random_state))
    m_units = n_units if m_units is None else m_units
    pool = max(n_units, m_units)
    latent = rng.standard_normal((n_stimuli, n_latent))
    units = latent @ rng.standard_normal((n_latent, pool)) / np.sqrt(n_latent)
    units += 0.5 * rng.standard_normal(units.shape)
    perm = rng.permutation(pool)[:m_units]
    Y = units[:, perm] + noise * units.std(axis=0)[perm] * rng.standard_normal((n_stimuli, m_units))
    return units[:, :n_units].copy(), Y, perm.astype(np.int64)


def make_hierarchy(n_stimuli=1000, x_widths=(64, 64, 64, 64), y_widths=(96, 96, 96, 96, 96, 96),
                   *, n_latent=16, noise=0.5, n_heavy_tailed=2, random_state=0):
    """Two synthetic "networks" that read out one stimulus latent along a processing hierarchy.

    A chain of S stages (S = min(L, M)) transforms a Gaussian stimulus latent: each stage mixes
    the previous one nonlinearly with fresh variability, so adjacent stages are related but
    distinct. Each stage owns a pool of units with random tuning to its latent. A layer sits at
    a position ``p`` in [0, S-1] (evenly spaced over its network's depth); each of its units is
    drawn from stage ``floor(p)`` or ``ceil(p)`` with probability given by the fractional part,
    as a deeper network spreads a stage over several neighbouring layers. Units are a random
    subset of the stage pool in random order, plus private noise, and a few are heavy-tailed.
    Units of the two networks with the same stage and pool index are planted partners, and the
    planted layer map sends X layer l to the Y layer nearest in position.

    Parameters
    ----------
    n_stimuli : int
        Number of stimuli T (rows of every layer).
    x_widths, y_widths : sequence of int
        Units per layer of each network (depths L = len(x_widths), M = len(y_widths)).
    n_latent : int
        Dimension of each stage's latent.
    noise : float
        Private noise per unit, relative to the unit's spread.
    n_heavy_tailed : int
        Units per layer passed through a heavy-tailed transform (exp), as real activations have.
    random_state : int or numpy.random.Generator

    Returns
    -------
    X : list of ndarray, shapes (n_stimuli, x_widths[l])
    Y : list of ndarray, shapes (n_stimuli, y_widths[m])
    truth : dict
        ``layer_map`` (int array (L,): the planted Y layer of each X layer), ``x_position``,
        ``y_position`` (float arrays), and per layer ``x_units`` / ``y_units``: (stage, pool
        index) of every unit, an int array of shape (width, 2).
    """
    n_stimuli = check_int(n_stimuli, "n_stimuli", minimum=2)
    x_widths = _widths(x_widths, "x_widths")
    y_widths = _widths(y_widths, "y_widths")
    n_latent = check_int(n_latent, "n_latent", minimum=1)
    noise = check_float(noise, "noise", low=0.0)
    n_heavy_tailed = check_int(n_heavy_tailed, "n_heavy_tailed", minimum=0)
    rng = np.random.default_rng(check_random_state(random_state))
    L, M = len(x_widths), len(y_widths)
    S = min(L, M)

    def positions(depth):
        if depth == 1:
            return np.zeros(1)
        return np.arange(depth) * (S - 1) / (depth - 1)

    x_pos, y_pos = positions(L), positions(M)
    pool_size = max(max(x_widths), max(y_widths))
    pools = _latent_stages(rng, n_stimuli, n_latent, S, pool_size)

    def layers(widths, pos):
        out, units = [], []
        for width, p in zip(widths, pos):
            lo = int(np.floor(p + 1e-9))
            hi = min(lo + 1, S - 1)
            stage = np.where(rng.random(width) < p - lo, hi, lo)
            idx = rng.permutation(pool_size)[:width]
            A = np.stack([pools[s][:, i] for s, i in zip(stage, idx)], axis=1)
            A += noise * A.std(axis=0) * rng.standard_normal(A.shape)
            heavy = rng.choice(width, size=min(n_heavy_tailed, width), replace=False)
            A[:, heavy] = np.exp(A[:, heavy] / A[:, heavy].std(axis=0))
            out.append(A)
            units.append(np.stack([stage, idx], axis=1).astype(np.int64))
        return out, units

    X, x_units = layers(x_widths, x_pos)
    Y, y_units = layers(y_widths, y_pos)
    layer_map = np.array([int(np.argmin(np.abs(y_pos - p))) for p in x_pos], dtype=np.int64)
    truth = {
        "layer_map": layer_map,
        "x_position": x_pos,
        "y_position": y_pos,
        "x_units": x_units,
        "y_units": y_units,
    }
    return X, Y, truth


def make_depth_mismatch(n_stimuli=1000, deep_depth=12, shallow_depth=4, width=48, *,
                        groups=None, n_latent=16, noise=0.5, shallow_noise=0.5,
                        random_state=0):
    """A deep network Y and a shallow network X whose layers each average several of Y's.

    Y is a chain of ``deep_depth`` layers: each layer reads out its own stage of a stimulus
    latent that is transformed nonlinearly, with fresh variability, from stage to stage (so
    adjacent layers are related but distinct), plus private noise. Layer l of X averages the
    noise-free layers of its group ``groups[l]`` (consecutive layers of Y): its unit i is the
    mean over m in the group of a unit of Y_m (a random one per layer, in random order), plus
    private noise. Groups of different sizes, and layers of Y in no group, make the uniform
    column marginal of HOT's layer plan wrong: this is the depth mismatch of
    docs/method.md, "Relaxed layer marginals". ``groups=[[m] for m in range(deep_depth)]``
    (or ``shallow_depth == deep_depth`` with ``groups=None``) gives an equal-depth control.

    Parameters
    ----------
    n_stimuli : int
        Number of stimuli T.
    deep_depth : int
        Layers M of Y (>= 1).
    shallow_depth : int
        Layers L of X when ``groups`` is None (1 <= L <= M).
    width : int
        Units per layer of both networks.
    groups : sequence of sequences of int, optional
        Layers of Y that each layer of X averages. Default: Y's layers cut into
        ``shallow_depth`` consecutive groups of random sizes (each >= 1, seeded), every
        layer of Y in one group.
    n_latent : int
        Dimension of each stage's latent.
    noise : float
        Private noise of Y's units, relative to a unit's spread.
    shallow_noise : float
        Private noise of X's units, relative to a unit's spread.
    random_state : int or numpy.random.Generator

    Returns
    -------
    X : list of ndarray, shapes (n_stimuli, width)
    Y : list of ndarray, shapes (n_stimuli, width)
    truth : dict
        ``groups`` (list of int arrays), ``weights`` (L x M: 1 / ``|group|`` on each group, the
        planted mixture of Y's layers in each layer of X).
    """
    n_stimuli = check_int(n_stimuli, "n_stimuli", minimum=2)
    M = check_int(deep_depth, "deep_depth", minimum=1)
    width = check_int(width, "width", minimum=1)
    n_latent = check_int(n_latent, "n_latent", minimum=1)
    noise = check_float(noise, "noise", low=0.0)
    shallow_noise = check_float(shallow_noise, "shallow_noise", low=0.0)
    rng = np.random.default_rng(check_random_state(random_state))
    if groups is None:
        L = check_int(shallow_depth, "shallow_depth", minimum=1, maximum=M)
        cuts = np.sort(rng.choice(np.arange(1, M), size=L - 1, replace=False))
        groups = np.split(np.arange(M), cuts)
    else:
        groups = [np.array([check_int(m, f"groups[{l}][{k}]", minimum=0, maximum=M - 1)
                            for k, m in enumerate(as_sequence(g, f"groups[{l}]",
                                                              "a list of layers of Y",
                                                              numbers_ok=True))],
                           dtype=np.int64)
                  for l, g in enumerate(as_sequence(groups, "groups", "a list of groups"))]
        if not groups or any(g.size == 0 for g in groups):
            raise ValueError("groups must name at least one group, each with at least one "
                             "layer of Y")
    clean = _latent_stages(rng, n_stimuli, n_latent, M, width)

    def noisy(A, level):
        return A + level * A.std(axis=0) * rng.standard_normal(A.shape)

    Y = [noisy(A, noise) for A in clean]
    X = [noisy(np.mean([clean[m][:, rng.permutation(width)] for m in g], axis=0),
               shallow_noise) for g in groups]
    weights = np.zeros((len(groups), M))
    for l, g in enumerate(groups):
        weights[l, g] = 1.0 / g.size
    return X, Y, {"groups": [np.asarray(g, dtype=np.int64) for g in groups],
                  "weights": weights}


def _widths(widths, name):
    """Layer widths: a non-empty list of integers >= 1."""
    out = [check_int(w, f"{name}[{k}]", minimum=1)
           for k, w in enumerate(as_sequence(widths, name, "a list of layer widths",
                                             numbers_ok=True))]
    if not out:
        raise ValueError(f"{name} is empty: x_widths and y_widths must each name at least one "
                         "layer")
    return tuple(out)


def _latent_stages(rng, n_stimuli, n_latent, depth, width):
    """``depth`` stages of a latent chain, each read out by ``width`` leaky-ReLU units:
    stage k drives its units from latent state k, and the state moves on by a random rotation,
    a tanh and fresh noise (the shared generator of :func:`make_hierarchy` and
    :func:`make_depth_mismatch`; ``rng`` is drawn in this order)."""
    latent = rng.standard_normal((n_stimuli, n_latent))
    stages = []
    for _ in range(depth):
        drive = latent @ (rng.standard_normal((n_latent, width)) / np.sqrt(n_latent))
        stages.append(np.maximum(drive, 0.0) + 0.1 * drive)
        mix = np.linalg.qr(rng.standard_normal((n_latent, n_latent)))[0]
        latent = np.tanh(latent @ mix) + 0.6 * rng.standard_normal(latent.shape)
        latent /= latent.std(axis=0)
    return stages
