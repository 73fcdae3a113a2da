// layer_norm at ViT-B/16 size [64, 197, 768]; GB/s of read x + write y.
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "kernels/ops.h"

using namespace pleas;

static void BM_LayerNorm(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::full({64, 197, 768}, 0.5, DType::f32, dev);
  Tensor w = Tensor::full({768}, 1.5, DType::f32, dev), b = Tensor::full({768}, 0.1, DType::f32, dev);
  for (auto _ : st) {
    Tensor y = layer_norm(x, w, b, 1e-6);
    bench::sync(dev);
  }
  bench::set_bytes(st, 2.0 * x.nbytes());
}
BENCHMARK(BM_LayerNorm)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
