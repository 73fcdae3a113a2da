// The budget footprint built from a permutation spec equals what merged models execute.
#include <random>

#include "models/model_io.h"
#include "pleas/budget_spec.h"
#include "pleas/partial_merge.h"
#include "test_util.h"

using namespace pleas;

namespace {

void check_counts(const std::string& name, int size) {
  auto A = load_model(std::string(PLEAS_SOURCE_DIR) + "/tests/goldens/" + name + ".weights.safetensors");
  canonicalize(*A);
  PermSpec spec = perm_spec(*A);
  FootprintModel fp = footprint_from_spec(spec, *A, size);
  std::mt19937_64 rng(3);
  for (int rep = 0; rep < 4; ++rep) {
    std::vector<int64_t> kfp;
    for (auto& g : fp.groups) kfp.push_back(std::uniform_int_distribution<int64_t>(0, g.d)(rng));
    if (rep == 0) for (auto& k : kfp) k = 0;
    std::vector<int64_t> k = spec_k_from_footprint(spec, kfp);
    std::vector<std::vector<double>> sim;
    for (auto& g : spec.groups) sim.emplace_back(size_t(g.size), 0.0);
    MergePlan plan = plan_merge(spec, identity_perms(spec), sim, k, false);
    std::string blocks;
    TensorDict st = merge_state(spec, plan, A->state_dict(), A->state_dict(), &blocks);
    Metadata meta = A->metadata;
    if (!blocks.empty()) meta["pleas_blocks"] = blocks;
    auto m = build_model(st, meta, Device::cpu(), "merged");
    std::vector<double> r = r_from_k(fp, kfp);
    EXPECT_DOUBLE_EQ(footprint(fp, r, Metric::params), double(m->num_params())) << name << " rep " << rep;
    EXPECT_DOUBLE_EQ(footprint(fp, r, Metric::flops), m->macs(size, size)) << name << " rep " << rep;
  }
  std::vector<double> zero(fp.groups.size(), 0.0);
  EXPECT_DOUBLE_EQ(footprint(fp, zero, Metric::params), double(A->num_params()));
  EXPECT_DOUBLE_EQ(footprint(fp, zero, Metric::flops), A->macs(size, size));
}

}  // namespace

TEST(BudgetSpec, FootprintEqualsExecutedCountsCifar) { check_counts("cifar_resnet20", 32); }
TEST(BudgetSpec, FootprintEqualsExecutedCountsResNet18) { check_counts("resnet18_w12", 64); }
TEST(BudgetSpec, FootprintEqualsExecutedCountsResNet50) { check_counts("resnet50_w8", 64); }

TEST(BudgetSpec, LooJsonRoundTripAndDriver) {
  auto A = load_model(std::string(PLEAS_SOURCE_DIR) + "/tests/goldens/cifar_resnet20.weights.safetensors");
  canonicalize(*A);
  PermSpec spec = perm_spec(*A);
  FootprintModel fp = footprint_from_spec(spec, *A, 32);
  int calls = 0;
  // A fake evaluation: accuracy = 50 + number of separate units / 10.
  LooTable t = leave_one_out(spec, fp, [&](const std::vector<int64_t>& k) {
    ++calls;
    double sep = 0;
    for (size_t g = 0; g < k.size(); ++g) sep += double(spec.groups[g].size - k[g]);
    return 50 + sep / 10;
  });
  EXPECT_EQ(calls, int(2 * fp.groups.size() + 2));
  EXPECT_DOUBLE_EQ(t.merged, 50);
  LooTable u = loo_from_json(nlohmann::json::parse(loo_to_json(t).dump()), "mem");
  EXPECT_EQ(u.only_separate, t.only_separate);
  EXPECT_EQ(u.footprint.terms.size(), t.footprint.terms.size());
  EXPECT_THROW(loo_from_json(nlohmann::json::parse("{\"format\": \"x\"}"), "bad.json"), Error);
}
