"""Figures of HOT results (optional: ``pip install 'hotalign[plot]'``).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so nothing here
touches the global backend: figures render off-screen (Agg) in scripts, on servers and in tests,
and display inline in notebooks. :func:`save` writes PNG (default), SVG or PDF.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ._files import atomic_write
from ._validation import as_array, as_sequence, describe
from .baselines import LABELS
from .results import TransportResult

__all__ = [
    "FORMATS",
    "plot_checkpoint_coupling",
    "plot_layer_costs",
    "plot_layer_plan",
    "plot_layer_plan_with_marginals",
    "matched_correlations",
    "plot_layer_scores",
    "plot_unit_plan",
    "save",
]

FORMATS = ("png", "svg", "pdf")


def available() -> bool:
    """True when matplotlib can be imported (the ``plot`` extra)."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - optional dependency
        raise ImportError("figures need matplotlib: pip install 'hotalign[plot]'") from None
    return Figure(figsize=(width, height), layout="constrained")


def _matrix(A, name: str) -> np.ndarray:
    """A non-empty 2-D real array (float), or ValueError naming ``name``."""
    arr = as_array(A, name)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {arr.shape}")
    return arr.astype(float)


def _labels(names, count: int, name: str):
    """Tick labels: None, or a list of ``count`` labels."""
    if names is None:
        return None
    out = as_sequence(names, name, f"a list of {count} labels", numbers_ok=True)
    if len(out) != count:
        raise ValueError(f"{name} must have {count} labels, got {len(out)}")
    return out


def _series(values, name: str, length=None) -> dict:
    """A non-empty mapping method -> 1-D real array, all of one length."""
    if not isinstance(values, Mapping) or not values:
        raise ValueError(f"{name} must be a non-empty dict of method name -> per-layer "
                         f"values, got {describe(values)}")
    out = {}
    for key, v in values.items():
        arr = as_array(v, f"{name}[{key!r}]")
        if arr.dtype.kind not in "biuf" or arr.ndim != 1:
            raise ValueError(f"{name}[{key!r}] must be a 1-D real array, got "
                             f"{describe(v)}")
        length = arr.shape[0] if length is None else length
        if arr.shape[0] != length:
            raise ValueError(f"{name}[{key!r}] must have {length} values, got {arr.shape[0]}")
        out[key] = arr.astype(float)
    return out


def _heat_size(L, M):
    return min(3.6 + 0.6 * M, 18), min(2.8 + 0.45 * L, 15)


def _text_colour(rgba) -> str:
    """Black or white, whichever contrasts more with a cell of colour ``rgba`` (WCAG relative
    luminance of the sRGB colour)."""
    c = np.asarray(rgba[:3], dtype=float)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    lum = float(linear @ [0.2126, 0.7152, 0.0722])
    return "black" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "white"


def _heatmap(ax, A, x_names, y_names, cmap, label, annotate, *, x_system="X", y_system="Y",
             text=None):
    """A heatmap of A (rows: layers of X, columns: layers of Y) with its colour bar; cells
    annotated with ``text[l][m]`` (default the value), in black or white by the cell colour."""
    im = ax.imshow(A, cmap=cmap, aspect="auto", interpolation="nearest")
    L, M = A.shape
    ax.set_yticks(range(L), labels=list(x_names) if x_names is not None else range(L))
    long = y_names is not None and max(len(str(n)) for n in y_names) > 4
    ax.set_xticks(range(M), labels=list(y_names) if y_names is not None else range(M),
                  rotation=90 if (M > 4 or long) else 0)
    ax.set_ylabel(f"{x_system} layer")
    ax.set_xlabel(f"{y_system} layer")
    if annotate and L * M <= 144:
        for l in range(L):
            for m in range(M):
                if not np.isfinite(A[l, m]):
                    continue
                s = f"{A[l, m]:.2f}" if text is None else text[l][m]
                if s:
                    ax.text(m, l, s, ha="center", va="center", fontsize=7,
                            color=_text_colour(im.cmap(im.norm(A[l, m]))))
    ax.figure.colorbar(im, ax=ax, label=label)
    return im


