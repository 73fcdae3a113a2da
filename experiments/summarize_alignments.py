#!/usr/bin/env python3
"""Markdown tables of issue #15's results (the JSON written by experiments/alignments_zoo.sh).

    python3 experiments/summarize_alignments.py [RESULTS_DIR]   (default experiments/results/2026-12-04)

Standard library only. Missing files are skipped (a part of the script that was not run).
"""
import json
import os
import statistics
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else "experiments/results/2026-12-04"
NAMES = {"weight": "Permute (weight matching)", "zipit": "ZipIt!", "cca": "CCA Merge", "activation": "Permute (activation)"}


def load(name):
    p = os.path.join(OUT, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError:  # still being written
            return None


def table_rows(name):
    """A table's JSON; for a table run interrupted before its JSON was written (binaries before
    the per-row JSON), the rows parsed from its printed output (NAME.txt, written by tee)."""
    rows = load(name + ".json")
    if rows is not None:
        return rows
    p = os.path.join(OUT, name + ".txt")
    if not os.path.exists(p):
        return None
    rows = []
    for line in open(p):
        f = line.split()
        if len(f) < 4 or f[0] == "method" or f[0].startswith("eval"):
            continue
        spec = f[0]
        r = {"row": spec, "params_rel": float(f[1]), "flops_rel": float(f[2]), "top1": float(f[3])}
        parts = spec.split(":")
        if not spec.startswith("parent") and spec != "ensemble":
            r["method"] = parts[0]
            r["match"] = parts[1] if len(parts) > 1 else "weight"
            if len(parts) > 2:
                r["budget"] = float(parts[2])
            r["partial"] = parts[3] if len(parts) > 3 else "units"
        if "(tasks" in line:
            t = line.split("(tasks")[1].strip(" )\n").split("/")
            r["per_task_top1"] = {"a": float(t[0]), "b": float(t[1])}
        r["source"] = f"parsed from {name}.txt"
        rows.append(r)
    # Written once so that every table is also JSON (the run's binary wrote JSON only at its end).
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(rows, f, indent=2)
    return rows


def method_table(rows, title):
    if not rows:
        return
    print(f"### {title}\n")
    per_task = any("per_task_top1" in r for r in rows)
    head = "| budget | alignment | partial | least squares | params | top-1 % |" + (" task A % | task B % |" if per_task else "")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        if r["row"].startswith("parent") or r["row"] == "ensemble":
            name = {"parent:a": "parent A", "parent:b": "parent B", "ensemble": "ensemble"}[r["row"]]
            line = f"| – | {name} | – | – | {r['params_rel']:.3f} | {r['top1']:.2f} |"
        else:
            ls = "yes" if r["method"] == "pleas" else "no"
            part = r.get("partial", "units")
            if part == "prefix":
                part = f"prefix ({r['merged_groups']} groups)" if 'merged_groups' in r else 'prefix'
            line = (f"| {r.get('budget', 1.0):.1f} | {NAMES.get(r['match'], r['match'])} | {part} | {ls} | "
                    f"{r['params_rel']:.3f} | {r['top1']:.2f} |")
        if per_task:
            pt = r.get("per_task_top1")
            line += f" {pt['a']:.2f} | {pt['b']:.2f} |" if pt else " – | – |"
        print(line)
    print()


def many_table():
    lines = []
    for n in (2, 3, 4):
        ens = load(f"many_{n}_ensemble.json")
        cells = [f"{ens['top1']:.2f}" if ens else "–"]
        for m in ("weight", "cca", "zipit"):
            for meth in ("permute", "pleas"):
                j = load(f"many_{n}_{meth}_{m}.json")
                cells.append(f"{j['top1']:.2f}" if j else "–")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    print("### Merging N independent ResNet-20s (budget 1.0), top-1 %\n")
    print("| N | ensemble of N | Permute | Permute + LS | CCA | CCA + LS | ZipIt! | ZipIt! + LS |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))
    print()


def rules_table():
    rows = []
    for pair in ("r20_akamaster_r20_lrh2000", "r20_dansun18_run1_r20_jackhuang32"):
        for meth in ("permute", "pleas"):
            a, b = load(f"rule_{pair}_{meth}_pooled.json"), load(f"rule_{pair}_{meth}_per_site.json")
            if a and b:
                rows.append(f"| {pair.replace('_r20', ' + r20', 1)} | {meth} | {a['top1']:.2f} | {b['top1']:.2f} |")
    if rows:
        print("### Activation matching: pooled moments vs per-site correlations, top-1 % (budget 1.0)\n")
        print("| pair | method | pooled | per_site |\n|---|---|---|---|")
        print("\n".join(rows))
        print()


def restarts_table():
    for pair in ("r20_akamaster_r20_lrh2000", "r20_dansun18_run1_r20_jackhuang32"):
        j = load(f"restarts_{pair}.json")
        if not j:
            continue
        rs = j["restarts"]
        print(f"### PLeaS 1.0, weight matching, 6 restarts: {pair.replace('_r20', ' + r20', 1)}\n")
        print("| seed | Σ⟨A, PB⟩ | held-out ensemble gap | top-1 % |\n|---|---|---|---|")
        for i, r in enumerate(rs):
            mark = " (kept)" if i == j["best_restart"] else ""
            print(f"| {r['seed']}{mark} | {r['objective']:.2f} | {r['ensemble_gap']:.4f} | {r.get('top1', float('nan')):.2f} |")
        accs = [r["top1"] for r in rs if "top1" in r]
        if accs:
            med = statistics.median(accs)
            kept = rs[j["best_restart"]]["top1"]
            print(f"\nKept {kept:.2f} %, median restart {med:.2f} %, range {min(accs):.2f}–{max(accs):.2f} %: "
                  f"{kept - med:+.2f} pp over the median.\n")


method_table(table_rows("pair_table"), "r20_akamaster + r20_lrh2000 (same label space)")
method_table(table_rows("c5_table"), "r20c5a_lrh2000 + r20c5b_lrh2000 (5 + 5 classes, one head each)")
many_table()
rules_table()
restarts_table()
