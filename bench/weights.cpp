// Weight-file save/load throughput (GB/s of tensor bytes) for a ResNet-50-sized state dict:
// 161 f32 tensors (53 convolutions, 53 batch norms' weight and bias, the classifier), 25.6M
// parameters, 102 MB. CPU only. Saves include the fsync of the atomic write, so they measure the
// disk; loads read a file that was just written and so mostly come from the page cache.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>

#include "bench_util.h"
#include "random_models.h"
#include "engine/weights.h"

using namespace pleas;

static WeightFile resnet50_state() {
  WeightFile wf;
  auto conv = [&](const std::string& n, int64_t out, int64_t in, int64_t k) {
    wf.tensors[n + ".weight"] = Tensor::full({out, in, k, k}, 0.01);
  };
  auto bn = [&](const std::string& n, int64_t c) {
    wf.tensors[n + ".weight"] = Tensor::full({c}, 1.0);
    wf.tensors[n + ".bias"] = Tensor::zeros({c});
  };
  conv("conv1", 64, 3, 7);
  bn("bn1", 64);
  const int64_t planes[] = {64, 128, 256, 512};
  const int blocks[] = {3, 4, 6, 3};
  int64_t in = 64;
  for (int l = 0; l < 4; ++l) {
    for (int b = 0; b < blocks[l]; ++b) {
      std::string p = "layer" + std::to_string(l + 1) + "." + std::to_string(b);
      int64_t w = planes[l];
      conv(p + ".conv1", w, in, 1); bn(p + ".bn1", w);
      conv(p + ".conv2", w, w, 3); bn(p + ".bn2", w);
      conv(p + ".conv3", 4 * w, w, 1); bn(p + ".bn3", 4 * w);
      if (b == 0) { conv(p + ".downsample.0", 4 * w, in, 1); bn(p + ".downsample.1", 4 * w); }
      in = 4 * w;
    }
  }
  wf.tensors["fc.weight"] = Tensor::full({1000, 2048}, 0.01);
  wf.tensors["fc.bias"] = Tensor::zeros({1000});
  wf.metadata["arch"] = "resnet50";
  return wf;
}

static double total_bytes(const WeightFile& wf) {
  double b = 0;
  for (const auto& kv : wf.tensors) b += double(kv.second.nbytes());
  return b;
}

static std::string bench_path(const char* ext) {
  return (std::filesystem::temp_directory_path() /
          ("pleas_bench_weights_" + std::to_string(::getpid()) + ext)).string();
}

static void run_save(benchmark::State& st, const char* ext) {
  WeightFile wf = resnet50_state();
  std::string p = bench_path(ext);
  for (auto _ : st) save_weights(p, wf);
  std::filesystem::remove(p);
  bench::set_bytes(st, total_bytes(wf));
  st.counters["tensors"] = double(wf.tensors.size());
  st.counters["params_M"] = total_bytes(wf) / 4e6;
}

static void run_load(benchmark::State& st, const char* ext, const WeightFile& wf,
                     WeightFile (*load)(const std::string&) = load_weights) {
  std::string p = bench_path(ext);
  save_weights(p, wf);
  for (auto _ : st) {
    WeightFile got = load(p);
    benchmark::DoNotOptimize(got.tensors.size());
  }
  std::filesystem::remove(p);
  bench::set_bytes(st, total_bytes(wf));
}
static void run_load(benchmark::State& st, const char* ext) { run_load(st, ext, resnet50_state()); }

static WeightFile resnet20_state() {
  WeightFile wf;
  wf.tensors = bench::random_cifar_resnet20();
  return wf;
}

// The HDF5 reader's isolation in a child process (load_hdf5) against the same parse in this
// process (load_hdf5_in_process): the cost of the fork and the safetensors round trip, on a
// zoo-sized file (CIFAR ResNet-20, 1.1 MB) and a ResNet-50 (102 MB).
static void BM_LoadHdf5IsolatedResNet20(benchmark::State& st) { run_load(st, ".h5", resnet20_state(), load_hdf5); }
static void BM_LoadHdf5InProcessResNet20(benchmark::State& st) {
  run_load(st, ".h5", resnet20_state(), load_hdf5_in_process);
}
static void BM_LoadHdf5InProcessResNet50(benchmark::State& st) {
  run_load(st, ".h5", resnet50_state(), load_hdf5_in_process);
}
BENCHMARK(BM_LoadHdf5IsolatedResNet20)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LoadHdf5InProcessResNet20)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LoadHdf5InProcessResNet50)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_SaveSafetensorsResNet50(benchmark::State& st) { run_save(st, ".safetensors"); }
static void BM_LoadSafetensorsResNet50(benchmark::State& st) { run_load(st, ".safetensors"); }
static void BM_SaveHdf5ResNet50(benchmark::State& st) { run_save(st, ".h5"); }
static void BM_LoadHdf5ResNet50(benchmark::State& st) { run_load(st, ".h5"); }
BENCHMARK(BM_SaveSafetensorsResNet50)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LoadSafetensorsResNet50)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SaveHdf5ResNet50)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LoadHdf5ResNet50)->Unit(benchmark::kMillisecond)->UseRealTime();
