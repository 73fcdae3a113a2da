// Dense linear assignment (Jonker–Volgenant shortest augmenting paths), n = 64 ... 4096.
#include <benchmark/benchmark.h>

#include <random>

#include "pleas/lap.h"

static void BM_Assignment(benchmark::State& st) {
  const int64_t n = st.range(0);
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> c(size_t(n * n));
  for (auto& x : c) x = u(rng);
  for (auto _ : st) benchmark::DoNotOptimize(pleas::solve_assignment(c, n, true));
  st.SetLabel("uniform random costs, maximise");
}
BENCHMARK(BM_Assignment)->RangeMultiplier(4)->Range(64, 4096)->Unit(benchmark::kMillisecond);
