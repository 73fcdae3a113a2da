// Whole merges (PLeaS, weight matching) with the time of every stage, the achieved rate of the
// least-squares Gram products next to the SGEMM rate measured in the same run, and peak memory:
//   BM_MergeResNet20/B/N/D/F the zoo's ResNet-20 pair (akamaster + lrh2000, converted by
//                          experiments/convert_zoo.sh into $PLEAS_ZOO, default /tmp/pleas_zoo) on
//                          N/10 CIFAR-10 training images per class from ../shared/data/cifar10;
//                          two seeded random ResNet-20s on N random 32 px images where those are absent
//   BM_MergeResNet18/B/N/D/F two seeded random torchvision ResNet-18s, N random 224 px images
//   BM_MergeResNet50/B/N/D/F the same with ResNet-50
// B = budget × 10 (10: fully merged, 15: 1.5× one parent), D = 0 CPU / 1 CUDA (the merge on the
// device: tools/gpu_check.sh runs those), then the Gram form (0 structured, 1 direct). One iteration each (a merge is seconds
// to minutes). Counters: <stage>_s (match, merge, least_squares, bn_recompute, ...), lsq_forward_s,
// lsq_features_s, lsq_gram_s, lsq_solve_s, gram_GFLOPs (Gram stage), sgemm_GFLOPs (1024³, same
// process, same threads), gram_vs_sgemm, peak_rss_GB (VmHWM, reset before each merge), and
// normal_eq_GB. bench/results/merge-*.md holds committed runs.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "bench_util.h"
#include "data/dataset.h"
#include "data/layouts.h"
#include "data/synthetic.h"
#include "experiments/evaluate.h"
#include "models/model_io.h"
#include "pleas/merge_pipeline.h"
#include "random_models.h"

using namespace pleas;
namespace fs = std::filesystem;

namespace {

// Peak resident set size since the last reset (Linux: VmHWM; writing 5 to clear_refs resets it).
void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
}
double peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) * 1024.0;
  return 0;
}

// The best of 3 SGEMMs 1024³ on the CPU (GFLOP/s): the rate the Gram stage is compared with.
double sgemm_gflops() {
  Tensor a = rand_normal({1024, 1024}, 1), b = rand_normal({1024, 1024}, 2);
  double best = 0;
  for (int r = 0; r < 4; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    Tensor c = matmul(a, b);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) best = std::max(best, 2.0 * 1024 * 1024 * 1024 / s * 1e-9);
  }
  return best;
}

void run_merge(benchmark::State& st, Model& a, Model& b, std::shared_ptr<const data::Dataset> ds,
               const data::Transform& tf, const std::string& label) {
  MergeOptions o;
  o.method = "pleas";
  o.match = "weight";
  o.budget = double(st.range(0)) / 10.0;
  o.progress = false;
  o.device = bench::device_arg(st, 2);
  o.lsq.structured_gram = st.range(3) == 0;  // 1: the direct form (SYRK over [X Y]) everywhere
  const double sgemm = o.device.is_cuda() ? 0 : sgemm_gflops();
  MergeOutcome r;
  for (auto _ : st) {
    reset_peak_rss();
    r = merge_models(a, b, ds, tf, o);
    bench::sync(o.device);
  }
  for (auto& [name, s] : r.stages) st.counters[name + "_s"] = s;
  st.counters["total_s"] = r.total_s;
  st.counters["lsq_forward_s"] = r.lsq.forward_s;
  st.counters["lsq_features_s"] = r.lsq.features_s;
  st.counters["lsq_gram_s"] = r.lsq.gram_s;
  st.counters["lsq_solve_s"] = r.lsq.solve_s;
  st.counters["gram_TFLOP"] = r.lsq.gram_flops * 1e-12;
  const double gram = r.lsq.gram_s > 0 ? r.lsq.gram_flops / r.lsq.gram_s * 1e-9 : 0;
  st.counters["gram_GFLOPs"] = gram;
  st.counters["sgemm_GFLOPs"] = sgemm;
  st.counters["gram_vs_sgemm"] = sgemm > 0 ? gram / sgemm : 0;
  st.counters["peak_rss_GB"] = peak_rss_bytes() * 1e-9;
  st.counters["activations_GB"] = double(r.lsq.peak_batch_bytes) * 1e-9;
  st.counters["images_per_chunk"] = double(r.lsq.images_per_chunk);
  st.counters["params_rel"] = r.params_rel;
  st.SetLabel(label);
}

void random_pair(benchmark::State& st, const TensorDict& a, const TensorDict& b, int size, const std::string& name) {
  const Device dev = bench::device_arg(st, 2);
  if (!bench::device_ok(st, dev)) return;
  auto ma = build_model(a, {}, dev, "A"), mb = build_model(b, {}, dev, "B");
  auto ds = std::make_shared<data::RandomImageDataset>(size_t(st.range(1)), size);
  run_merge(st, *ma, *mb, ds, data::Transform::cifar(), name + ", two seeded random parents, " +
                                                            std::to_string(st.range(1)) + " random " +
                                                            std::to_string(size) + " px images");
}

void BM_MergeResNet20(benchmark::State& st) {
  const char* env = std::getenv("PLEAS_ZOO");
  const fs::path zoo = env ? env : "/tmp/pleas_zoo";
  const fs::path cifar = fs::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / "data" / "cifar10" / "train";
  const Device dev = bench::device_arg(st, 2);
  if (!bench::device_ok(st, dev)) return;
  if (fs::exists(zoo / "r20_akamaster.safetensors") && fs::exists(zoo / "r20_lrh2000.safetensors") && fs::exists(cifar)) {
    auto a = load_model((zoo / "r20_akamaster.safetensors").string(), dev);
    auto b = load_model((zoo / "r20_lrh2000.safetensors").string(), dev);
    auto ds = data::per_class_subset(data::open_dataset_spec(cifar.string()), size_t(st.range(1) / 10));
    run_merge(st, *a, *b, ds, model_transform(*a),
              "zoo ResNet-20 pair (akamaster + lrh2000), " + std::to_string(ds->size()) + " CIFAR-10 train images");
    return;
  }
  random_pair(st, bench::random_cifar_resnet20(1, true), bench::random_cifar_resnet20(1000, true), 32, "ResNet-20");
}
void BM_MergeResNet18(benchmark::State& st) {
  random_pair(st, bench::random_resnet18(1, true), bench::random_resnet18(1000, true), 224, "ResNet-18");
}
void BM_MergeResNet50(benchmark::State& st) {
  random_pair(st, bench::random_resnet50(1, true), bench::random_resnet50(1000, true), 224, "ResNet-50");
}

}  // namespace

// Args: budget × 10, merge images, device (0 = CPU, 1 = CUDA), Gram form (0 = structured, the
// default; 1 = direct SYRK everywhere: the rate compared with SGEMM in issue #18).
BENCHMARK(BM_MergeResNet20)
    ->ArgsProduct({{10, 15}, {2000}, {0, 1}, {0}})->Args({10, 2000, 0, 1})
    ->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_MergeResNet18)->ArgsProduct({{10, 15}, {2000}, {0, 1}, {0}})->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_MergeResNet50)
    ->Args({10, 100, 0, 0})->ArgsProduct({{10, 15}, {2000}, {0, 1}, {0}})->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
