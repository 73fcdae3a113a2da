// relu (ResNet activation), relu_ in place, gelu (ViT-B MLP hidden); GB/s of read x + write y.
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "kernels/ops.h"

using namespace pleas;

static void BM_Relu(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::full({32, 64, 56, 56}, -0.5, DType::f32, dev);
  for (auto _ : st) {
    Tensor y = relu(x);
    bench::sync(dev);
  }
  bench::set_bytes(st, 2.0 * x.nbytes());
}
BENCHMARK(BM_Relu)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_ReluInPlace(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::full({32, 64, 56, 56}, 0.5, DType::f32, dev);
  for (auto _ : st) {
    relu_(x);
    bench::sync(dev);
  }
  bench::set_bytes(st, 2.0 * x.nbytes());
}
BENCHMARK(BM_ReluInPlace)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_Gelu(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::full({64, 197, 3072}, 0.3, DType::f32, dev);  // ViT-B/16 MLP hidden
  for (auto _ : st) {
    Tensor y = gelu(x);
    bench::sync(dev);
  }
  bench::set_bytes(st, 2.0 * x.nbytes());
}
BENCHMARK(BM_Gelu)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
