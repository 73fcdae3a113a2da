// CIFAR ResNet-20 test models: the committed golden (canonical channel order), copies of it with
// every group randomly permuted (the same function) or with perturbed conv/linear weights (a
// different network).
#pragma once
#include <algorithm>
#include <cmath>
#include <random>

#include "models/model_io.h"
#include "pleas/perm_spec.h"
#include "test_util.h"

namespace pleas::test {

inline std::string golden_path(const std::string& name) {
  return std::string(PLEAS_SOURCE_DIR) + "/tests/goldens/" + name + ".weights.safetensors";
}

inline std::unique_ptr<Model> golden_resnet20() {
  auto m = load_model(golden_path("cifar_resnet20"));
  canonicalize(*m);
  return m;
}

// Every conv/linear weight plus noise · N(0, 2 / fan_in).
inline std::unique_ptr<Model> perturbed(Model& a, uint64_t seed, double noise) {
  TensorDict s = a.state_dict();
  for (auto& [name, t] : s)
    if (t.dtype() == DType::f32 && t.dim() >= 2)
      t = add(t, mul(rand_normal(t.shape(), seed++), Tensor::full({1}, noise * std::sqrt(2.0 / double(t.numel() / t.size(0))))));
  return build_model(s, a.metadata, Device::cpu(), "perturbed");
}

inline std::vector<std::vector<int64_t>> random_perms(const PermSpec& spec, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto p = identity_perms(spec);
  for (size_t g = 0; g < spec.groups.size(); ++g)
    if (!spec.groups[g].fixed) std::shuffle(p[g].begin(), p[g].end(), rng);
  return p;
}

// The model with a random function-preserving permutation of every group.
inline std::unique_ptr<Model> permuted_copy(Model& m, uint64_t seed) {
  const PermSpec spec = perm_spec(m);
  return build_model(permute_state(spec, m.state_dict(), random_perms(spec, seed)), m.metadata, Device::cpu(),
                     "permuted copy");
}

// Additive noise of `scale` times each tensor's RMS (uniform in ±scale·rms); BN running variances
// get multiplicative noise (1 ± scale) so that they stay positive. Index tensors are kept.
inline TensorDict noisy(const TensorDict& s, double scale, uint64_t seed) {
  TensorDict out = s;
  for (auto& [name, t] : out) {
    if (t.dtype() != DType::f32) continue;
    std::vector<double> v = host(t);
    const std::vector<double> u = host(random_tensor(t.shape(), seed++));
    double rms = 0;
    for (double x : v) rms += x * x;
    rms = std::sqrt(rms / double(v.size()));
    const bool var = name.find("running_var") != std::string::npos;
    for (size_t i = 0; i < v.size(); ++i) v[i] = var ? v[i] * (1 + scale * u[i]) : v[i] + scale * rms * u[i];
    t = Tensor::from_vector(v, t.shape()).to(DType::f32);
  }
  return out;
}

}  // namespace pleas::test
