#include "models/cifar_resnet.h"

namespace pleas {

Tensor option_a_index(int64_t in_channels, int64_t out_channels, Device dev) {
  PLEAS_CHECK(out_channels >= in_channels, "option-A shortcut: ", in_channels, " -> ", out_channels,
              " channels cannot zero-pad");
  int64_t pad = (out_channels - in_channels) / 2;
  std::vector<int64_t> idx(static_cast<size_t>(in_channels));
  for (int64_t c = 0; c < in_channels; ++c) idx[size_t(c)] = c + pad;
  return Tensor::from_vector(idx, {in_channels}, dev);
}

Tensor cifar_block_forward(CifarBlock& b, const Tensor& x, const ForwardCtx& ctx) {
  Tensor out = relu(pleas::forward(b.bn1, pleas::forward(b.conv1, x, ctx), ctx));
  out = pleas::forward(b.bn2, pleas::forward(b.conv2, out, ctx), ctx);
  Tensor sc;
  if (b.downsample) {
    // F.pad(x[:, :, ::2, ::2], (0,0,0,0,p,p)) as a channel map.
    Tensor sub = x.slice(2, 0, x.size(2), 2).slice(3, 0, x.size(3), 2);
    sc = index_scatter(sub, 1, b.shortcut_index, out.size(1));
  } else {
    sc = x;
  }
  ctx.report(b.path + ".shortcut", x, sc);
  add_(out, sc);
  relu_(out);
  ctx.report(b.path, x, out);
  return out;
}

std::string CifarResNet::arch() const {
  size_t n = stages.empty() ? 0 : stages[0].size();
  return "cifar_resnet" + std::to_string(6 * n + 2);
}

Tensor CifarResNet::features(const Tensor& x, const ForwardCtx& ctx) {
  Tensor out = relu(pleas::forward(bn1, pleas::forward(conv1, x, ctx), ctx));
  for (size_t s = 0; s < stages.size(); ++s) {
    Tensor in = out;
    for (auto& b : stages[s]) out = cifar_block_forward(b, out, ctx);
    ctx.report("layer" + std::to_string(s + 1), in, out);
  }
  return global_avg_pool2d(out);
}

Tensor CifarResNet::forward(const Tensor& x, const ForwardCtx& ctx) {
  return pleas::forward(linear, features(x, ctx), ctx);
}

TensorDict CifarResNet::state_dict() const {
  TensorDict d;
  store(d, conv1);
  store(d, bn1);
  for (auto& st : stages)
    for (auto& b : st) {
      store(d, b.conv1); store(d, b.bn1); store(d, b.conv2); store(d, b.bn2);
      if (b.downsample) d[b.path + ".shortcut.index"] = b.shortcut_index.to(Device::cpu());
    }
  store(d, linear);
  return d;
}

std::vector<BatchNorm2d*> CifarResNet::batch_norms() {
  std::vector<BatchNorm2d*> v{&bn1};
  for (auto& st : stages)
    for (auto& b : st) { v.push_back(&b.bn1); v.push_back(&b.bn2); }
  return v;
}

std::vector<Conv2d*> CifarResNet::convs() {
  std::vector<Conv2d*> v{&conv1};
  for (auto& st : stages)
    for (auto& b : st) { v.push_back(&b.conv1); v.push_back(&b.conv2); }
  return v;
}

std::unique_ptr<Model> build_cifar_resnet(const TensorDict& w, const Metadata&, Device dev,
                                          const std::string& source) {
  auto m = std::make_unique<CifarResNet>();
  m->device_ = dev;
  WeightReader r(w, dev, source);
  const Tensor* c1 = r.peek("conv1.weight");
  PLEAS_CHECK(c1 && c1->dim() == 4, source, ": CIFAR ResNet needs conv1.weight [C, 3, 3, 3]");
  int64_t width = c1->size(0);
  m->conv1 = r.conv("conv1", width, 3, 3, Conv2dArgs::make(1, 1), false);
  m->bn1 = r.bn("bn1", width);
  int64_t in = width;
  for (int s = 1; s <= 3; ++s) {
    std::vector<CifarBlock> blocks;
    for (int bi = 0;; ++bi) {
      std::string p = "layer" + std::to_string(s) + "." + std::to_string(bi);
      const Tensor* w1 = r.peek(p + ".conv1.weight");
      const Tensor* w2 = r.peek(p + ".conv2.weight");
      if (!w1 || !w2) break;
      PLEAS_CHECK(w1->dim() == 4 && w2->dim() == 4, source, ": ", p, " convs must be 4-D");
      CifarBlock b;
      b.path = p;
      int64_t inner = w1->size(0), out = w2->size(0);
      b.downsample = (s > 1 && bi == 0);
      b.conv1 = r.conv(p + ".conv1", inner, in, 3, Conv2dArgs::make(b.downsample ? 2 : 1, 1), false);
      b.bn1 = r.bn(p + ".bn1", inner);
      b.conv2 = r.conv(p + ".conv2", out, inner, 3, Conv2dArgs::make(1, 1), false);
      b.bn2 = r.bn(p + ".bn2", out);
      if (b.downsample) {
        const Tensor* idx = r.peek(p + ".shortcut.index");
        if (idx) {
          r.ignore(p + ".shortcut.index");
          PLEAS_CHECK(idx->dim() == 1 && idx->size(0) == in, source, ": ", p,
                      ".shortcut.index must be [", in, "], got ", shape_str(idx->shape()));
          b.shortcut_index = idx->to(DType::i64).to(dev);
        } else {
          b.shortcut_index = option_a_index(in, out, dev);
        }
      } else {
        PLEAS_CHECK(in == out, source, ": ", p, " has an identity shortcut but maps ", in, " -> ", out,
                    " channels");
      }
      blocks.push_back(std::move(b));
      in = out;
    }
    PLEAS_CHECK(!blocks.empty(), source, ": CIFAR ResNet has no blocks in layer", s);
    m->stages.push_back(std::move(blocks));
  }
  const Tensor* lw = r.peek("linear.weight");
  PLEAS_CHECK(lw && lw->dim() == 2, source, ": CIFAR ResNet needs linear.weight [classes, ", in, "]");
  m->linear = r.linear("linear", lw->size(0), in);
  r.finish();
  return m;
}

}  // namespace pleas
