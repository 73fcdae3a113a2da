// `pleas loo`: the leave-one-out table on a proxy set; `pleas budget`: per-group k for a budget
// from that table (our global solver of the Appendix A.2 program).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"
#include "experiments/commands.h"
#include "experiments/evaluate.h"
#include "models/model_io.h"
#include "pleas/budget_spec.h"
#include "pleas/merge_pipeline.h"

namespace pleas::cli {

LooTable read_loo(const std::string& path) {
  std::ifstream f(path);
  PLEAS_CHECK(f.good(), path, ": cannot open the leave-one-out table");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const std::exception& e) {
    PLEAS_FAIL(path, ": not valid JSON (", e.what(), ")");
  }
  return loo_from_json(j, path);
}

BudgetChoice choose_k(const LooTable& t, double budget, Metric metric, int64_t multiple_of) {
  BudgetProblem p;
  p.model = t.footprint;
  p.metric = metric;
  p.budget = budget;
  p.w = loo_weights(t.merged, t.ensemble, t.only_merged, t.only_separate, budget);
  BudgetChoice c;
  c.result = solve_budget(p);
  c.rounded = round_to_k(p, c.result, multiple_of);
  c.predicted = loo_predicted_accuracy(t.merged, t.ensemble, t.only_merged, t.only_separate, budget, c.rounded.r);
  return c;
}

Command add_loo(CLI::App& app) {
  auto* sub = app.add_subcommand("loo", "Leave-one-out table for the budget solver (2G+2 merges on a proxy set)");
  static std::string a, b, data, proxy, out, method = "pleas", match = "weight", device = "cpu";
  static int64_t per_class = 200, skip = 0, proxy_per_class = 100, proxy_skip = 200;
  static uint64_t seed = 0;
  sub->add_option("--a", a, "model A")->required();
  sub->add_option("--b", b, "model B")->required();
  sub->add_option("--data", data, "merge data")->required();
  sub->add_option("--per-class", per_class, "merge images per class");
  sub->add_option("--skip-per-class", skip, "skip the first S merge images of each class");
  sub->add_option("--proxy-data", proxy, "proxy evaluation set (image folder or idx)")->required();
  sub->add_option("--proxy-per-class", proxy_per_class, "proxy images per class");
  sub->add_option("--proxy-skip-per-class", proxy_skip, "skip the first S proxy images of each class");
  sub->add_option("--method", method, "merge method of every leave-one-out merge");
  sub->add_option("--match", match, "weight | activation");
  sub->add_option("--out", out, "write the table (JSON)")->required();
  sub->add_option("--seed", seed, "seed");
  sub->add_option("--device", device, "cpu or cuda[:N]");
  return {sub, [] {
    Device dev = Device::parse(device);
    auto merge_ds = data::per_class_subset(open_dataset(data), size_t(per_class), size_t(skip));
    auto proxy_ds = data::per_class_subset(open_dataset(proxy), size_t(proxy_per_class), size_t(proxy_skip));
    auto A = load_model(a, dev);
    canonicalize(*A);
    PermSpec spec = perm_spec(*A);
    const int s = A->metadata.count("image_size") ? std::stoi(A->metadata.at("image_size")) : A->image_size();
    FootprintModel fp = footprint_from_spec(spec, *A, s);
    auto t0 = std::chrono::steady_clock::now();
    LooTable t = leave_one_out(spec, fp, [&](const std::vector<int64_t>& k) {
      auto ma = load_model(a, dev), mb = load_model(b, dev);
      MergeOptions o;
      o.method = method;
      o.match = match;
      o.k = k;
      o.seed = seed;
      o.device = dev;
      o.progress = false;
      MergeOutcome r = merge_models(*ma, *mb, merge_ds, model_transform(*ma), o);
      EvalOptions eo;
      eo.device = dev;
      eo.progress = false;
      return evaluate(*r.model, proxy_ds, model_transform(*r.model), eo).top1;
    });
    t.info = {{"a", a}, {"b", b}, {"method", method}, {"match", match}, {"merge_data", data},
              {"per_class", per_class}, {"skip_per_class", skip}, {"proxy_data", proxy},
              {"proxy_per_class", proxy_per_class}, {"proxy_skip_per_class", proxy_skip}, {"seed", seed},
              {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
    write_text_atomic(out, loo_to_json(t).dump(2) + "\n", "loo --out");
    std::printf("leave-one-out table (%zu groups) written to %s: all merged %.2f%%, all separate %.2f%%\n",
                fp.groups.size(), out.c_str(), t.merged, t.ensemble);
    return 0;
  }};
}

Command add_budget(CLI::App& app) {
  auto* sub = app.add_subcommand("budget", "Per-group k for a size budget from a leave-one-out table");
  static std::string loo, metric = "params";
  static double budget = 1.5;
  static int64_t multiple = 1;
  static bool json = false;
  sub->add_option("--loo", loo, "leave-one-out table (pleas loo --out)")->required();
  sub->add_option("--budget", budget, "footprint x one model, in [1, 2]")->required();
  sub->add_option("--metric", metric, "params | flops")->check(CLI::IsMember({"params", "flops"}));
  sub->add_option("--multiple-of", multiple, "round k to multiples of this (e.g. 8 for tensor cores)");
  sub->add_flag("--json", json, "one JSON object on stdout");
  return {sub, [] {
    LooTable t = read_loo(loo);
    BudgetChoice c = choose_k(t, budget, metric == "flops" ? Metric::flops : Metric::params, multiple);
    nlohmann::json k = nlohmann::json::object();
    // k in channels (what pleas merge --k reads): heads × head width for ViT head groups.
    for (size_t g = 0; g < t.footprint.groups.size(); ++g)
      k[t.footprint.groups[g].name] = c.rounded.k[g] * t.footprint.groups[g].unit;
    if (json) {
      nlohmann::json j = {{"k", k}, {"predicted_top1", c.predicted}, {"gap", c.result.gap},
                          {"solve_ms", c.result.solve_ms}, {"objective", c.result.objective},
                          {"objective_after_rounding", c.rounded.objective},
                          {"rounding_loss", c.rounded.objective_loss},
                          {"relative_footprint", c.rounded.relative_footprint}, {"budget", budget},
                          {"metric", metric}, {"nodes", c.result.nodes}, {"optimal", c.result.optimal}};
      std::cout << j.dump() << "\n";
    } else {
      std::printf("%-24s %6s %6s  (heads: d and k count heads)\n", "group", "d", "k");
      for (size_t g = 0; g < t.footprint.groups.size(); ++g)
        std::printf("%-24s %6lld %6lld\n", t.footprint.groups[g].name.c_str(),
                    (long long)t.footprint.groups[g].d, (long long)c.rounded.k[g]);
      std::printf("predicted top-1 %.2f%%, footprint %.4f (budget %.3f, %s), certified gap %.2e, %.3f ms\n",
                  c.predicted, c.rounded.relative_footprint, budget, metric.c_str(), c.result.gap, c.result.solve_ms);
    }
    return 0;
  }};
}

}  // namespace pleas::cli
