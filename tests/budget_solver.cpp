// Global budget solver: brute force on small instances, certified gaps on ResNet-structured
// instances, an analytic non-convex case, edge cases, rounding to integer k, and the
// leave-one-out weights. With PLEAS_BUDGET_DUMP=path the ResNet instances and the solver's
// optima are written as JSON for tools/check_budget_scip.py.
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "budget_instances.h"
#include "test_util.h"

using namespace pleas;

namespace {

// The footprint written out term by term (independent of pleas::footprint): per term the
// coefficient times d_a d_b (1 + r_a + r_b - r_a r_b), d (1 + r) or 1.
struct FlatFootprint {
  struct T { int a, b; double k; };
  std::vector<T> terms;
  FlatFootprint(const BudgetProblem& p) {
    for (const auto& t : p.model.terms) {
      double k = p.metric == Metric::params ? t.params : t.flops;
      if (t.in >= 0) k *= double(p.model.groups[size_t(t.in)].d);
      if (t.out >= 0) k *= double(p.model.groups[size_t(t.out)].d);
      terms.push_back({t.in, t.out, k});
    }
  }
  double operator()(const std::vector<double>& r) const {
    double f = 0;
    for (const auto& t : terms) {
      const double ra = t.a >= 0 ? r[size_t(t.a)] : 0, rb = t.b >= 0 ? r[size_t(t.b)] : 0;
      if (t.a >= 0 && t.b >= 0) f += t.k * (1 + ra + rb - ra * rb);
      else if (t.a >= 0 || t.b >= 0) f += t.k * (1 + ra + rb);
      else f += t.k;
    }
    return f;
  }
};

// Grid brute force: groups 0..G-2 on the grid {0, 1/steps, ..., 1}, the last group at its best
// feasible value (the footprint is affine in each r_g). Every point it returns is feasible, and
// rounding an optimum down onto the grid keeps it feasible (the footprint is increasing) and
// loses at most Σ_{g<G-1, w_g>0} w_g / steps, so  grid <= optimum <= grid + that.
double brute_force(const BudgetProblem& p, int steps, std::vector<double>& best_r) {
  const FlatFootprint F(p);
  const int G = int(p.w.size());
  const double cap = p.budget * F(std::vector<double>(size_t(G), 0.0));
  std::vector<int> idx(size_t(G - 1), 0);
  std::vector<double> r(size_t(G), 0.0);
  double best = -1e300;
  while (true) {
    for (int g = 0; g < G - 1; ++g) r[size_t(g)] = double(idx[size_t(g)]) / steps;
    r[size_t(G - 1)] = 0;
    const double f0 = F(r);
    if (f0 <= cap) {
      double last = 0;
      if (p.w[size_t(G - 1)] > 0) {
        r[size_t(G - 1)] = 1;
        const double f1 = F(r);
        last = f1 <= cap ? 1.0 : (cap - f0) / (f1 - f0);
      }
      r[size_t(G - 1)] = last;
      double obj = 0;
      for (int g = 0; g < G; ++g) obj += p.w[size_t(g)] * r[size_t(g)];
      if (obj > best) { best = obj; best_r = r; }
    }
    int g = 0;
    while (g < G - 1 && ++idx[size_t(g)] > steps) idx[size_t(g++)] = 0;
    if (g == G - 1) break;
  }
  return best;
}

// Random small footprint: G groups, random pair terms (sometimes same-group), single-axis and
// constant terms.
FootprintModel random_small_model(int G, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  FootprintModel m;
  for (int g = 0; g < G; ++g) m.add_group("g" + std::to_string(g), 4 + int64_t(u(rng) * 60));
  for (int a = 0; a < G; ++a)
    for (int b = 0; b < G; ++b)
      if (u(rng) < (a == b ? 0.1 : 0.35)) m.terms.push_back({"pair", TermKind::conv, a, b, 1 + 8 * u(rng), 0});
  for (int g = 0; g < G; ++g)
    if (u(rng) < 0.5) m.terms.push_back({"single", TermKind::norm, -1, g, 30 * u(rng), 0});
  m.terms.push_back({"const", TermKind::bias, -1, -1, 100, 0});
  return m;
}

void expect_feasible(const BudgetProblem& p, const SolveResult& res) {
  ASSERT_EQ(res.r.size(), p.w.size());
  for (double x : res.r) { EXPECT_GE(x, 0.0); EXPECT_LE(x, 1.0); }
  EXPECT_LE(relative_footprint(p.model, res.r, p.metric), p.budget + 1e-9);
  double obj = 0;
  for (size_t g = 0; g < p.w.size(); ++g) obj += p.w[g] * res.r[g];
  EXPECT_NEAR(obj, res.objective, 1e-12);
  EXPECT_GE(res.upper_bound, res.objective);
}

}  // namespace

