"""Figures of a :class:`hotalign.Comparison` (optional: ``pip install 'hotalign[plot]'``).

- :func:`plot_matrices`: heatmaps of the distance and score matrices, names on both axes, in
  the order given or clustered (:func:`cluster_order`);
- :func:`plot_embedding`: the systems in 2-D, classical MDS (:func:`classical_mds`) of the
  symmetrised distance;
- :func:`plot_pair_plans`: one small layer-plan thumbnail per ordered pair, in a grid.

Like :mod:`hotalign.plotting`, every function returns a Figure built without pyplot; write it
with :func:`hotalign.plotting.save` (the link-safe atomic write).
"""

from __future__ import annotations

import numpy as np

from ._validation import check_choice
from .plotting import _figure

__all__ = ["classical_mds", "cluster_order", "plot_embedding", "plot_matrices",
           "plot_pair_plans"]

#: Longest system name drawn in full (longer ones are shortened with an ellipsis).
MAX_LABEL = 24
#: Largest N whose heatmap cells get their value written in them.
MAX_ANNOTATED = 12


def classical_mds(D, n_components=2) -> np.ndarray:
    """Classical (Torgerson) multidimensional scaling of a symmetric distance matrix.

    Parameters
    ----------
    D : ndarray, shape (N, N)
        Symmetric distances with a zero diagonal.
    n_components : int
        Output dimension.

    Returns
    -------
    ndarray, shape (N, n_components)
        Coordinates whose Euclidean distances approximate ``D`` (exactly when ``D`` is
        Euclidean); axes by decreasing eigenvalue, each with its largest-magnitude coordinate
        positive (a deterministic sign). Dimensions with a non-positive eigenvalue are 0.
    """
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1] or not np.isfinite(D).all():
        raise ValueError(f"D must be a finite square matrix, got shape {D.shape}")
    N = D.shape[0]
    J = np.eye(N) - 1.0 / N
    B = -0.5 * J @ (D ** 2) @ J
    B = (B + B.T) / 2
    values, vectors = np.linalg.eigh(B)
    order = np.argsort(values)[::-1][:n_components]
    values, vectors = values[order], vectors[:, order]
    coords = vectors * np.sqrt(np.clip(values, 0.0, None))
    for k in range(coords.shape[1]):
        if coords[np.argmax(np.abs(coords[:, k])), k] < 0:
            coords[:, k] *= -1
    if coords.shape[1] < n_components:
        coords = np.hstack([coords, np.zeros((N, n_components - coords.shape[1]))])
    return coords


def cluster_order(D) -> list[int]:
    """Leaf order of average-linkage hierarchical clustering (SciPy) of a symmetric distance
    matrix: similar systems end up next to each other."""
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    D = np.asarray(D, dtype=np.float64)
    if D.shape[0] <= 2:
        return list(range(D.shape[0]))
    condensed = squareform(np.clip((D + D.T) / 2, 0.0, None), checks=False)
    Z = optimal_leaf_ordering(linkage(condensed, method="average"), condensed)
    return [int(i) for i in leaves_list(Z)]


def system_order(comparison, order="given") -> list[int]:
    """Indices of the systems in ``order`` (``"given"`` or ``"cluster"``)."""
    order = check_choice(order, "order", ("given", "cluster"))
    if order == "given":
        return list(range(len(comparison.names)))
    return cluster_order(comparison.symmetric_distances)


def _short(name: str) -> str:
    return name if len(name) <= MAX_LABEL else name[:MAX_LABEL - 1] + "\u2026"


def _text_color(cmap, norm, value) -> str:
    """Black on light cells, white on dark ones (the cell colour's relative luminance)."""
    r, g, b, _ = cmap(norm(value))
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "white"


