"""Figures of ``hotalign bench solvers``: ``families.png`` (the family suite) and ``solvers.png``
(the ``--costs`` scaling run). Both need matplotlib; without it they return a note instead."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["draw_families", "families_figure", "ratio_cells", "solvers_figure"]

_NOTE = "Plot skipped: matplotlib is not installed."


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def ratio_cells(results):
    """``{(dtype, shape): (families, sizes, R)}`` from family-suite results: R[i, j] is best peer
    / hotalign for family i at size j (NaN where not measured), sizes as ``"n x m"``."""
    panels = {}
    for p in results["problems"]:
        shape = "square" if p["n"] == p["m"] else "rect"
        panels.setdefault((p["dtype"], shape), []).append(p)
    out = {}
    for key, probs in panels.items():
        families = list(dict.fromkeys(p["family"] for p in probs))
        sizes = sorted({(p["n"], p["m"]) for p in probs})
        R = np.full((len(families), len(sizes)), np.nan)
        for p in probs:
            if p.get("ratio"):
                R[families.index(p["family"]), sizes.index((p["n"], p["m"]))] = p["ratio"]
        out[key] = (families, [f"{n} x {m}" for n, m in sizes], R)
    return out


def families_figure(results, path):
    """Write :func:`draw_families` to ``path`` (PNG); None, or a note saying why not."""
    plt = _pyplot()
    if plt is None:
        return _NOTE
    fig = draw_families(results)
    if fig is None:
        return "Plot skipped: no measurements."
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return None


def draw_families(results):
    """A heat map of best exact peer / hotalign (family x size), one panel per dtype and shape:
    a matplotlib Figure, or None when nothing was measured.

    The colour scale is diverging and centred at 1.0 (log scale, symmetric: blue where hotalign
    is faster, red where a peer is); every cell prints its ratio, in black or white by the
    cell's luminance (grey "—" where not measured). The figure grows with the families and
    sizes, so that no text overlaps or leaves the canvas.
    """
    plt = _pyplot()
    cells = ratio_cells(results)
    if plt is None or not cells:
        return None
    from matplotlib.colors import Normalize

    order = sorted(cells, key=lambda k: (k[0] != "float64", k[1] != "square", k))
    finite = np.concatenate([np.log2(c[2][np.isfinite(c[2])]) for c in cells.values()])
    span = max(float(np.abs(finite).max(initial=0.0)), np.log2(1.5))
    norm = Normalize(-span, span)
    cmap = plt.get_cmap("RdBu")
    dtypes = list(dict.fromkeys(k[0] for k in order))
    shapes = list(dict.fromkeys(k[1] for k in order))
    rows = max(len(c[0]) for c in cells.values())
    cols = max(len(c[1]) for c in cells.values())
    label_w = 0.075 * max(len(f) for c in cells.values() for f in c[0]) + 0.3
    panel_w, panel_h = label_w + 0.95 * cols + 0.3, 0.3 * rows + 1.3
    height = max(panel_h * len(dtypes), 3.2)
    fig, axes = plt.subplots(len(dtypes), len(shapes), squeeze=False, layout="constrained",
                             figsize=(panel_w * len(shapes) + 1.3, height))
    for ax in axes.flat:
        ax.set_visible(False)
    for key in order:
        families, sizes, R = cells[key]
        ax = axes[dtypes.index(key[0]), shapes.index(key[1])]
        ax.set_visible(True)
        L = np.where(np.isfinite(R), np.log2(np.where(np.isfinite(R), R, 1.0)), np.nan)
        image = ax.imshow(np.ma.masked_invalid(L), cmap=cmap, norm=norm, aspect="auto")
        ax.set_facecolor("0.85")
        for i in range(len(families)):
            for j in range(len(sizes)):
                if np.isfinite(R[i, j]):
                    r, g, b, _ = cmap(norm(L[i, j]))
                    dark = 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.5
                    ax.text(j, i, f"{R[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if dark else "black")
                else:
                    ax.text(j, i, "—", ha="center", va="center", fontsize=7, color="0.4")
        ax.set_xticks(range(len(sizes)), sizes, fontsize=7)
        ax.set_yticks(range(len(families)), families, fontsize=7)
        ax.tick_params(length=0)
        ax.set_title(f"{key[0]}, {key[1]}", fontsize=8)
    bar = fig.colorbar(image, ax=[a for a in axes.flat if a.get_visible()], shrink=0.8,
                       pad=0.02)
    positions, labels = _bar_ticks(span, 0.8 * height)
    bar.set_ticks(positions, labels=labels)
    bar.ax.tick_params(labelsize=7)
    bar.set_label("best peer / hotalign", fontsize=7)
    fig.suptitle("hotalign.linear_sum_assignment against the fastest exact peer "
                 "(> 1: hotalign faster)", fontsize=9)
    return fig


def _bar_ticks(span, inches):
    """Colour-bar ticks (log2 positions, labels) within +-span, at most ~3 per inch."""
    fine = [0.5, 2 / 3, 1.0, 1.5, 2.0]
    powers = [2.0 ** k for k in range(-8, 9)]
    for cands in (sorted(set(fine + powers)), powers, powers[::2]):
        ticks = [t for t in cands if abs(np.log2(t)) <= span + 1e-12]
        if len(ticks) <= max(3, int(3 * inches)) and min(
                np.diff(np.log2(ticks)), default=span) >= 2 * span / (3 * inches):
            break
    return [float(np.log2(t)) for t in ticks], [f"{t:.3g}x" for t in ticks]


def solvers_figure(results, path, labels):
    """Log-log time vs n per family of a ``--costs`` run; returns a note if not drawn."""
    plt = _pyplot()
    if plt is None:
        return _NOTE
    families = {}
    for p in results["problems"]:
        fam = (p["cost"], p["ratio"], p["marginals"], p["transposed"])
        for key, rec in p["solvers"].items():
            if rec.get("status") in ("ok", "mismatch"):
                families.setdefault(fam, {}).setdefault(key, []).append((p["size"],
                                                                        rec["median"]))
    if not families:
        return "Plot skipped: no measurements."
    # Curves need two sizes; one-size families (e.g. single rectangular shapes) are in the table.
    scaling = [f for f in families
               if len({s for pts in families[f].values() for s, _ in pts}) >= 2]
    names = sorted(scaling or families, key=lambda f: (f[1] != "square", f[0], f[1], f[2], f[3]))
    colors = {key: f"C{i}" for i, key in enumerate(labels)}
    ncols = min(4, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.2 * nrows), squeeze=False)
    for ax, fam in zip(axes.flat, names):
        for key, pts in sorted(families[fam].items()):
            pts.sort()
            ax.loglog([s for s, _ in pts], [t for _, t in pts], marker="o",
                      color=colors.get(key), label=labels.get(key, key))
        title = f"{fam[0]}, {fam[1]}, {fam[2]}" + (" (M.T)" if fam[3] else "")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("n (smaller side)", fontsize=8)
        ax.set_ylabel("median time [s]", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