TEST(BudgetSolver, AgreesWithBruteForceOnResNet8) {
  // CIFAR ResNet-8 (one block per stage): 6 groups, streams and block-internal sets.
  const auto model = footprint_cifar_resnet(1);
  ASSERT_EQ(model.groups.size(), 6u);
  const int steps = 24;
  int instance = 0;
  for (Metric metric : {Metric::flops, Metric::params})
    for (double B : {1.2, 1.5, 1.8}) {
      const auto p = test::random_budget_problem(model, metric, B, 100 + uint64_t(instance++));
      std::vector<double> grid_r;
      const double grid = brute_force(p, steps, grid_r);
      const auto res = solve_budget(p);
      SCOPED_TRACE(::testing::Message() << "B " << B << " solver " << res.objective << " grid " << grid);
      expect_feasible(p, res);
      EXPECT_TRUE(res.optimal);
      EXPECT_LE(res.gap, 1e-6);
      double lip = 0;
      for (size_t g = 0; g + 1 < p.w.size(); ++g) lip += std::max(0.0, p.w[g]);
      EXPECT_GE(res.objective, grid - 1e-9);
      EXPECT_LE(res.objective, grid + lip / steps + 1e-9);
      EXPECT_GE(res.upper_bound, grid - 1e-12);  // the certificate covers the grid's point
    }
}

TEST(BudgetSolver, AgreesWithBruteForceOnRandomSmallModels) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 12; ++trial) {
    const int G = 3 + trial % 3;  // 3..5 groups, fine grid
    BudgetProblem p;
    p.model = random_small_model(G, 500 + uint64_t(trial));
    p.metric = Metric::params;
    p.budget = 1.1 + 0.8 * u(rng);
    for (int g = 0; g < G; ++g) p.w.push_back(u(rng) < 0.2 ? -0.02 * u(rng) : 0.1 * u(rng));
    const int steps = 40;
    std::vector<double> grid_r;
    const double grid = brute_force(p, steps, grid_r);
    const auto res = solve_budget(p);
    SCOPED_TRACE(::testing::Message() << "trial " << trial << " G " << G << " B " << p.budget
                                      << " solver " << res.objective << " grid " << grid);
    expect_feasible(p, res);
    EXPECT_LE(res.gap, 1e-6);
    double lip = 0;
    for (int g = 0; g + 1 < G; ++g) lip += std::max(0.0, p.w[size_t(g)]);
    EXPECT_GE(res.objective, grid - 1e-9);
    EXPECT_LE(res.objective, grid + lip / steps + 1e-9);
    for (int g = 0; g < G; ++g)
      if (p.w[size_t(g)] <= 0) { EXPECT_EQ(res.r[size_t(g)], 0.0); }
  }
}

