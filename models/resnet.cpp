#include "models/resnet.h"

#include <stdexcept>
#include <string>

namespace pleas {

static Tensor block_forward(ResBlock& b, const Tensor& x, const ForwardCtx& ctx) {
  Tensor out = x;
  for (size_t i = 0; i < b.convs.size(); ++i) {
    out = pleas::forward(b.bns[i], pleas::forward(b.convs[i], out, ctx), ctx);
    if (i + 1 < b.convs.size()) relu_(out);
  }
  Tensor sc = x;
  if (b.has_downsample) {
    sc = pleas::forward(b.down_bn, pleas::forward(b.down_conv, x, ctx), ctx);
    ctx.report(b.path + ".downsample", x, sc);
  }
  add_(out, sc);
  relu_(out);
  ctx.report(b.path, x, out);
  return out;
}

std::string ResNet::arch() const {
  int n = 0;
  for (auto& s : stages) n += int(s.size());
  int depth = n * (bottleneck ? 3 : 2) + 2;
  return "resnet" + std::to_string(depth);
}

Tensor ResNet::features(const Tensor& x, const ForwardCtx& ctx) {
  Tensor b1 = pleas::forward(bn1, pleas::forward(conv1, x, ctx), ctx);
  Tensor out = relu(b1);
  ctx.report("relu", b1, out);
  Tensor pooled = max_pool2d(out, Pool2dArgs::make(3, 2, 1));
  ctx.report("maxpool", out, pooled);
  out = pooled;
  for (size_t s = 0; s < stages.size(); ++s) {
    Tensor in = out;
    for (auto& b : stages[s]) out = block_forward(b, out, ctx);
    ctx.report("layer" + std::to_string(s + 1), in, out);
  }
  Tensor f = global_avg_pool2d(out);
  ctx.report("avgpool", out, f.reshape({f.size(0), f.size(1), 1, 1}));  // AdaptiveAvgPool2d shape
  return f;
}

Tensor ResNet::forward(const Tensor& x, const ForwardCtx& ctx) {
  return pleas::forward(fc, features(x, ctx), ctx);
}

TensorDict ResNet::state_dict() const {
  TensorDict d;
  store(d, conv1);
  store(d, bn1);
  for (auto& st : stages)
    for (auto& b : st) {
      for (auto& c : b.convs) store(d, c);
      for (auto& n : b.bns) store(d, n);
      if (b.has_downsample) { store(d, b.down_conv); store(d, b.down_bn); }
    }
  store(d, fc);
  return d;
}

std::vector<BatchNorm2d*> ResNet::batch_norms() {
  std::vector<BatchNorm2d*> v{&bn1};
  for (auto& st : stages)
    for (auto& b : st) {
      for (auto& n : b.bns) v.push_back(&n);
      if (b.has_downsample) v.push_back(&b.down_bn);
    }
  return v;
}

std::vector<Conv2d*> ResNet::convs() {
  std::vector<Conv2d*> v{&conv1};
  for (auto& st : stages)
    for (auto& b : st) {
      for (auto& c : b.convs) v.push_back(&c);
      if (b.has_downsample) v.push_back(&b.down_conv);
    }
  return v;
}

std::unique_ptr<Model> build_resnet(const TensorDict& w, const Metadata& meta, Device dev,
                                    const std::string& source) {
  auto m = std::make_unique<ResNet>();
  m->device_ = dev;
  if (auto it = meta.find("image_size"); it != meta.end()) {
    int s = 0;
    try {
      s = std::stoi(it->second);
    } catch (const std::exception&) {
    }
    PLEAS_CHECK(s >= 16 && s <= 4096, source, ": metadata image_size '", it->second,
                "' is not a resolution between 16 and 4096");
    m->input_size = s;
  }
  WeightReader r(w, dev, source);
  const Tensor* c1 = r.peek("conv1.weight");
  PLEAS_CHECK(c1 && c1->dim() == 4, source, ": ResNet needs conv1.weight [C, 3, 7, 7]");
  int64_t in = c1->size(0);
  m->conv1 = r.conv("conv1", in, 3, 7, Conv2dArgs::make(2, 3), false);
  m->bn1 = r.bn("bn1", in);
  m->bottleneck = r.has("layer1.0.conv3.weight");
  const int nconv = m->bottleneck ? 3 : 2;
  for (int s = 1; s <= 4; ++s) {
    std::vector<ResBlock> blocks;
    for (int bi = 0;; ++bi) {
      std::string p = "layer" + std::to_string(s) + "." + std::to_string(bi);
      if (!r.has(p + ".conv1.weight")) break;
      ResBlock b;
      b.path = p;
      const int stride = (s > 1 && bi == 0) ? 2 : 1;
      int64_t cin = in;
      for (int k = 1; k <= nconv; ++k) {
        std::string cp = p + ".conv" + std::to_string(k);
        const Tensor* wk = r.peek(cp + ".weight");
        PLEAS_CHECK(wk && wk->dim() == 4, source, ": missing or malformed ", cp, ".weight");
        int64_t cout = wk->size(0);
        int ksize = (m->bottleneck && k != 2) ? 1 : 3;
        // torchvision puts the stride on conv1 (basic) or conv2 (bottleneck, v1.5).
        int st = (k == (m->bottleneck ? 2 : 1)) ? stride : 1;
        b.convs.push_back(r.conv(cp, cout, cin, ksize, Conv2dArgs::make(st, ksize / 2), false));
        b.bns.push_back(r.bn(p + ".bn" + std::to_string(k), cout));
        cin = cout;
      }
      if (r.has(p + ".downsample.0.weight")) {
        b.has_downsample = true;
        b.down_conv = r.conv(p + ".downsample.0", cin, in, 1, Conv2dArgs::make(stride, 0), false);
        b.down_bn = r.bn(p + ".downsample.1", cin);
      } else {
        PLEAS_CHECK(in == cin && stride == 1, source, ": ", p, " changes shape but has no downsample");
      }
      in = cin;
      blocks.push_back(std::move(b));
    }
    PLEAS_CHECK(!blocks.empty(), source, ": ResNet has no blocks in layer", s);
    m->stages.push_back(std::move(blocks));
  }
  const Tensor* fw = r.peek("fc.weight");
  PLEAS_CHECK(fw && fw->dim() == 2, source, ": ResNet needs fc.weight [classes, ", in, "]");
  m->fc = r.linear("fc", fw->size(0), in);
  r.finish();
  return m;
}

}  // namespace pleas
