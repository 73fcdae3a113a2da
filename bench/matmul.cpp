// GEMM family: sgemm (square and ResNet-50 fc shapes), linear with bias (ViT MLP, ResNet fc),
// bmm (ViT-B attention: 12 heads x batch 8). GFLOP/s = 2·M·N·K per product.
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "kernels/ops.h"

using namespace pleas;

// Args: device, M, N, K. C [M, N] = A [M, K] · B [N, K]ᵀ for the fc shape (weights stored [out, in]),
// plain A · B for the square ones.
static void BM_Sgemm(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  const int64_t M = st.range(1), N = st.range(2), K = st.range(3);
  const bool fc = M != N;
  Tensor a = Tensor::full({M, K}, 0.5, DType::f32, dev);
  Tensor b = Tensor::full(fc ? Shape{N, K} : Shape{K, N}, 0.25, DType::f32, dev);
  for (auto _ : st) {
    Tensor c = matmul(a, b, false, fc);
    bench::sync(dev);
  }
  bench::set_flops(st, 2.0 * double(M) * double(N) * double(K));
}
BENCHMARK(BM_Sgemm)
    ->ArgNames({"gpu", "M", "N", "K"})
    ->Args({0, 512, 512, 512})->Args({1, 512, 512, 512})
    ->Args({0, 1024, 1024, 1024})->Args({1, 1024, 1024, 1024})
    ->Args({0, 2048, 2048, 2048})->Args({1, 2048, 2048, 2048})
    ->Args({0, 256, 1000, 2048})->Args({1, 256, 1000, 2048})  // ResNet-50 fc, batch 256
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// Args: device, M (tokens or batch), in, out. y = x wᵀ + b.
static void BM_Linear(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  const int64_t M = st.range(1), K = st.range(2), N = st.range(3);
  Tensor x = Tensor::full({M, K}, 0.5, DType::f32, dev), w = Tensor::full({N, K}, 0.25, DType::f32, dev);
  Tensor b = Tensor::full({N}, 1.0, DType::f32, dev);
  for (auto _ : st) {
    Tensor y = linear(x, w, b);
    bench::sync(dev);
  }
  bench::set_flops(st, 2.0 * double(M) * double(N) * double(K));
}
BENCHMARK(BM_Linear)
    ->ArgNames({"gpu", "M", "in", "out"})
    ->Args({0, 8 * 197, 768, 3072})->Args({1, 8 * 197, 768, 3072})  // ViT-B MLP fc1, batch 8
    ->Args({0, 256, 2048, 1000})->Args({1, 256, 2048, 1000})        // ResNet-50 fc, batch 256
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// Args: device, which (0: scores = Q Kᵀ [96, 197, 197]; 1: context = P V [96, 197, 64]).
// Kᵀ is a transposed view, as attention code produces it.
static void BM_Bmm(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  const int64_t B = 12 * 8, T = 197, D = 64;
  const bool scores = st.range(1) == 0;
  Tensor a = Tensor::full({B, T, scores ? D : T}, 0.5, DType::f32, dev);
  Tensor b = scores ? Tensor::full({B, T, D}, 0.25, DType::f32, dev).transpose(1, 2)
                    : Tensor::full({B, T, D}, 0.25, DType::f32, dev);
  for (auto _ : st) {
    Tensor c = bmm(a, b);
    bench::sync(dev);
  }
  bench::set_flops(st, 2.0 * double(B) * double(T) * double(scores ? T : D) * double(scores ? D : T));
}
BENCHMARK(BM_Bmm)
    ->ArgNames({"gpu", "pv"})
    ->Args({0, 0})->Args({1, 0})->Args({0, 1})->Args({1, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
