#include "pleas/budget_spec.h"

#include <cstdio>
#include <map>

namespace pleas {

namespace {
// spec group -> footprint group (-1 for fixed groups)
std::vector<int> group_map(const PermSpec& spec) {
  std::vector<int> m;
  int next = 0;
  for (const PermGroup& g : spec.groups) m.push_back(g.fixed ? -1 : next++);
  return m;
}
}  // namespace

FootprintModel footprint_from_spec(const PermSpec& spec, Model& A, int image_size) {
  const std::vector<int> gm = group_map(spec);
  FootprintModel fp;
  for (const PermGroup& g : spec.groups)
    if (!g.fixed) fp.add_group(g.name, g.size);
  // Output positions of every conv, from one forward pass.
  std::map<std::string, double> positions;
  Hooks hooks;
  hooks.add("*", [&](const std::string& path, const Tensor&, const Tensor& out) {
    positions[path] = out.dim() == 4 ? double(out.size(2) * out.size(3)) : 1.0;
  });
  ForwardCtx ctx;
  ctx.hooks = &hooks;
  A.forward(Tensor::zeros({1, 3, image_size, image_size}, DType::f32, A.device()), ctx);
  const TensorDict state = A.state_dict();
  for (const LayerSpec& l : spec.layers) {
    if (l.kind == LayerKind::channel_map) continue;
    if (l.kind == LayerKind::bn) {
      for (int b : l.out) {
        const double ext = gm[size_t(b)] < 0 ? double(spec.groups[size_t(b)].size) : 1.0;
        fp.terms.push_back({l.path + ".weight+bias", TermKind::norm, -1, gm[size_t(b)], 2.0 * ext, 0.0});
      }
      continue;
    }
    const Tensor& w = state.at(l.path + ".weight");
    const double kk = double(w.numel()) / double(w.size(0) * w.size(1));
    const double pos = l.kind == LayerKind::conv ? positions.at(l.path) : 1.0;
    for (int a : l.in)
      for (int b : l.out) {
        double c = kk;
        if (gm[size_t(a)] < 0) c *= double(spec.groups[size_t(a)].size);
        if (gm[size_t(b)] < 0) c *= double(spec.groups[size_t(b)].size);
        fp.terms.push_back({l.path + ".weight", l.kind == LayerKind::conv ? TermKind::conv : TermKind::linear,
                            gm[size_t(a)], gm[size_t(b)], c, c * pos});
      }
    if (l.has_bias)
      for (int b : l.out) {
        const double ext = gm[size_t(b)] < 0 ? double(spec.groups[size_t(b)].size) : 1.0;
        fp.terms.push_back({l.path + ".bias", TermKind::bias, -1, gm[size_t(b)], ext, 0.0});
      }
  }
  fp.validate();
  return fp;
}

std::vector<int64_t> spec_k_from_footprint(const PermSpec& spec, const std::vector<int64_t>& k_fp) {
  std::vector<int64_t> k;
  size_t next = 0;
  for (const PermGroup& g : spec.groups) {
    if (g.fixed) { k.push_back(g.size); continue; }
    PLEAS_CHECK(next < k_fp.size(), "budget: ", k_fp.size(), " k values for more groups");
    k.push_back(k_fp[next++]);
  }
  PLEAS_CHECK(next == k_fp.size(), "budget: ", k_fp.size(), " k values for ", next, " groups");
  return k;
}

nlohmann::json loo_to_json(const LooTable& t) {
  nlohmann::json groups = nlohmann::json::array(), terms = nlohmann::json::array();
  for (size_t g = 0; g < t.footprint.groups.size(); ++g)
    groups.push_back({{"name", t.footprint.groups[g].name}, {"d", t.footprint.groups[g].d},
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
