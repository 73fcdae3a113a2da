// `pleas info MODEL` and `pleas eval --model M --data D ...`.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "experiments/commands.h"
#include "experiments/evaluate.h"
#include "models/model_io.h"
#include "models/vit.h"
#include "pleas/budget_spec.h"

namespace pleas::cli {

namespace {
// Separately loaded models whose logits are averaged: the ensemble computed independently of
// the merge code (pleas merge --method ensemble builds it as a k = 0 merged model instead).
class LogitMean : public Model {
 public:
  explicit LogitMean(std::vector<std::unique_ptr<Model>> ms) : ms_(std::move(ms)) {
    for (auto& m : ms_)
      PLEAS_CHECK(m->classes == ms_[0]->classes, "eval --ensemble-with: the models name different classes");
    classes = ms_[0]->classes;
    metadata = ms_[0]->metadata;
    device_ = ms_[0]->device();
  }
  std::string arch() const override {
    std::string s = "ensemble(";
    for (size_t i = 0; i < ms_.size(); ++i) s += (i ? ", " : "") + ms_[i]->arch();
    return s + ")";
  }
  Tensor forward(const Tensor& x, const ForwardCtx& ctx) override {
    Tensor acc = ms_[0]->forward(x, ctx);
    for (size_t i = 1; i < ms_.size(); ++i) acc = add(acc, ms_[i]->forward(x, ctx));
    return mul(acc, Tensor::full({1}, 1.0 / double(ms_.size()), DType::f32, x.device()));
  }
  TensorDict state_dict() const override { return {}; }
  int image_size() const override { return ms_[0]->image_size(); }

