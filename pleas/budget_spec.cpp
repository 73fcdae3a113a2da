#include "pleas/budget_spec.h"

#include <cstdio>
#include <map>

namespace pleas {

namespace {
// spec group -> footprint group (-1 for fixed groups; a follower is its leader's group)
std::vector<int> group_map(const PermSpec& spec) {
  std::vector<int> m;
  int next = 0;
  for (const PermGroup& g : spec.groups) m.push_back(g.fixed ? -1 : g.follows >= 0 ? m[size_t(g.follows)] : next++);
  return m;
}

// Channels per footprint unit: a fixed group's whole extent (it is an ungrouped axis), a head
// group's head width (its footprint units are heads), else 1.
double unit_extent(const PermGroup& g) {
  return g.fixed ? double(g.size) : g.head_dim > 0 ? double(g.head_dim) : 1.0;
}
}  // namespace

int footprint_group_count(const PermSpec& spec) {
  int n = 0;
  for (const PermGroup& g : spec.groups) n += !g.fixed && g.follows < 0;
  return n;
}

FootprintModel footprint_from_spec(const PermSpec& spec, Model& A, int image_size) {
  const std::vector<int> gm = group_map(spec);
  FootprintModel fp;
  for (const PermGroup& g : spec.groups)
    if (!g.fixed && g.follows < 0) {
      fp.add_group(g.name, g.heads());
      fp.groups.back().unit = int64_t(unit_extent(g));
    }
  // Output positions of every layer (conv: pixels; linear: tokens; attention: tokens), from one
  // forward pass of one image.
  std::map<std::string, double> positions;
  Hooks hooks;
  hooks.add("*", [&](const std::string& path, const Tensor&, const Tensor& out) {
    positions[path] = out.dim() == 4 ? double(out.size(2) * out.size(3)) : double(out.numel() / out.size(-1));
  });
  ForwardCtx ctx;
  ctx.hooks = &hooks;
  A.forward(Tensor::zeros({1, 3, image_size, image_size}, DType::f32, A.device()), ctx);
  const TensorDict state = A.state_dict();
  auto ext = [&](int g) { return unit_extent(spec.groups[size_t(g)]); };
  auto at = [&](const std::string& path) {
    auto it = positions.find(path);
    PLEAS_CHECK(it != positions.end(), "budget footprint: layer ", path, " was not reported by the forward pass");
    return it->second;
  };
  for (const LayerSpec& l : spec.layers) {
    if (l.kind == LayerKind::channel_map) continue;
    if (l.kind == LayerKind::bn || l.kind == LayerKind::norm) {
      for (int b : l.out)
        fp.terms.push_back({l.path + ".weight+bias", TermKind::norm, -1, gm[size_t(b)], 2.0 * ext(b), 0.0});
      continue;
    }
    if (l.kind == LayerKind::param) {  // e.g. pos_embed [1, L, D]: L values per stream unit
      const Tensor& t = state.at(l.path);
      const double per_unit = double(t.numel() / t.size(t.dim() - 1));
      for (int b : l.out) fp.terms.push_back({l.path, TermKind::bias, -1, gm[size_t(b)], per_unit * ext(b), 0.0});
      continue;
    }
    if (l.kind == LayerKind::attention) {
      // Scores q·kᵀ and the values' mix A·v: 2·L²·hd multiply-adds per head, no parameters.
      const double L = at(l.path);
      for (int b : l.out) fp.terms.push_back({l.path, TermKind::linear, -1, gm[size_t(b)], 0.0, 2.0 * L * L * ext(b)});
      continue;
    }
    const Tensor& w = state.at(l.path + ".weight");
    const double kk = double(w.numel()) / double(w.size(0) * w.size(1));
    const double pos = at(l.path);
    for (int a : l.in)
      for (int b : l.out) {
        const double c = kk * ext(a) * ext(b);
        fp.terms.push_back({l.path + ".weight", l.kind == LayerKind::conv ? TermKind::conv : TermKind::linear,
                            gm[size_t(a)], gm[size_t(b)], c, c * pos});
      }
    if (l.has_bias)
      for (int b : l.out) fp.terms.push_back({l.path + ".bias", TermKind::bias, -1, gm[size_t(b)], ext(b), 0.0});
  }
  fp.validate();
  return fp;
}

std::vector<int64_t> spec_k_from_footprint(const PermSpec& spec, const std::vector<int64_t>& k_fp) {
  std::vector<int64_t> k;
  size_t next = 0;
  for (const PermGroup& g : spec.groups) {
    if (g.fixed) { k.push_back(g.size); continue; }
    if (g.follows >= 0) { k.push_back(k[size_t(g.follows)]); continue; }
    PLEAS_CHECK(next < k_fp.size(), "budget: ", k_fp.size(), " k values for more groups");
    k.push_back(k_fp[next++] * int64_t(unit_extent(g)));  // head groups: k_fp heads
  }
  PLEAS_CHECK(next == k_fp.size(), "budget: ", k_fp.size(), " k values for ", next, " groups");
  return k;
}

nlohmann::json loo_to_json(const LooTable& t) {
  nlohmann::json groups = nlohmann::json::array(), terms = nlohmann::json::array();
  for (size_t g = 0; g < t.footprint.groups.size(); ++g)
    groups.push_back({{"name", t.footprint.groups[g].name}, {"d", t.footprint.groups[g].d},
                      {"unit", t.footprint.groups[g].unit},
                      {"only_merged", t.only_merged[g]}, {"only_separate", t.only_separate[g]}});
  for (const FootprintTerm& f : t.footprint.terms)
    terms.push_back({{"layer", f.layer}, {"kind", int(f.kind)}, {"in", f.in}, {"out", f.out},
                     {"params", f.params}, {"flops", f.flops}});
  return {{"format", "pleas-loo-1"}, {"arch", t.arch}, {"merged", t.merged}, {"ensemble", t.ensemble},
          {"groups", groups}, {"terms", terms}, {"info", t.info}};
}

LooTable loo_from_json(const nlohmann::json& j, const std::string& source) {
  PLEAS_CHECK(j.is_object() && j.value("format", "") == "pleas-loo-1", source,
              ": not a leave-one-out table (format pleas-loo-1; made by pleas loo)");
  LooTable t;
  try {
    t.arch = j.value("arch", "");
    t.merged = j.at("merged").get<double>();
    t.ensemble = j.at("ensemble").get<double>();
    for (auto& g : j.at("groups")) {
      t.footprint.add_group(g.at("name").get<std::string>(), g.at("d").get<int64_t>());
      t.footprint.groups.back().unit = g.value("unit", int64_t(1));
      PLEAS_CHECK(t.footprint.groups.back().unit >= 1, source, ": group ", t.footprint.groups.back().name, " has unit < 1");
      t.only_merged.push_back(g.at("only_merged").get<double>());
      t.only_separate.push_back(g.at("only_separate").get<double>());
    }
    for (auto& f : j.at("terms"))
      t.footprint.terms.push_back({f.at("layer").get<std::string>(), TermKind(f.at("kind").get<int>()),
                                   f.at("in").get<int>(), f.at("out").get<int>(),
                                   f.at("params").get<double>(), f.at("flops").get<double>()});
    if (j.contains("info")) t.info = j["info"];
  } catch (const nlohmann::json::exception& e) {
    PLEAS_FAIL(source, ": malformed leave-one-out table (", e.what(), ")");
  }
  t.footprint.validate();
  return t;
}

LooTable leave_one_out(const PermSpec& spec, const FootprintModel& fp,
                       const std::function<double(const std::vector<int64_t>&)>& evaluate_k) {
  LooTable t;
  t.arch = spec.arch;
  t.footprint = fp;
  const size_t G = fp.groups.size();
  std::vector<int64_t> all_merged, all_separate;
  for (const FootprintGroup& g : fp.groups) { all_merged.push_back(g.d); all_separate.push_back(0); }
  auto run = [&](const std::vector<int64_t>& kfp, const std::string& what) {
    double acc = evaluate_k(spec_k_from_footprint(spec, kfp));
    std::fprintf(stderr, "  leave-one-out %-28s top-1 %.2f%%\n", what.c_str(), acc);
    return acc;
  };
  t.merged = run(all_merged, "all merged");
  t.ensemble = run(all_separate, "all separate");
  for (size_t g = 0; g < G; ++g) {
    std::vector<int64_t> only_m = all_separate, only_s = all_merged;
    only_m[g] = fp.groups[g].d;
    only_s[g] = 0;
    t.only_merged.push_back(run(only_m, "only " + fp.groups[g].name + " merged"));
    t.only_separate.push_back(run(only_s, "only " + fp.groups[g].name + " separate"));
  }
  return t;
}

}  // namespace pleas
