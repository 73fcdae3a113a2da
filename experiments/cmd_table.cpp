// `pleas table`: several merges of the same pair, evaluated, as one table (and JSON).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/atomic_file.h"
#include "experiments/commands.h"
#include "experiments/evaluate.h"
#include "models/model_io.h"
#include "pleas/merge_pipeline.h"

namespace pleas::cli {

namespace {
struct Row {
  std::string name, method, match = "weight", partial = "units";
  double budget = -1;
};

// "pleas:weight:1.2" / "ensemble" / "permute:activation" / "permute:zipit:1.5:prefix" (ZipIt!'s
// partial zipping) — method[:alignment[:budget[:partial]]].
Row parse_row(const std::string& spec) {
  Row r;
  std::vector<std::string> parts;
  std::stringstream ss(spec);
  std::string p;
  while (std::getline(ss, p, ':')) parts.push_back(p);
  PLEAS_CHECK(!parts.empty() && parts.size() <= 4, "table: bad row '", spec, "' (method[:alignment[:budget[:partial]]])");
  r.method = parts[0];
  if (parts.size() > 1 && !parts[1].empty()) r.match = parts[1];
  try {
    if (parts.size() > 2 && !parts[2].empty()) r.budget = std::stod(parts[2]);
  } catch (const std::exception&) {
    PLEAS_FAIL("table: row '", spec, "': budget '", parts[2], "' is not a number");
  }
  if (parts.size() > 3) r.partial = parts[3];
  r.name = spec;
  return r;
}
}  // namespace

Command add_table(CLI::App& app) {
  auto* sub = app.add_subcommand("table", "Merge a pair with several methods/budgets and tabulate accuracy");
  static std::string a, b, data, eval_data, json, device = "cpu";
  static int64_t per_class = 200, skip = 0;
  static uint64_t seed = 0;
  static std::vector<std::string> rows = {"parent:a", "parent:b", "ensemble", "average", "permute:weight",
                                          "pleas:weight:1.0", "pleas:weight:1.2", "pleas:weight:1.55",
                                          "pleas:weight:1.8"};
  sub->add_option("--a", a, "model A")->required();
  sub->add_option("--b", b, "model B")->required();
  sub->add_option("--data", data, "merge data")->required();
  sub->add_option("--per-class", per_class, "merge images per class");
  sub->add_option("--skip-per-class", skip, "skip the first S images of each class");
  sub->add_option("--eval-data", eval_data, "evaluation set")->required();
  sub->add_option("--rows", rows, "rows: parent:a, parent:b, or method[:alignment[:budget[:partial]]] (alignment weight, activation, zipit, cca; partial units or prefix)");
  sub->add_option("--json", json, "write the table as JSON to this file");
  sub->add_option("--seed", seed, "seed");
  sub->add_option("--device", device, "cpu or cuda[:N]");
  return {sub, [] {
    Device dev = Device::parse(device);
    auto eval_ds = open_dataset(eval_data);
    auto merge_ds = data::per_class_subset(open_dataset(data), size_t(per_class), size_t(skip));
    nlohmann::json out = nlohmann::json::array();
    std::printf("%-22s %8s %8s %9s %8s\n", "method", "params", "FLOPs", "top-1 %", "merge s");
    for (const std::string& spec : rows) {
      nlohmann::json j = {{"row", spec}};
      EvalOptions eo;
      eo.device = dev;
      eo.progress = false;
      if (spec == "parent:a" || spec == "parent:b") {
        auto m = load_model(spec == "parent:a" ? a : b, dev);
        EvalResult e = evaluate(*m, eval_ds, model_transform(*m), eo);
        j["params_rel"] = 1.0;
        j["flops_rel"] = 1.0;
        j["top1"] = e.top1;
        j["images"] = e.images;
        std::printf("%-22s %8.3f %8.3f %9.2f %8s\n", spec.c_str(), 1.0, 1.0, e.top1, "-");
      } else {
        Row r = parse_row(spec);
        auto A = load_model(a, dev), B = load_model(b, dev);
        MergeOptions o;
        o.method = r.method;
        o.match = r.match;
        o.budget = r.budget;
        o.partial = r.partial;
        o.seed = seed;
        o.device = dev;
        o.progress = false;
        std::fprintf(stderr, "  %s ...\n", spec.c_str());
        MergeOutcome res = merge_models(*A, *B, merge_ds, model_transform(*A), o);
        EvalResult e = evaluate(*res.model, eval_ds, model_transform(*res.model), eo);
        j["params_rel"] = res.params_rel;
        j["flops_rel"] = res.flops_rel;
        j["top1"] = e.top1;
        j["images"] = e.images;
        j["total_s"] = res.total_s;
        j["method"] = r.method;
        j["match"] = r.match;
        j["partial"] = r.partial;
        if (r.budget > 0) j["budget"] = r.budget;
        if (res.merged_groups >= 0) j["merged_groups"] = res.merged_groups;
        std::printf("%-22s %8.3f %8.3f %9.2f %8.1f", spec.c_str(), res.params_rel, res.flops_rel, e.top1, res.total_s);
        if (res.separate_heads) {  // different label spaces: each head on its own task's classes
          nlohmann::json pt = nlohmann::json::object();
          for (int head = 0; head < 2; ++head) {
            EvalOptions h = eo;
            const int64_t na = res.outputs_a, total = res.model->num_classes();
            for (int64_t o2 = head == 0 ? 0 : na; o2 < (head == 0 ? na : total); ++o2) h.outputs.push_back(o2);
            pt[head == 0 ? "a" : "b"] = evaluate(*res.model, eval_ds, model_transform(*res.model), h).top1;
          }
          j["per_task_top1"] = pt;
          std::printf("  (tasks %.2f / %.2f)", pt["a"].get<double>(), pt["b"].get<double>());
        }
        std::printf("\n");
      }
      std::fflush(stdout);
      out.push_back(j);
      // Rewritten after every row: a long table that is interrupted keeps the rows it finished.
      if (!json.empty()) write_text_atomic(json, out.dump(2) + "\n", "table --json");
    }
    return 0;
  }};
}

}  // namespace pleas::cli
