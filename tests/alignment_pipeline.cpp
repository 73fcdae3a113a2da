// The merge pipeline over alignments and N models: MergeMany recovers the common coordinates of
// permuted copies (the merge of three permuted copies is the model), restarts keep the one with the
// smallest held-out ensemble gap, ZipIt!'s partial zipping by group prefix, and clear errors where
// an alignment or N > 2 does not cover a request.
#include <random>

#include "data/loader.h"
#include "data/synthetic.h"
#include "models/model_io.h"
#include "pleas/least_squares.h"
#include "pleas/merge_pipeline.h"
#include "resnet_fixture.h"

using namespace pleas;

namespace {

using test::golden_resnet20;
using test::perturbed;
using test::permuted_copy;

MergeOptions quiet(const std::string& method, const std::string& match) {
  MergeOptions o;
  o.method = method;
  o.match = match;
  o.batch = 4;
  o.threads = 1;
  o.progress = false;
  return o;
}

std::shared_ptr<const data::Dataset> images(size_t n, uint64_t seed = 0) {
  return std::make_shared<data::RandomImageDataset>(n, 32, 10, seed);
}

}  // namespace

// Three permuted copies of one model: MergeMany finds their common coordinates, so the average is
// the model itself (with its BatchNorm statistics recomputed on the merge data, as the merge does).
TEST(AlignmentPipeline, MergeManyOfPermutedCopiesIsTheModel) {
  auto g = golden_resnet20();
  auto c1 = permuted_copy(*g, 1), c2 = permuted_copy(*g, 2);
  auto ref = build_model(g->state_dict(), g->metadata, Device::cpu(), "reference");
  auto data = images(8);
  MergeOptions o = quiet("permute", "weight");
  MergeOutcome r = merge_models({g.get(), c1.get(), c2.get()}, data, data::Transform::cifar(), o);
  data::LoaderOptions lo;
  lo.batch_size = o.batch;
  lo.num_threads = o.threads;
  lo.shuffle = true;
  lo.seed = o.seed;
  data::DataLoader ld(data, data::Transform::cifar(), lo);
  recompute_batch_norm(*ref, ld, false);
  Tensor x = test::random_tensor({3, 3, 32, 32}, 4);
  EXPECT_TRUE(test::all_close_scaled(r.model->forward(x), ref->forward(x), 1e-4, 1e-4));
  EXPECT_EQ(r.model->num_params(), g->num_params());
}

// Three different models: the merge is their aligned average, least squares then moves it towards
// the three-model ensemble on the merge data (measured: gap 0.70x the average's with 16 images).
TEST(AlignmentPipeline, ThreeModelLeastSquaresApproachesTheEnsemble) {
  auto g = golden_resnet20();
  auto b = perturbed(*permuted_copy(*g, 5), 20, 0.5), c = perturbed(*permuted_copy(*g, 6), 40, 0.5);
  auto data = images(8);
  std::vector<Model*> ps = {g.get(), b.get(), c.get()};
  // Parents with the BatchNorm statistics of their own (perturbed) weights on this data, as trained
  // models have: otherwise BN recompute of any merge departs from the parents by construction.
  for (Model* p : ps) {
    data::DataLoader ld(data, data::Transform::cifar(), 4, 1);
    recompute_batch_norm(*p, ld, false);
  }
  MergeOutcome avg = merge_models(ps, data, data::Transform::cifar(), quiet("permute", "weight"));
  MergeOutcome fit = merge_models(ps, data, data::Transform::cifar(), quiet("pleas", "weight"));
  const double gap_avg = ensemble_gap(*avg.model, ps, data, data::Transform::cifar(), quiet("pleas", "weight"));
  const double gap_fit = ensemble_gap(*fit.model, ps, data, data::Transform::cifar(), quiet("pleas", "weight"));
  EXPECT_LT(gap_fit, 0.9 * gap_avg) << "average " << gap_avg << ", least squares " << gap_fit;
}

