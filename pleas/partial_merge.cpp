#include "pleas/partial_merge.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>

#include "kernels/ops.h"

namespace pleas {

MergePlan plan_merge(const PermSpec& spec, const std::vector<std::vector<int64_t>>& perms,
                     const std::vector<std::vector<double>>& similarity, const std::vector<int64_t>& k,
                     bool separate_classes) {
  PLEAS_CHECK(perms.size() == spec.groups.size() && k.size() == spec.groups.size(),
              "plan_merge: need one permutation and one k per group (", spec.groups.size(), ")");
  PLEAS_CHECK(similarity.size() == spec.groups.size(), "plan_merge: need one similarity vector per group");
  MergePlan plan;
  std::vector<std::vector<bool>> merged_of(spec.groups.size());
  for (size_t g = 0; g < spec.groups.size(); ++g) {
    const PermGroup& pg = spec.groups[g];
    GroupMerge gm;
    gm.d = pg.size;
    const bool sep = separate_classes && int(g) == spec.classes_group;
    gm.k = pg.fixed ? (sep ? 0 : pg.size) : pg.follows >= 0 ? plan.groups[size_t(pg.follows)].k : k[g];
    PLEAS_CHECK(gm.k >= 0 && gm.k <= gm.d, "plan_merge: k = ", gm.k, " for group ", pg.name, " of size ", gm.d);
    if (!pg.fixed)
      PLEAS_CHECK(int64_t(similarity[g].size()) == gm.d, "plan_merge: similarity of group ", pg.name,
                  " has ", similarity[g].size(), " entries, expected ", gm.d);
    std::vector<bool> merged(size_t(gm.d), false);
    if (pg.head_dim > 0) {
      // Whole heads: a permutation maps heads to heads; the merged heads are the leader's top
      // k / head_dim by the summed similarity of their units (queries/keys and values).
      const int64_t hd = pg.head_dim, H = pg.heads();
      for (int64_t h = 0; h < H; ++h)
        for (int64_t j = 0; j < hd; ++j)
          PLEAS_CHECK(perms[g][size_t(h * hd + j)] / hd == perms[g][size_t(h * hd)] / hd, "plan_merge: the permutation of ",
                      pg.name, " splits head ", h, " (heads of ", hd, " units must move whole)");
      if (pg.follows >= 0) {
        merged = merged_of[size_t(pg.follows)];
        for (int64_t h = 0; h < H; ++h)
          PLEAS_CHECK(perms[g][size_t(h * hd)] / hd == perms[size_t(pg.follows)][size_t(h * hd)] / hd, "plan_merge: ",
                      pg.name, " matches head ", h, " to another head than ", spec.groups[size_t(pg.follows)].name);
      } else {
        PLEAS_CHECK(gm.k % hd == 0, "plan_merge: k = ", gm.k, " for ", pg.name, " is not a whole number of heads of ", hd);
        std::vector<double> score(size_t(H), 0.0);
        std::vector<int> members = spec.followers(int(g));
        members.push_back(int(g));
        for (int f : members)
          for (int64_t i = 0; i < gm.d; ++i) score[size_t(i / hd)] += similarity[size_t(f)][size_t(i)];
        std::vector<int64_t> order(static_cast<size_t>(H));
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return score[size_t(x)] > score[size_t(y)]; });
        for (int64_t j = 0; j < gm.k / hd; ++j)
          for (int64_t u = 0; u < hd; ++u) merged[size_t(order[size_t(j)] * hd + u)] = true;
      }
    } else {
      std::vector<int64_t> order(size_t(gm.d));
      std::iota(order.begin(), order.end(), 0);
      if (!pg.fixed)
        std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
          return similarity[g][size_t(x)] > similarity[g][size_t(y)];
        });
      for (int64_t j = 0; j < gm.k; ++j) merged[size_t(order[size_t(j)])] = true;
    }
    for (int64_t i = 0; i < gm.d; ++i) {
      const int64_t b = pg.fixed ? i : perms[g][size_t(i)];
      if (merged[size_t(i)]) {
        gm.pairs.emplace_back(i, b);
      } else {
        gm.a_only.push_back(i);
        gm.b_only.push_back(b);
      }
    }
    merged_of[g] = merged;
    plan.groups.push_back(std::move(gm));
  }
  return plan;
}

