// Whole-model forward throughput (images/s) at the architectures' real sizes, random weights:
// CIFAR ResNet-20 at 32 px, torchvision ResNet-18 and ResNet-50 at 224 px.
#include <benchmark/benchmark.h>

#include <cmath>

#include "bench_util.h"
#include "kernels/ops.h"
#include "models/model.h"

using namespace pleas;

namespace {

void conv_w(TensorDict& d, const std::string& p, int64_t o, int64_t i, int64_t k, uint64_t& seed) {
  d[p + ".weight"] = rand_normal({o, i, k, k}, seed++, 0.0, std::sqrt(2.0 / double(i * k * k)));
}
void bn_w(TensorDict& d, const std::string& p, int64_t c) {
  d[p + ".weight"] = Tensor::full({c}, 1.0);
  d[p + ".bias"] = Tensor::zeros({c});
  d[p + ".running_mean"] = Tensor::zeros({c});
  d[p + ".running_var"] = Tensor::full({c}, 1.0);
}

TensorDict cifar_resnet20() {
  TensorDict d;
  uint64_t s = 1;
  conv_w(d, "conv1", 16, 3, 3, s);
  bn_w(d, "bn1", 16);
  int64_t in = 16;
  for (int st = 1; st <= 3; ++st) {
    int64_t w = 16 << (st - 1);
    for (int b = 0; b < 3; ++b) {
      std::string p = "layer" + std::to_string(st) + "." + std::to_string(b);
      conv_w(d, p + ".conv1", w, in, 3, s);
      bn_w(d, p + ".bn1", w);
      conv_w(d, p + ".conv2", w, w, 3, s);
      bn_w(d, p + ".bn2", w);
      in = w;
    }
  }
  d["linear.weight"] = rand_normal({10, 64}, s++, 0.0, 0.1);
  d["linear.bias"] = Tensor::zeros({10});
  return d;
}

TensorDict resnet(bool bottleneck, std::vector<int> layers) {
  TensorDict d;
  uint64_t s = 1;
  conv_w(d, "conv1", 64, 3, 7, s);
  bn_w(d, "bn1", 64);
  int64_t in = 64;
  const int64_t exp = bottleneck ? 4 : 1;
  for (int st = 0; st < 4; ++st) {
    int64_t planes = 64 << st;
    for (int b = 0; b < layers[size_t(st)]; ++b) {
      std::string p = "layer" + std::to_string(st + 1) + "." + std::to_string(b);
      if (bottleneck) {
        conv_w(d, p + ".conv1", planes, in, 1, s); bn_w(d, p + ".bn1", planes);
        conv_w(d, p + ".conv2", planes, planes, 3, s); bn_w(d, p + ".bn2", planes);
        conv_w(d, p + ".conv3", planes * 4, planes, 1, s); bn_w(d, p + ".bn3", planes * 4);
      } else {
        conv_w(d, p + ".conv1", planes, in, 3, s); bn_w(d, p + ".bn1", planes);
        conv_w(d, p + ".conv2", planes, planes, 3, s); bn_w(d, p + ".bn2", planes);
      }
      if (b == 0 && (st > 0 || in != planes * exp)) {
        conv_w(d, p + ".downsample.0", planes * exp, in, 1, s);
        bn_w(d, p + ".downsample.1", planes * exp);
      }
      in = planes * exp;
    }
  }
  d["fc.weight"] = rand_normal({1000, in}, s++, 0.0, 0.01);
  d["fc.bias"] = Tensor::zeros({1000});
  return d;
}

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

void BM_ResNet20(benchmark::State& st) { run(st, cifar_resnet20(), st.range(0), 32); }
void BM_ResNet18(benchmark::State& st) { run(st, resnet(false, {2, 2, 2, 2}), st.range(0), 224); }
void BM_ResNet50(benchmark::State& st) { run(st, resnet(true, {3, 4, 6, 3}), st.range(0), 224); }

}  // namespace

// Args: batch, device (0 = CPU, 1 = CUDA).
BENCHMARK(BM_ResNet20)->Args({128, 0})->Args({128, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ResNet18)->Args({16, 0})->Args({64, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ResNet50)->Args({8, 0})->Args({64, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
