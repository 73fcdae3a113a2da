// Per-layer merging budget (PLeaS, Appendix A.2): choose the fraction r_g of units of each
// permutation group kept separate so as to maximise a leave-one-out accuracy proxy under a
// footprint budget, solved to certified global optimality.
//
//   maximise   Σ_g w_g·r_g
//   subject to Footprint(r) <= B·Footprint(0),   0 <= r_g <= 1.
//
// With m_g = 1 - r_g (fraction merged) the constraint reads g(m) := Σ_e C_e·m_a·m_b + Σ_g U_g·m_g
// >= T with C_e, U_g >= 0 (see budget_footprint.h): a monotone multilinear function, so the
// feasible set is not convex. Method (budget_solver.cpp):
//   * groups with w_g <= 0 are fixed at r_g = 0 (merging them never costs objective and g is
//     monotone, so some optimum has them merged);
//   * spatial branch-and-bound over boxes [l, u] of m. Node bound: the McCormick relaxation,
//     computed exactly without an LP: in normalised coordinates s = (m - l)/(u - l) the concave
//     envelope of m_a·m_b is affine + C·δ_a·δ_b·min(s_a, s_b), the Lovász extension of a
//     supermodular pair term, so the Lagrangian of the relaxation at multiplier λ is a
//     submodular pseudo-Boolean minimisation = one s-t min cut, and the relaxation's optimum is
//     max_λ of a concave piecewise-linear function, found exactly by Newton's method on its
//     pieces (parametric min cut). Every λ's value (min-cut value taken as the max-flow value)
//     is a valid lower bound of the node, so the certificate does not depend on convergence;
//   * bound tightening from the constraint (a coordinate cannot drop below what the others at
//     their upper bounds allow) and from the incumbent;
//   * incumbents: the feasible vertex of every node's relaxation and the repaired relaxation
//     point, polished by exact one- and two-coordinate moves (closed form on the hyperbola).
// The gap is ABSOLUTE, in objective units: upper_bound - objective <= gap_tol on success.
#pragma once
#include <cstdint>
#include <vector>

#include "pleas/budget_footprint.h"

namespace pleas {

struct BudgetProblem {
  FootprintModel model;
  Metric metric = Metric::flops;
  std::vector<double> w;  // value per unit of r_g of keeping group g separate (loo_weights)
  double budget = 1.5;    // B: Footprint(r) <= B·Footprint(0); must be >= 1
};

struct SolveOptions {
  double gap_tol = 1e-6;          // absolute, on Σ w_g r_g
  int64_t max_nodes = 2000000;    // stop early (optimal = false, gap still certified) past
  double time_limit_ms = 0;       // ... this many nodes or milliseconds (0: no time limit)
  double feas_tol = 1e-12;        // allowed violation of Footprint(r)/Footprint(0) <= B
};

struct SolveResult {
  std::vector<double> r;         // per group, in [0, 1]
  double objective = 0;          // Σ w_g r_g at r
  double upper_bound = 0;        // certified: every feasible r has Σ w r <= upper_bound
  double gap = 0;                // upper_bound - objective (absolute)
  double relative_footprint = 0; // Footprint(r) / Footprint(0) (<= B + feas_tol)
  int64_t nodes = 0;             // branch-and-bound nodes processed
  double solve_ms = 0;
  bool optimal = false;          // gap <= gap_tol
};

// Throws pleas::Error when B < 1 (infeasible: even the fully merged model exceeds it), when w has
// the wrong size or is not finite.
SolveResult solve_budget(const BudgetProblem& problem, const SolveOptions& options = {});

struct RoundedBudget {
  std::vector<int64_t> k;          // merged units per group, multiples of `multiple_of` or d_g
  std::vector<double> r;           // 1 - k/d
  double objective = 0;            // Σ w r after rounding
  double objective_loss = 0;       // result.objective - objective (what rounding cost)
  double relative_footprint = 0;   // <= B
};
// Integer k_g: nearest admissible k to (1 - r_g)·d_g, then (while over budget) merge more units
// where it costs least objective per footprint saved, then improving moves that stay within
// budget, best first: un-merge one step of a group, or swap (un-merge one step of one group,
// merge one step more of another). A heuristic: objective_loss reports what it cost.
// Admissible k: multiples of multiple_of in [0, d_g], and d_g itself.
RoundedBudget round_to_k(const BudgetProblem& problem, const SolveResult& result, int64_t multiple_of = 1);

// Leave-one-out proxy. merged = A_m (all groups merged), ensemble = A_e (none merged),
// only_merged[g] = R0_g (only g merged), only_separate[g] = R1_g (only g kept separate).
// At B in [1, 2] the value of keeping g separate interpolates the two one-at-a-time effects:
//     w_g = (2 - B)·(R1_g - A_m) + (B - 1)·(A_e - R0_g)
// (near B = 1 most groups are merged, so the effect measured around full merging counts; near
// B = 2 the effect measured around the ensemble does). The paper's printed Acc(K) has this form
// with its leave-one-out labels in an ambiguous order; this is the reading where each term is a
// first-order effect around the configuration the budget is close to.
std::vector<double> loo_weights(double merged, double ensemble, const std::vector<double>& only_merged,
                                const std::vector<double>& only_separate, double budget);
// Predicted accuracy: the same interpolation of the two first-order models,
//     (2 - B)·[A_m + Σ_g (R1_g - A_m)·r_g] + (B - 1)·[A_e - Σ_g (A_e - R0_g)·(1 - r_g)]
//   = C(B) + Σ_g w_g·r_g,   C(B) = (2 - B)·A_m + (B - 1)·(A_e - Σ_g (A_e - R0_g)),
// so it equals A_m at (B = 1, r = 0) and A_e at (B = 2, r = 1), and its argmax is the solver's.
double loo_predicted_accuracy(double merged, double ensemble, const std::vector<double>& only_merged,
                              const std::vector<double>& only_separate, double budget,
                              const std::vector<double>& r);

}  // namespace pleas
