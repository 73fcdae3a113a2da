#!/usr/bin/env python3
"""Independent check of the C++ budget solver (pleas/budget_solver.cpp) with SCIP.

The gtest BudgetSolver.DumpInstancesForScip writes 30 random leave-one-out instances on the
ResNet-18, ResNet-50 and CIFAR ResNet-20 group structures, with the C++ optimum and certified
upper bound, to the JSON file named by PLEAS_BUDGET_DUMP. This script rebuilds each program from
the footprint terms,

    maximise  sum_g w_g r_g
    s.t.      sum_terms c * [d_a d_b (1 + r_a + r_b - r_a r_b) | d (1 + r) | 1] <= B * Footprint(0)
              0 <= r_g <= 1,

solves it to global optimality with SCIP (spatial branch-and-bound), and compares the optima.
Not part of CI. Needs `pip install pyscipopt` (use the pyenv python3).

    python3 tools/check_budget_scip.py [--build build] [--json instances.json] [--tol 1e-6]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from pyscipopt import Model, quicksum


def footprint0(inst):
    d = [g["d"] for g in inst["groups"]]
    f = 0.0
    for t in inst["terms"]:
        k = t["c"]
        if t["in"] >= 0:
            k *= d[t["in"]]
        if t["out"] >= 0:
            k *= d[t["out"]]
        f += k
    return f


def solve_scip(inst):
    d = [g["d"] for g in inst["groups"]]
    f0 = footprint0(inst)
    m = Model()
    m.hideOutput()
    r = [m.addVar(name=f"r{g}", lb=0.0, ub=1.0) for g in range(len(d))]
    expr = []
    for t in inst["terms"]:
        a, b = t["in"], t["out"]
        k = t["c"]
        if a >= 0:
            k *= d[a]
        if b >= 0:
            k *= d[b]
        k /= f0  # relative footprint: Footprint(0) = 1
        if a >= 0 and b >= 0:
            expr.append(k * (1 + r[a] + r[b] - r[a] * r[b]))
        elif a >= 0 or b >= 0:
            expr.append(k * (1 + r[a if a >= 0 else b]))
        else:
            expr.append(k)
    m.addCons(quicksum(expr) <= inst["budget"])
    m.setObjective(quicksum(w * x for w, x in zip(inst["w"], r)), "maximize")
    m.setParam("numerics/feastol", 1e-9)
    m.setParam("limits/gap", 0.0)
    m.setParam("limits/absgap", 1e-8)
    m.setParam("limits/time", 600)
    t0 = time.time()
    m.optimize()
    secs = time.time() - t0
    sol = m.getBestSol()
    rs = [m.getSolVal(sol, x) for x in r]
    # Re-evaluate SCIP's point exactly (its feasibility tolerance is 1e-9 on the relative footprint).
    foot = 0.0
    for t in inst["terms"]:
        a, b = t["in"], t["out"]
        k = t["c"]
        if a >= 0:
            k *= d[a]
        if b >= 0:
            k *= d[b]
        if a >= 0 and b >= 0:
            foot += k * (1 + rs[a] + rs[b] - rs[a] * rs[b])
        elif a >= 0 or b >= 0:
            foot += k * (1 + rs[a if a >= 0 else b])
        else:
            foot += k
    return {"status": m.getStatus(), "obj": m.getObjVal(), "dual": m.getDualbound(),
            "foot": foot / f0, "secs": secs}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="CMake build directory with tests/test_budget_solver")
    ap.add_argument("--json", help="read instances from this file instead of running the gtest")
    ap.add_argument("--tol", type=float, default=1e-6, help="allowed |C++ - SCIP| on the optimum")
    args = ap.parse_args()

    path = args.json
    if path is None:
        fd, path = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        exe = os.path.join(args.build, "tests", "test_budget_solver")
        subprocess.run([exe, "--gtest_filter=BudgetSolver.DumpInstancesForScip"], check=True,
                       env=dict(os.environ, PLEAS_BUDGET_DUMP=path), stdout=subprocess.DEVNULL)
    with open(path) as f:
        instances = json.load(f)

    hdr = f"{'instance':28s} {'G':>3s} {'B':>5s} {'C++ optimum':>14s} {'SCIP optimum':>14s} {'|diff|':>9s} " \
          f"{'C++ ub-SCIP':>11s} {'SCIP F-B':>9s} {'C++ ms':>7s} {'nodes':>6s} {'SCIP s':>7s}  status"
    print(hdr)
    print("-" * len(hdr))
    worst = 0.0
    failures = 0
    for inst in instances:
        s = solve_scip(inst)
        diff = abs(inst["objective"] - s["obj"])
        worst = max(worst, diff)
        # The C++ certificate must cover SCIP's point, and the two optima must agree.
        # (SCIP's point may exceed the budget by its feasibility tolerance, 1e-9 relative, which is
        # worth ~1e-9 of objective: the certificate comparison allows 1e-8.)
        ok = (s["status"] in ("optimal", "gaplimit") and diff <= args.tol
              and inst["upper_bound"] >= s["obj"] - 1e-8 and s["dual"] >= inst["objective"] - 1e-8)
        failures += not ok
        print(f"{inst['name']:28s} {len(inst['groups']):3d} {inst['budget']:5.2f} {inst['objective']:14.9f} "
              f"{s['obj']:14.9f} {diff:9.2e} {inst['upper_bound'] - s['obj']:11.2e} "
              f"{s['foot'] - inst['budget']:9.1e} {inst['solve_ms']:7.2f} "
              f"{inst['nodes']:6d} {s['secs']:7.2f}  {s['status']}{'' if ok else '  MISMATCH'}")
    print(f"\n{len(instances)} instances, max |C++ - SCIP| = {worst:.2e}, {failures} mismatches (tol {args.tol:g})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
