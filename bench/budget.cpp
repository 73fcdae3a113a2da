// Budget solver: time to the certified optimum (absolute gap 1e-6) at B = 1.5, cycling through
// 16 random leave-one-out instances per structure (BM_BudgetSolve), and through 16 nearly tied
// ones (w ∝ footprint gradient, BM_BudgetSolveTied). Counters: nodes per solve, worst solve.
#include <benchmark/benchmark.h>

#include <algorithm>

#include "../tests/budget_instances.h"

using namespace pleas;

static void run(benchmark::State& st, const std::vector<BudgetProblem>& problems) {
  size_t i = 0;
  double nodes = 0, worst_ms = 0, solves = 0;
  for (auto _ : st) {
    const auto res = solve_budget(problems[i++ % problems.size()]);
    if (!res.optimal) st.SkipWithError("not solved to the gap");
    benchmark::DoNotOptimize(res.objective);
    nodes += double(res.nodes);
    worst_ms = std::max(worst_ms, res.solve_ms);
    solves += 1;
  }
  st.counters["nodes"] = nodes / std::max(1.0, solves);
  st.counters["worst_ms"] = worst_ms;
}

static FootprintModel structure(const std::string& name) {
  if (name == "resnet18") return footprint_resnet18();
  if (name == "resnet50") return footprint_resnet50();
  return footprint_cifar_resnet(3);
}

static void BM_BudgetSolve(benchmark::State& st, std::string name) {
  const auto model = structure(name);
  std::vector<BudgetProblem> problems;
  for (uint64_t seed = 0; seed < 16; ++seed)
    problems.push_back(test::random_budget_problem(model, Metric::flops, 1.5, seed));
  run(st, problems);
}
BENCHMARK_CAPTURE(BM_BudgetSolve, resnet18, std::string("resnet18"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BudgetSolve, resnet50, std::string("resnet50"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BudgetSolve, resnet20, std::string("resnet20"))->Unit(benchmark::kMillisecond);

static void BM_BudgetSolveTied(benchmark::State& st, std::string name) {
  const auto model = structure(name);
  std::vector<BudgetProblem> problems;
  for (uint64_t seed = 0; seed < 16; ++seed)
    problems.push_back(test::gradient_budget_problem(model, Metric::flops, 1.5, seed < 8 ? 0.02 : 0.3, seed));
  run(st, problems);
}
BENCHMARK_CAPTURE(BM_BudgetSolveTied, resnet18, std::string("resnet18"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BudgetSolveTied, resnet50, std::string("resnet50"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BudgetSolveTied, resnet20, std::string("resnet20"))->Unit(benchmark::kMillisecond);

static void BM_BudgetRound(benchmark::State& st) {
  const auto p = test::random_budget_problem(footprint_resnet50(), Metric::flops, 1.5, 3);
  const auto res = solve_budget(p);
  for (auto _ : st) benchmark::DoNotOptimize(round_to_k(p, res, st.range(0)).objective);
}
BENCHMARK(BM_BudgetRound)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond);
