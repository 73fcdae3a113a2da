// `pleas merge`: merge two models (PLeaS or a baseline), optionally evaluate, write the result.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"
#include "experiments/commands.h"
#include "experiments/evaluate.h"
#include "models/model_io.h"
#include "pleas/merge_pipeline.h"

namespace pleas::cli {

namespace {

struct MergeArgs {
  std::string a, b, method = "pleas", match = "weight", data, out, eval_data, json, k_file, device = "cpu";
  std::string objective = "ensemble", loo, metric = "params", norm_inputs = "merged";
  double ratio = -1, budget = -1, ridge = 1e-5;
  int64_t per_class = 200, skip = 0, batch = 100, max_positions = 0;
  uint64_t seed = 0;
  int threads = 2;
  bool quiet = false;
};

std::vector<int64_t> read_k_file(const std::string& path, const PermSpec& spec) {
  std::ifstream f(path);
  PLEAS_CHECK(f.good(), "--k ", path, ": cannot open the file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const std::exception& e) {
    PLEAS_FAIL("--k ", path, ": not valid JSON (", e.what(), ")");
  }
  if (j.contains("k")) j = j["k"];
  PLEAS_CHECK(j.is_object(), "--k ", path, ": expected {\"group name\": k, ...}");
  std::vector<int64_t> k;
  for (const PermGroup& g : spec.groups) {
    if (g.fixed) { k.push_back(g.size); continue; }
    if (g.follows >= 0) { k.push_back(k[size_t(g.follows)]); continue; }  // a ViT block's values: as its heads
    PLEAS_CHECK(j.contains(g.name), "--k ", path, ": no k for group ", g.name);
    k.push_back(j[g.name].get<int64_t>());
  }
  return k;
}

}  // namespace

Command add_merge(CLI::App& app) {
  auto* sub = app.add_subcommand("merge", "Merge two models (PLeaS or a baseline)");
  static MergeArgs m;
  sub->add_option("--a", m.a, "model A (weight file)")->required();
  sub->add_option("--b", m.b, "model B (weight file)")->required();
  sub->add_option("--method", m.method, "pleas | permute | average | regmean | ensemble");
  sub->add_option("--match", m.match, "weight | activation");
  auto* ratio = sub->add_option("--ratio", m.ratio, "fraction of every group's units kept separate (0 = fully merged, 1 = ensemble)");
  auto* budget = sub->add_option("--budget", m.budget, "parameters of the merged model x one parent (uniform ratio)");
  auto* kf = sub->add_option("--k", m.k_file, "JSON file {group: k} (e.g. from pleas budget --json)");
  ratio->excludes(budget)->excludes(kf);
  budget->excludes(kf);
  sub->add_option("--loo", m.loo, "with --budget: choose k per group by the budget solver from this leave-one-out table");
  sub->add_option("--metric", m.metric, "with --loo: params | flops");
  sub->add_option("--data", m.data, "merge data: image folder or *-images-idx3-ubyte file")->required();
  sub->add_option("--per-class", m.per_class, "merge images per class (the first K in sorted order)");
  sub->add_option("--skip-per-class", m.skip, "skip the first S images of each class");
  sub->add_option("--out", m.out, "write the merged model (.safetensors or .h5)");
  sub->add_option("--eval-data", m.eval_data, "evaluate the merged model on this labelled set");
  sub->add_option("--json", m.json, "write a JSON summary to this file ('-' = stdout)");
  sub->add_option("--seed", m.seed, "seed of every random choice");
  sub->add_option("--device", m.device, "cpu or cuda[:N]");
  sub->add_option("--objective", m.objective, "least squares: ensemble | separate_inputs | separate | ensemble_inputs");
  sub->add_option("--lsq-norm-inputs", m.norm_inputs, "ViT layers after a LayerNorm fit on the merged model's norm of the mixed stream (merged) or on the parents' norm outputs (parents)")
      ->check(CLI::IsMember({"merged", "parents"}));
  sub->add_option("--ridge", m.ridge, "least squares ridge, relative to the Gram diagonal");
  sub->add_option("--lsq-max-positions", m.max_positions, "least squares: sample at most N positions per image and layer (0 = all)");
  sub->add_option("--batch", m.batch, "batch size")->check(CLI::PositiveNumber);
  sub->add_option("--threads", m.threads, "data loading threads")->check(CLI::PositiveNumber);
  sub->add_flag("--quiet", m.quiet, "no progress on stderr");
  return {sub, [] {
    const auto t0 = std::chrono::steady_clock::now();
    Device dev = Device::parse(m.device);
    if (!m.out.empty()) {  // fail before the work, not after it
      namespace fs = std::filesystem;
      fs::path dir = fs::path(m.out).parent_path();
      PLEAS_CHECK(dir.empty() || fs::is_directory(dir), "--out ", m.out, ": folder ", dir.string(), " does not exist");
      const std::string ext = fs::path(m.out).extension().string();
      PLEAS_CHECK(ext == ".safetensors" || ext == ".h5" || ext == ".hdf5", "--out ", m.out,
                  ": the name must end in .safetensors, .h5 or .hdf5");
    }
    auto A = load_model(m.a, dev), B = load_model(m.b, dev);
    auto merge_ds = data::per_class_subset(open_dataset(m.data), size_t(m.per_class), size_t(m.skip));
    MergeOptions o;
    o.method = m.method;
    o.match = m.match;
    o.ratio = m.ratio;
    o.budget = m.budget;
    o.seed = m.seed;
    o.batch = m.batch;
    o.threads = m.threads;
    o.device = dev;
    o.progress = !m.quiet;
    o.lsq.objective = parse_objective(m.objective);
    o.lsq.ridge = m.ridge;
    o.lsq.norm_inputs_merged = m.norm_inputs == "merged";
    o.lsq.max_positions = m.max_positions;
    nlohmann::json budget_info;
    if (!m.k_file.empty()) {
      canonicalize(*A);
      o.k = read_k_file(m.k_file, perm_spec(*A));
    } else if (!m.loo.empty()) {
      PLEAS_CHECK(m.budget > 0, "--loo needs --budget");
      canonicalize(*A);
      PermSpec spec = perm_spec(*A);
      LooTable t = read_loo(m.loo);
      PLEAS_CHECK(int(t.footprint.groups.size()) == footprint_group_count(spec), m.loo, ": table for ",
                  t.footprint.groups.size(), " groups, the model has ", footprint_group_count(spec));
      BudgetChoice c = choose_k(t, m.budget, m.metric == "flops" ? Metric::flops : Metric::params, 1);
      o.k = spec_k_from_footprint(spec, c.rounded.k);
      o.budget = -1;
      budget_info = {{"loo", m.loo}, {"predicted_top1", c.predicted}, {"gap", c.result.gap},
                     {"solve_ms", c.result.solve_ms}, {"relative_footprint", c.rounded.relative_footprint}};
    }
    if (!m.quiet) std::fprintf(stderr, "merge %s + %s: %s (%s matching), %zu merge images\n", m.a.c_str(),
                               m.b.c_str(), m.method.c_str(), m.match.c_str(), merge_ds->size());
    MergeOutcome r = merge_models(*A, *B, merge_ds, model_transform(*A), o);
    const double merge_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json j = {{"a", m.a}, {"b", m.b}, {"method", m.method}, {"match", m.match},
                        {"params_rel", r.params_rel}, {"flops_rel", r.flops_rel},
                        {"params", r.model->num_params()}, {"merge_images", merge_ds->size()},
                        {"separate_heads", r.separate_heads}, {"seed", m.seed}, {"lsq_norm_inputs", m.norm_inputs}};
    if (r.ratio >= 0) j["ratio"] = r.ratio;
    if (m.budget > 0) j["budget"] = m.budget;
    if (!budget_info.is_null()) j["budget_solver"] = budget_info;
    nlohmann::json stages = nlohmann::json::object(), kj = nlohmann::json::object();
    for (auto& [name, s] : r.stages) stages[name] = s;
    for (size_t g = 0; g < r.spec.groups.size(); ++g)
      if (!r.spec.groups[g].fixed && r.spec.groups[g].follows < 0) kj[r.spec.groups[g].name] = r.k[g];
    j["k"] = kj;
    if (!m.out.empty()) {
      auto t = std::chrono::steady_clock::now();
      save_model(m.out, *r.model);
      stages["save"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
      j["out"] = m.out;
    }
    j["total_s"] = merge_s;  // the merge itself: loading, matching, merging, LS, BN (no evaluation)
    if (!m.eval_data.empty()) {
      auto t = std::chrono::steady_clock::now();
      auto ds = open_dataset(m.eval_data);
      EvalOptions eo;
      eo.device = dev;
      eo.threads = m.threads;
      eo.progress = !m.quiet;
      EvalResult e = evaluate(*r.model, ds, model_transform(*r.model), eo);
      j["top1"] = e.top1;
      j["correct"] = e.correct;
      j["images"] = e.images;
      if (r.separate_heads) {
        nlohmann::json pt = nlohmann::json::object();
        const int64_t na = r.outputs_a, total = r.model->num_classes();
        for (int head = 0; head < 2; ++head) {
          EvalOptions h = eo;
          for (int64_t o2 = head == 0 ? 0 : na; o2 < (head == 0 ? na : total); ++o2) h.outputs.push_back(o2);
          pt[head == 0 ? "a" : "b"] = evaluate(*r.model, ds, model_transform(*r.model), h).top1;
        }
        j["per_task_top1"] = pt;
      }
      stages["eval"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    }
    j["stages"] = stages;
    std::printf("%s: params %.3fx, FLOPs %.3fx, %.1f s", m.method.c_str(), r.params_rel, r.flops_rel, merge_s);
    if (j.contains("top1")) std::printf(", top-1 %.2f%%", j["top1"].get<double>());
    if (j.contains("per_task_top1"))
      std::printf(" (per task %.2f%% / %.2f%%)", j["per_task_top1"]["a"].get<double>(), j["per_task_top1"]["b"].get<double>());
    std::printf("\n");
    if (m.json == "-") std::cout << j.dump() << "\n";
    else if (!m.json.empty()) write_text_atomic(m.json, j.dump(2) + "\n", "merge --json");
    return 0;
  }};
}

}  // namespace pleas::cli