TEST(BudgetSolver, AnalyticNonConvexOptimum) {
  // One 1x1 layer between groups a and b: Footprint/F0 = 1 + r_a + r_b - r_a r_b, i.e.
  // m_a m_b >= 2 - B. Maximising w_a r_a + w_b r_b = minimising w_a m_a + w_b m_b on the
  // hyperbola: m_a = sqrt((2-B) w_b / w_a), m_b = sqrt((2-B) w_a / w_b) (both interior), where
  // the McCormick relaxation at the root is loose (bound min(m_a, m_b) >= 2 - B).
  const auto model = footprint_from_layers({{"a", 1}, {"b", 1}}, {{"l", TermKind::linear, "a", "b", 1, 1}});
  for (auto [wa, wb, B] : std::vector<std::array<double, 3>>{{1, 1, 1.75}, {1, 1.5, 1.5}, {3, 1, 1.9}}) {
    BudgetProblem p{model, Metric::params, {wa, wb}, B};
    const auto res = solve_budget(p);
    const double ma = std::sqrt((2 - B) * wb / wa), mb = std::sqrt((2 - B) * wa / wb);
    ASSERT_LT(ma, 1.0);
    ASSERT_LT(mb, 1.0);
    const double opt = wa * (1 - ma) + wb * (1 - mb);
    EXPECT_NEAR(res.objective, opt, 1e-6);
    EXPECT_LE(res.objective, opt + 1e-12);
    EXPECT_GE(res.upper_bound, opt - 1e-12);
    EXPECT_LE(res.gap, 1e-6);
    EXPECT_NEAR(res.r[0], 1 - ma, 1e-3);
    EXPECT_NEAR(res.r[1], 1 - mb, 1e-3);
  }
}

TEST(BudgetSolver, CertifiedGapOnResNetStructures) {
  for (const auto& s : test::resnet_structures()) {
    for (int seed = 0; seed < 24; ++seed) {
      const Metric metric = seed % 2 ? Metric::params : Metric::flops;
      const double B = 1.05 + 0.9 * double(seed % 12) / 11.0;
      const auto p = test::random_budget_problem(s.model, metric, B, uint64_t(seed));
      const auto res = solve_budget(p);
      SCOPED_TRACE(::testing::Message() << s.name << " seed " << seed << " B " << B << " nodes "
                                        << res.nodes << " gap " << res.gap);
      expect_feasible(p, res);
      EXPECT_TRUE(res.optimal);
      EXPECT_LE(res.gap, 1e-6);
      // Merged groups with non-positive value stay merged.
      for (size_t g = 0; g < p.w.size(); ++g)
        if (p.w[g] <= 0) { EXPECT_EQ(res.r[g], 0.0); }
      // The budget binds unless every positive-value group is fully separate.
      bool all_sep = true;
      for (size_t g = 0; g < p.w.size(); ++g) all_sep &= p.w[g] <= 0 || res.r[g] == 1.0;
      if (!all_sep) { EXPECT_NEAR(res.relative_footprint, B, 1e-9); }
    }
  }
}

TEST(BudgetSolver, CertifiedGapOnNearlyTiedInstances) {
  for (const auto& s : test::resnet_structures()) {
    for (int seed = 0; seed < 12; ++seed) {
      const double B = 1.1 + 0.07 * seed;
      const auto p = test::gradient_budget_problem(s.model, seed % 2 ? Metric::params : Metric::flops, B,
                                                   seed < 6 ? 0.02 : 0.3, uint64_t(seed));
      const auto res = solve_budget(p);
      SCOPED_TRACE(::testing::Message() << s.name << " seed " << seed << " nodes " << res.nodes);
      expect_feasible(p, res);
      EXPECT_TRUE(res.optimal);
      EXPECT_LE(res.gap, 1e-6);
    }
  }
}

TEST(BudgetSolver, TighterGapAndUniformWeights) {
  // Weights unrelated to the LOO model, and a gap of 1e-9.
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  const auto model = footprint_resnet50();
  for (int trial = 0; trial < 6; ++trial) {
    BudgetProblem p{model, trial % 2 ? Metric::params : Metric::flops, {}, 1.2 + 0.12 * trial};
    for (size_t g = 0; g < model.groups.size(); ++g) p.w.push_back(u(rng));
    SolveOptions o;
    o.gap_tol = 1e-9;
    const auto res = solve_budget(p, o);
    expect_feasible(p, res);
    EXPECT_LE(res.gap, 1e-9) << "trial " << trial;
    // The default tolerance finds the same optimum within 1e-6.
    EXPECT_NEAR(solve_budget(p).objective, res.objective, 1e-6);
  }
}