std::vector<MergedPos> merged_layout(const PermSpec& spec, const MergePlan& plan, const Layout& l,
                                     const std::vector<size_t>& split) {
  std::vector<MergedPos> out;
  std::vector<size_t> starts = {0};
  for (size_t s : split) {
    PLEAS_CHECK(s > starts.back() && s < l.size(), "merged_layout: bad segment start ", s, " in a layout of ", l.size(), " groups");
    starts.push_back(s);
  }
  starts.push_back(l.size());
  int64_t seg_off = 0;
  for (size_t si = 0; si + 1 < starts.size(); ++si) {
    for (char kind : {'A', 'M', 'B'}) {
      int64_t off = seg_off;
      for (size_t gi = starts[si]; gi < starts[si + 1]; ++gi) {
        const int g = l[gi];
        const GroupMerge& gm = plan.groups[size_t(g)];
        if (kind == 'A')
          for (int64_t a : gm.a_only) out.push_back({'A', g, off + a, -1});
        else if (kind == 'M')
          for (auto& [a, b] : gm.pairs) out.push_back({'M', g, off + a, off + b});
        else
          for (int64_t b : gm.b_only) out.push_back({'B', g, -1, off + b});
        off += spec.groups[size_t(g)].size;
      }
    }
    for (size_t gi = starts[si]; gi < starts[si + 1]; ++gi) seg_off += spec.groups[size_t(l[gi])].size;
  }
  return out;
}

std::vector<RowBlock> merged_blocks(const std::vector<MergedPos>& out, const std::vector<MergedPos>& in) {
  int64_t ia = 0, im = 0, ib = 0;
  int last = 0;
  for (const MergedPos& p : in) {
    const int rank = p.kind == 'A' ? 0 : p.kind == 'M' ? 1 : 2;
    PLEAS_CHECK(rank >= last, "merged_blocks: the input axis is not laid out [A-only | merged | B-only]");
    last = rank;
    (rank == 0 ? ia : rank == 1 ? im : ib) += 1;
  }
  const int64_t Q = ia + im + ib;
  auto range = [&](char kind) -> std::pair<int64_t, int64_t> {
    if (kind == 'A') return {0, ia + im};
    if (kind == 'B') return {ia, Q};
    return {0, Q};
  };
  std::vector<RowBlock> blocks;
  bool dense = true;
  for (int64_t p = 0; p < int64_t(out.size()); ++p) {
    const auto [i0, i1] = range(out[size_t(p)].kind);
    dense &= i0 == 0 && i1 == Q;
    if (!blocks.empty() && blocks.back().in0 == i0 && blocks.back().in1 == i1) blocks.back().out1 = p + 1;
    else blocks.push_back({p, p + 1, i0, i1});
  }
  if (dense) return {};
  return blocks;
}