def plot_layer_plan(P, x_names=None, y_names=None, *, title=None, agreement=None,
                    n_splits=None, x_system="X", y_system="Y"):
    """Heatmap of the layer plan, shown as ``L * P`` (each row sums to 1: how layer l of X is
    spread over the layers of Y).

    Parameters
    ----------
    P : array_like, shape (L, M)
        A layer plan (e.g. the mean over splits).
    agreement : array_like of int, shape (L, M), optional
        Splits (of ``n_splits``) in which each cell carries mass; shown under the value
        ("0.98" over "5/5"). Cells with no mass in any split are left blank.
    x_system, y_system : str
        The systems' names on the axes.
    """
    P = _matrix(P, "P")
    x_names, y_names = _labels(x_names, P.shape[0], "x_names"), _labels(y_names, P.shape[1],
                                                                       "y_names")
    text = None
    if agreement is not None:
        agreement = _matrix(agreement, "agreement")
        if agreement.shape != P.shape or n_splits is None:
            raise ValueError(f"agreement must have the shape of P {P.shape} and come with "
                             f"n_splits, got {agreement.shape}")
        text = [[f"{P[l, m] * P.shape[0]:.2f}\n{int(agreement[l, m])}/{n_splits}"
                 if agreement[l, m] > 0 else "" for m in range(P.shape[1])]
                for l in range(P.shape[0])]
        if title is None:
            title = (f"Layer plan: mean over {n_splits} splits\n(cell: L x P; splits of "
                     f"{n_splits} that put mass there)")
    fig = _figure(*_heat_size(*P.shape))
    ax = fig.add_subplot()
    _heatmap(ax, P * P.shape[0], x_names, y_names, "viridis", "L x P (row sums 1)", True,
             x_system=x_system, y_system=y_system, text=text)
    ax.set_title("Layer plan P" if title is None else title)
    return fig


def plot_layer_plan_with_marginals(P, lower=None, upper=None, x_names=None, y_names=None, *,
                                   title="Layer plan P and its marginals"):
    """The layer plan ``L * P`` with bar plots of its marginals: row sums beside it (X's
    layers, always 1/L) and column sums below it (Y's layers), both in units of the uniform
    marginal (1 = 1/L or 1/M), with the column bounds of relaxed layer marginals
    (docs/method.md, "Relaxed layer marginals") drawn as markers.

    Parameters
    ----------
    P : array_like, shape (L, M)
        A layer plan (e.g. ``HOT.layer_plan_``).
    lower, upper : array_like, shape (M,), optional
        Column bounds (``HOT.layer_marginals_["lower"]`` and ``["upper"]``).
    x_names, y_names : list of str, optional
        Layer names.
    """
    P = _matrix(P, "P")
    L, M = P.shape
    x_names, y_names = _labels(x_names, L, "x_names"), _labels(y_names, M, "y_names")
    bounds = []
    for name, b in (("lower", lower), ("upper", upper)):
        if b is not None:
            b = as_array(b, name)
            if b.dtype.kind not in "biuf" or b.shape != (M,):
                raise ValueError(f"{name} must be a real array of shape ({M},), got "
                                 f"{describe(b)}")
        bounds.append(None if b is None else b.astype(float))
    w, h = _heat_size(L, M)
    fig = _figure(w + 1.5, h + 1.5)
    grid = fig.add_gridspec(2, 2, width_ratios=(4, 1), height_ratios=(4, 1.4))
    ax = fig.add_subplot(grid[0, 0])
    _heatmap(ax, P * L, x_names, y_names, "viridis", "L x P (row sums 1)", True)
    ax.set_title(title)
    rows = fig.add_subplot(grid[0, 1], sharey=ax)
    rows.barh(range(L), P.sum(axis=1) * L, color="tab:blue")
    rows.axvline(1.0, color="black", lw=0.8, ls="--")
    rows.set_xlabel("row sum x L")
    rows.tick_params(labelleft=False)
    cols = fig.add_subplot(grid[1, 0])
    cols.bar(range(M), P.sum(axis=0) * M, color="tab:orange", label="column sum x M")
    cols.axhline(1.0, color="black", lw=0.8, ls="--", label="uniform (1/M)")
    for b, marker, label in zip(bounds, ("^", "v"), ("lower bound", "upper bound")):
        if b is not None:
            cols.scatter(range(M), np.minimum(b * M, max(2.0, (P.sum(axis=0) * M).max())),
                         marker=marker, color="black", s=18, label=label, zorder=3)
    cols.set_xticks(range(M), labels=list(y_names) if y_names is not None else range(M),
                    rotation=45 if M > 4 else 0, ha="right" if M > 4 else "center")
    cols.set_xlim(ax.get_xlim())
    cols.set_ylabel("column sum x M")
    key = fig.add_subplot(grid[1, 1])
    key.axis("off")
    key.legend(*cols.get_legend_handles_labels(), fontsize=7, loc="center")
    return fig


