#!/usr/bin/env python3
"""Tests of tools/plot_results.py (CTest: tools.plot_results; exits 77, a skip, without matplotlib).

A hand-made results.json with known points: the printed points are exactly the summary's, the PNGs
are real PNGs of the expected size, the lines drawn hold the summary's numbers (read back from the
matplotlib figure), and every kind of bad input exits 2 with a message naming the file.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
SCRIPT = os.path.join(HERE, "plot_results.py")

try:
    import matplotlib  # noqa: F401
except ImportError:
    print("matplotlib not installed: skipped")
    sys.exit(77)

import plot_results  # noqa: E402

SUMMARY = [
    {"label": "Ensemble", "budget": None, "params_rel": 2.0, "flops_rel": 2.0, "average": 65.0,
     "per_column": {"a": 60.0, "b": 70.0}, "pairs": 1},
    {"label": "PLeaS", "budget": 1.5, "params_rel": 1.49, "flops_rel": 1.52, "average": 44.0,
     "per_column": {"a": 40.0, "b": 48.0}, "pairs": 1},
    {"label": "PLeaS", "budget": 1.0, "params_rel": 1.0, "flops_rel": 1.0, "average": 38.5,
     "per_column": {"a": 37.0, "b": 40.0}, "pairs": 1},
    {"label": "Permute", "budget": 1.0, "params_rel": 1.0, "flops_rel": 1.0, "average": 29.25,
     "per_column": {"a": 28.5}, "pairs": 1},
]


def run(args):
    p = subprocess.run([sys.executable, SCRIPT] + args, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def write(path, obj):
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def png_size(path):
    raw = open(path, "rb").read(32)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", raw[16:24])


def test_points_and_pngs(tmp):
    res = write(os.path.join(tmp, "results.json"),
                {"experiment": "t", "title": "T", "columns": ["a", "b"], "summary": SUMMARY})
    rc, out, err = run([res])
    assert rc == 0, err
    lines = out.strip().split("\n")
    assert lines[0].startswith("# label\tparams_rel"), lines[0]
    assert lines[1:] == ["Ensemble\t2.0000\t65.0000", "PLeaS\t1.4900\t44.0000", "PLeaS\t1.0000\t38.5000",
                         "Permute\t1.0000\t29.2500"], lines
    w, h = png_size(os.path.join(tmp, "accuracy_vs_size.png"))
    assert (w, h) == (840, 576), (w, h)  # 7 x 4.8 in at 120 dpi
    w, h = png_size(os.path.join(tmp, "accuracy_vs_size_per_column.png"))
    assert (w, h) == (864, 384), (w, h)  # two panels of 3.6 x 3.2 in
    rc, out, _ = run([res, "--x", "flops", "--table"])
    assert rc == 0
    assert "| PLeaS | 1.520 | 44.00 |" in out and out.startswith("| Method | FLOPs |"), out
    other = os.path.join(tmp, "figs")
    os.mkdir(other)
    rc, _, err = run([res, "--out", other])
    assert rc == 0 and os.path.exists(os.path.join(other, "accuracy_vs_size.png")), err


def test_lines_hold_the_numbers(tmp):
    """Draw through the module and read the lines back from the figure."""
    import matplotlib.pyplot as plt

    _, columns, rows = plot_results.load_summary(write(os.path.join(tmp, "r.json"),
                                                       {"columns": ["a", "b"], "summary": SUMMARY}))
    fig, ax = plt.subplots()
    plot_results.draw(ax, plot_results.series(rows, "params"), lambda y, per: y, ["o"])
    got = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata()), ln.get_linestyle()) for ln in ax.lines}
    assert got["PLeaS"] == ([1.0, 1.49], [38.5, 44.0], "-"), got["PLeaS"]  # sorted by size, a line
    assert got["Ensemble"] == ([2.0], [65.0], "None"), got["Ensemble"]  # no budget: a marker
    assert got["Permute"] == ([1.0], [29.25], "None"), got["Permute"]  # one point: a marker
    plt.close(fig)
    fig, ax = plt.subplots()
    plot_results.draw(ax, plot_results.series(rows, "flops"), lambda y, per: per.get("b"), ["o"])
    got = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.lines}
    assert got["PLeaS"] == ([1.0, 1.52], [40.0, 48.0]), got["PLeaS"]
    assert "Permute" not in got  # no value for column b: nothing drawn
    plt.close(fig)


def test_errors(tmp):
    cases = {
        "missing.json": (None, "cannot read"),
        "notjson.json": ("{not json", "not JSON"),
        "nosummary.json": ({"runs": []}, "no 'summary' list"),
        "empty.json": ({"summary": []}, "'summary' is empty"),
        "nolabel.json": ({"summary": [{"params_rel": 1, "flops_rel": 1, "average": 1, "per_column": {}}]},
                         "summary[0] has no 'label'"),
        "nan.json": ('{"summary": [{"label": "x", "params_rel": NaN, "flops_rel": 1, "average": 1, '
                     '"per_column": {}}]}', "'params_rel' is not a finite number"),
        "budget.json": ({"summary": [{"label": "x", "budget": "big", "params_rel": 1, "flops_rel": 1,
                                      "average": 1, "per_column": {}}]}, "'budget' is neither"),
        "percol.json": ({"summary": [{"label": "x", "params_rel": 1, "flops_rel": 1, "average": 1,
                                      "per_column": {"a": "high"}}]}, "'per_column' is not an object of numbers"),
    }
    for name, (content, why) in cases.items():
        path = os.path.join(tmp, name)
        if content is not None:
            write(path, content)
        rc, out, err = run([path])
        assert rc == 2, (name, rc, err)
        assert path in err and why in err, (name, err)
        assert out == "", (name, out)
    good = write(os.path.join(tmp, "good.json"), {"summary": SUMMARY})
    rc, _, err = run([good, "--out", os.path.join(tmp, "no_such_dir")])
    assert rc == 2 and "no_such_dir" in err and "does not exist" in err, err


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for t in (test_points_and_pngs, test_lines_hold_the_numbers, test_errors):
            sub = os.path.join(tmp, t.__name__)
            os.mkdir(sub)
            t(sub)
            print(f"ok {t.__name__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
