// spd_solve (A + ridge·I) X = B, the least-squares solve of a conv layer's weights:
// n = 576 / 2304 / 4608 (3x3 convs of 64 / 256 / 512 channels), m = output channels.
// GFLOP/s = n³/3 (Cholesky) + 2·n²·m (two triangular solves).
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "kernels/ops.h"

using namespace pleas;

// Args: device, n, m, f64.
static void BM_SpdSolve(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  const int64_t n = st.range(1), m = st.range(2);
  const DType dt = st.range(3) ? DType::f64 : DType::f32;
  // A = 1 + n·I: diagonally dominant, positive definite.
  std::vector<double> a(size_t(n * n), 1.0);
  for (int64_t i = 0; i < n; ++i) a[size_t(i * n + i)] += double(n);
  Tensor A = Tensor::from_vector(a, {n, n}).to(dt).to(dev);
  Tensor B = Tensor::full({n, m}, 1.0, dt, dev);
  for (auto _ : st) {
    Tensor X = spd_solve(A, B, 1e-3);
    bench::sync(dev);
  }
  const double dn = double(n);
  bench::set_flops(st, dn * dn * dn / 3.0 + 2.0 * dn * dn * double(m));
}
BENCHMARK(BM_SpdSolve)
    ->ArgNames({"gpu", "n", "m", "f64"})
    ->Args({0, 576, 64, 1})->Args({1, 576, 64, 1})
    ->Args({0, 2304, 256, 1})->Args({1, 2304, 256, 1})
    ->Args({0, 2304, 256, 0})->Args({1, 2304, 256, 0})
    ->Args({0, 4608, 512, 1})->Args({1, 4608, 512, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