TEST(BudgetSolver, EarlyStopKeepsAValidCertificate) {
  // Stopped after a few nodes the solver is not optimal, but its bound still covers the optimum.
  const auto p = test::gradient_budget_problem(footprint_resnet({3, 4, 23, 3}, true), Metric::flops,
                                               1.42, 0.1, 4);
  const auto full = solve_budget(p);
  ASSERT_TRUE(full.optimal);
  for (int64_t max_nodes : {1, 5, 50}) {
    SolveOptions o;
    o.max_nodes = max_nodes;
    const auto res = solve_budget(p, o);
    expect_feasible(p, res);
    EXPECT_LE(res.nodes, max_nodes);
    EXPECT_FALSE(res.optimal);
    EXPECT_GT(res.gap, 1e-6);
    EXPECT_GE(res.upper_bound, full.objective - 1e-12);
    EXPECT_LE(res.objective, full.upper_bound + 1e-12);
  }
}

TEST(BudgetSolver, EdgeCases) {
  const auto model = footprint_resnet18();
  auto p = test::random_budget_problem(model, Metric::flops, 1.0, 1);
  for (auto& w : p.w) w = std::fabs(w) + 0.01;
  // B = 1: only the fully merged model fits (every group has terms).
  auto res = solve_budget(p);
  for (double r : res.r) EXPECT_LE(r, 1e-9);
  EXPECT_LE(res.relative_footprint, 1.0 + 1e-12);
  EXPECT_LE(res.gap, 1e-6);
  // B = 2: everything separate.
  p.budget = 2.0;
  res = solve_budget(p);
  for (double r : res.r) EXPECT_EQ(r, 1.0);
  EXPECT_NEAR(res.relative_footprint, 2.0, 1e-12);
  // Negative and zero weights: those groups stay merged even with room to spare.
  p.w[0] = -0.5;
  p.w[3] = 0.0;
  res = solve_budget(p);
  EXPECT_EQ(res.r[0], 0.0);
  EXPECT_EQ(res.r[3], 0.0);
  EXPECT_EQ(res.r[5], 1.0);
  // All weights negative: the merged model, objective 0.
  for (auto& w : p.w) w = -std::fabs(w) - 0.01;
  p.budget = 1.5;
  res = solve_budget(p);
  for (double r : res.r) EXPECT_EQ(r, 0.0);
  EXPECT_EQ(res.objective, 0.0);
  EXPECT_EQ(res.gap, 0.0);
  // Infeasible budget and malformed problems.
  p.budget = 0.99;
  try {
    solve_budget(p);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("solve_budget: budget B = 0.99 is infeasible"), std::string::npos) << e.what();
  }
  p.budget = 1.5;
  p.w.pop_back();
  EXPECT_THROW(solve_budget(p), Error);
  p.w.push_back(std::nan(""));
  EXPECT_THROW(solve_budget(p), Error);
}

TEST(BudgetSolver, RoundingKeepsBudget) {
  for (const auto& s : test::resnet_structures()) {
    for (int seed = 0; seed < 6; ++seed) {
      const double B = 1.1 + 0.15 * seed;
      const auto p = test::random_budget_problem(s.model, seed % 2 ? Metric::params : Metric::flops, B,
                                                 1000 + uint64_t(seed));
      const auto res = solve_budget(p);
      for (int64_t q : {int64_t(1), int64_t(8)}) {
        const auto rk = round_to_k(p, res, q);
        SCOPED_TRACE(::testing::Message() << s.name << " seed " << seed << " q " << q << " loss "
                                          << rk.objective_loss);
        ASSERT_EQ(rk.k.size(), p.w.size());
        for (size_t g = 0; g < rk.k.size(); ++g) {
          const int64_t d = p.model.groups[g].d;
          EXPECT_GE(rk.k[g], 0);
          EXPECT_LE(rk.k[g], d);
          EXPECT_TRUE(rk.k[g] % q == 0 || rk.k[g] == d) << rk.k[g];
          EXPECT_DOUBLE_EQ(rk.r[g], 1.0 - double(rk.k[g]) / double(d));
          if (p.w[g] <= 0) { EXPECT_EQ(rk.k[g], d); }
        }
        EXPECT_LE(rk.relative_footprint, B + 1e-12);
        EXPECT_NEAR(rk.relative_footprint, relative_footprint(p.model, rk.r, p.metric), 1e-15);
        // Rounding is feasible, so it cannot beat the certified bound; it stays close.
        EXPECT_LE(rk.objective, res.upper_bound + 1e-12);
        EXPECT_GE(rk.objective_loss, -res.gap - 1e-12);
        EXPECT_LT(rk.objective_loss, q == 1 ? 0.01 : 0.05);
      }
    }
  }
}

