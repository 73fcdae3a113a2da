#include "pleas/merge_pipeline.h"

#include <chrono>
#include <cstdio>

#include "data/loader.h"
#include "models/vit.h"
#include "pleas/matching.h"

namespace pleas {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<std::vector<double>> flat_similarity(const PermSpec& s) {
  std::vector<std::vector<double>> v;
  for (auto& g : s.groups) v.emplace_back(size_t(g.size), 0.0);
  return v;
}

void check_compatible(const PermSpec& a, const PermSpec& b) {
  // Architecture names are derived from the structure (depth, family), so different names mean
  // models that cannot be merged unit for unit.
  PLEAS_CHECK(a.arch == b.arch,
              "merge: cannot merge a ", a.arch, " (model A) with a ", b.arch, " (model B): the architectures differ");
  PLEAS_CHECK(a.groups.size() == b.groups.size(), "merge: the models have different structures (",
              a.arch, " with ", a.groups.size(), " permutation groups vs ", b.arch, " with ", b.groups.size(), ")");
  for (size_t g = 0; g < a.groups.size(); ++g) {
    if (int(g) == a.classes_group) continue;
    PLEAS_CHECK(a.groups[g].name == b.groups[g].name && a.groups[g].size == b.groups[g].size &&
                    a.groups[g].head_dim == b.groups[g].head_dim,
                "merge: group ", a.groups[g].name, " has ", a.groups[g].size, " units",
                a.groups[g].head_dim ? " (heads of " + std::to_string(a.groups[g].head_dim) + ")" : std::string(),
                " in A but ", b.groups[g].name, " has ", b.groups[g].size, b.groups[g].head_dim ?
                " (heads of " + std::to_string(b.groups[g].head_dim) + ")" : std::string(), " in B");
  }
  PLEAS_CHECK(a.groups[size_t(a.classes_group)].size == b.groups[size_t(b.classes_group)].size,
              "merge: the heads have ", a.groups[size_t(a.classes_group)].size, " and ",
              b.groups[size_t(b.classes_group)].size, " outputs");
}
}  // namespace

double ratio_for_budget(const PermSpec& spec, const TensorDict& A, double budget, bool separate_heads,
                        double parent_params) {
  auto ids = identity_perms(spec);
  auto sim = flat_similarity(spec);
  auto rel = [&](double r) {
    return merged_params(spec, plan_merge(spec, ids, sim, uniform_k(spec, r), separate_heads), A) / parent_params;
  };
  PLEAS_CHECK(budget >= 1.0, "merge: budget ", budget, " is below one parent's size (1.0)");
  // Two heads make even the fully merged model slightly larger than one parent: budget 1.0 then
  // means the fully merged model.
  if (budget <= rel(0.0)) return 0.0;
  if (rel(1.0) <= budget) return 1.0;
  double lo = 0, hi = 1;
  for (int it = 0; it < 40; ++it) {
    double mid = 0.5 * (lo + hi);
    (rel(mid) <= budget ? lo : hi) = mid;
  }
  return lo;
}

