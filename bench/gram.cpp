// Normal equations: G += XᵀX and C += XᵀY for im2col batches of 3x3 convolutions
// (k = 576: 64 channels, k = 2304: 256 channels), n = 20000 rows. GFLOP/s counts the work done:
// n·k·(k+1) for syrk (one triangle), 2·n·k·m for the cross product.
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "kernels/ops.h"

using namespace pleas;

// G += XᵀX timed per iteration; GFLOP/s counts one triangle, n·k·(k + 1) for X [n, k].
static void time_gram(benchmark::State& st, Tensor& G, const Tensor& X, Device dev) {
  for (auto _ : st) {
    gram_accumulate(G, X);
    bench::sync(dev);
  }
  bench::set_flops(st, double(X.size(0)) * double(X.size(1)) * double(X.size(1) + 1));
}

// Args: device, k, accumulator f64 (inputs are f32 activations either way).
static void BM_GramAccumulate(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  const int64_t n = 20000, k = st.range(1);
  const DType acc = st.range(2) ? DType::f64 : DType::f32;
  Tensor X = Tensor::full({n, k}, 0.01, DType::f32, dev);
  Tensor G = Tensor::zeros({k, k}, acc, dev);
  time_gram(st, G, X, dev);
}
BENCHMARK(BM_GramAccumulate)
    ->ArgNames({"gpu", "k", "f64"})
    ->Args({0, 576, 0})->Args({1, 576, 0})->Args({0, 576, 1})->Args({1, 576, 1})
    ->Args({0, 2304, 0})->Args({1, 2304, 0})->Args({0, 2304, 1})->Args({1, 2304, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// Args: device, k, m (output channels), accumulator f64.
static void BM_CrossAccumulate(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  const int64_t n = 20000, k = st.range(1), m = st.range(2);
  const DType acc = st.range(3) ? DType::f64 : DType::f32;
  Tensor X = Tensor::full({n, k}, 0.01, DType::f32, dev), Y = Tensor::full({n, m}, 0.02, DType::f32, dev);
  Tensor C = Tensor::zeros({k, m}, acc, dev);
  for (auto _ : st) {
    cross_accumulate(C, X, Y);
    bench::sync(dev);
  }
  bench::set_flops(st, 2.0 * double(n) * double(k) * double(m));
}
BENCHMARK(BM_CrossAccumulate)
    ->ArgNames({"gpu", "k", "m", "f64"})
    ->Args({0, 576, 64, 0})->Args({1, 576, 64, 0})->Args({0, 576, 64, 1})->Args({1, 576, 64, 1})
    ->Args({0, 2304, 256, 0})->Args({1, 2304, 256, 0})->Args({0, 2304, 256, 1})->Args({1, 2304, 256, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// The least-squares Gram of a CIFAR ResNet-20 stage at batch 100 in the layout the merge uses:
// X [n, k] as the transposed view of unfold2d_rows' [k, n] (n = 100 images · positions), so syrk
// reads the im2col matrix in place. Args: device, k (channels · 9), n.
static void BM_GramRowsLayout(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  const int64_t k = st.range(1), n = st.range(2);
  Tensor Xs = Tensor::full({k, n}, 0.01, DType::f32, dev);
  Tensor X = Xs.transpose(0, 1);
  Tensor G = Tensor::zeros({k, k}, DType::f32, dev);
  time_gram(st, G, X, dev);
}
BENCHMARK(BM_GramRowsLayout)
    ->ArgNames({"gpu", "k", "n"})
    ->Args({0, 144, 102400})->Args({0, 288, 25600})->Args({0, 576, 6400})
    ->Args({1, 144, 102400})->Args({1, 288, 25600})->Args({1, 576, 6400})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// The im2col Gram of one 3x3 convolution's input x [N, C, H, W] two ways, counted in the direct
// form's work (N·OH·OW · K·(K + 1), K = 9C) so that GFLOP/s compare time directly:
//   direct = 0: unfold2d_rows + SYRK (what least squares did before);
//   direct = 1: conv_gram_accumulate (the shift-structured form on the CPU).
// Args: structured, N, C, H (= W), stride. Shapes: ResNet-20 stages at 100 images and ResNet-50's
// 3x3 layers at 10 images (the merge's chunks).
static void BM_ConvGram(benchmark::State& st) {
  const bool structured = st.range(0) != 0;
  const int64_t N = st.range(1), C = st.range(2), H = st.range(3);
  const Conv2dArgs a = Conv2dArgs::make(int(st.range(4)), 1);
  const Tensor x = rand_normal({N, C, H, H}, 5);
  const int64_t K = C * 9, OH = conv_out_size(H, 3, a.stride_h, 1, 1);
  Tensor G = Tensor::zeros({K, K});
  for (auto _ : st) {
    if (structured) {
      conv_gram_accumulate(G, x, 3, 3, a);
    } else {
      Tensor rows = unfold2d_rows(x, 3, 3, a);
      gram_accumulate(G, rows.transpose(0, 1));
    }
  }
  bench::set_flops(st, double(N * OH * OH) * double(K) * double(K + 1));
  st.SetLabel(structured ? "structured" : "unfold + syrk");
}
BENCHMARK(BM_ConvGram)
    ->ArgNames({"structured", "N", "C", "H", "stride"})
    ->ArgsProduct({{0, 1}, {100}, {16}, {32}, {1}})
    ->ArgsProduct({{0, 1}, {100}, {32}, {16}, {1}})
    ->ArgsProduct({{0, 1}, {100}, {64}, {8}, {1}})
    ->ArgsProduct({{0, 1}, {10}, {64}, {56}, {1}})
    ->ArgsProduct({{0, 1}, {10}, {128}, {28}, {1}})
    ->ArgsProduct({{0, 1}, {10}, {256}, {14}, {1}})
    ->ArgsProduct({{0, 1}, {10}, {512}, {7}, {1}})
    ->ArgsProduct({{0, 1}, {10}, {128}, {56}, {2}})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// XᵀY of one 3x3 stride-1 convolution (P = C outputs), the two ways least squares can take:
//   structured = 0: unfold2d_rows, then cross_accumulate (one GEMM [9C, M] x [M, P]);
//   structured = 1: conv_cross_accumulate (one GEMM per kernel offset and output row, no unfold).
// Counted as 2·M·9C·P. Args: structured, N, C, H (= W).
static void BM_ConvCross(benchmark::State& st) {
  const bool structured = st.range(0) != 0;
  const int64_t N = st.range(1), C = st.range(2), H = st.range(3), K = 9 * C;
  const Conv2dArgs a = Conv2dArgs::make(1, 1);
  const Tensor x = rand_normal({N, C, H, H}, 5), y = rand_normal({N, C, H, H}, 6);
  Tensor Cm = Tensor::zeros({K, C});
  for (auto _ : st) {
    if (structured) {
      conv_cross_accumulate(Cm, x, y, 3, 3, a);
    } else {
      Tensor rows = unfold2d_rows(x, 3, 3, a);
      Tensor yr = y.reshape({N, C, H * H}).permute({0, 2, 1}).contiguous().reshape({N * H * H, C});
      cross_accumulate(Cm, rows.transpose(0, 1), yr);
    }
  }
  bench::set_flops(st, 2.0 * double(N * H * H) * double(K) * double(C));
  st.SetLabel(structured ? "structured" : "unfold + gemm");
}
BENCHMARK(BM_ConvCross)
    ->ArgNames({"structured", "N", "C", "H"})
    ->ArgsProduct({{0, 1}, {100}, {16}, {32}})
    ->ArgsProduct({{0, 1}, {100}, {32}, {16}})
    ->ArgsProduct({{0, 1}, {100}, {64}, {8}})
    ->ArgsProduct({{0, 1}, {10}, {64}, {56}})
    ->ArgsProduct({{0, 1}, {10}, {256}, {14}})
    ->ArgsProduct({{0, 1}, {10}, {512}, {7}})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
