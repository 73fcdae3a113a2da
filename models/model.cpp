#include "models/model.h"

#include <nlohmann/json.hpp>
#include <sstream>

namespace pleas {

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string join_csv(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
  return out;
}

int64_t Model::num_params() {
  int64_t n = 0;
  for (Conv2d* c : convs()) n -= c->weight.numel() - executed_weights(*c);
  for (Linear* l : linears()) n -= l->weight.numel() - executed_weights(*l);
  for (auto& kv : state_dict()) {
    const std::string& k = kv.first;
    auto ends = [&](const char* suf) {
      std::string s(suf);
      return k.size() >= s.size() && k.compare(k.size() - s.size(), s.size(), s) == 0;
    };
    if (ends("running_mean") || ends("running_var") || ends("num_batches_tracked") || ends(".index"))
      continue;
    n += kv.second.numel();
  }
  return n;
}

double Model::macs(int64_t h, int64_t w) {
  double m = 0;
  ForwardCtx ctx;
  ctx.macs = &m;
  forward(Tensor::zeros({1, 3, h, w}, DType::f32, device_), ctx);
  return m;
}

int64_t Model::num_classes() {
  int s = image_size();
  return forward(Tensor::zeros({1, 3, s, s}, DType::f32, device_)).size(1);
}

std::string infer_arch(const TensorDict& w) {
  if (w.count("layer1.0.conv1.weight") && w.count("linear.weight")) return "cifar_resnet";
  if (w.count("layer1.0.conv1.weight") && w.count("fc.weight")) return "resnet";
  if (w.count("patch_embed.proj.weight")) return "vit";
  if (w.count("conv_proj.weight") && w.count("class_token")) return "tv_vit";
  std::ostringstream os;
  os << "cannot infer the architecture from the weight names (first keys:";
  int i = 0;
  for (auto& kv : w) { if (i++ == 6) break; os << " " << kv.first; }
  os << "); expected CIFAR ResNet, torchvision ResNet or ViT names";
  throw Error(os.str());
}

std::unique_ptr<Model> build_model(const TensorDict& weights, const Metadata& meta, Device dev,
                                   const std::string& source) {
  auto it = meta.find("arch");
  std::string arch = it != meta.end() ? it->second : infer_arch(weights);
  std::unique_ptr<Model> m;
  if (arch.rfind("cifar_resnet", 0) == 0) m = build_cifar_resnet(weights, meta, dev, source);
  else if (arch.rfind("resnet", 0) == 0) m = build_resnet(weights, meta, dev, source);
  else if (arch.rfind("tv_vit", 0) == 0) m = build_vit(map_torchvision_vit_names(weights), meta, dev, source);
  else if (arch.rfind("vit", 0) == 0) m = build_vit(weights, meta, dev, source);
  else PLEAS_FAIL(source, ": unsupported architecture '", arch, "' (supported: cifar_resnet*, resnet*, vit*, tv_vit*)");
  m->metadata = meta;
  auto bl = meta.find("pleas_blocks");
  if (bl != meta.end()) apply_block_metadata(*m, bl->second);
  auto c = meta.find("classes");
  if (c != meta.end()) m->classes = split_csv(c->second);
  return m;
}

void apply_block_metadata(Model& m, const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    PLEAS_FAIL("metadata pleas_blocks: not valid JSON (", e.what(), ")");
  }
  PLEAS_CHECK(j.is_object(), "metadata pleas_blocks: expected a JSON object");
  auto parse = [&](const std::string& path) {
    std::vector<RowBlock> v;
    for (auto& b : j.at(path)) {
      PLEAS_CHECK(b.is_array() && b.size() == 4, "metadata pleas_blocks: ", path, ": each block is [out0, out1, in0, in1]");
      v.push_back({b[0].get<int64_t>(), b[1].get<int64_t>(), b[2].get<int64_t>(), b[3].get<int64_t>()});
    }
    return v;
  };
  size_t used = 0;
  for (Conv2d* c : m.convs())
    if (j.contains(c->path)) { set_blocks(*c, parse(c->path)); ++used; }
  for (Linear* l : m.linears())
    if (j.contains(l->path)) { set_blocks(*l, parse(l->path)); ++used; }
  PLEAS_CHECK(used == j.size(), "metadata pleas_blocks names ", j.size() - used, " layer(s) the model does not have");
}

std::string block_metadata(Model& m) {
  nlohmann::json j = nlohmann::json::object();
  auto put = [&](const std::string& path, const std::vector<RowBlock>& blocks) {
    if (blocks.empty()) return;
    nlohmann::json a = nlohmann::json::array();
    for (auto& b : blocks) a.push_back({b.out0, b.out1, b.in0, b.in1});
    j[path] = a;
  };
  for (Conv2d* c : m.convs()) put(c->path, c->blocks);
  for (Linear* l : m.linears()) put(l->path, l->blocks);
  return j.empty() ? std::string() : j.dump();
}

void begin_bn_recompute(Model& m) {
  for (BatchNorm2d* b : m.batch_norms()) begin_bn_recompute(*b);
}
void finish_bn_recompute(Model& m) {
  for (BatchNorm2d* b : m.batch_norms()) finish_bn_recompute(*b);
}

}  // namespace pleas