namespace {

// Per-position gathers and coefficients: value(p) = ca[p]·A[ia[p]] + cb[p]·B[ib[p]], where the
// coefficient is 1 for a parent's own separate unit, ½ for a merged pair, 0 when absent.
struct Gather {
  std::vector<int64_t> ia, ib;
  std::vector<float> ca, cb, reads_a, reads_b;  // reads_x: the input may be read by x's rows
};

Gather gather(const std::vector<MergedPos>& pos) {
  Gather g;
  for (const MergedPos& p : pos) {
    g.ia.push_back(p.a >= 0 ? p.a : 0);
    g.ib.push_back(p.b >= 0 ? p.b : 0);
    g.ca.push_back(p.kind == 'A' ? 1.f : p.kind == 'M' ? 0.5f : 0.f);
    g.cb.push_back(p.kind == 'B' ? 1.f : p.kind == 'M' ? 0.5f : 0.f);
    g.reads_a.push_back(p.kind != 'B' ? 1.f : 0.f);
    g.reads_b.push_back(p.kind != 'A' ? 1.f : 0.f);
  }
  return g;
}

Tensor idx(const std::vector<int64_t>& v) { return Tensor::from_vector(v, {int64_t(v.size())}); }
Tensor vec(const std::vector<float>& v, const Shape& shape) { return Tensor::from_vector(v, shape); }

// Per-unit tensors whose LAST axis carries the units — biases, BatchNorm and LayerNorm vectors,
// and the ViT's cls_token / pos_embed: ca·A[..., ia] + cb·B[..., ib].
Tensor mix_units(const Gather& g, const Tensor& a, const Tensor& b) {
  const int64_t n = int64_t(g.ia.size());
  const int last = a.dim() - 1;
  return add(mul(index_select(a, last, idx(g.ia)), vec(g.ca, {n})),
             mul(index_select(b, last, idx(g.ib)), vec(g.cb, {n})));
}

// A LayerNorm over a partly merged axis [A-only | merged | B-only]: A's view [0, a + m), B's
// view [a, a + m + b) (partial_merge.h); none when the axis is fully merged.
nlohmann::json norm_views(const std::string& path, const std::vector<MergedPos>& pos) {
  int64_t a = 0, m = 0, b = 0;
  for (const MergedPos& p : pos) (p.kind == 'A' ? a : p.kind == 'M' ? m : b) += 1;
  for (int64_t i = 0; i < int64_t(pos.size()); ++i)
    PLEAS_CHECK(pos[size_t(i)].kind == (i < a ? 'A' : i < a + m ? 'M' : 'B'), "merge: ", path,
                ": a LayerNorm axis must be one segment [A-only | merged | B-only]");
  if (a == 0 && b == 0) return nullptr;
  return nlohmann::json::array({{0, a + m}, {a, a + m + b}});
}

}  // namespace

TensorDict merge_state(const PermSpec& spec, const MergePlan& plan, const TensorDict& A,
                       const TensorDict& B, std::string* blocks_json, std::string* norm_views_json) {
  auto get = [](const TensorDict& d, const std::string& name, const char* who) -> Tensor {
    auto it = d.find(name);
    PLEAS_CHECK(it != d.end(), "merge: model ", who, " has no tensor ", name);
    return it->second.to(Device::cpu()).to(DType::f32).contiguous();
  };
  TensorDict out;
  nlohmann::json blocks = nlohmann::json::object(), views = nlohmann::json::object();
  for (const LayerSpec& l : spec.layers) {
    const auto opos = merged_layout(spec, plan, l.out, l.out_split), ipos = merged_layout(spec, plan, l.in);
    const Gather go = gather(opos), gi = gather(ipos);
    const int64_t P = int64_t(opos.size()), Q = int64_t(ipos.size());
    switch (l.kind) {
      case LayerKind::conv:
      case LayerKind::linear: {
        // W[p, q] = ca[p]·reads_a[q]·A[ia[p], ia[q]] + cb[p]·reads_b[q]·B[ib[p], ib[q]]  (Figure 2)
        Tensor wa = get(A, l.path + ".weight", "A"), wb = get(B, l.path + ".weight", "B");
        Shape cs{P, Q};
        for (int d = 2; d < wa.dim(); ++d) cs.push_back(1);
        std::vector<float> coef_a(size_t(P * Q)), coef_b(size_t(P * Q));
        for (int64_t p = 0; p < P; ++p)
          for (int64_t q = 0; q < Q; ++q) {
            coef_a[size_t(p * Q + q)] = go.ca[size_t(p)] * gi.reads_a[size_t(q)];
            coef_b[size_t(p * Q + q)] = go.cb[size_t(p)] * gi.reads_b[size_t(q)];
          }
        Tensor ga = index_select(index_select(wa, 0, idx(go.ia)), 1, idx(gi.ia));
        Tensor gb = index_select(index_select(wb, 0, idx(go.ib)), 1, idx(gi.ib));
        out[l.path + ".weight"] = add(mul(ga, vec(coef_a, cs)), mul(gb, vec(coef_b, cs)));
        if (l.has_bias)
          out[l.path + ".bias"] = mix_units(go, get(A, l.path + ".bias", "A"), get(B, l.path + ".bias", "B"));
        auto bl = merged_blocks(opos, ipos);
        if (!bl.empty()) {
          nlohmann::json a = nlohmann::json::array();
          for (auto& b : bl) a.push_back({b.out0, b.out1, b.in0, b.in1});
          blocks[l.path] = a;
        }
        break;
      }
      case LayerKind::bn:
        for (const char* p : {".weight", ".bias", ".running_mean", ".running_var"})
          out[l.path + p] = mix_units(go, get(A, l.path + p, "A"), get(B, l.path + p, "B"));
        break;
      case LayerKind::norm: {
        // One affine per unit (A's, B's, or the mean on merged units); statistics per view.
        for (const char* p : {".weight", ".bias"})
          out[l.path + p] = mix_units(go, get(A, l.path + p, "A"), get(B, l.path + p, "B"));
        nlohmann::json v = norm_views(l.path, opos);
        if (!v.is_null()) views[l.path] = v;
        break;
      }
      case LayerKind::param:
        out[l.path] = mix_units(go, get(A, l.path, "A"), get(B, l.path, "B"));
        break;
      case LayerKind::attention:
        break;
      case LayerKind::channel_map: {
        // Input position q holds the same (kind, group, unit) as some output position: send it there.
        std::map<std::tuple<char, int, int64_t>, int64_t> where;
        for (int64_t p = 0; p < P; ++p) {
          const MergedPos& o = opos[size_t(p)];
          int64_t off = spec.group_offset(l.out, o.group);
          where[{o.kind, o.group, (o.kind == 'B' ? o.b : o.a) - off}] = p;
        }
        std::vector<int64_t> map;
        for (const MergedPos& i : ipos) {
          int64_t off = spec.group_offset(l.in, i.group);
          auto it = where.find({i.kind, i.group, (i.kind == 'B' ? i.b : i.a) - off});
          PLEAS_CHECK(it != where.end(), "merge: ", l.path, " input unit of group ",
                      spec.groups[size_t(i.group)].name, " has no place in the output layout");
          map.push_back(it->second);
        }
        out[l.path + ".index"] = idx(map);
        break;
      }
    }
  }
  if (blocks_json) *blocks_json = blocks.empty() ? std::string() : blocks.dump();
  if (norm_views_json) *norm_views_json = views.empty() ? std::string() : views.dump();
  else PLEAS_CHECK(views.empty(), "merge_state: the merged model has partly merged LayerNorms: pass norm_views_json");
  return out;
}

