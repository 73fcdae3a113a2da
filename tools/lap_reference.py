#!/usr/bin/env python3
"""Optimal assignment costs from scipy's linear_sum_assignment for the deterministic instances that
tests/lap.cpp regenerates (same splitmix64 generator), written to tests/data/lap_reference.json.

Run with Debian's python3 (numpy, scipy): /usr/bin/python3 tools/lap_reference.py
"""
import json
import os
import sys

import numpy as np
from scipy.optimize import linear_sum_assignment

MASK = (1 << 64) - 1


def splitmix64(x):
    """splitmix64 over an array of uint64 (vectorised; wraps mod 2^64 like the C++ version)."""
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(MASK)
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(MASK)
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & np.uint64(MASK)
    return x ^ (x >> np.uint64(31))


def uniform(seed, n):
    """n*n doubles in [0, 1): (splitmix64(seed * 2^32 + k) >> 11) * 2^-53 for k = 0..n*n-1."""
    with np.errstate(over="ignore"):
        k = np.arange(n * n, dtype=np.uint64) + np.uint64(seed << 32)
        return (splitmix64(k) >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)


def instance(kind, seed, n):
    u = uniform(seed, n).reshape(n, n)
    i = np.arange(n, dtype=np.float64)[:, None]
    j = np.arange(n, dtype=np.float64)[None, :]
    if kind == "uniform":
        return u
    if kind == "integer":        # many ties: integers 0..9
        return np.floor(u * 10.0)
    if kind == "geometric":      # |a_i - b_j| with a, b from the first two rows' values (Monge-like)
        a = np.sort(u[0])[:, None] if n > 0 else i
        b = u[1 % n][None, :]
        return np.abs(a - b)
    if kind == "lowrank":        # rank-2 similarity plus small noise, as matching costs look
        return (i / n) * (j / n) + np.sin(i * 0.37) * np.cos(j * 0.11) + 1e-3 * u
    raise ValueError(kind)


CASES = [(k, s, n) for n in (16, 64, 256, 1024) for k, s in
         (("uniform", 1), ("integer", 2), ("geometric", 3), ("lowrank", 4))]
CASES += [("uniform", 5, 2048), ("lowrank", 6, 2048)]


def main():
    out = []
    for kind, seed, n in CASES:
        c = instance(kind, seed, n)
        r, col = linear_sum_assignment(c)
        rmax, colmax = linear_sum_assignment(c, maximize=True)
        out.append({"kind": kind, "seed": seed, "n": n, "min": float(c[r, col].sum()),
                    "max": float(c[rmax, colmax].sum())})
        print(kind, seed, n, out[-1]["min"], out[-1]["max"], file=sys.stderr)
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "lap_reference.json")
    with open(path, "w") as f:
        json.dump({"generator": "splitmix64, see tools/lap_reference.py", "cases": out}, f, indent=1)


if __name__ == "__main__":
    main()