 private:
  std::vector<std::unique_ptr<Model>> ms_;
};
}  // namespace

Command add_info(CLI::App& app) {
  auto* sub = app.add_subcommand("info", "Architecture, parameter count and FLOPs of a model file");
  static std::string path;
  static bool json = false;
  sub->add_option("model", path, "weight file (.safetensors or .h5)")->required();
  sub->add_flag("--json", json, "one JSON object on stdout");
  return {sub, [] {
    auto m = load_model(path);
    int s = m->image_size();
    if (m->metadata.count("image_size")) s = std::stoi(m->metadata.at("image_size"));
    const double macs = m->macs(s, s);
    const int64_t params = m->num_params(), classes = m->num_classes();
    // ViT structure (a merged block runs its own head count), and the budget footprint of a
    // mergeable model: its groups and the footprint fully merged (= this model) / fully separate.
    nlohmann::json vit = nullptr, budget = nullptr;
    if (auto* v = dynamic_cast<VisionTransformer*>(m.get())) {
      nlohmann::json heads = nlohmann::json::array(), mlp = nlohmann::json::array();
      for (auto& b : v->blocks) { heads.push_back(b.heads); mlp.push_back(b.fc1.weight.size(0)); }
      int views = 0;
      for (LayerNorm* n : v->layer_norms()) views += !n->views.empty();
      vit = {{"width", v->patch_embed.out_channels()}, {"head_dim", v->head_dim}, {"heads", heads}, {"mlp", mlp},
             {"act", v->gelu_tanh ? "gelu_tanh" : "gelu"}, {"final_norm", v->has_final_norm()},
             {"partly_merged_norms", views}};
    }
    try {
      canonicalize(*m);
      const PermSpec spec = perm_spec(*m);
      const FootprintModel fp = footprint_from_spec(spec, *m, s);
      nlohmann::json groups = nlohmann::json::array();
      for (auto& g : fp.groups) groups.push_back({{"name", g.name}, {"d", g.d}, {"unit", g.unit}});
      const std::vector<double> r0(fp.groups.size(), 0.0), r1(fp.groups.size(), 1.0);
      budget = {{"groups", groups}, {"params_merged", footprint(fp, r0, Metric::params)},
                {"params_separate", footprint(fp, r1, Metric::params)}, {"macs_merged", footprint(fp, r0, Metric::flops)},
                {"macs_separate", footprint(fp, r1, Metric::flops)}};
    } catch (const Error&) {  // a merged model is not merged again: no budget groups
    }
    if (json) {
      nlohmann::json j = {{"model", path}, {"arch", m->arch()}, {"params", params},
                          {"macs", macs}, {"flops", 2 * macs}, {"image_size", s},
                          {"num_classes", classes}, {"classes", m->classes}};
      if (!vit.is_null()) j["vit"] = vit;
      if (!budget.is_null()) j["budget"] = budget;
      std::cout << j.dump() << "\n";
    } else {
      std::printf("model        %s\narch         %s\nparameters   %lld\n", path.c_str(),
                  m->arch().c_str(), (long long)params);
      std::printf("MACs         %.4g per %dx%d image (FLOPs %.4g)\nclasses      %lld", macs, s, s,
                  2 * macs, (long long)classes);
      for (size_t i = 0; i < m->classes.size(); ++i)
        std::printf("%s%s", i ? "," : " (", m->classes[i].c_str());
      std::printf("%s\n", m->classes.empty() ? "" : ")");
      if (!vit.is_null())
        std::printf("vit          width %lld, heads per block %s (head width %lld), MLP %s, %s, %s final norm, %d partly merged norms\n",
                    (long long)vit["width"].get<int64_t>(), vit["heads"].dump().c_str(),
                    (long long)vit["head_dim"].get<int64_t>(), vit["mlp"].dump().c_str(),
                    vit["act"].get<std::string>().c_str(), vit["final_norm"].get<bool>() ? "with" : "no",
                    vit["partly_merged_norms"].get<int>());
      if (!budget.is_null())
        std::printf("budget       %zu groups; footprint merged %.0f params / %.4g MACs, separate %.0f / %.4g\n",
                    budget["groups"].size(), budget["params_merged"].get<double>(), budget["macs_merged"].get<double>(),
                    budget["params_separate"].get<double>(), budget["macs_separate"].get<double>());
    }
    return 0;
  }};
}

Command add_eval(CLI::App& app) {
  auto* sub = app.add_subcommand("eval", "Top-1 accuracy of a model on a labelled image set");
  static std::string model, data, device = "cpu";
  static std::vector<std::string> with;
  static int64_t limit = 0, batch = 200;
  static int threads = 2;
  static bool json = false;
  sub->add_option("--model", model, "weight file")->required();
  sub->add_option("--data", data, "image folder (class subfolders) or *-images-idx3-ubyte file")->required();
  sub->add_option("--ensemble-with", with, "more models: evaluate the mean of all the models' logits");
  sub->add_option("--limit", limit, "evaluate the first N images of each class (0 = all)");
  sub->add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  sub->add_option("--threads", threads, "decoding threads")->check(CLI::PositiveNumber);
  sub->add_option("--device", device, "cpu or cuda[:N]");
  sub->add_flag("--json", json, "one JSON object on stdout");
  return {sub, [] {
    Device dev = Device::parse(device);
    std::unique_ptr<Model> m = load_model(model, dev);
    if (!with.empty()) {
      std::vector<std::unique_ptr<Model>> ms;
      ms.push_back(std::move(m));
      for (const std::string& w : with) ms.push_back(load_model(w, dev));
      m = std::make_unique<LogitMean>(std::move(ms));
    }
    auto ds = open_dataset(data);
    EvalOptions o;
    o.limit_per_class = limit;
    o.batch_size = batch;
    o.threads = threads;
    o.device = dev;
    EvalResult r = evaluate(*m, ds, model_transform(*m), o);
    if (json) {
      nlohmann::json j = {{"model", model}, {"data", data}, {"top1", r.top1}, {"correct", r.correct},
                          {"images", r.images}, {"images_per_s", r.images_per_s},
                          {"seconds", r.seconds}, {"device", dev.str()}};
      if (!with.empty()) j["ensemble_with"] = with;
      std::cout << j.dump() << "\n";
    } else {
      std::printf("%s on %s: top-1 %.2f%% (%lld/%lld), %.0f images/s on %s\n", model.c_str(),
                  data.c_str(), r.top1, (long long)r.correct, (long long)r.images, r.images_per_s,
                  dev.str().c_str());
    }
    return 0;
  }};
}

}  // namespace pleas::cli
