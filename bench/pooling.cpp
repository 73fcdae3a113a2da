// Pooling on ResNet shapes, GB/s = (input + output bytes) per call. Arg: device (0 CPU, 1 CUDA).
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "kernels/ops.h"

using namespace pleas;

namespace {
template <typename F>
void run(benchmark::State& st, const Shape& shape, F op) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::full(shape, 0.5, DType::f32, dev);
  Tensor y = op(x);
  bench::sync(dev);
  for (auto _ : st) {
    y = op(x);
    bench::sync(dev);
  }
  bench::set_bytes(st, double(x.nbytes() + y.nbytes()));
}
}  // namespace

// ResNet-18/50 stem: 3x3, stride 2, pad 1 on [32, 64, 112, 112].
static void BM_MaxPool2d_Stem(benchmark::State& st) {
  run(st, {32, 64, 112, 112}, [](const Tensor& x) { return max_pool2d(x, Pool2dArgs::make(3, 2, 1)); });
}
BENCHMARK(BM_MaxPool2d_Stem)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// 2x2 stride-2 average pooling (ResNet-D shortcut / DenseNet transition) on [32, 256, 56, 56].
static void BM_AvgPool2d_2x2(benchmark::State& st) {
  run(st, {32, 256, 56, 56}, [](const Tensor& x) { return avg_pool2d(x, Pool2dArgs::make(2, 2)); });
}
BENCHMARK(BM_AvgPool2d_2x2)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// 3x3 stride-1 pad-1 average, count_include_pad = false (Inception branch) on [32, 192, 28, 28].
static void BM_AvgPool2d_3x3_ExcludePad(benchmark::State& st) {
  Pool2dArgs a = Pool2dArgs::make(3, 1, 1);
  a.count_include_pad = false;
  run(st, {32, 192, 28, 28}, [a](const Tensor& x) { return avg_pool2d(x, a); });
}
BENCHMARK(BM_AvgPool2d_3x3_ExcludePad)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// ResNet-18 head [32, 512, 7, 7] and CIFAR ResNet-20 head [128, 64, 8, 8].
static void BM_GlobalAvgPool2d_R18(benchmark::State& st) {
  run(st, {32, 512, 7, 7}, [](const Tensor& x) { return global_avg_pool2d(x); });
}
BENCHMARK(BM_GlobalAvgPool2d_R18)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();
static void BM_GlobalAvgPool2d_R20(benchmark::State& st) {
  run(st, {128, 64, 8, 8}, [](const Tensor& x) { return global_avg_pool2d(x); });
}
BENCHMARK(BM_GlobalAvgPool2d_R20)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();