def plot_layer_costs(C, x_names=None, y_names=None, *, title="Layer-pair distances C",
                     x_system="X", y_system="Y"):
    """Heatmap of the unit-level transport costs C (soft-matching distance, lower = more
    alike), with the row-wise minimum (Pairwise-Best) outlined; the legend sits below the
    axes."""
    from matplotlib.patches import Rectangle

    C = _matrix(C, "C")
    x_names, y_names = _labels(x_names, C.shape[0], "x_names"), _labels(y_names, C.shape[1],
                                                                       "y_names")
    fig = _figure(*_heat_size(*C.shape))
    ax = fig.add_subplot()
    _heatmap(ax, C, x_names, y_names, "magma_r", "distance (lower = more alike)", True,
             x_system=x_system, y_system=y_system)
    finite = np.where(np.isfinite(C), C, np.inf)
    box = None
    for l, m in enumerate(np.argmin(finite, axis=1)):
        box = ax.add_patch(Rectangle((m - 0.46, l - 0.46), 0.92, 0.92, fill=False,
                                     edgecolor="#00c8ff", linewidth=2.0,
                                     label="row minimum (Pairwise-Best)"))
    if box is not None:
        fig.legend(handles=[box], loc="outside lower center", fontsize=8, frameon=False)
    ax.set_title(title)
    return fig


def plot_layer_scores(layer_scores, x_names=None, *, errors=None, null=None,
                      title="Held-out reconstruction per layer", x_system="X"):
    """Grouped bars: the per-layer score (mean Pearson correlation, higher is better) of each
    method, with the permutation null's level when given.

    Parameters
    ----------
    layer_scores : dict of str -> array_like, shape (L,)
        Mean score of each layer per method (e.g. ``ev.layer_scores[m].mean(axis=0)``).
    errors : dict of str -> array_like, shape (L,), optional
        Error bars (e.g. the standard deviation over splits).
    null : dict, optional
        The null's HOT score: ``{"mean": float, "range_95": [low, high]}`` (results.json's
        ``null.hot_score``), drawn as a dashed line over a grey band.
    """
    layer_scores = _series(layer_scores, "layer_scores")
    methods = list(layer_scores)
    L = len(next(iter(layer_scores.values())))
    if errors is not None:
        errors = _series(errors, "errors", L)
        missing = [m for m in methods if m not in errors]
        if missing:
            raise ValueError(f"errors has no entry for {missing}")
    x_names = _labels(x_names, L, "x_names")
    fig = _figure(min(4.5 + 0.6 * L * max(1, len(methods)) / 2, 18), 4.6)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(methods))
    x = np.arange(L)
    for k, m in enumerate(methods):
        yerr = None if errors is None else np.asarray(errors[m])
        ax.bar(x + (k - (len(methods) - 1) / 2) * width, np.asarray(layer_scores[m]), width,
               yerr=yerr, capsize=2, label=LABELS.get(m, m))
    if null is not None:
        lo, hi = (float(v) for v in null["range_95"])
        ax.axhspan(lo, hi, color="0.6", alpha=0.35, linewidth=0,
                   label=f"null 95% range [{lo:.3f}, {hi:.3f}]")
        ax.axhline(float(null["mean"]), color="black", linestyle="--", linewidth=1.2,
                   label=f"null (permuted stimuli) HOT score {float(null['mean']):.3f}")
    long = x_names is not None and max(len(str(n)) for n in x_names) > 4
    ax.set_xticks(x, labels=list(x_names) if x_names is not None else x,
                  rotation=90 if (L > 6 or long) else 0)
    ax.set_xlabel(f"{x_system} layer")
    ax.set_ylabel("score: mean unit correlation\n(higher is better)")
    ax.axhline(0, color="black", linewidth=0.6)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=8,
               ncols=min(3, len(methods) + (2 if null is not None else 0)), frameon=False)
    ax.set_title(title)
    return fig


def matched_correlations(plan) -> np.ndarray:
    """Correlation ``1 - K[i, j]`` of every cell of a unit plan, from its dual potentials
    (``K[i, j] = u[i] + v[j]`` on the support of an optimal plan); shape (nnz,)."""
    u, v = np.asarray(plan.u, dtype=float), np.asarray(plan.v, dtype=float)
    return 1.0 - (u[np.asarray(plan.rows)] + v[np.asarray(plan.cols)])


