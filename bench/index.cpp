// Channel permutations and merges: index_select / index_copy_ / index_scatter along the channel
// dim of a ResNet activation [32, 256, 14, 14], and cat of two halves; GB/s = bytes read + written.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "bench_util.h"
#include "kernels/ops.h"

using namespace pleas;

namespace {
const Shape kAct{32, 256, 14, 14};

Tensor channel_perm(int64_t c, Device dev) {
  std::vector<int64_t> p(static_cast<size_t>(c));
  std::iota(p.begin(), p.end(), 0);
  std::shuffle(p.begin(), p.end(), std::mt19937_64(1));
  return Tensor::from_vector(p, {c}).to(dev);
}
}  // namespace

static void BM_IndexSelectChannels(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::zeros(kAct, DType::f32, dev);
  Tensor idx = channel_perm(kAct[1], dev);
  for (auto _ : st) {
    Tensor y = index_select(x, 1, idx);
    bench::sync(dev);
  }
  bench::set_bytes(st, 2.0 * double(x.nbytes()));
}
BENCHMARK(BM_IndexSelectChannels)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_IndexCopyChannels(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::zeros(kAct, DType::f32, dev), dst = Tensor::zeros(kAct, DType::f32, dev);
  Tensor idx = channel_perm(kAct[1], dev);
  for (auto _ : st) {
    index_copy_(dst, 1, idx, x);
    bench::sync(dev);
  }
  bench::set_bytes(st, 2.0 * double(x.nbytes()));
}
BENCHMARK(BM_IndexCopyChannels)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Scatter 256 channels into 512 (zeros elsewhere): write 2x, read 1x.
static void BM_IndexScatterChannels(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::zeros(kAct, DType::f32, dev);
  Tensor idx = channel_perm(2 * kAct[1], dev).narrow(0, 0, kAct[1]).contiguous();
  for (auto _ : st) {
    Tensor y = index_scatter(x, 1, idx, 2 * kAct[1]);
    bench::sync(dev);
  }
  bench::set_bytes(st, 3.0 * double(x.nbytes()));
}
BENCHMARK(BM_IndexScatterChannels)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_CatChannels(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor a = Tensor::zeros({32, 128, 14, 14}, DType::f32, dev), b = a.clone();
  for (auto _ : st) {
    Tensor y = cat({a, b}, 1);
    bench::sync(dev);
  }
  bench::set_bytes(st, 4.0 * double(a.nbytes()));
}
BENCHMARK(BM_CatChannels)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
