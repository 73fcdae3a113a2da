#include "pleas/perm_spec.h"

#include <algorithm>

#include "models/cifar_resnet.h"
#include "models/resnet.h"
#include "models/vit.h"

namespace pleas {

int64_t PermSpec::layout_size(const Layout& l) const {
  int64_t n = 0;
  for (int g : l) n += groups[size_t(g)].size;
  return n;
}

int64_t PermSpec::group_offset(const Layout& l, int group) const {
  int64_t off = 0;
  for (int g : l) {
    if (g == group) return off;
    off += groups[size_t(g)].size;
  }
  return -1;
}

std::vector<int64_t> PermSpec::group_offsets(const Layout& l, int group) const {
  std::vector<int64_t> v;
  int64_t off = 0;
  for (int g : l) {
    if (g == group) v.push_back(off);
    off += groups[size_t(g)].size;
  }
  return v;
}

std::vector<int> PermSpec::followers(int group) const {
  std::vector<int> f;
  for (size_t i = 0; i < groups.size(); ++i)
    if (groups[i].follows == group) f.push_back(int(i));
  return f;
}

int PermSpec::find_group(const std::string& name) const {
  for (size_t i = 0; i < groups.size(); ++i)
    if (groups[i].name == name) return int(i);
  return -1;
}

namespace {

int add_group(PermSpec& s, const std::string& name, int64_t size, bool fixed = false, int64_t head_dim = 0,
              int follows = -1) {
  PLEAS_CHECK(size > 0, "perm spec: group ", name, " has size ", size);
  PLEAS_CHECK(head_dim == 0 || size % head_dim == 0, "perm spec: group ", name, " of ", size,
              " units is not a whole number of heads of ", head_dim);
  s.groups.push_back({name, size, fixed, head_dim, follows});
  return int(s.groups.size()) - 1;
}

void add_layer(PermSpec& s, const std::string& path, LayerKind kind, Layout in, Layout out, bool bias = false,
               std::vector<size_t> out_split = {}, std::string input_norm = "") {
  s.layers.push_back({path, kind, std::move(in), std::move(out), bias, std::move(out_split), std::move(input_norm)});
}

PermSpec cifar_spec(CifarResNet& m) {
  PermSpec s;
  s.arch = m.arch();
  const int rgb = add_group(s, "input", 3, true);
  Layout stream = {add_group(s, "stream1", m.conv1.out_channels())};
  add_layer(s, "conv1", LayerKind::conv, {rgb}, stream);
  add_layer(s, "bn1", LayerKind::bn, stream, stream);
  s.sites.push_back({"bn1", stream, true});
  for (size_t st = 0; st < m.stages.size(); ++st) {
    for (size_t bi = 0; bi < m.stages[st].size(); ++bi) {
      CifarBlock& b = m.stages[st][bi];
      Layout in = stream;
      if (b.downsample) {
        const int64_t w_in = s.layout_size(in), w_out = b.conv2.out_channels();
        PLEAS_CHECK(w_out > w_in, "perm spec: ", b.path, " widens ", w_in, " -> ", w_out, " channels");
        auto idx = b.shortcut_index.to(Device::cpu()).to_vector<int64_t>();
        for (int64_t i = 0; i < w_in; ++i)
          PLEAS_CHECK(idx[size_t(i)] == w_out - w_in + i, "perm spec: ", b.path,
                      " shortcut is not in canonical order (call canonicalize() first)");
        Layout out = {add_group(s, "stream" + std::to_string(st + 1) + ".pad", w_out - w_in)};
        out.insert(out.end(), in.begin(), in.end());
        stream = out;
      }
      Layout inner = {add_group(s, b.path + ".inner", b.conv1.out_channels())};
      add_layer(s, b.path + ".conv1", LayerKind::conv, in, inner);
      add_layer(s, b.path + ".bn1", LayerKind::bn, inner, inner);
      add_layer(s, b.path + ".conv2", LayerKind::conv, inner, stream);
      add_layer(s, b.path + ".bn2", LayerKind::bn, stream, stream);
      if (b.downsample) add_layer(s, b.path + ".shortcut", LayerKind::channel_map, in, stream);
      s.sites.push_back({b.path + ".bn1", inner, true});
      s.sites.push_back({b.path, stream, false});
    }
  }
  s.classes_group = add_group(s, "classes", m.linear.weight.size(0), true);
  add_layer(s, "linear", LayerKind::linear, stream, {s.classes_group}, true);
  return s;
}

PermSpec resnet_spec(ResNet& m) {
  PermSpec s;
  s.arch = m.arch();
  const int rgb = add_group(s, "input", 3, true);
  const bool stem_alone = m.stages[0][0].has_downsample;
  Layout stem = {add_group(s, stem_alone ? "stem" : "stream1", m.conv1.out_channels())};
  add_layer(s, "conv1", LayerKind::conv, {rgb}, stem);
  add_layer(s, "bn1", LayerKind::bn, stem, stem);
  s.sites.push_back({"relu", stem, false});
  Layout stream = stem;
  for (size_t st = 0; st < m.stages.size(); ++st) {
    for (size_t bi = 0; bi < m.stages[st].size(); ++bi) {
      ResBlock& b = m.stages[st][bi];
      Layout in = stream;
      if (b.has_downsample)
        stream = {add_group(s, "stream" + std::to_string(st + 1), b.down_conv.out_channels())};
      Layout cur = in;
      for (size_t k = 0; k < b.convs.size(); ++k) {
        const bool last = k + 1 == b.convs.size();
        Layout out = last ? stream
                          : Layout{add_group(s, b.path + ".inner" + std::to_string(k + 1), b.convs[k].out_channels())};
        std::string cp = b.path + ".conv" + std::to_string(k + 1), bp = b.path + ".bn" + std::to_string(k + 1);
        add_layer(s, cp, LayerKind::conv, cur, out);
        add_layer(s, bp, LayerKind::bn, out, out);
        if (!last) s.sites.push_back({bp, out, true});
        cur = out;
      }
      if (b.has_downsample) {
        add_layer(s, b.path + ".downsample.0", LayerKind::conv, in, stream);
        add_layer(s, b.path + ".downsample.1", LayerKind::bn, stream, stream);
      }
      s.sites.push_back({b.path, stream, false});
    }
  }
  s.classes_group = add_group(s, "classes", m.fc.weight.size(0), true);
  add_layer(s, "fc", LayerKind::linear, stream, {s.classes_group}, true);
  return s;
}

PermSpec vit_spec(VisionTransformer& m) {
  PermSpec s;
  s.arch = m.arch();
  for (LayerNorm* n : m.layer_norms())
    PLEAS_CHECK(n->views.empty(), "perm spec: ", n->path, " is a partially merged LayerNorm (views); a merged ViT "
                "cannot be merged again");
  const int rgb = add_group(s, "input", 3, true);
  const Layout stream = {add_group(s, "stream", m.patch_embed.out_channels())};
  add_layer(s, "patch_embed.proj", LayerKind::conv, {rgb}, stream, m.patch_embed.bias.defined());
  add_layer(s, "cls_token", LayerKind::param, {}, stream);
  add_layer(s, "pos_embed", LayerKind::param, {}, stream);
  // Activation sites: every point where the stream is written (embedding, attention and MLP
  // outputs) or read (each norm's input, the head's input), tokens channels-last.
  s.sites.push_back({"embed", stream, false, false, true});
  for (VitBlock& b : m.blocks) {
    const int64_t Dq = b.qkv.weight.size(0) / 3;
    PLEAS_CHECK(Dq % m.head_dim == 0 && Dq / m.head_dim == b.heads, "perm spec: ", b.path, ": qkv width ", 3 * Dq,
                " is not 3 x ", b.heads, " heads of ", m.head_dim);
    const int qk = add_group(s, b.path + ".attn.qk", Dq, false, m.head_dim);
    const int v = add_group(s, b.path + ".attn.v", Dq, false, m.head_dim, qk);
    const Layout mlp = {add_group(s, b.path + ".mlp", b.fc1.weight.size(0))};
    const Layout qkv = {qk, qk, v};
    add_layer(s, b.path + ".norm1", LayerKind::norm, stream, stream);
    add_layer(s, b.path + ".attn.qkv", LayerKind::linear, stream, qkv, b.qkv.bias.defined(), {1, 2}, b.path + ".norm1");
    add_layer(s, b.path + ".attn", LayerKind::attention, {qk}, {qk});
    add_layer(s, b.path + ".attn.proj", LayerKind::linear, {v}, stream, b.proj.bias.defined());
    add_layer(s, b.path + ".norm2", LayerKind::norm, stream, stream);
    add_layer(s, b.path + ".mlp.fc1", LayerKind::linear, stream, mlp, b.fc1.bias.defined(), {}, b.path + ".norm2");
    add_layer(s, b.path + ".mlp.fc2", LayerKind::linear, mlp, stream, b.fc2.bias.defined());
    s.sites.push_back({b.path + ".norm1", stream, false, true, true});
    s.sites.push_back({b.path + ".attn.qkv", qkv, false, false, true});
    s.sites.push_back({b.path + ".attn", stream, false, false, true});
    s.sites.push_back({b.path + ".norm2", stream, false, true, true});
    s.sites.push_back({b.path + ".mlp.act", mlp, false, false, true});
    s.sites.push_back({b.path + ".mlp", stream, false, false, true});
  }
  if (m.has_final_norm()) {
    add_layer(s, "norm", LayerKind::norm, stream, stream);
    s.sites.push_back({"norm", stream, false, true, true});
  } else {
    s.sites.push_back({"head", stream, false, true, true});
  }
  s.classes_group = add_group(s, "classes", m.head.weight.size(0), true);
  add_layer(s, "head", LayerKind::linear, stream, {s.classes_group}, m.head.bias.defined(), {},
            m.has_final_norm() ? "norm" : "");
  return s;
}

// Reorders axis `axis` of `t`: new position q holds old position order[q].
Tensor reorder(const Tensor& t, int axis, const std::vector<int64_t>& order) {
  return index_select(t, axis, Tensor::from_vector(order, {int64_t(order.size())}, t.device()));
}

void reorder_bn(BatchNorm2d& b, const std::vector<int64_t>& order) {
  b.weight = reorder(b.weight, 0, order);
  b.bias = reorder(b.bias, 0, order);
  b.running_mean = reorder(b.running_mean, 0, order);
  b.running_var = reorder(b.running_var, 0, order);
}

}  // namespace

PermSpec perm_spec(Model& m) {
  if (auto* c = dynamic_cast<CifarResNet*>(&m)) return cifar_spec(*c);
  if (auto* r = dynamic_cast<ResNet*>(&m)) return resnet_spec(*r);
  if (auto* v = dynamic_cast<VisionTransformer*>(&m)) return vit_spec(*v);
  PLEAS_FAIL("perm spec: architecture ", m.arch(), " is not supported (CIFAR ResNets, torchvision ResNets and ViTs are)");
}

void canonicalize(Model& model) {
  auto* m = dynamic_cast<CifarResNet*>(&model);
  if (!m) return;
  for (size_t st = 1; st < m->stages.size(); ++st) {
    CifarBlock& first = m->stages[st][0];
    PLEAS_CHECK(first.downsample, "canonicalize: ", first.path, " has no option-A shortcut");
    const int64_t w = first.conv2.out_channels();
    auto idx = first.shortcut_index.to(Device::cpu()).to_vector<int64_t>();
    std::vector<bool> carried(static_cast<size_t>(w), false);
    for (int64_t v : idx) {
      PLEAS_CHECK(v >= 0 && v < w && !carried[size_t(v)], "canonicalize: ", first.path, " shortcut index is not injective");
      carried[size_t(v)] = true;
    }
    // New order: zero-padded channels (ascending), then the carried ones in source order.
    std::vector<int64_t> order;
    for (int64_t c = 0; c < w; ++c)
      if (!carried[size_t(c)]) order.push_back(c);
    const int64_t pad = int64_t(order.size());
    order.insert(order.end(), idx.begin(), idx.end());
    for (size_t bi = 0; bi < m->stages[st].size(); ++bi) {
      CifarBlock& b = m->stages[st][bi];
      PLEAS_CHECK(b.conv1.blocks.empty() && b.conv2.blocks.empty(), "canonicalize: ", b.path, " is block-structured");
      b.conv2.weight = reorder(b.conv2.weight, 0, order);
      reorder_bn(b.bn2, order);
      if (bi > 0) b.conv1.weight = reorder(b.conv1.weight, 1, order);
    }
    std::vector<int64_t> carried_pos(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) carried_pos[i] = pad + int64_t(i);
    first.shortcut_index = Tensor::from_vector(carried_pos, {int64_t(idx.size())}, first.shortcut_index.device());
    if (st + 1 < m->stages.size()) {
      CifarBlock& next = m->stages[st + 1][0];
      next.conv1.weight = reorder(next.conv1.weight, 1, order);
      // The next shortcut reads this stream: channel q now holds old channel order[q].
      auto nidx = next.shortcut_index.to(Device::cpu()).to_vector<int64_t>();
      std::vector<int64_t> moved(nidx.size());
      for (size_t q = 0; q < nidx.size(); ++q) moved[q] = nidx[size_t(order[q])];
      next.shortcut_index = Tensor::from_vector(moved, {int64_t(moved.size())}, next.shortcut_index.device());
    } else {
      m->linear.weight = reorder(m->linear.weight, 1, order);
    }
  }
}

std::vector<std::vector<int64_t>> identity_perms(const PermSpec& spec) {
  std::vector<std::vector<int64_t>> p(spec.groups.size());
  for (size_t g = 0; g < p.size(); ++g) {
    p[g].resize(size_t(spec.groups[g].size));
    for (int64_t i = 0; i < spec.groups[g].size; ++i) p[g][size_t(i)] = i;
  }
  return p;
}

std::vector<int64_t> layout_index(const PermSpec& spec, const Layout& l,
                                  const std::vector<std::vector<int64_t>>& perms) {
  std::vector<int64_t> idx;
  int64_t off = 0;
  for (int g : l) {
    for (int64_t v : perms[size_t(g)]) idx.push_back(off + v);
    off += spec.groups[size_t(g)].size;
  }
  return idx;
}

TensorDict permute_state(const PermSpec& spec, const TensorDict& state,
                         const std::vector<std::vector<int64_t>>& perms) {
  TensorDict out = state;
  auto get = [&](const std::string& name) -> const Tensor& {
    auto it = state.find(name);
    PLEAS_CHECK(it != state.end(), "permute: state has no tensor ", name);
    return it->second;
  };
  for (const LayerSpec& l : spec.layers) {
    const std::vector<int64_t> oi = layout_index(spec, l.out, perms), ii = layout_index(spec, l.in, perms);
    switch (l.kind) {
      case LayerKind::conv:
      case LayerKind::linear: {
        out[l.path + ".weight"] = reorder(reorder(get(l.path + ".weight"), 0, oi), 1, ii);
        if (l.has_bias) out[l.path + ".bias"] = reorder(get(l.path + ".bias"), 0, oi);
        break;
      }
      case LayerKind::bn:
        for (const char* p : {".weight", ".bias", ".running_mean", ".running_var"})
          out[l.path + p] = reorder(get(l.path + p), 0, oi);
        break;
      case LayerKind::norm:
        for (const char* p : {".weight", ".bias"}) out[l.path + p] = reorder(get(l.path + p), 0, oi);
        break;
      case LayerKind::param: {
        const Tensor& t = get(l.path);
        out[l.path] = reorder(t, t.dim() - 1, oi);
        break;
      }
      case LayerKind::attention:
        break;
      case LayerKind::channel_map: {
        // new in-channel q is old ii[q], which went to old out position idx[ii[q]], now at inv(oi).
        auto idx = state.count(l.path + ".index") ? get(l.path + ".index").to_vector<int64_t>()
                                                  : std::vector<int64_t>();
        PLEAS_CHECK(!idx.empty(), "permute: ", l.path, ".index missing from the state");
        std::vector<int64_t> inv(oi.size());
        for (size_t q = 0; q < oi.size(); ++q) inv[size_t(oi[q])] = int64_t(q);
        std::vector<int64_t> moved(ii.size());
        for (size_t q = 0; q < ii.size(); ++q) moved[q] = inv[size_t(idx[size_t(ii[q])])];
        out[l.path + ".index"] = Tensor::from_vector(moved, {int64_t(moved.size())});
        break;
      }
    }
  }
  return out;
}

}  // namespace pleas
