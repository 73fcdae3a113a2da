#include "models/model.h"

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

int64_t Model::num_params() const {
  int64_t n = 0;
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
  auto c = meta.find("classes");
  if (c != meta.end()) m->classes = split_csv(c->second);
  return m;
}

void begin_bn_recompute(Model& m) {
  for (BatchNorm2d* b : m.batch_norms()) begin_bn_recompute(*b);
}
void finish_bn_recompute(Model& m) {
  for (BatchNorm2d* b : m.batch_norms()) finish_bn_recompute(*b);
}

}  // namespace pleas
