"""Markdown reports of ``hotalign bench solvers``: :func:`format_families_markdown` (the
family suite, :mod:`hotalign.bench.suites`) and :func:`format_markdown` (the ``--costs``
comparison, :mod:`hotalign.bench.solvers`). Both render the JSON results alone."""

from __future__ import annotations

from .harness import blas_summary, fmt_time

__all__ = ["LABELS", "format_families_markdown", "format_markdown"]

# Table columns: solver key -> header.
LABELS = {
    "hotalign": "hotalign",
    "pot": "POT ot.emd",
    "scipy": "scipy lsap",
    "lap": "lap.lapjv",
    "lapx.lapjvh": "lapx.lapjvh",
    "lapx.lapjvr": "lapx.lapjvr",
    "lapx.lapjv": "lapx.lapjv",
    "lapx.lapjvx": "lapx.lapjvx",
    "lapx.lapjvc": "lapx.lapjvc",
    "lapx.lapjvs": "lapx.lapjvs",
}

_METHOD_ABBREV = {"assignment": "JV", "network_simplex": "NS"}


def _t(seconds):
    return "—" if seconds is None else fmt_time(seconds)


def _med(rec):
    return rec["median"] if rec and rec.get("status") == "ok" else None


def _ratio(num, den):
    return f"{num / den:.2f}x" if num and den else "—"


def _summary_matrix(results):
    """Best peer / hotalign per family (rows) and n x m (columns), one matrix per dtype."""
    lines = []
    for dtype in dict.fromkeys(p["dtype"] for p in results["problems"]):
        probs = [p for p in results["problems"] if p["dtype"] == dtype]
        shapes = list(dict.fromkeys((p["n"], p["m"]) for p in probs))
        cells = {(p["family"], p["n"], p["m"]): p["ratio"] for p in probs}
        lines += ["", f"Summary ({dtype}): best exact peer / hotalign.linear_sum_assignment", "",
                  "| family | " + " | ".join(f"{n}x{m}" for n, m in shapes) + " |",
                  "|---|" + "---|" * len(shapes)]
        for family in dict.fromkeys(p["family"] for p in probs):
            row = []
            for n, m in shapes:
                r = cells.get((family, n, m))
                row.append("—" if r is None else (f"**{r:.2f}**" if r < 1 else f"{r:.2f}"))
            lines.append(f"| {family} | " + " | ".join(row) + " |")
    return lines


