// Binary elementwise ops: residual add (same shape), per-channel broadcast, in-place add_,
// and a strided (channels-last) operand; GB/s of tensor traffic.
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "kernels/ops.h"

using namespace pleas;

namespace {
const Shape kResNet{32, 64, 56, 56};
}

static void BM_AddSameShape(benchmark::State& st) {  // ResNet residual
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor a = Tensor::full(kResNet, 0.5, DType::f32, dev), b = Tensor::full(kResNet, 0.25, DType::f32, dev);
  for (auto _ : st) {
    Tensor y = add(a, b);
    bench::sync(dev);
  }
  bench::set_bytes(st, 3.0 * a.nbytes());
}
BENCHMARK(BM_AddSameShape)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_MulChannelBroadcast(benchmark::State& st) {  // [N,C,H,W] * [C,1,1]
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor a = Tensor::full(kResNet, 0.5, DType::f32, dev), b = Tensor::full({64, 1, 1}, 2.0, DType::f32, dev);
  for (auto _ : st) {
    Tensor y = mul(a, b);
    bench::sync(dev);
  }
  bench::set_bytes(st, 2.0 * a.nbytes());
}
BENCHMARK(BM_MulChannelBroadcast)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_AddInPlaceViT(benchmark::State& st) {  // ViT residual x += attn(x)
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor a = Tensor::full({64, 197, 768}, 0.5, DType::f32, dev);
  Tensor b = Tensor::full({64, 197, 768}, 1e-3, DType::f32, dev);
  for (auto _ : st) {
    add_(a, b);
    bench::sync(dev);
  }
  bench::set_bytes(st, 3.0 * a.nbytes());
}
BENCHMARK(BM_AddInPlaceViT)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_SubStrided(benchmark::State& st) {  // NCHW - channels-last view
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor a = Tensor::full(kResNet, 0.5, DType::f32, dev);
  Tensor b = Tensor::full({32, 56, 56, 64}, 0.25, DType::f32, dev).permute({0, 3, 1, 2});
  for (auto _ : st) {
    Tensor y = sub(a, b);
    bench::sync(dev);
  }
  bench::set_bytes(st, 3.0 * a.nbytes());
}
BENCHMARK(BM_SubStrided)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
