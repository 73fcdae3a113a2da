// Models against PyTorch goldens (tests/goldens, written by tools/make_goldens.py from a float64
// PyTorch forward): logits and hooked activations within 1e-4 absolute + 1e-5 relative in f32,
// relative to each tensor's largest magnitude. (Per element the bound would be unreachable: on the
// ResNet-50 golden PyTorch's own f32 forward differs from the float64 reference by 7e-4 at values
// of 90, i.e. 7.8e-6 of the tensor's scale; tools/make_goldens.py records that figure.)
#include <map>

#include "engine/weights.h"
#include "models/cifar_resnet.h"
#include "models/model_io.h"
#include "test_util.h"

using namespace pleas;
using pleas::test::all_close;

namespace {

std::string golden(const std::string& name, const char* part) {
  return std::string(PLEAS_SOURCE_DIR) + "/tests/goldens/" + name + "." + part + ".safetensors";
}

// Runs the golden's input through the model with a hook on every recorded module path and
// compares logits and activations.
void check_golden(const std::string& name, Device dev) {
  auto model = load_model(golden(name, "weights"), dev);
  WeightFile io = load_weights(golden(name, "io"));
  std::map<std::string, Tensor> got;
  Hooks hooks;
  for (const std::string& spec : split_csv(io.metadata.at("hooks"))) {
    bool want_in = spec.size() > 3 && spec.compare(spec.size() - 3, 3, ":in") == 0;
    std::string path = want_in ? spec.substr(0, spec.size() - 3) : spec;
    hooks.add(path, [&got, path, want_in](const std::string&, const Tensor& in, const Tensor& out) {
      got["act." + path + ".out"] = out.clone();  // hook tensors are valid during the call only
      if (want_in) got["act." + path + ".in"] = in.clone();
    });
  }
  ForwardCtx ctx;
  ctx.hooks = &hooks;
  Tensor logits = model->forward(io.tensors.at("input").to(dev), ctx);
  EXPECT_TRUE(test::all_close_scaled(logits, io.tensors.at("logits"), 1e-4, 1e-5)) << name << " logits";
  int compared = 0;
  for (auto& [key, ref] : io.tensors) {
    if (key.rfind("act.", 0) != 0) continue;
    auto it = got.find(key);
    if (it == got.end()) { ADD_FAILURE() << name << ": hook " << key << " never fired"; continue; }
    EXPECT_TRUE(test::all_close_scaled(it->second, ref, 1e-4, 1e-5)) << name << " " << key;
    ++compared;
  }
  EXPECT_GE(compared, 4) << name;
}

}  // namespace

TEST(ModelGolden, CifarResNet20) { check_golden("cifar_resnet20", Device::cpu()); }
TEST(ModelGolden, ResNet18) { check_golden("resnet18_w12", Device::cpu()); }
TEST(ModelGolden, ResNet50) { check_golden("resnet50_w8", Device::cpu()); }
TEST(ModelGolden, ViT) { check_golden("vit_tiny", Device::cpu()); }

TEST(ModelGoldenCuda, AllModels) {
  PLEAS_SKIP_WITHOUT_CUDA();
  for (const char* n : {"cifar_resnet20", "resnet18_w12", "resnet50_w8", "vit_tiny"}) check_golden(n, Device::cuda());
}

TEST(Model, InfoCounts) {
  auto m = load_model(golden("cifar_resnet20", "weights"));
  EXPECT_EQ(m->arch(), "cifar_resnet20");
  EXPECT_EQ(m->num_params(), 269722);  // zoo README: ResNet-20, 10 classes
  // Multiply-adds of ResNet-20 at 32x32: conv1 3*16*9*1024 + stage convs + linear, counted by hand.
  double macs = 3.0 * 16 * 9 * 1024;
  macs += 6 * (16.0 * 16 * 9 * 1024);                    // layer1: 6 convs at 32x32
  macs += 32.0 * 16 * 9 * 256 + 5 * (32.0 * 32 * 9 * 256);  // layer2
  macs += 64.0 * 32 * 9 * 64 + 5 * (64.0 * 64 * 9 * 64);    // layer3
  macs += 64.0 * 10;
  EXPECT_DOUBLE_EQ(m->macs(32, 32), macs);
  EXPECT_EQ(m->num_classes(), 10);
}

