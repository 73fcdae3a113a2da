// Partial merging (Figure 2): k = 0 is the ensemble, k = d with the true permutation gives back
// the model, two heads give both parents' logits, and executed counts match the plan.
#include <random>

#include "models/model_io.h"
#include "pleas/partial_merge.h"
#include "test_util.h"

using namespace pleas;

namespace {

struct Pair {
  std::unique_ptr<Model> a, b;
  PermSpec spec;
};

// A = the CIFAR ResNet-20 golden; B = A with every weight perturbed (a different network).
Pair make_pair(double noise) {
  Pair p;
  p.a = load_model(std::string(PLEAS_SOURCE_DIR) + "/tests/goldens/cifar_resnet20.weights.safetensors");
  canonicalize(*p.a);
  p.spec = perm_spec(*p.a);
  TensorDict sb = p.a->state_dict();
  uint64_t seed = 100;
  for (auto& [name, t] : sb)
    if (t.dtype() == DType::f32 && t.dim() >= 2)  // conv/linear weights
      t = add(t, mul(rand_normal(t.shape(), seed++), Tensor::full({1}, noise * std::sqrt(2.0 / double(t.numel() / t.size(0))))));
  p.b = build_model(sb, p.a->metadata, Device::cpu(), "B");
  return p;
}

std::unique_ptr<Model> build_merged(const Pair& p, const MergePlan& plan) {
  std::string blocks;
  TensorDict st = merge_state(p.spec, plan, p.a->state_dict(), p.b->state_dict(), &blocks);
  Metadata meta = p.a->metadata;
  if (!blocks.empty()) meta["pleas_blocks"] = blocks;
  return build_model(st, meta, Device::cpu(), "merged");
}

std::vector<std::vector<double>> ones(const PermSpec& s) {
  std::vector<std::vector<double>> v;
  for (auto& g : s.groups) v.emplace_back(size_t(g.size), 1.0);
  return v;
}

}  // namespace

TEST(PartialMerge, ZeroMergedIsTheEnsemble) {
  Pair p = make_pair(0.2);
  MergePlan plan = plan_merge(p.spec, identity_perms(p.spec), ones(p.spec), uniform_k(p.spec, 1.0), false);
  auto m = build_merged(p, plan);
  Tensor x = test::random_tensor({4, 3, 32, 32}, 3);
  auto la = test::host(p.a->forward(x)), lb = test::host(p.b->forward(x));
  std::vector<double> ens(la.size());
  for (size_t i = 0; i < la.size(); ++i) ens[i] = 0.5 * (la[i] + lb[i]);
  EXPECT_TRUE(test::all_close(m->forward(x), ens, 1e-5, 1e-5));
  // Executed size: both networks side by side, the shared head reads all 128 features.
  EXPECT_EQ(m->num_params(), 2 * p.a->num_params() - 10);
  EXPECT_DOUBLE_EQ(double(m->num_params()), merged_params(p.spec, plan, p.a->state_dict()));
  EXPECT_DOUBLE_EQ(m->macs(32, 32), 2 * p.a->macs(32, 32));
}

TEST(PartialMerge, FullMergeOfPermutedCopyIsTheModel) {
  Pair p = make_pair(0.0);
  std::mt19937_64 rng(5);
  auto P = identity_perms(p.spec);
  for (size_t g = 0; g < P.size(); ++g)
    if (!p.spec.groups[g].fixed) std::shuffle(P[g].begin(), P[g].end(), rng);
  TensorDict sb = permute_state(p.spec, p.a->state_dict(), P);  // B unit i = A unit P[i]
  p.b = build_model(sb, p.a->metadata, Device::cpu(), "B");
  auto match = identity_perms(p.spec);  // A unit i <-> B unit P^-1(i)
  for (size_t g = 0; g < P.size(); ++g)
    for (size_t j = 0; j < P[g].size(); ++j) match[g][size_t(P[g][j])] = int64_t(j);
  MergePlan plan = plan_merge(p.spec, match, ones(p.spec), uniform_k(p.spec, 0.0), false);
  auto m = build_merged(p, plan);
  Tensor x = test::random_tensor({4, 3, 32, 32}, 4);
  EXPECT_TRUE(test::all_close(m->forward(x), test::host(p.a->forward(x)), 1e-5, 1e-5));
  EXPECT_EQ(m->num_params(), p.a->num_params());
}

TEST(PartialMerge, PartialPlanCountsAndBlocks) {
  Pair p = make_pair(0.2);
  std::vector<std::vector<double>> sim;
  std::mt19937_64 rng(7);
  for (auto& g : p.spec.groups) {
    std::vector<double> s(size_t(g.size));
    for (auto& v : s) v = std::uniform_real_distribution<double>(0, 1)(rng);
    sim.push_back(s);
  }
  MergePlan plan = plan_merge(p.spec, identity_perms(p.spec), sim, uniform_k(p.spec, 0.4), false);
  for (size_t g = 0; g < plan.groups.size(); ++g) {
    const GroupMerge& gm = plan.groups[g];
    if (p.spec.groups[g].fixed) continue;
    ASSERT_EQ(int64_t(gm.pairs.size()), gm.k);
    // Merged pairs are the k most similar.
    double worst_merged = 2, best_kept = -1;
    for (auto& pr : gm.pairs) worst_merged = std::min(worst_merged, sim[g][size_t(pr.first)]);
    for (int64_t a : gm.a_only) best_kept = std::max(best_kept, sim[g][size_t(a)]);
    EXPECT_GE(worst_merged, best_kept);
  }
  auto m = build_merged(p, plan);
  EXPECT_DOUBLE_EQ(double(m->num_params()), merged_params(p.spec, plan, p.a->state_dict()));
  // Block structure as Figure 2 on a 2-unit example: out [A, M, B], in [A, M, B].
  std::vector<MergedPos> v = {{'A', 0, 0, -1}, {'M', 0, 1, 1}, {'B', 0, -1, 0}};
  auto bl = merged_blocks(v, v);
  ASSERT_EQ(bl.size(), 3u);
  EXPECT_EQ(bl[0].in1, 2);
  EXPECT_EQ(bl[1].in1, 3);
  EXPECT_EQ(bl[2].in0, 1);
  // The saved file keeps the block structure.
  std::string path = (std::filesystem::temp_directory_path() / "pleas_partial.safetensors").string();
  save_model(path, *m);
  auto m2 = load_model(path);
  EXPECT_EQ(m2->num_params(), m->num_params());
  Tensor x = test::random_tensor({2, 3, 32, 32}, 8);
  EXPECT_TRUE(test::all_close(m2->forward(x), test::host(m->forward(x)), 0, 0));
  std::filesystem::remove(path);
}

TEST(PartialMerge, TwoHeadsGiveBothParentsLogits) {
  Pair p = make_pair(0.2);
  MergePlan plan = plan_merge(p.spec, identity_perms(p.spec), ones(p.spec), uniform_k(p.spec, 1.0), true);
  auto m = build_merged(p, plan);
  Tensor x = test::random_tensor({3, 3, 32, 32}, 9);
  Tensor y = m->forward(x);
  ASSERT_EQ(y.size(1), 20);
  EXPECT_TRUE(test::all_close(y.narrow(1, 0, 10), test::host(p.a->forward(x)), 1e-5, 1e-5));
  EXPECT_TRUE(test::all_close(y.narrow(1, 10, 10), test::host(p.b->forward(x)), 1e-5, 1e-5));
}