def _matrix_panel(ax, A, labels, cmap_name, title, colorbar_label, vmin=None, vmax=None):
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    N = A.shape[0]
    cmap = colormaps[cmap_name]
    finite = A[np.isfinite(A)]
    norm = Normalize(vmin=finite.min() if vmin is None else vmin,
                     vmax=finite.max() if vmax is None else vmax)
    im = ax.imshow(A, cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_xticks(range(N), labels=labels, rotation=45 if N > 2 else 0,
                  ha="right" if N > 2 else "center", rotation_mode="anchor")
    ax.set_yticks(range(N), labels=labels)
    if N <= MAX_ANNOTATED:
        size = 8 if N <= 6 else 6
        for i in range(N):
            for j in range(N):
                ax.text(j, i, f"{A[i, j]:.2f}", ha="center", va="center", fontsize=size,
                        color=_text_color(cmap, norm, A[i, j]))
    ax.set_title(title, fontsize=10)
    ax.figure.colorbar(im, ax=ax, label=colorbar_label, shrink=0.8)
    return im


def plot_matrices(comparison, *, order="given"):
    """Heatmaps of ``distances`` (lower = more alike) and ``scores`` (row system reconstructed
    from column system; higher = better), in ``order`` (``"given"`` or ``"cluster"``)."""
    idx = system_order(comparison, order)
    labels = [_short(comparison.names[i]) for i in idx]
    N = len(idx)
    side = min(2.5 + 0.45 * N, 10)
    fig = _figure(2 * side + 2.0, side + 0.6)
    sub = np.ix_(idx, idx)
    axes = fig.subplots(1, 2)
    _matrix_panel(axes[0], comparison.distances[sub], labels, "viridis",
                  "HOT distance <C, P>", "lower = more alike", vmin=0.0)
    _matrix_panel(axes[1], comparison.scores[sub], labels, "magma",
                  "held-out score (row from column)", "higher = better")
    axes[0].set_ylabel("system (X)")
    axes[1].set_ylabel("reconstructed system (X)")
    for ax in axes:
        ax.set_xlabel("system (Y)")
    return fig


def plot_embedding(comparison):
    """The systems in 2-D: classical MDS of the symmetrised distances; each system a marker,
    named in the legend (outside the axes, so no name covers a point or another name)."""
    coords = classical_mds(comparison.symmetric_distances, 2)
    N = len(comparison.names)
    fig = _figure(6.5, 4.2)
    ax = fig.add_subplot()
    from matplotlib import colormaps

    colors = colormaps["tab20" if N > 10 else "tab10"]
    markers = "osD^vP*Xhp<>"
    for i, name in enumerate(comparison.names):
        ax.scatter(coords[i, 0], coords[i, 1], s=60, color=colors(i % colors.N),
                   marker=markers[(i // colors.N) % len(markers)], label=_short(name),
                   edgecolor="black", linewidth=0.5)
    ax.set_xlabel("MDS 1")
    ax.set_ylabel("MDS 2")
    ax.set_title("systems by HOT distance (classical MDS)", fontsize=10)
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False,
              ncols=1 if N <= 14 else 2)
    return fig


def plot_pair_plans(comparison, *, order="given"):
    """One thumbnail of ``L x P`` (rows sum to 1) per ordered pair: row i, column j is system i
    (X, thumbnail rows) against system j (Y, thumbnail columns); the diagonal is empty."""
    idx = system_order(comparison, order)
    names = comparison.names
    N = len(idx)
    cell = 1.1 if N <= 8 else 0.8
    fig = _figure(1.2 + cell * N, 0.9 + cell * N)
    axes = np.asarray(fig.subplots(N, N, squeeze=False))
    for r, i in enumerate(idx):
        for c, j in enumerate(idx):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if i != j:
                P = comparison.layer_plans[names[i], names[j]]
                ax.imshow(P * P.shape[0], cmap="viridis", vmin=0.0, vmax=1.0,
                          interpolation="nearest", aspect="auto")
            else:
                for spine in ax.spines.values():
                    spine.set_visible(False)
            if c == 0:
                ax.set_ylabel(_short(names[i]), fontsize=7, rotation=0, ha="right",
                              va="center")
            if r == 0:
                ax.set_title(_short(names[j]), fontsize=7, rotation=90, ha="center",
                             va="bottom")
    fig.suptitle("layer plans L x P (rows: X layers, columns: Y layers)", fontsize=9)
    return fig