TEST(Model, StrictLoadingListsProblems) {
  WeightFile wf = load_weights(golden("cifar_resnet20", "weights"));
  TensorDict w = wf.tensors;
  w.erase("layer1.0.bn1.running_var");
  w["layer2.0.conv1.weight"] = Tensor::zeros({32, 15, 3, 3});
  w["extra.thing"] = Tensor::zeros({1});
  try {
    build_model(w, wf.metadata, Device::cpu(), "broken.safetensors");
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("broken.safetensors"), std::string::npos) << m;
    EXPECT_NE(m.find("layer1.0.bn1.running_var"), std::string::npos) << m;
    EXPECT_NE(m.find("extra.thing"), std::string::npos) << m;
    EXPECT_NE(m.find("layer2.0.conv1.weight"), std::string::npos) << m;
  }
  // A checkpoint of another architecture under the wrong name.
  WeightFile vit = load_weights(golden("vit_tiny", "weights"));
  Metadata meta = vit.metadata;
  meta["arch"] = "cifar_resnet20";
  EXPECT_THROW(build_model(vit.tensors, meta, Device::cpu(), "vit.safetensors"), Error);
}

TEST(Model, SaveLoadRoundTrip) {
  auto m = load_model(golden("cifar_resnet20", "weights"));
  m->classes = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  std::string path = (std::filesystem::temp_directory_path() / "pleas_model_rt.safetensors").string();
  save_model(path, *m);
  auto m2 = load_model(path);
  EXPECT_EQ(m2->classes, m->classes);
  Tensor x = test::random_tensor({2, 3, 32, 32}, 5);
  EXPECT_TRUE(all_close(m2->forward(x), test::host(m->forward(x)), 0, 0));
  std::filesystem::remove(path);
}

// BatchNorm recompute: running statistics become the average over batches of each batch's mean
// and unbiased variance of the BN input (PyTorch with momentum=None), checked with double loops.
TEST(Model, BatchNormRecomputeIsCumulativeAverage) {
  auto m = load_model(golden("cifar_resnet20", "weights"));
  auto* net = dynamic_cast<CifarResNet*>(m.get());
  ASSERT_NE(net, nullptr);
  std::vector<std::vector<double>> means, vars;
  Hooks hooks;
  hooks.add("layer2.1.bn1", [&](const std::string&, const Tensor& in, const Tensor&) {
    auto v = test::host(in);
    int64_t N = in.size(0), C = in.size(1), HW = in.size(2) * in.size(3);
    std::vector<double> mu(size_t(C), 0), var(size_t(C), 0);
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) mu[size_t(c)] += v[size_t((n * C + c) * HW + i)];
      mu[size_t(c)] /= double(N * HW);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) {
          double d = v[size_t((n * C + c) * HW + i)] - mu[size_t(c)];
          var[size_t(c)] += d * d;
        }
      var[size_t(c)] /= double(N * HW - 1);
    }
    means.push_back(mu);
    vars.push_back(var);
  });
  ForwardCtx ctx;
  ctx.hooks = &hooks;
  ctx.bn_mode = BnMode::recompute;
  begin_bn_recompute(*m);
  for (uint64_t seed : {1, 2, 3}) m->forward(test::random_tensor({4, 3, 32, 32}, seed), ctx);
  finish_bn_recompute(*m);
  ASSERT_EQ(means.size(), 3u);
  std::vector<double> want_m(means[0].size()), want_v(vars[0].size());
  for (size_t c = 0; c < want_m.size(); ++c) {
    want_m[c] = (means[0][c] + means[1][c] + means[2][c]) / 3;
    want_v[c] = (vars[0][c] + vars[1][c] + vars[2][c]) / 3;
  }
  const BatchNorm2d& bn = net->stages[1][1].bn1;
  EXPECT_TRUE(all_close(bn.running_mean, want_m, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(bn.running_var, want_v, 1e-5, 1e-5));
}

TEST(Model, OptionAShortcutIndex) {
  Tensor idx = option_a_index(16, 32, Device::cpu());
  auto v = idx.to_vector<int64_t>();
  ASSERT_EQ(v.size(), 16u);
  EXPECT_EQ(v.front(), 8);
  EXPECT_EQ(v.back(), 23);
  EXPECT_THROW(option_a_index(32, 16, Device::cpu()), Error);
}
