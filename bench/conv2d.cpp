// conv2d on ResNet-18 (ImageNet, 224x224) and CIFAR ResNet-20 layers, GFLOP/s with
// flops = 2·N·Cout·OH·OW·(Cin/groups)·KH·KW. Args: {device (0 CPU, 1 CUDA), batch}.
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "kernels/ops.h"

using namespace pleas;

namespace {
struct Layer {
  int64_t Cin, H, Cout, K;
  Conv2dArgs args;
};

void BM_Conv2d(benchmark::State& st, Layer l) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  const int64_t N = st.range(1);
  Tensor x = Tensor::full({N, l.Cin, l.H, l.H}, 0.5, DType::f32, dev);
  Tensor w = Tensor::full({l.Cout, l.Cin / l.args.groups, l.K, l.K}, 0.01, DType::f32, dev);
  Tensor b = Tensor::zeros({l.Cout}, DType::f32, dev);
  Tensor y = conv2d(x, w, b, l.args);  // warm-up (CUDA: algorithm choice, workspace)
  bench::sync(dev);
  for (auto _ : st) {
    y = conv2d(x, w, b, l.args);
    bench::sync(dev);
  }
  const double flops = 2.0 * double(y.numel()) * double(l.Cin / l.args.groups * l.K * l.K);
  bench::set_flops(st, flops);
}
}  // namespace

// ResNet-18 at batch 8 and 32.
#define RESNET_ARGS ->Args({0, 8})->Args({0, 32})->Args({1, 8})->Args({1, 32})
BENCHMARK_CAPTURE(BM_Conv2d, r18_stem_3to64_7x7s2_224, Layer{3, 224, 64, 7, Conv2dArgs::make(2, 3)})
    RESNET_ARGS->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, r18_64to64_3x3_56, Layer{64, 56, 64, 3, Conv2dArgs::make(1, 1)})
    RESNET_ARGS->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, r18_128to128_3x3_28, Layer{128, 28, 128, 3, Conv2dArgs::make(1, 1)})
    RESNET_ARGS->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, r18_256to256_3x3_14, Layer{256, 14, 256, 3, Conv2dArgs::make(1, 1)})
    RESNET_ARGS->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, r18_512to512_3x3_7, Layer{512, 7, 512, 3, Conv2dArgs::make(1, 1)})
    RESNET_ARGS->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, r18_down_64to128_1x1s2_56, Layer{64, 56, 128, 1, Conv2dArgs::make(2, 0)})
    RESNET_ARGS->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, pointwise_256to256_1x1_14, Layer{256, 14, 256, 1, Conv2dArgs::make(1, 0)})
    RESNET_ARGS->Unit(benchmark::kMillisecond)->UseRealTime();
// CIFAR ResNet-20 at batch 128.
BENCHMARK_CAPTURE(BM_Conv2d, r20_16to16_3x3_32, Layer{16, 32, 16, 3, Conv2dArgs::make(1, 1)})
    ->Args({0, 128})->Args({1, 128})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv2d, r20_64to64_3x3_8, Layer{64, 8, 64, 3, Conv2dArgs::make(1, 1)})
    ->Args({0, 128})->Args({1, 128})->Unit(benchmark::kMillisecond)->UseRealTime();
// Depthwise 3x3 (MobileNet-style), batch 8.
BENCHMARK_CAPTURE(BM_Conv2d, depthwise_128_3x3_56, Layer{128, 56, 128, 3, Conv2dArgs::make(1, 1, 1, 128)})
    ->Args({0, 8})->Args({1, 8})->Unit(benchmark::kMillisecond)->UseRealTime();
