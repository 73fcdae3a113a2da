#include "models/vit.h"

#include <cmath>
#include <cstdlib>
#include <regex>

namespace pleas {

// Multi-head self-attention: qkv = x Wqkvᵀ + b, split into heads; per head
// A = softmax(q kᵀ / sqrt(hd)), out = A v; heads concatenated and projected.
static Tensor attention(VitBlock& b, int heads, const Tensor& x, const ForwardCtx& ctx) {
  const int64_t N = x.size(0), L = x.size(1);
  Tensor qkv = pleas::forward(b.qkv, x, ctx);  // [N, L, 3*Dq]
  const int64_t Dq = qkv.size(2) / 3, hd = Dq / heads;
  // [N, L, 3, H, hd] -> [3, N, H, L, hd]
  Tensor t = qkv.reshape({N, L, 3, heads, hd}).permute({2, 0, 3, 1, 4});
  Tensor q = t.select(0, 0).contiguous().reshape({N * heads, L, hd});
  Tensor k = t.select(0, 1).contiguous().reshape({N * heads, L, hd});
  Tensor v = t.select(0, 2).contiguous().reshape({N * heads, L, hd});
  Tensor scores = bmm(q, k.transpose(1, 2).contiguous());
  Tensor scale = Tensor::full({1}, 1.0 / std::sqrt(double(hd)), DType::f32, x.device());
  Tensor a = softmax(mul(scores, scale), -1);
  ctx.count(2.0 * double(N * heads) * double(L) * double(L) * double(hd));
  Tensor o = bmm(a, v).reshape({N, heads, L, hd}).permute({0, 2, 1, 3}).contiguous().reshape({N, L, Dq});
  Tensor y = pleas::forward(b.proj, o, ctx);
  ctx.report(b.path + ".attn", x, y);
  return y;
}

Tensor VisionTransformer::features(const Tensor& x, const ForwardCtx& ctx) {
  const int64_t N = x.size(0);
  Tensor p = pleas::forward(patch_embed, x, ctx);  // [N, D, gh, gw]
  const int64_t D = p.size(1);
  Tensor tokens = p.reshape({N, D, -1}).transpose(1, 2);  // [N, L, D]
  ctx.report("patch_embed", x, tokens);
  Tensor h = cat({cls_token.expand({N, 1, D}), tokens}, 1);
  PLEAS_CHECK(h.size(1) == pos_embed.size(1), "vit: input ", shape_str(x.shape()), " gives ", h.size(1),
              " tokens but pos_embed has ", pos_embed.size(1));
  h = add(h, pos_embed);
  for (auto& b : blocks) {
    Tensor in = h;
    h = add(h, attention(b, num_heads, pleas::forward(b.norm1, h, ctx), ctx));
    Tensor f1 = pleas::forward(b.fc1, pleas::forward(b.norm2, h, ctx), ctx);
    Tensor act = gelu(f1);
    ctx.report(b.path + ".mlp.act", f1, act);
    Tensor m = pleas::forward(b.fc2, act, ctx);
    ctx.report(b.path + ".mlp", h, m);
    h = add(h, m);
    ctx.report(b.path, in, h);
  }
  h = pleas::forward(norm, h, ctx);
  return h.select(1, 0).contiguous();
}

Tensor VisionTransformer::forward(const Tensor& x, const ForwardCtx& ctx) {
  return pleas::forward(head, features(x, ctx), ctx);
}

TensorDict VisionTransformer::state_dict() const {
  TensorDict d;
  store(d, patch_embed);
  d["cls_token"] = cls_token.to(Device::cpu());
  d["pos_embed"] = pos_embed.to(Device::cpu());
  for (auto& b : blocks) {
    store(d, b.norm1); store(d, b.qkv); store(d, b.proj);
    store(d, b.norm2); store(d, b.fc1); store(d, b.fc2);
  }
  store(d, norm);
  store(d, head);
  return d;
}

std::unique_ptr<Model> build_vit(const TensorDict& w, const Metadata& meta, Device dev,
                                 const std::string& source) {
  auto m = std::make_unique<VisionTransformer>();
  m->device_ = dev;
  WeightReader r(w, dev, source);
  const Tensor* pe = r.peek("patch_embed.proj.weight");
  PLEAS_CHECK(pe && pe->dim() == 4, source, ": ViT needs patch_embed.proj.weight [D, 3, p, p]");
  const int64_t D = pe->size(0);
  const int patch = int(pe->size(2));
  Conv2dArgs pa = Conv2dArgs::make(patch, 0);
  m->patch_embed = r.conv("patch_embed.proj", D, 3, patch, pa, true);
  m->patch_embed.path = "patch_embed.proj";
  m->cls_token = r.get("cls_token", {1, 1, D});
  const Tensor* pos = r.peek("pos_embed");
  PLEAS_CHECK(pos && pos->dim() == 3, source, ": ViT needs pos_embed [1, 1+L, D]");
  m->pos_embed = r.get("pos_embed", {1, pos->size(1), D});
  const int64_t grid = int64_t(std::lround(std::sqrt(double(pos->size(1) - 1))));
  m->img_size = int(grid * patch);
  auto it = meta.find("num_heads");
  if (it == meta.end()) it = meta.find("heads");  // tools/convert_torch.py's key
  m->num_heads = it != meta.end() ? std::atoi(it->second.c_str()) : (D == 192 ? 3 : int(std::max<int64_t>(1, D / 64)));
  PLEAS_CHECK(m->num_heads > 0, source, ": bad number of heads in metadata");
  double ln_eps = 1e-6;
  if (meta.count("ln_eps")) ln_eps = std::atof(meta.at("ln_eps").c_str());
  for (int i = 0;; ++i) {
    std::string p = "blocks." + std::to_string(i);
    if (!r.has(p + ".norm1.weight")) break;
    VitBlock b;
    b.path = p;
    b.norm1 = r.layer_norm(p + ".norm1", D, ln_eps);
    const Tensor* q = r.peek(p + ".attn.qkv.weight");
    PLEAS_CHECK(q && q->dim() == 2, source, ": missing ", p, ".attn.qkv.weight");
    const int64_t Dq3 = q->size(0);
    PLEAS_CHECK(Dq3 % (3 * m->num_heads) == 0, source, ": ", p, ".attn.qkv has ", Dq3,
                " outputs, not divisible by 3 x ", m->num_heads, " heads");
    b.qkv = r.linear(p + ".attn.qkv", Dq3, D);
    b.proj = r.linear(p + ".attn.proj", D, Dq3 / 3);
    b.norm2 = r.layer_norm(p + ".norm2", D, ln_eps);
    const Tensor* f1 = r.peek(p + ".mlp.fc1.weight");
    PLEAS_CHECK(f1 && f1->dim() == 2, source, ": missing ", p, ".mlp.fc1.weight");
    b.fc1 = r.linear(p + ".mlp.fc1", f1->size(0), D);
    b.fc2 = r.linear(p + ".mlp.fc2", D, f1->size(0));
    m->blocks.push_back(std::move(b));
  }
  PLEAS_CHECK(!m->blocks.empty(), source, ": ViT has no blocks");
  m->norm = r.layer_norm("norm", D, ln_eps);
  const Tensor* hw = r.peek("head.weight");
  PLEAS_CHECK(hw && hw->dim() == 2, source, ": ViT needs head.weight [classes, ", D, "]");
  m->head = r.linear("head", hw->size(0), D);
  r.finish();
  return m;
}

TensorDict map_torchvision_vit_names(const TensorDict& w) {
  // torchvision vit_b_16: conv_proj, class_token, encoder.pos_embedding,
  // encoder.layers.encoder_layer_N.{ln_1, self_attention.in_proj_*, self_attention.out_proj, ln_2,
  // mlp.{0|linear_1}, mlp.{3|linear_2}}, encoder.ln, heads.head.
  static const std::vector<std::pair<std::regex, std::string>> rules = {
      {std::regex(R"(^conv_proj\.(.*)$)"), "patch_embed.proj.$1"},
      {std::regex(R"(^class_token$)"), "cls_token"},
      {std::regex(R"(^encoder\.pos_embedding$)"), "pos_embed"},
      {std::regex(R"(^encoder\.layers\.encoder_layer_(\d+)\.ln_1\.(.*)$)"), "blocks.$1.norm1.$2"},
      {std::regex(R"(^encoder\.layers\.encoder_layer_(\d+)\.ln_2\.(.*)$)"), "blocks.$1.norm2.$2"},
      {std::regex(R"(^encoder\.layers\.encoder_layer_(\d+)\.self_attention\.in_proj_(weight|bias)$)"), "blocks.$1.attn.qkv.$2"},
      {std::regex(R"(^encoder\.layers\.encoder_layer_(\d+)\.self_attention\.out_proj\.(.*)$)"), "blocks.$1.attn.proj.$2"},
      {std::regex(R"(^encoder\.layers\.encoder_layer_(\d+)\.mlp\.(0|linear_1)\.(.*)$)"), "blocks.$1.mlp.fc1.$3"},
      {std::regex(R"(^encoder\.layers\.encoder_layer_(\d+)\.mlp\.(3|linear_2)\.(.*)$)"), "blocks.$1.mlp.fc2.$3"},
      {std::regex(R"(^encoder\.ln\.(.*)$)"), "norm.$1"},
      {std::regex(R"(^heads\.head\.(.*)$)"), "head.$1"},
  };
  TensorDict out;
  for (auto& kv : w) {
    std::string name = kv.first;
    for (auto& [re, fmt] : rules)
      if (std::regex_match(name, re)) { name = std::regex_replace(name, re, fmt); break; }
    out[name] = kv.second;
  }
  return out;
}

}  // namespace pleas
