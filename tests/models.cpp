// Models against PyTorch goldens (tests/goldens, written by tools/make_goldens.py from a float64
// PyTorch forward): logits and hooked activations within 1e-4 absolute + 1e-5 relative in f32,
// relative to each tensor's largest magnitude. (Per element the bound would be unreachable: on the
// ResNet-50 golden PyTorch's own f32 forward differs from the float64 reference by 7e-4 at values
// of 90, i.e. 7.8e-6 of the tensor's scale; tools/make_goldens.py records that figure.)
#include <array>
#include <map>
#include <set>

#include "engine/weights.h"
#include "models/cifar_resnet.h"
#include "models/model_io.h"
#include "models/vit.h"
#include "test_util.h"

using namespace pleas;
using pleas::test::all_close;
using pleas::test::expect_error_naming;
using pleas::test::host;

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
// The tintn tutorial layout (the zoo's vit_tintn_*.pt) as tools/convert_torch.py writes it: tanh
// GELU, no final LayerNorm, LayerNorm eps 1e-5, 4 heads of width 12 (metadata num_heads).
TEST(ModelGolden, ViTTintn) { check_golden("vit_tintn", Device::cpu()); }

TEST(ModelGoldenCuda, AllModels) {
  PLEAS_SKIP_WITHOUT_CUDA();
  for (const char* n : {"cifar_resnet20", "resnet18_w12", "resnet50_w8", "vit_tiny", "vit_tintn"})
    check_golden(n, Device::cuda());
}

// The hooks' contract that least squares relies on: conv, linear and LayerNorm inputs and outputs
// are not modified after they are reported. Hold references to all of them during a forward and
// compare with clones taken at the call: bit-identical afterwards, on every golden architecture.
TEST(Model, LayerIoStableAfterReport) {
  for (const char* name : {"cifar_resnet20", "resnet18_w12", "resnet50_w8", "vit_tiny"}) {
    auto model = load_model(golden(name, "weights"));
    std::set<std::string> paths;
    for (Conv2d* c : model->convs()) paths.insert(c->path);
    for (Linear* l : model->linears()) paths.insert(l->path);
    if (auto* v = dynamic_cast<VisionTransformer*>(model.get()))
      for (const LayerNorm* n : v->layer_norms()) paths.insert(n->path);
    std::map<std::string, std::array<Tensor, 4>> seen;  // held in, held out, cloned in, cloned out
    Hooks hooks;
    hooks.add("*", [&](const std::string& path, const Tensor& in, const Tensor& out) {
      if (paths.count(path)) seen[path] = {in, out, in.clone(), out.clone()};
    });
    ForwardCtx ctx;
    ctx.hooks = &hooks;
    WeightFile io = load_weights(golden(name, "io"));
    model->forward(io.tensors.at("input"), ctx);
    EXPECT_EQ(seen.size(), paths.size()) << name;
    for (auto& [path, t] : seen) {
      EXPECT_TRUE(all_close(t[0], host(t[2]), 0, 0)) << name << " " << path << " input";
      EXPECT_TRUE(all_close(t[1], host(t[3]), 0, 0)) << name << " " << path << " output";
    }
  }
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

// The tintn golden's metadata is what makes it that model: without it the file is rejected (or,
// for the activation, computes another function).
TEST(Model, VitTintnMetadataMatters) {
  WeightFile wf = load_weights(golden("vit_tintn", "weights"));
  ASSERT_EQ(wf.metadata.at("act"), "gelu_tanh");
  ASSERT_EQ(wf.metadata.at("final_norm"), "none");
  ASSERT_EQ(wf.metadata.at("num_heads"), "4");
  EXPECT_EQ(wf.tensors.count("norm.weight"), 0u);
  auto m = build_model(wf.tensors, wf.metadata, Device::cpu(), "tintn.safetensors");
  auto* vit = dynamic_cast<VisionTransformer*>(m.get());
  ASSERT_NE(vit, nullptr);
  EXPECT_TRUE(vit->gelu_tanh);
  EXPECT_FALSE(vit->has_final_norm());
  EXPECT_EQ(vit->head_dim, 12);
  ASSERT_EQ(vit->blocks.size(), 2u);
  EXPECT_EQ(vit->blocks[0].heads, 4);
  // No final_norm metadata: the model needs norm.*, which the file does not have.
  Metadata meta = wf.metadata;
  meta.erase("final_norm");
  expect_error_naming([&] { build_model(wf.tensors, meta, Device::cpu(), "tintn.safetensors"); }, "tintn.safetensors",
                      "norm.weight");
  // Erf GELU instead of tanh (they differ by up to 4.7e-4 near |x| = 2): the golden's MLP
  // activation tells them apart at the golden tolerance.
  meta = wf.metadata;
  meta["act"] = "gelu";
  auto erf = build_model(wf.tensors, meta, Device::cpu(), "tintn.safetensors");
  WeightFile io = load_weights(golden("vit_tintn", "io"));
  const Tensor& want = io.tensors.at("act.blocks.0.mlp.act.out");
  auto act_of = [&](Model& model) {
    Tensor got;
    Hooks hooks;
    hooks.add("blocks.0.mlp.act", [&got](const std::string&, const Tensor&, const Tensor& out) { got = out.clone(); });
    ForwardCtx ctx;
    ctx.hooks = &hooks;
    model.forward(io.tensors.at("input"), ctx);
    return got;
  };
  EXPECT_TRUE(test::all_close_scaled(act_of(*m), want, 1e-4, 1e-5));
  EXPECT_FALSE(test::all_close_scaled(act_of(*erf), want, 1e-4, 1e-5));
  double worst = 0;
  auto a = host(act_of(*erf)), r = host(want);
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - r[i]));
  EXPECT_GT(worst, 3e-4);
}

