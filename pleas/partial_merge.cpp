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

GroupMaps explicit_maps(const GroupMerge& g) {
  if (!g.maps.empty()) return g.maps;
  GroupMaps m;
  m.parents = 2;
  m.d = g.d;
  const int64_t w = g.width();
  for (int64_t i : g.a_only) (void)i, m.kind.push_back('A');
  for (size_t i = 0; i < g.pairs.size(); ++i) m.kind.push_back('M');
  for (int64_t i : g.b_only) (void)i, m.kind.push_back('B');
  m.M.assign(2, std::vector<double>(size_t(w * g.d), 0.0));
  m.U.assign(2, std::vector<double>(size_t(g.d * w), 0.0));
  auto set = [&](int x, int64_t u, int64_t unit, double c) {
    m.M[size_t(x)][size_t(u * g.d + unit)] = c;
    m.U[size_t(x)][size_t(unit * w + u)] = 1.0;
  };
  int64_t u = 0;
  for (int64_t a : g.a_only) set(0, u++, a, 1.0);
  for (auto& [a, b] : g.pairs) {
    set(0, u, a, 0.5);
    set(1, u++, b, 0.5);
  }
  for (int64_t b : g.b_only) set(1, u++, b, 1.0);
  return m;
}

GroupMerge maps_merge(GroupMaps maps) {
  check_maps(maps, "maps_merge");
  GroupMerge g;
  g.d = maps.d;
  g.k = maps.parents * maps.d - maps.width();
  g.maps = std::move(maps);
  return g;
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
        if (!gm.maps.empty()) {
          for (int64_t u = 0; u < gm.maps.width(); ++u)
            if (gm.maps.kind[size_t(u)] == kind) out.push_back({kind, g, -1, -1, u, off});
        } else {
          const int64_t na = int64_t(gm.a_only.size()), nm = int64_t(gm.pairs.size());
          if (kind == 'A')
            for (int64_t i = 0; i < na; ++i) out.push_back({'A', g, off + gm.a_only[size_t(i)], -1, i, off});
          else if (kind == 'M')
            for (int64_t i = 0; i < nm; ++i)
              out.push_back({'M', g, off + gm.pairs[size_t(i)].first, off + gm.pairs[size_t(i)].second, na + i, off});
          else
            for (int64_t i = 0; i < int64_t(gm.b_only.size()); ++i)
              out.push_back({'B', g, -1, off + gm.b_only[size_t(i)], na + nm + i, off});
        }
        off += spec.groups[size_t(g)].size;
      }
    }
    for (size_t gi = starts[si]; gi < starts[si + 1]; ++gi) seg_off += spec.groups[size_t(l[gi])].size;
  }
  return out;
}

