// BatchNorm statistics of a merged model (MergeOptions::bn): recompute (the paper's), keep (merged
// through the maps like the weights) and merged_units (only merged units recomputed). With k = 0
// keep and merged_units are the two-model ensemble exactly; with everything merged merged_units is
// recompute; in between merged_units has recompute's statistics on merged units and keep's on the
// separate ones.
#include "data/synthetic.h"
#include "models/layers.h"
#include "models/model_io.h"
#include "pleas/merge_pipeline.h"
#include "resnet_fixture.h"

using namespace pleas;

namespace {

struct Pair {
  std::unique_ptr<Model> a, b;
};
Pair parents() {
  auto g = test::golden_resnet20();
  return {test::perturbed(*g, 3, 0.3), test::perturbed(*g, 5, 0.3)};
}

MergeOutcome merge(const std::string& method, double budget, const std::string& bn) {
  Pair p = parents();
  MergeOptions o;
  o.method = method;
  o.budget = budget;
  o.bn = bn;
  o.batch = 4;
  o.threads = 1;
  o.progress = false;
  auto data = std::make_shared<data::RandomImageDataset>(16, 32, 10, 1);
  return merge_models(*p.a, *p.b, data, data::Transform::cifar(), o);
}

std::vector<float> stat(Model& m, size_t layer, bool mean) {
  BatchNorm2d* bn = m.batch_norms().at(layer);
  return (mean ? bn->running_mean : bn->running_var).to(Device::cpu()).contiguous().to_vector<float>();
}

}  // namespace

TEST(BatchNormModes, SeparateUnitsKeepTheEnsemble) {
  Pair p = parents();
  Tensor x = test::random_tensor({3, 3, 32, 32}, 9);
  std::vector<double> la = test::host(p.a->forward(x)), lb = test::host(p.b->forward(x));
  for (size_t i = 0; i < la.size(); ++i) la[i] = 0.5 * (la[i] + lb[i]);
  Tensor ens = Tensor::from_vector(la, {3, 10});
  for (const char* bn : {"keep", "merged_units"}) {
    MergeOutcome r = merge("permute", 2.0, bn);
    EXPECT_NEAR(r.params_rel, 2.0, 1e-3);
    EXPECT_TRUE(test::all_close_scaled(r.model->forward(x), ens, 1e-4, 1e-5)) << bn;
  }
  // Recomputed on the (random) merge data, the statistics are no longer the parents': the mode matters.
  MergeOutcome r = merge("permute", 2.0, "recompute");
  EXPECT_FALSE(test::all_close_scaled(r.model->forward(x), ens, 1e-2, 1e-2));
}

TEST(BatchNormModes, FullMergeRecomputesEverything) {
  MergeOutcome rec = merge("pleas", 1.0, "recompute"), mu = merge("pleas", 1.0, "merged_units");
  Tensor x = test::random_tensor({2, 3, 32, 32}, 4);
  EXPECT_TRUE(test::all_close_scaled(mu.model->forward(x), rec.model->forward(x), 0, 0));
}

TEST(BatchNormModes, PartialMergeMixesPerUnit) {
  MergeOutcome rec = merge("pleas", 1.5, "recompute"), keep = merge("pleas", 1.5, "keep"),
               mu = merge("pleas", 1.5, "merged_units");
  const size_t layers = mu.model->batch_norms().size();
  ASSERT_GT(layers, 4u);
  int64_t from_rec = 0, from_keep = 0;
  for (size_t l = 0; l < layers; ++l)
    for (bool mean : {true, false}) {
      auto a = stat(*mu.model, l, mean), r = stat(*rec.model, l, mean), k = stat(*keep.model, l, mean);
      ASSERT_EQ(a.size(), r.size());
      for (size_t u = 0; u < a.size(); ++u) {
        const bool is_rec = a[u] == r[u], is_keep = a[u] == k[u];
        EXPECT_TRUE(is_rec || is_keep) << "layer " << l << " unit " << u;
        from_rec += is_rec && !is_keep;
        from_keep += is_keep && !is_rec;
      }
    }
  EXPECT_GT(from_rec, 0);   // merged units
  EXPECT_GT(from_keep, 0);  // separate units
}

TEST(BatchNormModes, UnknownModeIsAnError) {
  test::expect_error_naming([] { merge("pleas", 1.0, "sometimes"); }, "merge", "sometimes");
}
