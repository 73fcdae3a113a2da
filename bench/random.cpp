// Philox fills of 16M elements (a large ResNet layer's weights several times over);
// GB/s = bytes written.
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "kernels/ops.h"

using namespace pleas;

namespace {
void run(benchmark::State& st, DType dt, bool normal) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor t = Tensor::empty({1 << 24}, dt, dev);
  uint64_t seed = 0;
  for (auto _ : st) {
    if (normal) fill_normal_(t, ++seed);
    else fill_uniform_(t, ++seed);
    bench::sync(dev);
  }
  bench::set_bytes(st, double(t.nbytes()));
}
}  // namespace

static void BM_FillUniformF32(benchmark::State& st) { run(st, DType::f32, false); }
BENCHMARK(BM_FillUniformF32)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
static void BM_FillNormalF32(benchmark::State& st) { run(st, DType::f32, true); }
BENCHMARK(BM_FillNormalF32)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
static void BM_FillUniformF64(benchmark::State& st) { run(st, DType::f64, false); }
BENCHMARK(BM_FillUniformF64)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
static void BM_FillNormalF64(benchmark::State& st) { run(st, DType::f64, true); }
BENCHMARK(BM_FillNormalF64)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
