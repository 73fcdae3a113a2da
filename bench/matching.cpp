// Matching: a full weight-matching run (Git Re-Basin coordinate descent to convergence) of a model
// against a randomly permuted, noisy copy of itself, and activation matching over a small loader.
// Models: the golden random-init CIFAR ResNet-20 and the reduced-width ResNet-50 (tests/goldens).
// Counters: sweeps to convergence, objective; time is per full run.
#include <benchmark/benchmark.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "bench_util.h"
#include "random_models.h"
#include "data/loader.h"
#include "data/synthetic.h"
#include "kernels/ops.h"
#include "models/model_io.h"
#include "pleas/matching.h"

using namespace pleas;

namespace {

std::string golden(const std::string& name) {
  namespace fs = std::filesystem;
  return (fs::path(__FILE__).parent_path().parent_path() / "tests" / "goldens" / (name + ".weights.safetensors"))
      .string();
}

// Each f32 tensor plus `scale`·RMS·N(0, 1) noise (BN running variances: times exp(scale·N(0, 1))).
TensorDict noisy(const TensorDict& s, double scale, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n01;
  TensorDict out = s;
  for (auto& [name, t] : out) {
    if (t.dtype() != DType::f32) continue;
    std::vector<float> v = t.to_vector<float>();
    double rms = 0;
    for (float x : v) rms += double(x) * x;
    rms = std::sqrt(rms / double(v.size()));
    const bool var = name.find("running_var") != std::string::npos;
    for (float& x : v) x = var ? float(x * std::exp(scale * n01(rng))) : float(x + scale * rms * n01(rng));
    t = Tensor::from_vector(v, t.shape());
  }
  return out;
}

std::vector<std::vector<int64_t>> random_perms(const PermSpec& s, uint64_t seed) {
  auto p = identity_perms(s);
  std::mt19937_64 rng(seed);
  for (size_t g = 0; g < p.size(); ++g)
    if (!s.groups[g].fixed) std::shuffle(p[g].begin(), p[g].end(), rng);
  return p;
}

struct Pair {
  std::unique_ptr<Model> a, b;
  PermSpec spec;
  TensorDict sa, sb;
};

Pair make_pair(const std::string& name, double noise, Device dev) {
  Pair p;
  p.a = load_model(golden(name), dev);
  canonicalize(*p.a);
  p.spec = perm_spec(*p.a);
  p.sa = p.a->state_dict();
  p.sb = permute_state(p.spec, noisy(p.sa, noise, 7), random_perms(p.spec, 8));
  p.b = build_model(p.sb, p.a->metadata, dev, "noisy permuted copy");
  return p;
}

void weight_matching_bench(benchmark::State& st, const std::string& name) {
  const Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Pair p = make_pair(name, 1.0, Device::cpu());
  Matching m;
  for (auto _ : st) {
    m = weight_matching(p.spec, p.sa, p.sb, 0, 100, dev);
    benchmark::DoNotOptimize(m.objective);
  }
  st.counters["sweeps"] = m.sweeps;
  st.counters["objective"] = m.objective;
  st.SetLabel(dev.str() + " " + name + " vs permuted copy + noise (1.0 RMS)");
}

void BM_WeightMatchingResNet20(benchmark::State& st) { weight_matching_bench(st, "cifar_resnet20"); }
void BM_WeightMatchingResNet50w8(benchmark::State& st) { weight_matching_bench(st, "resnet50_w8"); }

// One coordinate-descent sweep over the 53 groups of two independent full-width ResNet-50s (the
// cost of each further sweep; the LAPs go up to 2048 x 2048).
void BM_WeightMatchingResNet50Sweep(benchmark::State& st) {
  const Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  const TensorDict a = bench::random_resnet50(1, true), b = bench::random_resnet50(100000, true);
  auto m = build_model(a, {}, Device::cpu(), "random");
  const PermSpec spec = perm_spec(*m);
  for (auto _ : st) benchmark::DoNotOptimize(weight_matching(spec, a, b, 0, 1, dev).objective);
  st.SetLabel(dev.str() + " full-width ResNet-50, random weights, 1 sweep");
}


// Activation matching of ResNet-20 over 4 batches of 64 images (both forwards + f64 moments + LAP).
void BM_ActivationMatchingResNet20(benchmark::State& st) {
  const Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  Pair p = make_pair("cifar_resnet20", 0.1, dev);
  data::DataLoader loader(std::make_shared<data::RandomImageDataset>(256), data::Transform::cifar(), 64, 2, dev);
  for (auto _ : st) {
    Matching m = activation_matching(p.spec, *p.a, *p.b, loader, false);
    bench::sync(dev);
    benchmark::DoNotOptimize(m.objective);
  }
  st.counters["images/s"] = benchmark::Counter(256.0 * double(st.iterations()), benchmark::Counter::kIsRate);
  st.SetLabel(dev.str() + " 4 batches of 64 random 32x32 images");
}

}  // namespace

BENCHMARK(BM_WeightMatchingResNet20)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WeightMatchingResNet50w8)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WeightMatchingResNet50Sweep)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_ActivationMatchingResNet20)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
