// Copies: contiguous memcpy and strided (NCHW -> NHWC) copies, GB/s (read + write).
#include <benchmark/benchmark.h>

#include "bench_util.h"

using namespace pleas;

static void BM_CopyNchwToNhwc(benchmark::State& st) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Tensor x = Tensor::zeros({32, 64, 56, 56}, DType::f32, dev);
  Tensor v = x.permute({0, 2, 3, 1});
  for (auto _ : st) {
    Tensor y = v.contiguous();
    bench::sync(dev);
  }
  bench::set_bytes(st, 2 * x.nbytes());
}
BENCHMARK(BM_CopyNchwToNhwc)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
