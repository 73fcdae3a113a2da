// The whole merge on the committed demo models (Fashion-MNIST ResNet-20s trained from different
// seeds on different halves): methods and budgets behave as the paper says they should.
#include <omp.h>

#include <filesystem>

#include "data/dataset.h"
#include "data/loader.h"
#include "experiments/evaluate.h"
#include "models/model_io.h"
#include "pleas/merge_pipeline.h"
#include "test_util.h"

using namespace pleas;

namespace {

const char* kFmnist = "/usr/share/datasets/fashion-mnist/";

struct Demo {
  std::shared_ptr<const data::Dataset> merge, test;
  bool ok = false;
};

Demo demo_data() {
  Demo d;
  std::string tr = std::string(kFmnist) + "train-images-idx3-ubyte.gz";
  if (!std::filesystem::exists(tr)) return d;
  d.merge = data::per_class_subset(open_dataset(tr), 50, 0);
  d.test = data::per_class_subset(open_dataset(std::string(kFmnist) + "t10k-images-idx3-ubyte.gz"), 100, 0);
  d.ok = true;
  return d;
}

std::unique_ptr<Model> demo(const char* which) {
  return load_model(std::string(PLEAS_SOURCE_DIR) + "/models/demo/fmnist_" + which + ".safetensors");
}

double run(const Demo& d, const std::string& method, double budget, const std::string& match = "weight",
           double* params_rel = nullptr) {
  auto A = demo("a"), B = demo("b");
  MergeOptions o;
  o.method = method;
  o.match = match;
  o.budget = budget;
  o.progress = false;
  MergeOutcome r = merge_models(*A, *B, d.merge, model_transform(*A), o);
  if (params_rel) *params_rel = r.params_rel;
  EvalOptions eo;
  eo.progress = false;
  return evaluate(*r.model, d.test, model_transform(*r.model), eo).top1;
}

}  // namespace

TEST(MergePipeline, DemoMethodsOrdering) {
  Demo d = demo_data();
  if (!d.ok) GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) not installed";
  EvalOptions eo;
  eo.progress = false;
  auto A = demo("a");
  const double acc_a = evaluate(*A, d.test, model_transform(*A), eo).top1;
  double p_ens = 0, p_pleas = 0, p_big = 0;
  const double ens = run(d, "ensemble", -1, "weight", &p_ens);
  const double avg = run(d, "average", -1);
  const double perm = run(d, "permute", -1);
  const double pl = run(d, "pleas", 1.0, "weight", &p_pleas);
  const double big = run(d, "pleas", 1.8, "weight", &p_big);
  EXPECT_NEAR(p_ens, 2.0, 1e-3);
  EXPECT_NEAR(p_pleas, 1.0, 1e-9);
  EXPECT_LE(p_big, 1.8 + 1e-9);
  EXPECT_GT(p_big, 1.7);
  EXPECT_LT(avg, 30.0) << "an average of unaligned networks is close to chance";
  EXPECT_GT(pl, perm) << "least squares improves on permutation + averaging";
  EXPECT_GT(big, pl - 1.0) << "a larger budget does not hurt";
  EXPECT_GT(ens, acc_a - 2.0);
  std::printf("demo: A %.1f  ensemble %.1f  average %.1f  permute %.1f  pleas@1.0 %.1f  pleas@1.8 %.1f\n",
              acc_a, ens, avg, perm, pl, big);
}

// The whole PLeaS merge on the GPU (parents, merge data, matching, least squares, BN recompute all
// on the device) equals the CPU merge: same k, the merged models' logits on test images within
// f32 tolerance (cuBLAS and OpenBLAS sum in different orders), the same top-1 within 1 pp.
TEST(MergePipelineCuda, PleasOnDeviceEqualsCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Demo d = demo_data();
  if (!d.ok) GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) not installed";
  MergeOptions o;
  o.method = "pleas";
  o.budget = 1.2;
  o.progress = false;
  auto A = demo("a"), B = demo("b");
  MergeOutcome cpu = merge_models(*A, *B, d.merge, model_transform(*A), o);
  const std::string dir = std::string(PLEAS_SOURCE_DIR) + "/models/demo/fmnist_";
  auto Ad = load_model(dir + "a.safetensors", Device::cuda()), Bd = load_model(dir + "b.safetensors", Device::cuda());
  o.device = Device::cuda();
  MergeOutcome gpu = merge_models(*Ad, *Bd, d.merge, model_transform(*Ad), o);
  EXPECT_EQ(gpu.k, cpu.k);
  data::DataLoader ld(d.test, model_transform(*A), 100, 1);
  data::Batch b;
  ld.start_epoch(0);
  ASSERT_TRUE(ld.next(b));
  EXPECT_TRUE(test::all_close_scaled(gpu.model->forward(b.images.to(Device::cuda())), cpu.model->forward(b.images),
                                     1e-3, 1e-3));
  EvalOptions eo;
  eo.progress = false;
  const double t_cpu = evaluate(*cpu.model, d.test, model_transform(*cpu.model), eo).top1;
  eo.device = Device::cuda();
  const double t_gpu = evaluate(*gpu.model, d.test, model_transform(*gpu.model), eo).top1;
  EXPECT_NEAR(t_gpu, t_cpu, 1.0);
}

// Reproducibility: the same inputs and seed give bit-identical merged weights run after run and
// with 1 or 2 OpenMP threads (the threaded kernels split work in thread-count-independent ways).
TEST(MergePipeline, BitIdenticalAcrossRunsAndThreadCounts) {
  Demo d = demo_data();
  if (!d.ok) GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) not installed";
  auto merged = [&](int threads) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    auto A = demo("a"), B = demo("b");
    MergeOptions o;
    o.method = "pleas";
    o.budget = 1.2;
    o.progress = false;
    MergeOutcome r = merge_models(*A, *B, d.merge, model_transform(*A), o);
    omp_set_num_threads(before);
    return r.model->state_dict();
  };
  const TensorDict two = merged(2), again = merged(2), one = merged(1);
  ASSERT_EQ(two.size(), one.size());
  for (const auto& [name, t] : two) {
    EXPECT_TRUE(test::all_close(again.at(name), test::host(t), 0, 0)) << name << " (second run)";
    EXPECT_TRUE(test::all_close(one.at(name), test::host(t), 0, 0)) << name << " (1 thread)";
  }
}
