// Small random ViTs (timm names) for the ViT PLeaS tests: weights drawn from seeded normals, with
// non-trivial LayerNorm affines, biases, class token and position embeddings, so that every
// tensor a permutation or a merge touches matters.
#pragma once
#include <algorithm>
#include <random>

#include "models/model.h"
#include "pleas/perm_spec.h"
#include "test_util.h"

namespace pleas::test {

struct VitShape {
  int64_t dim = 24, mlp = 48, classes = 5;
  int heads = 4, blocks = 2, patch = 8, image = 16;
  bool final_norm = true, gelu_tanh = true;
};

inline TensorDict random_vit(const VitShape& s, uint64_t seed) {
  TensorDict w;
  uint64_t k = seed * 1000;
  auto normal = [&](const Shape& shape, double std, double mean = 0.0) {
    return rand_normal(shape, k++, mean, std);
  };
  const int64_t D = s.dim, L = (s.image / s.patch) * (s.image / s.patch) + 1;
  w["patch_embed.proj.weight"] = normal({D, 3, s.patch, s.patch}, 1.0 / std::sqrt(3.0 * s.patch * s.patch));
  w["patch_embed.proj.bias"] = normal({D}, 0.1);
  w["cls_token"] = normal({1, 1, D}, 0.5);
  w["pos_embed"] = normal({1, L, D}, 0.5);
  auto linear = [&](const std::string& p, int64_t out, int64_t in) {
    w[p + ".weight"] = normal({out, in}, 1.0 / std::sqrt(double(in)));
    w[p + ".bias"] = normal({out}, 0.1);
  };
  auto norm = [&](const std::string& p) {
    w[p + ".weight"] = normal({D}, 0.2, 1.0);
    w[p + ".bias"] = normal({D}, 0.1);
  };
  for (int b = 0; b < s.blocks; ++b) {
    const std::string p = "blocks." + std::to_string(b);
    norm(p + ".norm1");
    linear(p + ".attn.qkv", 3 * D, D);
    linear(p + ".attn.proj", D, D);
    norm(p + ".norm2");
    linear(p + ".mlp.fc1", s.mlp, D);
    linear(p + ".mlp.fc2", D, s.mlp);
  }
  if (s.final_norm) norm("norm");
  linear("head", s.classes, D);
  return w;
}

inline Metadata vit_metadata(const VitShape& s) {
  Metadata m;
  m["arch"] = "vit";
  m["num_heads"] = std::to_string(s.heads);
  m["ln_eps"] = "1e-05";
  if (s.gelu_tanh) m["act"] = "gelu_tanh";
  if (!s.final_norm) m["final_norm"] = "none";
  return m;
}

inline std::unique_ptr<Model> build_random_vit(const VitShape& s, uint64_t seed) {
  return build_model(random_vit(s, seed), vit_metadata(s), Device::cpu(), "random vit");
}

// Random permutations that respect the spec: whole heads move together (one head order per leader
// and its followers), units permute freely inside each head; fixed groups keep the identity.
inline std::vector<std::vector<int64_t>> random_valid_perms(const PermSpec& spec, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto perms = identity_perms(spec);
  std::vector<std::vector<int64_t>> head_order(spec.groups.size());
  for (size_t g = 0; g < spec.groups.size(); ++g) {
    const PermGroup& pg = spec.groups[g];
    if (pg.fixed) continue;
    if (pg.head_dim == 0) {
      std::shuffle(perms[g].begin(), perms[g].end(), rng);
      continue;
    }
    std::vector<int64_t> order(static_cast<size_t>(pg.heads()));
    for (size_t h = 0; h < order.size(); ++h) order[h] = int64_t(h);
    if (pg.follows >= 0) order = head_order[size_t(pg.follows)];
    else std::shuffle(order.begin(), order.end(), rng);
    head_order[g] = order;
    for (int64_t h = 0; h < pg.heads(); ++h) {
      std::vector<int64_t> inner(static_cast<size_t>(pg.head_dim));
      for (size_t j = 0; j < inner.size(); ++j) inner[j] = int64_t(j);
      std::shuffle(inner.begin(), inner.end(), rng);
      for (int64_t j = 0; j < pg.head_dim; ++j)
        perms[g][size_t(h * pg.head_dim + j)] = order[size_t(h)] * pg.head_dim + inner[size_t(j)];
    }
  }
  return perms;
}

inline std::vector<std::vector<int64_t>> inverse_perms(const std::vector<std::vector<int64_t>>& p) {
  auto inv = p;
  for (size_t g = 0; g < p.size(); ++g)
    for (size_t i = 0; i < p[g].size(); ++i) inv[g][size_t(p[g][i])] = int64_t(i);
  return inv;
}

// max |got − ref| / max |ref|
inline double rel_error(const Tensor& got, const Tensor& ref) {
  const auto a = host(got), b = host(ref);
  double e = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    e = std::max(e, std::fabs(a[i] - b[i]));
    m = std::max(m, std::fabs(b[i]));
  }
  return e / (m > 0 ? m : 1.0);
}

}  // namespace pleas::test
