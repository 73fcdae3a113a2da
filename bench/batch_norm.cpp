// batch_norm (inference), scale_shift, batch_channel_stats at ResNet sizes; GB/s of tensor traffic
// (batch_norm/scale_shift: read x + write y; stats: one read of x).
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "kernels/ops.h"

using namespace pleas;

namespace {
const Shape kResNet{32, 64, 56, 56};  // ResNet-18/50 stage-1 activation
}

static void BM_BatchNorm(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::full(kResNet, 0.5, DType::f32, dev);
  Tensor w = Tensor::full({64}, 1.5, DType::f32, dev), b = Tensor::full({64}, 0.1, DType::f32, dev);
  Tensor m = Tensor::full({64}, 0.2, DType::f32, dev), v = Tensor::full({64}, 2.0, DType::f32, dev);
  for (auto _ : st) {
    Tensor y = batch_norm(x, w, b, m, v, 1e-5);
    bench::sync(dev);
  }
  bench::set_bytes(st, 2.0 * x.nbytes());
}
BENCHMARK(BM_BatchNorm)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_ScaleShift(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::full(kResNet, 0.5, DType::f32, dev);
  Tensor s = Tensor::full({64}, 1.5, DType::f32, dev), t = Tensor::full({64}, 0.1, DType::f32, dev);
  for (auto _ : st) {
    Tensor y = scale_shift(x, s, t);
    bench::sync(dev);
  }
  bench::set_bytes(st, 2.0 * x.nbytes());
}
BENCHMARK(BM_ScaleShift)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_BatchChannelStats(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::full(kResNet, 0.5, DType::f32, dev);
  for (auto _ : st) {
    ChannelStats s = batch_channel_stats(x);
    bench::sync(dev);
  }
  bench::set_bytes(st, double(x.nbytes()));
}
BENCHMARK(BM_BatchChannelStats)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
