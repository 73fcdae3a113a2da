// Permutation specs: canonicalisation and random valid permutations leave logits unchanged.
#include <random>

#include "engine/weights.h"
#include "models/model_io.h"
#include "pleas/perm_spec.h"
#include "test_util.h"

using namespace pleas;

namespace {

std::string golden(const std::string& name) {
  return std::string(PLEAS_SOURCE_DIR) + "/tests/goldens/" + name + ".weights.safetensors";
}

std::vector<std::vector<int64_t>> random_perms(const PermSpec& s, uint64_t seed) {
  auto p = identity_perms(s);
  std::mt19937_64 rng(seed);
  for (size_t g = 0; g < p.size(); ++g)
    if (!s.groups[g].fixed) std::shuffle(p[g].begin(), p[g].end(), rng);
  return p;
}

void check_invariance(const std::string& name, int size, size_t expect_groups) {
  auto m = load_model(golden(name));
  Tensor x = test::random_tensor({3, 3, size, size}, 9);
  Tensor ref = m->forward(x);
  canonicalize(*m);
  EXPECT_TRUE(test::all_close_scaled(m->forward(x), ref, 1e-6, 1e-6)) << name << " canonicalize";
  PermSpec spec = perm_spec(*m);
  EXPECT_EQ(spec.groups.size(), expect_groups) << name;
  for (uint64_t seed : {1, 2}) {
    TensorDict state = permute_state(spec, m->state_dict(), random_perms(spec, seed));
    auto pm = build_model(state, m->metadata, Device::cpu(), "permuted");
    // The weights really moved...
    EXPECT_FALSE(test::all_close(state.at(spec.layers[0].path + ".weight"),
                                 m->state_dict().at(spec.layers[0].path + ".weight"), 0, 0));
    // ...and the function did not.
    EXPECT_TRUE(test::all_close_scaled(pm->forward(x), ref, 1e-6, 1e-5)) << name << " seed " << seed;
  }
}

}  // namespace

// ResNet-20: input, stream1, stream2.pad, stream3.pad, 9 inner groups, classes.
TEST(PermSpec, CifarResNet20Invariance) { check_invariance("cifar_resnet20", 32, 14); }
// ResNet-18 (reduced width): input, stream1..4, 8 inner, classes.
TEST(PermSpec, ResNet18Invariance) { check_invariance("resnet18_w12", 64, 14); }
// ResNet-50 (reduced width): input, stem, stream1..4, 32 inner, classes.
TEST(PermSpec, ResNet50Invariance) { check_invariance("resnet50_w8", 64, 39); }

TEST(PermSpec, CanonicalCifarLayouts) {
  auto m = load_model(golden("cifar_resnet20"));
  EXPECT_THROW(perm_spec(*m), Error);  // akamaster order: pad on both sides
  canonicalize(*m);
  PermSpec s = perm_spec(*m);
  int s1 = s.find_group("stream1"), p2 = s.find_group("stream2.pad"), p3 = s.find_group("stream3.pad");
  ASSERT_GE(s1, 0);
  ASSERT_GE(p2, 0);
  ASSERT_GE(p3, 0);
  EXPECT_EQ(s.groups[size_t(p2)].size, 16);
  EXPECT_EQ(s.groups[size_t(p3)].size, 32);
  for (const LayerSpec& l : s.layers)
    if (l.path == "linear") {
      EXPECT_EQ(l.in, (Layout{p3, p2, s1}));
    }
}