std::vector<int64_t> uniform_k(const PermSpec& spec, double r) {
  PLEAS_CHECK(r >= 0.0 && r <= 1.0, "ratio r must be in [0, 1], got ", r);
  std::vector<int64_t> k;
  for (const PermGroup& g : spec.groups) {
    if (g.follows >= 0) k.push_back(k[size_t(g.follows)]);
    else if (g.head_dim > 0) k.push_back(g.head_dim * std::llround((1.0 - r) * double(g.heads())));
    else k.push_back(int64_t(std::llround((1.0 - r) * double(g.size))));
  }
  return k;
}

double merged_params(const PermSpec& spec, const MergePlan& plan, const TensorDict& A) {
  double n = 0;
  for (const LayerSpec& l : spec.layers) {
    const auto opos = merged_layout(spec, plan, l.out, l.out_split), ipos = merged_layout(spec, plan, l.in);
    const double P = double(opos.size()), Q = double(ipos.size());
    switch (l.kind) {
      case LayerKind::conv:
      case LayerKind::linear: {
        const Tensor& w = A.at(l.path + ".weight");
        const double kk = double(w.numel()) / double(w.size(0) * w.size(1));
        auto bl = merged_blocks(opos, ipos);
        if (bl.empty()) n += P * Q * kk;
        for (auto& b : bl) n += double(b.out1 - b.out0) * double(b.in1 - b.in0) * kk;
        if (l.has_bias) n += P;
        break;
      }
      case LayerKind::bn:
      case LayerKind::norm: n += 2 * P; break;
      case LayerKind::param: {
        const Tensor& t = A.at(l.path);
        n += P * double(t.numel() / t.size(t.dim() - 1));
        break;
      }
      case LayerKind::channel_map:
      case LayerKind::attention: break;
    }
  }
  return n;
}

}  // namespace pleas
