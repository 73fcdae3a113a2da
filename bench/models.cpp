// Whole-model forward throughput (images/s) at the architectures' real sizes, random weights:
// CIFAR ResNet-20 at 32 px, torchvision ResNet-18 and ResNet-50 at 224 px.
#include <benchmark/benchmark.h>

#include <cmath>

#include "bench_util.h"
#include "random_models.h"
#include "kernels/ops.h"
#include "models/model.h"

using namespace pleas;

namespace {

void run(benchmark::State& st, const TensorDict& w, int64_t batch, int64_t size) {
  Device dev = bench::device_arg(st, 1);
  if (!bench::device_ok(st, dev)) return;
  auto m = build_model(w, {}, dev, "random");
  Tensor x = rand_normal({batch, 3, size, size}, 7).to(dev);
  m->forward(x);  // warm-up (allocations, cuDNN algorithm choice)
  for (auto _ : st) {
    Tensor y = m->forward(x);
    bench::sync(dev);
  }
  st.counters["images/s"] = benchmark::Counter(double(batch) * double(st.iterations()),
                                               benchmark::Counter::kIsRate);
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * m->macs(size, size) * double(batch) * 1e-9 *
                                              double(st.iterations()), benchmark::Counter::kIsRate);
}

void BM_ResNet20(benchmark::State& st) { run(st, bench::random_cifar_resnet20(), st.range(0), 32); }
void BM_ResNet18(benchmark::State& st) { run(st, bench::random_resnet18(), st.range(0), 224); }
void BM_ResNet50(benchmark::State& st) { run(st, bench::random_resnet50(), st.range(0), 224); }

}  // namespace

// Args: batch, device (0 = CPU, 1 = CUDA).
BENCHMARK(BM_ResNet20)->Args({128, 0})->Args({128, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ResNet18)->Args({16, 0})->Args({64, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ResNet50)->Args({8, 0})->Args({64, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