// Restarts: the kept merge is the one with the smallest ensemble gap on the score images.
TEST(AlignmentPipeline, RestartsKeepTheSmallestEnsembleGap) {
  auto a = golden_resnet20();
  auto b = perturbed(*permuted_copy(*a, 3), 30, 1.0);
  auto data = images(8), score = images(6, 99);
  MergeOptions o = quiet("permute", "weight");
  o.restarts = 3;
  o.score_data = score;
  o.keep_restart_models = true;
  MergeOutcome r = merge_models(*a, *b, data, data::Transform::cifar(), o);
  ASSERT_EQ(r.restarts.size(), 3u);
  ASSERT_EQ(r.restart_models.size(), 3u);
  int best = 0;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r.restarts[size_t(i)].seed, uint64_t(i));
    // Each recorded score is the gap of that restart's model, recomputed here.
    EXPECT_NEAR(ensemble_gap(*r.restart_models[size_t(i)], {a.get(), b.get()}, score, data::Transform::cifar(), o),
                r.restarts[size_t(i)].score, 1e-9 * (1 + r.restarts[size_t(i)].score));
    if (r.restarts[size_t(i)].score < r.restarts[size_t(best)].score) best = i;
  }
  EXPECT_EQ(r.best_restart, best);
  EXPECT_NEAR(ensemble_gap(*r.model, {a.get(), b.get()}, score, data::Transform::cifar(), o),
              r.restarts[size_t(best)].score, 1e-9 * (1 + r.restarts[size_t(best)].score));
}

// Partial zipping: j groups merged in forward order, the rest kept separate; more groups, fewer
// parameters; a budget picks the fewest merged groups that fit.
TEST(AlignmentPipeline, PrefixPartialMergesTheFirstGroups) {
  auto a = golden_resnet20();
  auto b = perturbed(*permuted_copy(*a, 3), 30, 0.5);
  auto data = images(4);
  double last = 1e30;
  for (int64_t j : {0, 3, 8}) {
    MergeOptions o = quiet("permute", "zipit");
    o.partial = "prefix";
    o.merge_groups = j;
    MergeOutcome r = merge_models(*a, *b, data, data::Transform::cifar(), o);
    EXPECT_EQ(r.merged_groups, j);
    int64_t merged = 0;
    for (size_t g = 0; g < r.spec.groups.size(); ++g)
      if (!r.spec.groups[g].fixed) merged += r.k[g] == r.spec.groups[g].size;
    EXPECT_EQ(merged, j);
    EXPECT_LT(double(r.model->num_params()), last);
    last = double(r.model->num_params());
  }
  MergeOptions o = quiet("permute", "cca");
  o.partial = "prefix";
  o.budget = 1.5;
  MergeOutcome r = merge_models(*a, *b, data, data::Transform::cifar(), o);
  EXPECT_LE(r.params_rel, 1.5);
  EXPECT_GT(r.merged_groups, 0);
  // One group fewer would not fit.
  MergeOptions o2 = o;
  o2.budget = -1;
  o2.merge_groups = r.merged_groups - 1;
  EXPECT_GT(merge_models(*a, *b, data, data::Transform::cifar(), o2).params_rel, 1.5);
}

TEST(AlignmentPipeline, UncoveredRequestsFailClearly) {
  auto a = golden_resnet20();
  auto b = perturbed(*a, 30, 0.5), c = perturbed(*a, 60, 0.5);
  auto data = images(4);
  auto fails_with = [&](std::vector<Model*> ps, MergeOptions o, const std::string& what) {
    try {
      merge_models(ps, data, data::Transform::cifar(), o);
      ADD_FAILURE() << "no error, expected: " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  MergeOptions cca = quiet("permute", "cca");
  cca.budget = 1.5;  // units: CCA has no per-unit partial merge
  fails_with({a.get(), b.get()}, cca, "CCA merges a group fully or not at all");
  MergeOptions many = quiet("pleas", "weight");
  many.budget = 1.5;
  fails_with({a.get(), b.get(), c.get()}, many, "partial merging needs two models");
  MergeOptions rs = quiet("pleas", "activation");
  rs.restarts = 2;
  rs.score_data = data;
  fails_with({a.get(), b.get()}, rs, "--restarts re-runs weight matching");
  MergeOptions bad = quiet("pleas", "procrustes");
  fails_with({a.get(), b.get()}, bad, "unknown alignment 'procrustes'");
  fails_with({a.get()}, quiet("pleas", "weight"), "need at least two models");
}