def format_families_markdown(results) -> str:
    """Render :func:`run_families` results as Markdown: both tables, findings, failures."""
    meta, cfg = results["meta"], results["config"]
    v = meta["versions"]
    lines = [
        "## hotalign solver families",
        "",
        f"- date: {meta['date']}; machine: {meta['platform']}; CPU {meta['cpu']}; "
        f"{meta['usable_cores']} usable cores",
        f"- versions: " + ", ".join(f"{k} {v[k]}" for k in ("hotalign", "numpy", "scipy", "pot",
                                                            "lap") if v.get(k)),
        f"- BLAS: {blas_summary(meta)}",
        f"- protocol: {cfg.get('clock', 'wall')} clock; round-robin over the solvers, 1 warm-up "
        f"round then median of "
        f"{cfg['repeats']} timed rounds (fewer past {cfg['time_budget']} s per solver); "
        f"peers: {', '.join(results['solvers']) or 'none'}",
        "",
        "### Assignment: best exact peer / hotalign.linear_sum_assignment (> 1: hotalign faster)",
        "",
        "| family | n x m | dtype | hotalign | best peer | best peer time | ratio | scipy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in results["problems"]:
        ours = _med(p["lsa"].get("hotalign"))
        best = p["best_peer"]
        best_t = _med(p["lsa"].get(best)) if best else None
        ratio = f"**{p['ratio']:.2f}x**" if p["ratio"] and p["ratio"] < 1 else _ratio(best_t, ours)
        lines.append(f"| {p['family']} | {p['n']} x {p['m']} | {p['dtype']} | {_t(ours)} | "
                     f"{best or '—'} | {_t(best_t)} | {ratio} | "
                     f"{_ratio(_med(p['lsa'].get('scipy')), ours)} |")
    lines += _summary_matrix(results)
    rows = [p for p in results["problems"] if p.get("paths")]
    if rows:
        lines += [
            "",
            "### Result paths (square): time / hotalign lsa, and best peer / path (> 1: faster)",
            "",
            "| family | n | dtype | lsa | solve_transport | st / lsa | peer / st | emd2 | "
            "emd2 / lsa | peer / emd2 | solve_grid (1 pair) | (cost + peer) / grid |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in rows:
            q = p["paths"]
            lsa, st, e2 = _med(q.get("lsa")), _med(q.get("solve_transport")), _med(q.get("emd2"))
            peer, grid = _med(q.get("best_peer")), _med(q.get("solve_grid"))
            lines.append(
                f"| {p['family']} | {p['n']} | {p['dtype']} | {_t(lsa)} | {_t(st)} | "
                f"{_ratio(st, lsa)} | {_ratio(peer, st)} | {_t(e2)} | {_ratio(e2, lsa)} | "
                f"{_ratio(peer, e2)} | {_t(grid)} | {_ratio(_med(q.get('cost+best_peer')), grid)} |")
    if results["skipped"]:
        lines += ["", "Skipped peers:"] + [f"- {k}: {w}" for k, w in results["skipped"].items()]
    if results.get("real_skipped"):
        why = {}
        for k, w in results["real_skipped"].items():
            why.setdefault(w, []).append(k)
        lines += [""] + [f"Skipped {', '.join(ks)}: {w}" for w, ks in why.items()]
    errors = [f"{p['family']} {p['n']}x{p['m']} {p['dtype']}: {k}: {r['error']}"
              for p in results["problems"] for k, r in p["lsa"].items()
              if r.get("status") == "error"]
    if errors:
        lines += ["", "Peer errors:"] + [f"- {e}" for e in errors]
    lines.append("")
    if results["findings"]:
        lines.append(f"Findings: {len(results['findings'])} peer result(s) disagree with "
                     "hotalign's certified optimum:")
        lines += [f"- {f}" for f in results["findings"]]
    else:
        lines.append("Every peer's optimal cost agrees with hotalign's.")
    if results["failures"]:
        lines.append(f"**FAILED: {len(results['failures'])} hotalign failure(s)**")
        lines += [f"- {f}" for f in results["failures"]]
    else:
        lines.append("hotalign's dual certificate holds on every problem.")
    if results.get("figure_note"):
        lines += ["", results["figure_note"]]
    return "\n".join(lines) + "\n"


def _columns(results):
    keys = ["hotalign"]
    for p in results["problems"]:
        for key in p["solvers"]:
            if key not in keys:
                keys.append(key)
    order = list(LABELS)
    return sorted(keys, key=lambda k: order.index(k) if k in order else len(order))


def _cell(rec):
    if rec is None:
        return "—"
    status = rec.get("status")
    if status == "n/a":
        return "—"
    if status == "error":
        return "error"
    text = fmt_time(rec["median"])
    if "ratio" in rec:
        text += f" ({rec['ratio']:.2f}x)"
    if status == "mismatch":
        text = "**MISMATCH** " + text
    return text


def format_markdown(results) -> str:
    """Render benchmark results as Markdown: environment, timing table, slopes, failures.

    Parameters
    ----------
    results : dict
        As returned by :func:`run_solvers` (or loaded from ``solvers.json``).

    Returns
    -------
    str
    """
    meta, cfg = results["meta"], results["config"]
    v = meta["versions"]
    env = ", ".join(f"{k}={val if val is not None else 'unset'}" for k, val in meta["env"].items())
    libs = ", ".join(f"{k} {v[k]}" for k in ("hotalign", "python", "numpy", "scipy", "pot",
                                             "lap", "lapx") if v.get(k))
    lines = [
        "## hotalign solver benchmark",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['platform']}; CPU {meta['cpu']}; {meta['cores']} cores "
        f"({meta['usable_cores']} usable)",
        f"- versions: {libs}",
        f"- BLAS: {blas_summary(meta)}; {env}",
        f"- protocol: {cfg['dtype']}, 1 warm-up then median of {cfg['repeats']} timed runs"
        + (f" (fewer past {cfg['time_budget']} s per solver and problem)"
           if cfg.get("time_budget") else "")
        + f"; costs checked against hotalign (relative {cfg['rtol']:g})",
    ]
    if any(meta["env"].values()):
        lines.append("- note: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set; unset both for "
                     "benchmarks (`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...`)")
    cols = _columns(results)
    head = ["cost", "n x m", "marginals", "method"] + [LABELS.get(c, c) for c in cols]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in results["problems"]:
        ours = p["solvers"].get("hotalign", {})
        shape = f"{p['n']} x {p['m']}" + (" (M.T)" if p["transposed"] else "")
        method = _METHOD_ABBREV.get(ours.get("method"), ours.get("method") or "—")
        row = [p["cost"], shape, p["marginals"], method] + [_cell(p["solvers"].get(c))
                                                             for c in cols]
        if "transpose_ratio" in p:
            row[4] += f" [{p['transpose_ratio']:.2f}x of M]"
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "Median wall time; in parentheses peer median / hotalign median (> 1: hotalign is "
        "faster). Method: JV = assignment solver (square, uniform marginals), NS = network "
        "simplex. — = not applicable (assignment solvers only compare on square problems with "
        "uniform marginals). [..x of M] = hotalign on M.T relative to M.",
    ]
    if results["slopes"]:
        fams, solvers = {}, []
        for sl in results["slopes"]:
            fam = (sl["cost"], sl["shape"] + (" (M.T)" if sl["transposed"] else ""),
                   sl["marginals"], ",".join(str(n) for n in sl["sizes"]))
            fams.setdefault(fam, {})[sl["solver"]] = sl["k"]
            if sl["solver"] not in solvers:
                solvers.append(sl["solver"])
        solvers = [c for c in cols if c in solvers]
        head = ["cost", "shape", "marginals", "n"] + [LABELS.get(c, c) for c in solvers]
        lines += ["", "### Scaling: k in time ~ n^k (least squares over the sizes run)", "",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for fam, ks in fams.items():
            cells = [f"{ks[c]:.2f}" if c in ks else "—" for c in solvers]
            lines.append("| " + " | ".join(list(fam) + cells) + " |")
    if results["skipped"]:
        lines += ["", "Skipped peers:"]
        lines += [f"- {name}: {why}" for name, why in results["skipped"].items()]
    errors = [(p["label"], k, r["error"]) for p in results["problems"]
              for k, r in p["solvers"].items() if r.get("status") == "error"]
    if errors:
        lines += ["", "Solver errors:"]
        lines += [f"- {k} on {label}: {err}" for label, k, err in errors]
    lines += [""]

    def listed(items):
        for f in items:
            detail = (f" ({f['cost']!r} vs hotalign {f['reference']!r})" if "cost" in f else "")
            lines.append(f"- {f['solver']} on {f['problem']}: {f['error']}{detail}")

    findings = results.get("findings", [])
    if findings:
        lines.append(f"Findings: {len(findings)} peer result(s) disagree with hotalign's "
                     "certified optimum (**MISMATCH** above):")
        listed(findings)
    if results["failures"]:
        lines.append(f"**FAILED: {len(results['failures'])} hotalign failure(s)**")
        listed(results["failures"])
    elif not findings:
        lines.append("All optimal costs agree with hotalign.")
    if results.get("plot_note"):
        lines += ["", results["plot_note"]]
    return "\n".join(lines) + "\n"


