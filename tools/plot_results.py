#!/usr/bin/env python3
"""Accuracy against relative size, from the results.json of `pleas experiment` (Figures 3-5 of the paper).

    python3 tools/plot_results.py RESULTS.json [--out DIR] [--x params|flops] [--table] [--title T]

Reads the "summary" of RESULTS.json (one entry per method and budget: label, budget or null,
params_rel, flops_rel, average, per_column) and writes, next to it (or into --out):
  accuracy_vs_size.png             one line per method: the average accuracy over the columns
                                   against the merged model's size relative to one parent; methods
                                   without a budget (Ensemble, Average, ...) are single markers;
  accuracy_vs_size_per_column.png  the same, one panel per column (domain or task).
Prints the plotted points to stdout ("label<TAB>x<TAB>y" per line, the average plot's points; with
--table a Markdown table of them instead), so that a text reader sees what the figure shows.
Exit status 2 with a message naming the file on bad input (missing, not JSON, no summary, ...).
Needs matplotlib (Debian: python3-matplotlib); draws without a display (Agg).
"""
import argparse
import json
import math
import os
import sys
import textwrap


class InputError(Exception):
    pass


def load_summary(path):
    """The summary entries of a results.json, checked: [(label, budget, x_params, x_flops, avg, per_col)]."""
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not JSON ({e})")
    if not isinstance(doc, dict) or not isinstance(doc.get("summary"), list):
        raise InputError(f"{path}: no 'summary' list (is it the results.json of pleas experiment?)")
    if not doc["summary"]:
        raise InputError(f"{path}: 'summary' is empty: no run finished")
    columns = doc.get("columns") or []
    rows = []
    for i, s in enumerate(doc["summary"]):
        where = f"{path}: summary[{i}]"
        if not isinstance(s, dict):
            raise InputError(f"{where} is not an object")
        for key in ("label", "params_rel", "flops_rel", "average", "per_column"):
            if key not in s:
                raise InputError(f"{where} has no '{key}'")
        if not isinstance(s["label"], str):
            raise InputError(f"{where}: 'label' is not a string")
        nums = {}
        for key in ("params_rel", "flops_rel", "average"):
            v = s[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InputError(f"{where}: '{key}' is not a finite number ({v!r})")
            nums[key] = float(v)
        b = s.get("budget")
        if b is not None and (isinstance(b, bool) or not isinstance(b, (int, float))):
            raise InputError(f"{where}: 'budget' is neither a number nor null ({b!r})")
        per = s["per_column"]
        if not isinstance(per, dict) or not all(isinstance(v, (int, float)) for v in per.values()):
            raise InputError(f"{where}: 'per_column' is not an object of numbers")
        for k in per:
            if k not in columns:
                columns.append(k)
        rows.append((s["label"], b, nums["params_rel"], nums["flops_rel"], nums["average"], per))
    return doc, columns, rows


def series(rows, x_key):
    """Per label, in first-seen order: its points sorted by x, and whether it is a sweep (has budgets)."""
    xi = 2 if x_key == "params" else 3
    out = {}
    for r in rows:
        e = out.setdefault(r[0], {"points": [], "sweep": False})
        e["points"].append((r[xi], r[4], r[5]))
        e["sweep"] = e["sweep"] or r[1] is not None
    for e in out.values():
        e["points"].sort(key=lambda p: p[0])
    return out


def draw(ax, lines, value, markers):
    for i, (label, e) in enumerate(lines.items()):
        pts = [(x, value(y, per)) for x, y, per in e["points"]]
        pts = [(x, y) for x, y in pts if y is not None]
        if not pts:
            continue
        xs, ys = zip(*pts)
        m = markers[i % len(markers)]
        if e["sweep"] and len(pts) > 1:
            ax.plot(xs, ys, marker=m, label=label)
        else:
            ax.plot(xs, ys, linestyle="none", marker=m, markersize=9, label=label)
    ax.grid(True, alpha=0.3)


def plot(doc, columns, rows, out_dir, x_key, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
    lines = series(rows, x_key)
    xlabel = "relative size (parameters / one parent)" if x_key == "params" else "relative FLOPs (/ one parent)"
    title = title or doc.get("title") or doc.get("experiment") or "accuracy against size"
    paths = []

    fig, ax = plt.subplots(figsize=(7, 4.8))
    draw(ax, lines, lambda y, per: y, markers)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("average top-1 accuracy (%)")
    ax.set_title(textwrap.fill(title, 95), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    p = os.path.join(out_dir, "accuracy_vs_size.png")
    fig.savefig(p, dpi=120)
    plt.close(fig)
    paths.append(p)

    if columns:
        n = len(columns)
        ncol = min(n, 4)
        nrow = (n + ncol - 1) // ncol
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.2 * nrow), squeeze=False)
        for j, c in enumerate(columns):
            ax = axes[j // ncol][j % ncol]
            draw(ax, lines, lambda y, per, c=c: per.get(c), markers)
            ax.set_title(c, fontsize=9)
            ax.set_xlabel(xlabel if j // ncol == nrow - 1 else "", fontsize=8)
            if j % ncol == 0:
                ax.set_ylabel("top-1 accuracy (%)", fontsize=8)
        for j in range(n, nrow * ncol):
            axes[j // ncol][j % ncol].axis("off")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8)
        wrapped = textwrap.fill(title, int(28 * ncol))
        fig.suptitle(wrapped, fontsize=9)
        top = 0.95 - 0.04 * wrapped.count("\n") / nrow
        fig.tight_layout(rect=(0, 0.08 + 0.03 * ((len(labels) - 1) // 4), 1, top))
        p = os.path.join(out_dir, "accuracy_vs_size_per_column.png")
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(p)
    return paths


def points_text(rows, x_key, table):
    xi = 2 if x_key == "params" else 3
    if table:
        out = [f"| Method | {'Size' if x_key == 'params' else 'FLOPs'} | Average accuracy (%) |", "|---|---|---|"]
        out += [f"| {r[0]} | {r[xi]:.3f} | {r[4]:.2f} |" for r in rows]
    else:
        out = ["# label\t" + ("params_rel" if x_key == "params" else "flops_rel") + "\taverage_accuracy"]
        out += [f"{r[0]}\t{r[xi]:.4f}\t{r[4]:.4f}" for r in rows]
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", help="results.json of pleas experiment")
    ap.add_argument("--out", help="folder for the PNGs (default: the folder of RESULTS)")
    ap.add_argument("--x", choices=["params", "flops"], default="params", help="x axis (default: params)")
    ap.add_argument("--table", action="store_true", help="print the points as a Markdown table")
    ap.add_argument("--title", help="figure title (default: the experiment's title)")
    a = ap.parse_args(argv)
    try:
        doc, columns, rows = load_summary(a.results)
        out_dir = a.out or os.path.dirname(os.path.abspath(a.results))
        if not os.path.isdir(out_dir):
            raise InputError(f"{out_dir}: output folder does not exist")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError("matplotlib is not installed (Debian: apt-get install python3-matplotlib)")
        paths = plot(doc, columns, rows, out_dir, a.x, a.title)
    except InputError as e:
        print(f"plot_results.py: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(points_text(rows, a.x, a.table))
    for p in paths:
        print(f"plot_results.py: wrote {p}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