TEST(BudgetSolver, LeaveOneOutWeights) {
  const double Am = 0.3, Ae = 0.8;
  const std::vector<double> R0 = {0.78, 0.7, 0.81}, R1 = {0.35, 0.31, 0.29};
  auto w1 = loo_weights(Am, Ae, R0, R1, 1.0);
  auto w2 = loo_weights(Am, Ae, R0, R1, 2.0);
  auto wh = loo_weights(Am, Ae, R0, R1, 1.25);
  for (size_t g = 0; g < 3; ++g) {
    EXPECT_DOUBLE_EQ(w1[g], R1[g] - Am);
    EXPECT_DOUBLE_EQ(w2[g], Ae - R0[g]);
    EXPECT_DOUBLE_EQ(wh[g], 0.75 * (R1[g] - Am) + 0.25 * (Ae - R0[g]));
  }
  // Predicted accuracy: A_m with everything merged at B = 1, A_e with nothing merged at B = 2,
  // and one group's leave-one-out value at the matching end.
  EXPECT_DOUBLE_EQ(loo_predicted_accuracy(Am, Ae, R0, R1, 1.0, {0, 0, 0}), Am);
  EXPECT_DOUBLE_EQ(loo_predicted_accuracy(Am, Ae, R0, R1, 1.0, {0, 1, 0}), R1[1]);
  EXPECT_NEAR(loo_predicted_accuracy(Am, Ae, R0, R1, 2.0, {1, 1, 1}), Ae, 1e-15);
  EXPECT_NEAR(loo_predicted_accuracy(Am, Ae, R0, R1, 2.0, {1, 0, 1}), R0[1], 1e-15);
  EXPECT_THROW(loo_weights(Am, Ae, R0, {0.1}, 1.5), Error);
  EXPECT_THROW(loo_weights(Am, Ae, R0, R1, 2.5), Error);
}

TEST(BudgetSolver, DumpInstancesForScip) {
  // 42 instances on the three ResNet structures (solved here, gap checked): 10 random
  // leave-one-out and 4 nearly tied per structure; written as JSON when PLEAS_BUDGET_DUMP names
  // a file.
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : test::resnet_structures()) {
    for (int seed = 0; seed < 14; ++seed) {
      const Metric metric = seed % 2 ? Metric::params : Metric::flops;
      const bool tied = seed >= 10;
      const double B = tied ? 1.15 + 0.2 * (seed - 10) : 1.1 + 0.08 * seed;
      const auto p = tied ? test::gradient_budget_problem(s.model, metric, B, 0.05, 7000 + uint64_t(seed))
                          : test::random_budget_problem(s.model, metric, B, 7000 + uint64_t(seed));
      const auto res = solve_budget(p);
      EXPECT_LE(res.gap, 1e-6);
      nlohmann::json groups = nlohmann::json::array(), terms = nlohmann::json::array();
      for (const auto& g : p.model.groups) groups.push_back({{"name", g.name}, {"d", g.d}});
      for (const auto& t : p.model.terms)
        terms.push_back({{"in", t.in}, {"out", t.out}, {"c", term_coefficient(t, metric)}});
      out.push_back({{"name", s.name + "/" + (metric == Metric::params ? "params" : "flops") +
                                  (tied ? "/tied" : "/loo") + std::to_string(seed)},
                     {"budget", B}, {"w", p.w}, {"groups", groups}, {"terms", terms},
                     {"objective", res.objective}, {"upper_bound", res.upper_bound},
                     {"r", res.r}, {"nodes", res.nodes}, {"solve_ms", res.solve_ms}});
    }
  }
  if (const char* path = std::getenv("PLEAS_BUDGET_DUMP")) {
    std::ofstream f(path);
    ASSERT_TRUE(f.good()) << path;
    f << out.dump(1) << "\n";
  }
}