// Bad input: a ViT of width 48 (not a multiple of timm's head width 64) whose metadata gives no
// head count cannot be built; the error says so and names the file.
TEST(Model, VitHeadCountNotInferable) {
  WeightFile wf = load_weights(golden("vit_tintn", "weights"));
  Metadata meta = wf.metadata;
  for (const char* k : {"num_heads", "heads", "head_dim"}) meta.erase(k);
  expect_error_naming([&] { build_model(wf.tensors, meta, Device::cpu(), "noheads.safetensors"); },
                      "noheads.safetensors", "number of attention heads");
  const std::string msg = test::error_of([&] { build_model(wf.tensors, meta, Device::cpu(), "noheads.safetensors"); });
  EXPECT_NE(msg.find("48"), std::string::npos) << msg;
  EXPECT_NE(msg.find("num_heads"), std::string::npos) << msg;
  // A head count that does not divide the width.
  meta["num_heads"] = "5";
  expect_error_naming([&] { build_model(wf.tensors, meta, Device::cpu(), "badheads.safetensors"); },
                      "badheads.safetensors", "not divisible by 5 heads");
}

// Bad input: a 3-block ViT with every blocks.1.* tensor deleted names the missing block; one
// tensor missing from a block is named by the strict loader.
TEST(Model, VitMissingBlockNamed) {
  WeightFile wf = load_weights(golden("vit_tintn", "weights"));
  TensorDict w = wf.tensors;
  for (auto& [k, t] : wf.tensors)  // blocks.2 := a copy of blocks.1: a valid 3-block model
    if (k.rfind("blocks.1.", 0) == 0) w["blocks.2." + k.substr(9)] = t.clone();
  auto three = build_model(w, wf.metadata, Device::cpu(), "three.safetensors");
  ASSERT_EQ(dynamic_cast<VisionTransformer*>(three.get())->blocks.size(), 3u);

  TensorDict gap = w;
  for (auto it = gap.begin(); it != gap.end();) it = it->first.rfind("blocks.1.", 0) == 0 ? gap.erase(it) : std::next(it);
  ASSERT_EQ(gap.size() + 12, w.size());  // 12 tensors per block
  expect_error_naming([&] { build_model(gap, wf.metadata, Device::cpu(), "gap.safetensors"); }, "gap.safetensors",
                      "block blocks.1 is missing");

  TensorDict partial = w;
  partial.erase("blocks.2.norm2.weight");
  expect_error_naming([&] { build_model(partial, wf.metadata, Device::cpu(), "partial.safetensors"); },
                      "partial.safetensors", "blocks.2.norm2.weight");
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
