// The torchvision-layout ResNet at a resolution other than 224 (the PACS parents of issue #14 run at
// 64 px), and the committed PACS parents (models/pacs) scored by the engine against the accuracies
// PyTorch measured when they were trained (models/pacs/accuracy.json, tools/train_parents.py).
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/weights.h"
#include "experiments/evaluate.h"
#include "models/model_io.h"
#include "test_util.h"

using namespace pleas;
using pleas::test::expect_error_naming;

namespace {
std::string golden_weights() { return std::string(PLEAS_SOURCE_DIR) + "/tests/goldens/resnet18_w12.weights.safetensors"; }
}  // namespace

// metadata image_size sets the resolution (class count probe, transforms, FLOP counts); without it
// a ResNet is an ImageNet model at 224 px (resize 256, centre crop 224).
TEST(ResNetResolution, FromMetadata) {
  WeightFile wf = load_weights(golden_weights());
  wf.metadata["image_size"] = "64";
  wf.metadata["input_resize"] = "64";
  auto m = build_model(wf.tensors, wf.metadata, Device::cpu(), "w12@64");
  EXPECT_EQ(m->image_size(), 64);
  data::Transform t = model_transform(*m);
  EXPECT_EQ(t.resize, 64);
  EXPECT_EQ(t.crop_h, 0);  // no 224 crop of a 64 px image (the bug this test guards against)
  EXPECT_EQ(t.crop_w, 0);

  wf.metadata.erase("image_size");
  wf.metadata.erase("input_resize");
  auto m224 = build_model(wf.tensors, wf.metadata, Device::cpu(), "w12");
  EXPECT_EQ(m224->image_size(), 224);
  data::Transform t224 = model_transform(*m224);
  EXPECT_EQ(t224.resize, 256);
  EXPECT_EQ(t224.crop_h, 224);

  wf.metadata["image_size"] = "sixty-four";
  expect_error_naming([&] { build_model(wf.tensors, wf.metadata, Device::cpu(), "bad.safetensors"); },
                      "bad.safetensors", "image_size");
}

// Every committed PACS parent on every domain's test list: the engine's top-1 within 1 pp of
// PyTorch's (the two decode JPEGs with different libraries, stb_image and PIL: a few images of a
// few hundred flip).
TEST(PacsParents, EngineMatchesPyTorchAccuracy) {
  const std::string shared = test::shared_dir();
  const std::string pacs = shared + "/data/pacs64";
  if (shared.empty() || !std::filesystem::exists(pacs + "/photo_test.txt")) GTEST_SKIP() << "no " << pacs;
  const std::string dir = std::string(PLEAS_SOURCE_DIR) + "/models/pacs";
  // The parents are not in the repository (2.8 MB each): tools/train_parents.py --all makes them
  // (seeded; models/pacs/SHA256SUMS names the files the committed results used).
  if (!std::filesystem::exists(dir + "/pacs_photo.safetensors"))
    GTEST_SKIP() << "no PACS parents in " << dir << " (make them with tools/train_parents.py --all)";
  std::ifstream f(dir + "/accuracy.json");
  ASSERT_TRUE(f.good()) << dir << "/accuracy.json";
  const nlohmann::json ref = nlohmann::json::parse(f);
  int checked = 0;
  for (auto& [name, row] : ref.at("models").items()) {
    auto m = load_model(dir + "/" + name + ".safetensors");
    for (auto& [domain, acc] : row.items()) {
      EvalOptions eo;
      eo.progress = false;
      const double top1 = evaluate(*m, open_dataset(pacs + "/" + domain + ":test"), model_transform(*m), eo).top1;
      EXPECT_NEAR(top1, acc.get<double>(), 1.0) << name << " on " << domain;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 32);
}
