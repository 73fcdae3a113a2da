#include "models/vit.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

namespace pleas {

// Multi-head self-attention: qkv = x Wqkvᵀ + b, split into heads; per head
// A = softmax(q kᵀ / sqrt(hd)), out = A v; heads concatenated and projected. The block's head
// count is its own (a merged block has 2H − h heads of the parents' width hd).
static Tensor attention(VitBlock& b, const Tensor& x, const ForwardCtx& ctx) {
  const int64_t N = x.size(0), L = x.size(1);
  const int heads = b.heads;
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
  ctx.report("embed", x, h);  // the residual stream entering block 0
  for (auto& b : blocks) {
    Tensor in = h;
    h = add(h, attention(b, pleas::forward(b.norm1, h, ctx), ctx));
    Tensor f1 = pleas::forward(b.fc1, pleas::forward(b.norm2, h, ctx), ctx);
    Tensor act = gelu_tanh ? pleas::gelu_tanh(f1) : gelu(f1);
    ctx.report(b.path + ".mlp.act", f1, act);
    Tensor m = pleas::forward(b.fc2, act, ctx);
    ctx.report(b.path + ".mlp", h, m);
    h = add(h, m);
    ctx.report(b.path, in, h);
  }
  if (has_final_norm()) h = pleas::forward(norm, h, ctx);
  return h.select(1, 0).contiguous();
}

Tensor VisionTransformer::forward(const Tensor& x, const ForwardCtx& ctx) {
  return pleas::forward(head, features(x, ctx), ctx);
}

std::vector<Linear*> VisionTransformer::linears() {
  std::vector<Linear*> v;
  for (auto& b : blocks)
    for (Linear* l : {&b.qkv, &b.proj, &b.fc1, &b.fc2}) v.push_back(l);
  v.push_back(&head);
  return v;
}

std::vector<LayerNorm*> VisionTransformer::layer_norms() {
  std::vector<LayerNorm*> v;
  for (auto& b : blocks) { v.push_back(&b.norm1); v.push_back(&b.norm2); }
  if (has_final_norm()) v.push_back(&norm);
  return v;
}

std::string norm_view_metadata(VisionTransformer& m) {
  nlohmann::json j = nlohmann::json::object();
  for (LayerNorm* n : m.layer_norms()) {
    if (n->views.empty()) continue;
    nlohmann::json a = nlohmann::json::array();
    for (const NormView& v : n->views) a.push_back({v.in0, v.in1});
    j[n->path] = a;
  }
  return j.empty() ? std::string() : j.dump();
}

namespace {
std::map<std::string, std::vector<NormView>> parse_norm_views(const Metadata& meta, const std::string& source) {
  std::map<std::string, std::vector<NormView>> out;
  auto it = meta.find("pleas_norm_views");
  if (it == meta.end()) return out;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    PLEAS_FAIL(source, ": metadata pleas_norm_views is not valid JSON (", e.what(), ")");
  }
  PLEAS_CHECK(j.is_object(), source, ": metadata pleas_norm_views: expected a JSON object");
  for (auto& [path, views] : j.items()) {
    PLEAS_CHECK(views.is_array() && !views.empty(), source, ": pleas_norm_views ", path, ": expected [[in0, in1], ...]");
    for (auto& v : views) {
      PLEAS_CHECK(v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer(), source,
                  ": pleas_norm_views ", path, ": each view is [in0, in1]");
      out[path].push_back({v[0].get<int64_t>(), v[1].get<int64_t>()});
    }
  }
  return out;
}

int meta_int(const Metadata& meta, const char* key, const std::string& source) {
  const std::string& s = meta.at(key);
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  PLEAS_CHECK(end && *end == 0 && !s.empty() && v > 0, source, ": metadata ", key, " = '", s,
              "' is not a positive integer");
  return int(v);
}
}  // namespace

