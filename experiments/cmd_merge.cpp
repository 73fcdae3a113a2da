// `pleas merge`: merge two models (PLeaS or a baseline), optionally evaluate, write the result.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"
#include "experiments/commands.h"
#include "experiments/experiment_data.h"
#include "experiments/evaluate.h"
#include "models/model_io.h"
#include "pleas/merge_pipeline.h"

namespace pleas::cli {

namespace {

struct MergeArgs {
  std::string a, b, method = "pleas", match = "weight", data, bn_data, out, eval_data, json, k_file, device = "cpu";
  std::string objective = "ensemble", loo, metric = "params", norm_inputs = "merged";
  std::string act_rule = "per_site", partial = "units", bn = "recompute";
  std::vector<std::string> models;
  double ratio = -1, budget = -1, ridge = 1e-5, zipit_alpha = 0.3, zipit_beta = 0.125, cca_gamma = -1;
  double lsq_memory_gb = 2.0;
  std::string lsq_gram = "structured";
  int64_t per_class = 200, bn_per_class = 50, skip = 0, batch = 100, max_positions = 0, merge_groups = -1, score_per_class = 20;
  int restarts = 1;
  int64_t match_seed = -1;
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
  auto* oa = sub->add_option("--a", m.a, "model A (weight file)");
  auto* ob = sub->add_option("--b", m.b, "model B (weight file)");
  auto* om = sub->add_option("--models", m.models, "two or more models (instead of --a/--b); the first is the reference");
  om->excludes(oa)->excludes(ob);
  sub->add_option("--method", m.method, "pleas | permute | average | regmean | ensemble");
  sub->add_option("--match", m.match, "alignment: weight | activation (permutations), zipit (ZipIt!), cca (CCA Merge)")
      ->check(CLI::IsMember({"weight", "activation", "zipit", "cca"}));
  sub->add_option("--act-rule", m.act_rule, "activation statistics of a group seen at several tap points: per_site (mean of the per-tap-point correlations, the default) or pooled moments")
      ->check(CLI::IsMember({"pooled", "per_site"}));
  sub->add_option("--zipit-alpha", m.zipit_alpha, "ZipIt!: weight of an already merged feature's similarities (published 0.3)");
  sub->add_option("--zipit-beta", m.zipit_beta, "ZipIt!: within-model merge budget fraction (published 0.125)");
  sub->add_option("--cca-gamma", m.cca_gamma, "CCA Merge: covariance regularisation (default: the published one)");
  sub->add_option("--partial", m.partial, "models above budget 1: units (k units per group, PLeaS) or prefix (ZipIt!'s partial zipping: the first groups merged, the rest two branches)")
      ->check(CLI::IsMember({"units", "prefix"}));
  sub->add_option("--merge-groups", m.merge_groups, "with --partial prefix: merge the first N groups (forward order) instead of fitting --budget");
  sub->add_option("--restarts", m.restarts, "weight matching: N seeded matchings, the one whose merge is closest to the ensemble on held-out merge images kept")
      ->check(CLI::PositiveNumber);
  sub->add_option("--match-seed", m.match_seed, "seed of weight matching only (default: --seed)");
  sub->add_option("--score-per-class", m.score_per_class, "with --restarts: held-out images per class (those after the merge images)");
  auto* ratio = sub->add_option("--ratio", m.ratio, "fraction of every group's units kept separate (0 = fully merged, 1 = ensemble)");
  auto* budget = sub->add_option("--budget", m.budget, "parameters of the merged model x one parent (uniform ratio)");
  auto* kf = sub->add_option("--k", m.k_file, "JSON file {group: k} (e.g. from pleas budget --json)");
  ratio->excludes(budget)->excludes(kf);
  budget->excludes(kf);
  sub->add_option("--loo", m.loo, "with --budget: choose k per group by the budget solver from this leave-one-out table");
  sub->add_option("--metric", m.metric, "with --loo: params | flops");
  sub->add_option("--data", m.data, "merge data: image folder or *-images-idx3-ubyte file")->required();
  sub->add_option("--bn-data", m.bn_data, "BatchNorm statistics from this data instead of the merge data (e.g. PLeaS-free: match and fit on public data, reset BatchNorm on the task's)");
  sub->add_option("--bn-per-class", m.bn_per_class, "with --bn-data: images per class");
  sub->add_option("--per-class", m.per_class, "merge images per class (the first K in sorted order)");
  sub->add_option("--skip-per-class", m.skip, "skip the first S images of each class");
  sub->add_option("--out", m.out, "write the merged model (.safetensors or .h5)");
  sub->add_option("--eval-data", m.eval_data, "evaluate the merged model on this labelled set");
  sub->add_option("--json", m.json, "write a JSON summary to this file ('-' = stdout)");
  sub->add_option("--seed", m.seed, "seed of every random choice");
  sub->add_option("--device", m.device, "cpu or cuda[:N]");
  sub->add_option("--bn", m.bn, "BatchNorm statistics: recompute (on the merge data, the paper's), keep (merged through the maps), merged_units (recompute only merged units; separate units keep their parent's)")
      ->check(CLI::IsMember({"recompute", "keep", "merged_units"}));
  sub->add_option("--objective", m.objective, "least squares: ensemble | separate_inputs | separate | ensemble_inputs");
  sub->add_option("--lsq-norm-inputs", m.norm_inputs, "ViT layers after a LayerNorm fit on the merged model's norm of the mixed stream (merged) or on the parents' norm outputs (parents)")
      ->check(CLI::IsMember({"merged", "parents"}));
  sub->add_option("--ridge", m.ridge, "least squares ridge, relative to the Gram diagonal");
  sub->add_option("--lsq-max-positions", m.max_positions, "least squares: sample at most N positions per image and layer (0 = all)");
  sub->add_option("--lsq-gram", m.lsq_gram, "least squares: stride-1 convolutions' Gram from the shift structure (structured, default) or by SYRK over the im2col rows (direct); the same sums")
      ->check(CLI::IsMember({"structured", "direct"}));
  sub->add_option("--lsq-memory-gb", m.lsq_memory_gb, "least squares: activations held at once (both parents' hooked layers; batches are split into chunks of images that fit; default 2)")
      ->check(CLI::PositiveNumber);
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
    if (m.models.empty()) {
      PLEAS_CHECK(!m.a.empty() && !m.b.empty(), "merge: give --a and --b, or --models A B [C ...]");
      m.models = {m.a, m.b};
    }
    PLEAS_CHECK(m.models.size() >= 2, "--models: need at least two models, got ", m.models.size());
    std::vector<std::unique_ptr<Model>> loaded;
    std::vector<Model*> parents;
    for (const std::string& path : m.models) {
      loaded.push_back(load_model(path, dev));
      parents.push_back(loaded.back().get());
    }
    Model* A = parents[0];
    auto full_ds = open_dataset(m.data);
    auto merge_ds = data::per_class_subset(full_ds, size_t(m.per_class), size_t(m.skip));
    MergeOptions o;
    o.method = m.method;
    o.match = m.match;
    o.act_rule = m.act_rule;
    o.bn = m.bn;
    o.zipit_alpha = m.zipit_alpha;
    o.zipit_beta = m.zipit_beta;
    o.cca_gamma = m.cca_gamma;
    o.partial = m.partial;
    o.merge_groups = m.merge_groups;
    o.restarts = m.restarts;
    o.match_seed = m.match_seed;
    o.keep_restart_models = m.restarts > 1 && !m.eval_data.empty();
    if (m.restarts > 1)
      o.score_data = data::per_class_subset(full_ds, size_t(m.score_per_class), size_t(m.skip + m.per_class));
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
    o.lsq.memory_bytes = int64_t(m.lsq_memory_gb * double(int64_t(1) << 30));
    o.lsq.structured_gram = m.lsq_gram == "structured";
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
    if (!m.quiet) {
      std::string names;
      for (const std::string& p : m.models) names += (names.empty() ? "" : " + ") + p;
      std::fprintf(stderr, "merge %s: %s (%s alignment), %zu merge images\n", names.c_str(), m.method.c_str(),
                   m.match.c_str(), merge_ds->size());
    }
    // Data of another resolution than the model's (public data, e.g. Tiny ImageNet's 64 px for a
    // CIFAR model) is resized to it; the model's own data goes through its own transform.
    auto transform_for = [&](const data::Dataset& ds) {
      const data::Image first = ds.load(0);
      const int s = experiment::image_size(*A);
      return first.width == s && first.height == s ? model_transform(*A) : experiment::foreign_transform(*A);
    };
    if (!m.bn_data.empty()) {
      o.bn_data = data::per_class_subset(open_dataset(m.bn_data), size_t(m.bn_per_class));
      o.bn_transform = std::make_shared<data::Transform>(transform_for(*o.bn_data));
    }
    MergeOutcome r = merge_models(parents, merge_ds, transform_for(*merge_ds), o);
    const double merge_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json j = {{"a", m.models[0]}, {"b", m.models[1]}, {"models", m.models}, {"method", m.method}, {"match", m.match},
                        {"partial", m.partial}, {"act_rule", m.act_rule}, {"bn", m.bn},
                        {"params_rel", r.params_rel}, {"flops_rel", r.flops_rel},
                        {"params", r.model->num_params()}, {"merge_images", merge_ds->size()},
                        {"separate_heads", r.separate_heads}, {"seed", m.seed}, {"lsq_norm_inputs", m.norm_inputs}};
    if (r.ratio >= 0) j["ratio"] = r.ratio;
    if (m.budget > 0) j["budget"] = m.budget;
    if (!budget_info.is_null()) j["budget_solver"] = budget_info;
    if (r.merged_groups >= 0) j["merged_groups"] = r.merged_groups;
    if (!r.restarts.empty()) {
      nlohmann::json rs = nlohmann::json::array();
      for (auto& x : r.restarts) rs.push_back({{"seed", x.seed}, {"objective", x.objective}, {"ensemble_gap", x.score}});
      if (!r.restart_models.empty()) {  // every restart's test accuracy, for the record (not used to choose)
        auto ds = open_dataset(m.eval_data);
        EvalOptions eo;
        eo.device = dev;
        eo.threads = m.threads;
        eo.progress = false;
        for (size_t i = 0; i < r.restart_models.size(); ++i)
          rs[i]["top1"] = evaluate(*r.restart_models[i], ds, model_transform(*r.restart_models[i]), eo).top1;
      }
      j["restarts"] = rs;
      j["best_restart"] = r.best_restart;
    }
    nlohmann::json stages = nlohmann::json::object(), kj = nlohmann::json::object();
    for (auto& [name, s] : r.stages) stages[name] = s;
    if (r.lsq.gram_s > 0) {
      // The least-squares stage's breakdown (seconds) and the rate of its Gram products.
      j["lsq"] = {{"forward_s", r.lsq.forward_s}, {"features_s", r.lsq.features_s}, {"gram_s", r.lsq.gram_s},
                  {"solve_s", r.lsq.solve_s},
                  {"gram_gflops", r.lsq.gram_flops / r.lsq.gram_s * 1e-9}, {"gram_tflop", r.lsq.gram_flops * 1e-12},
                  {"activation_bytes_per_chunk", r.lsq.peak_batch_bytes}, {"images_per_chunk", r.lsq.images_per_chunk}};
    }
    for (size_t g = 0; g < r.spec.groups.size(); ++g)
      if (!r.spec.groups[g].fixed && r.spec.groups[g].follows < 0 && g < r.k.size()) kj[r.spec.groups[g].name] = r.k[g];
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
