// Reductions at ResNet / ViT sizes; GB/s = input bytes read (+ output written).
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "kernels/ops.h"

using namespace pleas;

namespace {
void run(benchmark::State& st, const Shape& s, const std::vector<int>& dims, ReduceOp op) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::full(s, 0.5, DType::f32, dev);
  int64_t out = 0;
  for (auto _ : st) {
    Tensor y = reduce(x, dims, op);
    out = y.numel();
    bench::sync(dev);
  }
  bench::set_bytes(st, double(x.nbytes()) + 4.0 * double(out));
}
}  // namespace

// Spatial sum of [64, 256, 14, 14] over (H, W): rows of 196.
static void BM_SumSpatial(benchmark::State& st) { run(st, {64, 256, 14, 14}, {2, 3}, ReduceOp::sum); }
BENCHMARK(BM_SumSpatial)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Mean over the batch of ViT tokens [256, 197, 768] -> [197, 768] (reduced dim leading).
static void BM_MeanBatch(benchmark::State& st) { run(st, {256, 197, 768}, {0}, ReduceOp::mean); }
BENCHMARK(BM_MeanBatch)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Per-channel sum of [32, 64, 56, 56] over (N, H, W): needs the permuted copy.
static void BM_SumPerChannel(benchmark::State& st) { run(st, {32, 64, 56, 56}, {0, 2, 3}, ReduceOp::sum); }
BENCHMARK(BM_SumPerChannel)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Max of all 8M elements (K = 1).
static void BM_AmaxAll(benchmark::State& st) { run(st, {32, 64, 64, 64}, {}, ReduceOp::max); }
BENCHMARK(BM_AmaxAll)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
