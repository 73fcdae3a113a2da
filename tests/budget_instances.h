// Random budget problems for tests, benchmarks and the SCIP cross-check: leave-one-out
// accuracies drawn around a merged / ensemble pair, on a given group structure.
#pragma once
#include <random>
#include <string>

#include "pleas/budget_solver.h"

namespace pleas::test {

// A_m ~ 0.30, A_e ~ 0.75; keeping one group separate gains up to ~8 points (sometimes slightly
// hurts), merging one group of the ensemble loses up to ~4 points (sometimes slightly helps), so
// a few weights come out negative.
inline BudgetProblem random_budget_problem(const FootprintModel& model, Metric metric, double B,
                                           uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  const double Am = 0.25 + 0.1 * u(rng), Ae = 0.7 + 0.1 * u(rng);
  std::vector<double> R0(model.groups.size()), R1(model.groups.size());
  for (size_t g = 0; g < R0.size(); ++g) {
    R1[g] = Am - 0.01 + 0.09 * u(rng) * u(rng);
    R0[g] = Ae + 0.005 - 0.045 * u(rng) * u(rng);
  }
  BudgetProblem p;
  p.model = model;
  p.metric = metric;
  p.budget = B;
  p.w = loo_weights(Am, Ae, R0, R1, B);
  return p;
}

// Harder: every group worth about what it costs, w_g ∝ ∂Footprint/∂r_g at r = 0.5 times
// (1 + noise·U(-1/2, 1/2)), so many configurations are nearly optimal.
inline BudgetProblem gradient_budget_problem(const FootprintModel& model, Metric metric, double B,
                                             double noise, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  BudgetProblem p;
  p.model = model;
  p.metric = metric;
  p.budget = B;
  std::vector<double> r(model.groups.size(), 0.5);
  const double f = footprint(model, r, metric);
  for (size_t g = 0; g < r.size(); ++g) {
    auto r2 = r;
    r2[g] = 1.0;  // the footprint is affine in each r_g
    const double grad = (footprint(model, r2, metric) - f) / 0.5 / f;
    p.w.push_back(grad * (1 + noise * (u(rng) - 0.5)));
  }
  return p;
}

struct NamedStructure { std::string name; FootprintModel model; };
inline std::vector<NamedStructure> resnet_structures() {
  return {{"resnet18", footprint_resnet18()},
          {"resnet50", footprint_resnet50()},
          {"resnet20", footprint_cifar_resnet(3)}};
}

}  // namespace pleas::test