LayoutMaps layout_maps(const MergePlan& plan, const std::vector<MergedPos>& pos, int64_t parent_size, int x) {
  LayoutMaps lm;
  lm.P = int64_t(pos.size());
  lm.D = parent_size;
  lm.M.assign(size_t(lm.P * lm.D), 0.0);
  lm.U.assign(size_t(lm.D * lm.P), 0.0);
  std::map<int, GroupMaps> cache;
  for (int64_t p = 0; p < lm.P; ++p) {
    const MergedPos& q = pos[size_t(p)];
    auto it = cache.find(q.group);
    if (it == cache.end()) it = cache.emplace(q.group, explicit_maps(plan.groups[size_t(q.group)])).first;
    const GroupMaps& g = it->second;
    PLEAS_CHECK(x < g.parents, "layout_maps: parent ", x, " of ", g.parents);
    PLEAS_CHECK(q.off + g.d <= lm.D, "layout_maps: group ", q.group, " runs past the layout (", lm.D, ")");
    for (int64_t i = 0; i < g.d; ++i) {
      lm.M[size_t(p * lm.D + q.off + i)] = g.m(x, q.u, i);
      lm.U[size_t((q.off + i) * lm.P + p)] = g.u(x, i, q.u);
    }
  }
  return lm;
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

namespace {

Tensor host_f32(const TensorDict& d, const std::string& name, int x) {
  auto it = d.find(name);
  PLEAS_CHECK(it != d.end(), "merge: model ", x == 0 ? "A" : x == 1 ? "B" : std::to_string(x + 1).c_str(),
              " has no tensor ", name);
  return it->second.to(Device::cpu()).to(DType::f32).contiguous();
}

void accumulate(std::vector<double>& acc, const Tensor& t) {
  const std::vector<double> v = t.to_double_vector();
  if (acc.empty()) acc.assign(v.size(), 0.0);
  for (size_t i = 0; i < v.size(); ++i) acc[i] += v[i];
}

// How the parents' tensors of one layer combine into the merged one: by gathers (a permutation
// merge of two parents, Figure 2) or by the layout maps (every alignment, any number of parents).
struct LayerMixer {
  const MergePlan& plan;
  const std::vector<const TensorDict*>& parents;
  std::vector<MergedPos> opos, ipos;
  bool maps = false;
  Gather go, gi;
  std::vector<LayoutMaps> mo, mi;  // per parent

  LayerMixer(const PermSpec& spec, const MergePlan& plan_, const std::vector<const TensorDict*>& parents_,
             const LayerSpec& l)
      : plan(plan_), parents(parents_) {
    opos = merged_layout(spec, plan, l.out, l.out_split);
    ipos = merged_layout(spec, plan, l.in);
    maps = plan.force_maps || !plan.permutation_only() || parents.size() != 2;
    if (!maps) {
      go = gather(opos);
      gi = gather(ipos);
      return;
    }
    for (int x = 0; x < int(parents.size()); ++x) {
      mo.push_back(layout_maps(plan, opos, spec.layout_size(l.out), x));
      if (l.kind == LayerKind::conv || l.kind == LayerKind::linear) mi.push_back(layout_maps(plan, ipos, spec.layout_size(l.in), x));
    }
  }

  // Conv/linear weight [out, in, ...].
  Tensor weight(const std::string& name) const {
    const int64_t P = int64_t(opos.size()), Q = int64_t(ipos.size());
    if (!maps) {
      // W[p, q] = ca[p]·reads_a[q]·A[ia[p], ia[q]] + cb[p]·reads_b[q]·B[ib[p], ib[q]]  (Figure 2)
      Tensor wa = host_f32(*parents[0], name, 0), wb = host_f32(*parents[1], name, 1);
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
      return add(mul(ga, vec(coef_a, cs)), mul(gb, vec(coef_b, cs)));
    }
    // W_m = Σ_x M_out,x · W_x · U_in,x, per kernel tap, in float64.
    std::vector<double> acc;
    Shape shape;
    for (size_t x = 0; x < parents.size(); ++x) {
      Tensor w = host_f32(*parents[x], name, int(x)).to(DType::f64);
      const int64_t D = w.size(0), E = w.size(1), kk = w.numel() / (D * E);
      PLEAS_CHECK(D == mo[x].D && E == mi[x].D, "merge: ", name, " is ", shape_str(w.shape()), ", the spec expects ",
                  mo[x].D, " x ", mi[x].D);
      Tensor Mo = Tensor::from_vector(mo[x].M, {P, D}), Ui = Tensor::from_vector(mi[x].U, {E, Q});
      Tensor t = matmul(Mo, w.reshape({D, E * kk}));                                   // [P, E·kk]
      t = t.reshape({P, E, kk}).permute({0, 2, 1}).contiguous().reshape({P * kk, E});
      t = matmul(t, Ui).reshape({P, kk, Q}).permute({0, 2, 1}).contiguous();           // [P, Q, kk]
      accumulate(acc, t);
      shape = w.shape();
    }
    shape[0] = P;
    shape[1] = Q;
    return Tensor::from_vector(acc, shape).to(DType::f32);
  }

  // A per-unit tensor whose LAST axis carries the output units (bias, BatchNorm and LayerNorm
  // vectors, cls_token / pos_embed): v_m = Σ_x M_x · v_x (for a permutation merge: ca·A + cb·B).
  Tensor units(const std::string& name) const {
    if (!maps) return mix_units(go, host_f32(*parents[0], name, 0), host_f32(*parents[1], name, 1));
    const int64_t P = int64_t(opos.size());
    std::vector<double> acc;
    Shape shape;
    for (size_t x = 0; x < parents.size(); ++x) {
      Tensor v = host_f32(*parents[x], name, int(x)).to(DType::f64);
      const int64_t D = v.size(v.dim() - 1);
      PLEAS_CHECK(D == mo[x].D, "merge: ", name, " has ", D, " units, the spec expects ", mo[x].D);
      accumulate(acc, matmul(v.reshape({-1, D}), Tensor::from_vector(mo[x].M, {P, D}), false, true));
      shape = v.shape();
    }
    shape.back() = P;
    return Tensor::from_vector(acc, shape).to(DType::f32);
  }
};

}  // namespace

TensorDict merge_state(const PermSpec& spec, const MergePlan& plan, const TensorDict& A,
                       const TensorDict& B, std::string* blocks_json, std::string* norm_views_json) {
  return merge_state(spec, plan, std::vector<const TensorDict*>{&A, &B}, blocks_json, norm_views_json);
}

TensorDict merge_state(const PermSpec& spec, const MergePlan& plan, const std::vector<const TensorDict*>& parents,
                       std::string* blocks_json, std::string* norm_views_json) {
  PLEAS_CHECK(int(parents.size()) == plan.parents && parents.size() >= 2, "merge: ", parents.size(),
              " models for a plan of ", plan.parents, " parents");
  PLEAS_CHECK(plan.groups.size() == spec.groups.size(), "merge: the plan has ", plan.groups.size(), " groups, the spec ",
              spec.groups.size());
  TensorDict out;
  nlohmann::json blocks = nlohmann::json::object(), views = nlohmann::json::object();
  for (const LayerSpec& l : spec.layers) {
    if (l.kind == LayerKind::attention) continue;
    const LayerMixer mx(spec, plan, parents, l);
    const auto &opos = mx.opos, &ipos = mx.ipos;
    const int64_t P = int64_t(opos.size());
    switch (l.kind) {
      case LayerKind::conv:
      case LayerKind::linear: {
        out[l.path + ".weight"] = mx.weight(l.path + ".weight");
        if (l.has_bias) out[l.path + ".bias"] = mx.units(l.path + ".bias");
        auto bl = merged_blocks(opos, ipos);
        if (!bl.empty()) {
          nlohmann::json a = nlohmann::json::array();
          for (auto& b : bl) a.push_back({b.out0, b.out1, b.in0, b.in1});
          blocks[l.path] = a;
        }
        break;
      }
      case LayerKind::bn:
        for (const char* p : {".weight", ".bias", ".running_mean", ".running_var"}) out[l.path + p] = mx.units(l.path + p);
        break;
      case LayerKind::norm: {
        // One affine per unit (A's, B's, or the mean on merged units); statistics per view.
        for (const char* p : {".weight", ".bias"}) out[l.path + p] = mx.units(l.path + p);
        nlohmann::json v = norm_views(l.path, opos);
        if (!v.is_null()) views[l.path] = v;
        break;
      }
      case LayerKind::param:
        out[l.path] = mx.units(l.path);
        break;
      case LayerKind::attention:
        break;
      case LayerKind::channel_map: {
        // Input position q holds merged unit u of a group that the output layout also carries: send it there.
        std::map<std::pair<int, int64_t>, int64_t> where;
        for (int64_t p = 0; p < P; ++p) where[{opos[size_t(p)].group, opos[size_t(p)].u}] = p;
        std::vector<int64_t> map;
        for (const MergedPos& i : ipos) {
          auto it = where.find({i.group, i.u});
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