MergeOutcome merge_models(Model& A, Model& B, std::shared_ptr<const data::Dataset> merge_data,
                          const data::Transform& tf, const MergeOptions& opt) {
  const auto t_start = Clock::now();
  MergeOutcome out;
  const std::string& method = opt.method;
  PLEAS_CHECK(method == "pleas" || method == "permute" || method == "average" || method == "regmean" ||
                  method == "ensemble",
              "merge: unknown method '", method, "' (pleas, permute, average, regmean, ensemble)");
  PLEAS_CHECK(opt.match == "weight" || opt.match == "activation", "merge: unknown matching '", opt.match,
              "' (weight, activation)");
  canonicalize(A);
  canonicalize(B);
  out.spec = perm_spec(A);
  const PermSpec& spec = out.spec;
  check_compatible(spec, perm_spec(B));
  out.separate_heads = !A.classes.empty() && !B.classes.empty() && A.classes != B.classes;
  out.outputs_a = spec.groups[size_t(spec.classes_group)].size;

  data::LoaderOptions lo;
  lo.batch_size = opt.batch;
  lo.num_threads = opt.threads;
  lo.device = opt.device;
  lo.shuffle = true;  // class-major folders: mixed batches for BatchNorm statistics
  lo.seed = opt.seed;
  data::DataLoader loader(merge_data, tf, lo);

  // 1. Matching.
  auto t = Clock::now();
  Matching match;
  const bool matched = method != "average" && method != "ensemble";
  if (matched && opt.match == "weight") {
    match = weight_matching(spec, A.state_dict(), B.state_dict(), opt.seed, 100, opt.device);
  } else if (matched) {
    match = activation_matching(spec, A, B, loader, opt.progress);
  } else {
    match.perms = identity_perms(spec);
    match.similarity = flat_similarity(spec);
  }
  out.stages.emplace_back("match", since(t));

  // 2. k per group.
  t = Clock::now();
  const TensorDict sa = A.state_dict(), sb = B.state_dict();
  const double parent = double(A.num_params());
  if (!opt.k.empty()) {
    out.k = opt.k;
    out.ratio = -1;
  } else {
    double r = method == "ensemble" ? 1.0 : 0.0;
    if (method != "ensemble" && method != "average") {
      if (opt.budget > 0) r = ratio_for_budget(spec, sa, opt.budget, out.separate_heads, parent);
      else if (opt.ratio >= 0) r = opt.ratio;
    }
    out.ratio = r;
    out.k = uniform_k(spec, r);
  }
  MergePlan plan = plan_merge(spec, match.perms, match.similarity, out.k, out.separate_heads);
  std::string blocks, views;
  TensorDict merged_state = merge_state(spec, plan, sa, sb, &blocks, &views);
  Metadata meta;
  meta["arch"] = A.metadata.count("arch") ? A.metadata.at("arch") : A.arch();
  for (const char* key : {"input_mean", "input_std", "input_resize", "input_crop", "image_size", "act", "ln_eps",
                          "final_norm"})
    if (A.metadata.count(key)) meta[key] = A.metadata.at(key);
  if (auto* v = dynamic_cast<VisionTransformer*>(&A)) {
    // A merged block runs 2H − h heads: the head width, not the count, is what all blocks share.
    meta["head_dim"] = std::to_string(v->head_dim);
  }
  if (!blocks.empty()) meta["pleas_blocks"] = blocks;
  if (!views.empty()) meta["pleas_norm_views"] = views;
  std::vector<std::string> classes = A.classes;
  if (out.separate_heads) classes.insert(classes.end(), B.classes.begin(), B.classes.end());
  if (!classes.empty()) meta["classes"] = join_csv(classes);
  meta["pleas_method"] = method;
  out.model = build_model(merged_state, meta, opt.device, "merged model");
  out.stages.emplace_back("merge", since(t));

  // 3. Least squares.
  if (method == "pleas" || method == "regmean") {
    t = Clock::now();
    LsqOptions lsq = opt.lsq;
    if (method == "regmean") lsq.objective = LsqObjective::regmean;
    lsq.progress = opt.progress;
    lsq.seed = opt.seed;
    least_squares_refit(spec, plan, A, B, *out.model, loader, lsq);
    out.stages.emplace_back("least_squares", since(t));
  }
  // 4. BatchNorm statistics of the merged model.
  if ((method == "pleas" || method == "regmean" || method == "permute") && !out.model->batch_norms().empty()) {
    t = Clock::now();
    recompute_batch_norm(*out.model, loader, opt.progress);
    out.stages.emplace_back("bn_recompute", since(t));
  }
  const int s = A.metadata.count("image_size") ? std::stoi(A.metadata.at("image_size")) : A.image_size();
  out.params_rel = double(out.model->num_params()) / parent;
  out.flops_rel = out.model->macs(s, s) / A.macs(s, s);
  out.total_s = since(t_start);
  return out;
}

}  // namespace pleas