TensorDict VisionTransformer::state_dict() const {
  TensorDict d;
  store(d, patch_embed);
  d["cls_token"] = cls_token.to(Device::cpu());
  d["pos_embed"] = pos_embed.to(Device::cpu());
  for (auto& b : blocks) {
    store(d, b.norm1); store(d, b.qkv); store(d, b.proj);
    store(d, b.norm2); store(d, b.fc1); store(d, b.fc2);
  }
  if (has_final_norm()) store(d, norm);
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
  PLEAS_CHECK(grid * grid + 1 == pos->size(1), source, ": pos_embed has ", pos->size(1),
              " tokens, not 1 + a square grid of patches");
  m->img_size = int(grid * patch);

  // Head width: metadata head_dim, else embed_dim / num_heads, else timm's 64.
  if (meta.count("head_dim")) {
    m->head_dim = meta_int(meta, "head_dim", source);
  } else {
    const char* key = meta.count("num_heads") ? "num_heads" : meta.count("heads") ? "heads" : nullptr;
    if (key) {
      const int h = meta_int(meta, key, source);
      PLEAS_CHECK(D % h == 0, source, ": embedding width ", D, " is not divisible by ", h, " heads (metadata ", key, ")");
      m->head_dim = D / h;
    } else {
      PLEAS_CHECK(D % 64 == 0, source, ": cannot infer the number of attention heads of a ViT of width ", D,
                  " (not a multiple of timm's head width 64): give metadata num_heads (tools/convert_torch.py --heads)");
      m->head_dim = 64;
    }
  }
  if (meta.count("act")) {
    const std::string& a = meta.at("act");
    PLEAS_CHECK(a == "gelu" || a == "gelu_tanh", source, ": metadata act = '", a, "' (gelu or gelu_tanh)");
    m->gelu_tanh = a == "gelu_tanh";
  }
  double ln_eps = 1e-6;
  if (meta.count("ln_eps")) {
    const std::string& e = meta.at("ln_eps");
    char* end = nullptr;
    ln_eps = std::strtod(e.c_str(), &end);
    PLEAS_CHECK(end && *end == 0 && !e.empty() && ln_eps > 0 && ln_eps < 1, source, ": metadata ln_eps = '", e,
                "' is not a number in (0, 1)");
  }
  const auto views = parse_norm_views(meta, source);
  auto norm_views = [&](const std::string& p) {
    auto it = views.find(p);
    return it == views.end() ? std::vector<NormView>() : it->second;
  };

  // Blocks 0..n-1: the count is the highest block index present in any key; a gap is an error.
  int n_blocks = 0;
  static const std::regex block_key(R"(^blocks\.(\d+)\..*$)");
  for (auto& kv : w) {
    std::smatch mt;
    if (std::regex_match(kv.first, mt, block_key)) n_blocks = std::max(n_blocks, std::stoi(mt[1].str()) + 1);
  }
  for (int i = 0; i < n_blocks; ++i) {
    std::string p = "blocks." + std::to_string(i);
    const Tensor* q = r.peek(p + ".attn.qkv.weight");
    const Tensor* f1 = r.peek(p + ".mlp.fc1.weight");
    PLEAS_CHECK(q && q->dim() == 2 && f1 && f1->dim() == 2, source, ": block ", p, " is missing or incomplete (",
                q ? "" : p + ".attn.qkv.weight ", f1 ? "" : p + ".mlp.fc1.weight ", "absent) in a ViT of ",
                n_blocks, " blocks");
    VitBlock b;
    b.path = p;
    b.norm1 = r.layer_norm(p + ".norm1", D, ln_eps, norm_views(p + ".norm1"));
    const int64_t Dq3 = q->size(0);
    PLEAS_CHECK(Dq3 % (3 * m->head_dim) == 0, source, ": ", p, ".attn.qkv has ", Dq3,
                " outputs, not 3 x a whole number of heads of width ", m->head_dim);
    b.heads = int(Dq3 / (3 * m->head_dim));
    b.qkv = r.linear(p + ".attn.qkv", Dq3, D);
    b.proj = r.linear(p + ".attn.proj", D, Dq3 / 3);
    b.norm2 = r.layer_norm(p + ".norm2", D, ln_eps, norm_views(p + ".norm2"));
    b.fc1 = r.linear(p + ".mlp.fc1", f1->size(0), D);
    b.fc2 = r.linear(p + ".mlp.fc2", D, f1->size(0));
    m->blocks.push_back(std::move(b));
  }
  PLEAS_CHECK(!m->blocks.empty(), source, ": ViT has no blocks (no blocks.N.* keys)");
  const bool no_final = meta.count("final_norm") && meta.at("final_norm") == "none";
  if (!no_final) m->norm = r.layer_norm("norm", D, ln_eps, norm_views("norm"));
  const Tensor* hw = r.peek("head.weight");
  PLEAS_CHECK(hw && hw->dim() == 2, source, ": ViT needs head.weight [classes, ", D, "]");
  m->head = r.linear("head", hw->size(0), D);
  r.finish();
  for (auto& [path, v] : views) {
    bool found = false;
    for (LayerNorm* n : m->layer_norms()) found |= n->path == path;
    PLEAS_CHECK(found, source, ": metadata pleas_norm_views names ", path, ", which the model does not have");
  }
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
