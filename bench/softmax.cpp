// softmax: ViT-B/16 attention scores over the last dim, and a channel softmax over dim 1 of a
// ResNet activation (strided rows); GB/s of read x + write y.
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "kernels/ops.h"

using namespace pleas;

static void BM_SoftmaxAttention(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::full({16, 12, 197, 197}, 0.5, DType::f32, dev);
  for (auto _ : st) {
    Tensor y = softmax(x, -1);
    bench::sync(dev);
  }
  bench::set_bytes(st, 2.0 * x.nbytes());
}
BENCHMARK(BM_SoftmaxAttention)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_SoftmaxChannels(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::full({32, 64, 56, 56}, 0.5, DType::f32, dev);
  for (auto _ : st) {
    Tensor y = softmax(x, 1);
    bench::sync(dev);
  }
  bench::set_bytes(st, 2.0 * x.nbytes());
}
BENCHMARK(BM_SoftmaxChannels)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