def plot_unit_plan(plan, *, x_name="X layer", y_name="Y layer", max_units=None):
    """What the unit plan Q of one layer pair says: how well each unit is matched.

    Left: the plan's cells, X units sorted by their matched correlation (best at the top), Y
    units by the X unit they receive the most mass from; colour = matched correlation
    ``1 - K`` (colour bar), area = mass. A one-to-one plan (equal widths: a permutation, whose
    picture would be a bare diagonal) shows instead each X unit's matched correlation, sorted.
    Right: histogram of the matched-unit correlations (weighted by mass).
    """
    if not isinstance(plan, TransportResult):
        raise ValueError(f"plan must be a hotalign.TransportResult, got {type(plan).__name__}")
    n, m = plan.shape
    rows, cols, w = np.asarray(plan.rows), np.asarray(plan.cols), np.asarray(plan.weights)
    r = matched_correlations(plan)
    # each X unit's matched correlation (mass-weighted); rows sorted by it, best first
    mass_x = np.bincount(rows, weights=w, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit_r = np.bincount(rows, weights=w * r, minlength=n) / mass_x
    unit_r[~np.isfinite(unit_r)] = -np.inf
    row_rank = np.empty(n, dtype=np.int64)
    row_rank[np.argsort(-unit_r, kind="stable")] = np.arange(n)
    mass = np.bincount(cols, weights=w, minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.bincount(cols, weights=w * row_rank[rows], minlength=m) / mass
    centre[~np.isfinite(centre)] = n
    rank = np.empty(m, dtype=np.int64)
    rank[np.argsort(centre, kind="stable")] = np.arange(m)
    fig = _figure(10, 4.8)
    ax, hist = fig.subplots(1, 2, width_ratios=[1.25, 1])
    one_to_one = n == m and plan.nnz == n
    if one_to_one:  # a permutation: its picture is a diagonal; show the matched correlations
        best = np.sort(unit_r[np.isfinite(unit_r)])[::-1]
        dots = ax.scatter(np.arange(best.size), best, s=8, c=best, cmap="viridis", vmin=-1,
                          vmax=1, linewidths=0)
        ax.set_xlim(-0.5, n - 0.5)
        ax.set_ylim(-1.02, 1.02)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xlabel(f"{x_name} unit, sorted by matched correlation")
        ax.set_ylabel("matched correlation 1 - K")
        ax.set_title(f"one-to-one matching of {n} units")
    else:
        size = 4 + 40 * (w / w.max() if w.size and w.max() > 0 else w)
        dots = ax.scatter(rank[cols], row_rank[rows], s=size, c=r, cmap="viridis", vmin=-1,
                          vmax=1, linewidths=0)
        ax.set_xlim(-0.5, m - 0.5)
        ax.set_ylim(n - 0.5, -0.5)
        ax.set_xlabel(f"{y_name} unit (by matched {x_name} unit)")
        ax.set_ylabel(f"{x_name} unit (best matched first)")
        ax.set_title(f"plan cells ({plan.nnz}; area = mass)")
    fig.colorbar(dots, ax=ax, label="matched correlation 1 - K")
    med = float(np.median(unit_r[np.isfinite(unit_r)])) if np.isfinite(unit_r).any() else 0.0
    hist.hist(r, bins=30, range=(-1, 1), weights=w * n, color="#3b75af")
    hist.axvline(med, color="black", linestyle="--", linewidth=1.2)
    hist.set_xlabel("matched-unit correlation 1 - K")
    hist.set_ylabel(f"{x_name} units")
    hist.set_title(f"median {med:.3f} (dashed)")
    fig.suptitle(f"Unit plan {x_name} -> {y_name}: how well each unit is matched\n"
                 f"(soft-matching distance {plan.cost:.3f})")
    return fig


def plot_checkpoint_coupling(D, coupling, x_names=None, y_names=None, *,
                             title="Checkpoint coupling"):
    """Distances between checkpoints (``D[k, k'] = <C, P>``, lower = more alike) as a heatmap,
    with the cells of the checkpoint coupling circled (area = mass)."""
    D = _matrix(D, "D")
    G = _matrix(coupling, "coupling")
    if G.shape != D.shape:
        raise ValueError(f"coupling must have the shape of D {D.shape}, got {G.shape}")
    x_names, y_names = _labels(x_names, D.shape[0], "x_names"), _labels(y_names, D.shape[1],
                                                                       "y_names")
    fig = _figure(*_heat_size(*D.shape))
    ax = fig.add_subplot()
    _heatmap(ax, D, x_names, y_names, "magma_r", "HOT distance (lower = more alike)", False)
    k, kk = np.nonzero(G > 0)
    if k.size:
        ax.scatter(kk, k, s=20 + 200 * G[k, kk] / G.max(), facecolors="none",
                   edgecolors="cyan", linewidths=1.5, label="coupling (area = mass)")
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=8,
                   frameon=False)
    ax.set_xlabel("checkpoint of B")
    ax.set_ylabel("checkpoint of A")
    ax.set_title(title)
    return fig


def save(fig, path, formats=("png",), dpi=120) -> list[Path]:
    """Write ``fig`` to ``path`` with each suffix of ``formats`` (a list of names from
    ``FORMATS``, or one name); returns the files written."""
    path = Path(path)
    out = []
    if isinstance(formats, str):
        formats = [formats]
    for fmt in as_sequence(formats, "formats", f"a list of figure formats {list(FORMATS)}"):
        if not isinstance(fmt, str) or fmt not in FORMATS:
            raise ValueError(f"figure format must be one of {list(FORMATS)}, got "
                             f"{describe(fmt)}")
        target = path.with_suffix(f".{fmt}")
        # a new file renamed onto target: a link named like a figure is replaced, not followed
        atomic_write(target, lambda f, fmt=fmt: fig.savefig(f, format=fmt, dpi=dpi), sync=False)
        out.append(target)
    return out
