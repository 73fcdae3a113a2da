#include "pleas/merge_pipeline.h"

#include <chrono>
#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <random>

#include "data/loader.h"
#include "models/vit.h"
#include "pleas/cca.h"
#include "pleas/feature_stats.h"
#include "pleas/matching.h"
#include "pleas/zipit.h"

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

namespace {

// Groups in forward order (first layer that writes them), for ZipIt!'s partial zipping.
// bn = merged_units: after the recompute, the running statistics of every unit of kind 'A' or 'B'
// (separate) go back to the ones merge_state gave it (its parent's own).
void restore_separate_bn_stats(const PermSpec& spec, const MergePlan& plan, const TensorDict& merged_state, Model& m) {
  std::map<std::string, const LayerSpec*> bn_layers;
  for (const LayerSpec& l : spec.layers)
    if (l.kind == LayerKind::bn) bn_layers[l.path] = &l;
  for (BatchNorm2d* bn : m.batch_norms()) {
    auto it = bn_layers.find(bn->path);
    PLEAS_CHECK(it != bn_layers.end(), "merge: BatchNorm ", bn->path, " is not in the permutation spec");
    const std::vector<MergedPos> pos = merged_layout(spec, plan, it->second->out, it->second->out_split);
    for (const char* stat : {".running_mean", ".running_var"}) {
      Tensor& cur = std::string(stat) == ".running_mean" ? bn->running_mean : bn->running_var;
      std::vector<float> now = cur.to(Device::cpu()).contiguous().to_vector<float>();
      const std::vector<float> kept = merged_state.at(bn->path + stat).to(Device::cpu()).contiguous().to_vector<float>();
      PLEAS_CHECK(now.size() == pos.size() && kept.size() == pos.size(), "merge: BatchNorm ", bn->path, " has ", now.size(),
                  " units, its merged layout ", pos.size());
      for (size_t u = 0; u < pos.size(); ++u)
        if (pos[u].kind != 'M') now[u] = kept[u];
      cur = Tensor::from_vector(now, cur.shape()).to(cur.device());
    }
  }
}

std::vector<int> forward_order(const PermSpec& spec) {
  std::vector<int> order;
  std::vector<bool> seen(spec.groups.size(), false);
  for (const LayerSpec& l : spec.layers)
    for (const Layout* lay : {&l.in, &l.out})
      for (int g : *lay)
        if (!seen[size_t(g)]) {
          seen[size_t(g)] = true;
          order.push_back(g);
        }
  for (size_t g = 0; g < spec.groups.size(); ++g)
    if (!seen[g]) order.push_back(int(g));
  return order;
}

// k for partial zipping: the first j budget groups (forward order) fully merged, the others k = 0.
std::vector<int64_t> prefix_k(const PermSpec& spec, int64_t j) {
  std::vector<int64_t> k(spec.groups.size(), 0);
  int64_t taken = 0;
  for (int g : forward_order(spec)) {
    const PermGroup& pg = spec.groups[size_t(g)];
    if (pg.fixed) k[size_t(g)] = pg.size;
    else if (pg.follows < 0 && taken < j) {
      k[size_t(g)] = pg.size;
      ++taken;
    }
  }
  for (size_t g = 0; g < spec.groups.size(); ++g)
    if (spec.groups[g].follows >= 0) k[g] = k[size_t(spec.groups[g].follows)];
  return k;
}

int64_t budget_group_count(const PermSpec& spec) {
  int64_t n = 0;
  for (const PermGroup& g : spec.groups) n += !g.fixed && g.follows < 0;
  return n;
}

// Git Re-Basin's MergeMany: each model in turn (order reshuffled every round) weight-matched onto
// the mean of the others in the common coordinates, until a round changes no permutation.
std::vector<std::vector<std::vector<int64_t>>> merge_many(const PermSpec& spec, const std::vector<TensorDict>& states,
                                                          uint64_t seed, Device dev, bool progress) {
  const size_t N = states.size();
  std::vector<std::vector<std::vector<int64_t>>> perms(N, identity_perms(spec));
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 30; ++round) {
    bool changed = false;
    std::vector<size_t> order(N);
    for (size_t i = 0; i < N; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) {
      TensorDict mean;
      for (size_t j = 0; j < N; ++j) {
        if (j == i) continue;
        const TensorDict pj = permute_state(spec, states[j], perms[j]);
        for (auto& [name, t] : pj) {
          if (t.dtype() != DType::f32) continue;
          Tensor v = mul(t, Tensor::full({1}, 1.0 / double(N - 1)));
          auto it = mean.find(name);
          if (it == mean.end()) mean[name] = v;
          else it->second = add(it->second, v);
        }
      }
      Matching m = weight_matching(spec, mean, states[i], seed + uint64_t(round) * N + i, 100, dev);
      if (m.perms != perms[i]) {
        changed = true;
        perms[i] = std::move(m.perms);
      }
    }
    if (progress) std::fprintf(stderr, "  MergeMany: round %d%s\n", round + 1, changed ? "" : " (converged)");
    if (!changed) break;
  }
  return perms;
}

// Every group merged through maps for N parents; fixed groups as identities.
MergePlan many_plan(const PermSpec& spec, int N, const std::function<GroupMaps(int)>& maps_of) {
  MergePlan plan;
  plan.parents = N;
  for (size_t g = 0; g < spec.groups.size(); ++g) {
    if (spec.groups[g].fixed) {
      std::vector<int64_t> id(size_t(spec.groups[g].size));
      for (size_t i = 0; i < id.size(); ++i) id[i] = int64_t(i);
      plan.groups.push_back(maps_merge(permutation_maps(std::vector<std::vector<int64_t>>(size_t(N), id))));
    } else {
      plan.groups.push_back(maps_merge(maps_of(int(g))));
    }
  }
  return plan;
}

MergeOutcome merge_once(const std::vector<Model*>& parents, std::shared_ptr<const data::Dataset> merge_data,
                        const data::Transform& tf, const MergeOptions& opt, uint64_t match_seed) {
  const auto t_start = Clock::now();
  MergeOutcome out;
  const std::string& method = opt.method;
  const int N = int(parents.size());
  Model& A = *parents[0];
  PLEAS_CHECK(method == "pleas" || method == "permute" || method == "average" || method == "regmean" ||
                  method == "ensemble",
              "merge: unknown method '", method, "' (pleas, permute, average, regmean, ensemble)");
  PLEAS_CHECK(opt.match == "weight" || opt.match == "activation" || opt.match == "zipit" || opt.match == "cca",
              "merge: unknown alignment '", opt.match, "' (weight, activation, zipit, cca)");
  PLEAS_CHECK(opt.partial == "units" || opt.partial == "prefix", "merge: unknown partial merging '", opt.partial,
              "' (units, prefix)");
  for (Model* m : parents) canonicalize(*m);
  out.spec = perm_spec(A);
  const PermSpec& spec = out.spec;
  for (int x = 1; x < N; ++x) check_compatible(spec, perm_spec(*parents[size_t(x)]));
  bool differ = false;
  for (Model* m : parents) differ |= !m->classes.empty() && !A.classes.empty() && m->classes != A.classes;
  out.separate_heads = differ;
  PLEAS_CHECK(!differ || N == 2, "merge: models with different label spaces can be merged two at a time only (",
              N, " given)");
  out.outputs_a = spec.groups[size_t(spec.classes_group)].size;
  const bool maps_align = opt.match == "zipit" || opt.match == "cca";
  if (maps_align)
    for (const PermGroup& g : spec.groups)
      PLEAS_CHECK(g.head_dim == 0, "merge: --match ", opt.match, " does not handle attention heads (group ", g.name,
                  "); use weight or activation matching for ViTs");
  PLEAS_CHECK(N == 2 || method != "regmean", "merge: regmean merges two models");

  data::LoaderOptions lo;
  lo.batch_size = opt.batch;
  lo.num_threads = opt.threads;
  lo.device = opt.device;
  lo.shuffle = true;  // class-major folders: mixed batches for BatchNorm statistics
  lo.seed = opt.seed;
  data::DataLoader loader(merge_data, tf, lo);
  std::vector<TensorDict> states;
  for (Model* m : parents) states.push_back(m->state_dict());

  // 1. Alignment: permutations (two models or N to a common reference) or feature statistics.
  auto t = Clock::now();
  Matching match;
  std::vector<std::vector<std::vector<int64_t>>> many;  // N > 2 permutations, per model
  std::vector<GroupStats> stats;
  const bool matched = method != "average" && method != "ensemble";
  if (!matched) {
    match.perms = identity_perms(spec);
    match.similarity = flat_similarity(spec);
  } else if (maps_align) {
    stats = feature_stats(spec, parents, loader, parse_site_rule(opt.act_rule), opt.progress);
  } else if (N == 2 && opt.match == "weight") {
    match = weight_matching(spec, states[0], states[1], match_seed, 100, opt.device);
  } else if (N == 2) {
    match = activation_matching(spec, A, *parents[1], loader, opt.progress, parse_site_rule(opt.act_rule));
  } else if (opt.match == "weight") {
    many = merge_many(spec, states, match_seed, opt.device, opt.progress);
  } else {
    many.push_back(identity_perms(spec));
    for (int x = 1; x < N; ++x)
      many.push_back(activation_matching(spec, A, *parents[size_t(x)], loader, opt.progress,
                                         parse_site_rule(opt.act_rule)).perms);
  }
  out.stages.emplace_back("match", since(t));

  // 2. k per group, then the plan (merge/unmerge maps where the alignment is not a two-model permutation).
  t = Clock::now();
  const double parent = double(A.num_params());
  if (!opt.k.empty()) {
    out.k = opt.k;
    out.ratio = -1;
  } else if (opt.partial == "prefix" && method != "ensemble" && method != "average") {
    const int64_t G = budget_group_count(spec);
    int64_t j = opt.merge_groups;
    if (j < 0) {
      PLEAS_CHECK(opt.budget > 0, "merge: --partial prefix needs --merge-groups or --budget");
      // The fewest merged groups whose model fits the budget (more separate units = closer to the ensemble).
      auto ids = identity_perms(spec);
      auto sim = flat_similarity(spec);
      for (j = 0; j < G; ++j)
        if (merged_params(spec, plan_merge(spec, ids, sim, prefix_k(spec, j), out.separate_heads), states[0]) <=
            opt.budget * parent)
          break;
    }
    PLEAS_CHECK(j >= 0 && j <= G, "merge: --merge-groups ", j, " is outside [0, ", G, "]");
    out.merged_groups = j;
    out.k = prefix_k(spec, j);
    out.ratio = -1;
  } else {
    double r = method == "ensemble" ? 1.0 : 0.0;
    if (method != "ensemble" && method != "average") {
      if (opt.budget > 0) r = ratio_for_budget(spec, states[0], opt.budget, out.separate_heads, parent);
      else if (opt.ratio >= 0) r = opt.ratio;
    }
    out.ratio = r;
    out.k = uniform_k(spec, r);
  }
  MergePlan plan;
  if (N == 2 && !maps_align) {
    plan = plan_merge(spec, match.perms, match.similarity, out.k, out.separate_heads);
  } else if (N == 2) {
    // ZipIt! with k_g greedy merges (k_g = d_g: the full zip); CCA per group all or nothing.
    plan = plan_merge(spec, identity_perms(spec), flat_similarity(spec), out.k, out.separate_heads);
    for (size_t g = 0; g < spec.groups.size(); ++g) {
      const PermGroup& pg = spec.groups[g];
      if (pg.fixed || out.k[g] == 0) continue;
      if (opt.match == "zipit") {
        ZipItOptions zo;
        zo.alpha = opt.zipit_alpha;
        zo.beta = opt.zipit_beta;
        plan.groups[g] = maps_merge(zipit_maps(stats[g].cov, pg.size, 2, out.k[g], zo));
      } else {
        PLEAS_CHECK(out.k[g] == pg.size, "merge: CCA merges a group fully or not at all (group ", pg.name, ": k = ",
                    out.k[g], " of ", pg.size, "); use --partial prefix for budgets above 1");
        plan.groups[g] = maps_merge(opt.cca_gamma >= 0 ? cca_maps(stats[g].cov, pg.size, 2, opt.cca_gamma)
                                                       : cca_maps(stats[g].cov, pg.size, 2));
      }
    }
  } else {
    for (size_t g = 0; g < spec.groups.size(); ++g)
      PLEAS_CHECK(spec.groups[g].fixed || out.k[g] == spec.groups[g].size || !matched, "merge: ", N,
                  " models are merged fully (budget 1.0); partial merging needs two models");
    PLEAS_CHECK(method != "ensemble", "merge: the ensemble of ", N, " models is evaluated directly (pleas eval --ensemble-with)");
    plan = many_plan(spec, N, [&](int g) -> GroupMaps {
      const int64_t d = spec.groups[size_t(g)].size;
      if (opt.match == "zipit") {
        ZipItOptions zo;
        zo.alpha = opt.zipit_alpha;
        zo.beta = opt.zipit_beta;
        return zipit_maps(stats[size_t(g)].cov, d, N, int64_t(N - 1) * d, zo);
      }
      if (opt.match == "cca")
        return opt.cca_gamma >= 0 ? cca_maps(stats[size_t(g)].cov, d, N, opt.cca_gamma) : cca_maps(stats[size_t(g)].cov, d, N);
      std::vector<std::vector<int64_t>> pg;
      for (int x = 0; x < N; ++x) pg.push_back(matched ? many[size_t(x)][size_t(g)] : identity_perms(spec)[size_t(g)]);
      return permutation_maps(pg);
    });
    out.k.clear();
    for (const GroupMerge& gm : plan.groups) out.k.push_back(gm.k);
  }
  std::vector<const TensorDict*> sp;
  for (const TensorDict& s : states) sp.push_back(&s);
  std::string blocks, views;
  TensorDict merged_state = merge_state(spec, plan, sp, &blocks, &views);
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
  if (out.separate_heads) classes.insert(classes.end(), parents[1]->classes.begin(), parents[1]->classes.end());
  if (!classes.empty()) meta["classes"] = join_csv(classes);
  meta["pleas_method"] = method;
  meta["pleas_match"] = opt.match;
  out.model = build_model(merged_state, meta, opt.device, "merged model");
  out.stages.emplace_back("merge", since(t));

  // 3. Least squares (Eq. 1; with maps: the ensemble target in the aligned coordinates).
  if (method == "pleas" || method == "regmean") {
    t = Clock::now();
    LsqOptions lsq = opt.lsq;
    if (method == "regmean") lsq.objective = LsqObjective::regmean;
    lsq.progress = opt.progress;
    lsq.seed = opt.seed;
    const LsqStats ls = least_squares_refit(spec, plan, parents, *out.model, loader, lsq);
    out.stages.emplace_back("least_squares", since(t));
    out.lsq = ls;
  }
  // 4. BatchNorm statistics of the merged model (ZipIt!'s and CCA Merge's BN reset too).
  PLEAS_CHECK(opt.bn == "recompute" || opt.bn == "keep" || opt.bn == "merged_units", "merge: BatchNorm mode '", opt.bn,
              "' is not recompute, keep or merged_units");
  if ((method == "pleas" || method == "regmean" || method == "permute") && opt.bn != "keep" &&
      !out.model->batch_norms().empty()) {
    t = Clock::now();
    if (opt.bn_data) {
      data::DataLoader bn_loader(opt.bn_data, opt.bn_transform ? *opt.bn_transform : tf, lo);
      recompute_batch_norm(*out.model, bn_loader, opt.progress);
    } else {
      recompute_batch_norm(*out.model, loader, opt.progress);
    }
    if (opt.bn == "merged_units") restore_separate_bn_stats(spec, plan, merged_state, *out.model);
    out.stages.emplace_back("bn_recompute", since(t));
  }
  const int s = A.metadata.count("image_size") ? std::stoi(A.metadata.at("image_size")) : A.image_size();
  out.params_rel = double(out.model->num_params()) / parent;
  out.flops_rel = out.model->macs(s, s) / A.macs(s, s);
  out.total_s = since(t_start);
  out.objective_ = match.objective;
  return out;
}

}  // namespace

double ensemble_gap(Model& merged, const std::vector<Model*>& parents, std::shared_ptr<const data::Dataset> data,
                    const data::Transform& tf, const MergeOptions& opt) {
  data::LoaderOptions lo;
  lo.batch_size = opt.batch;
  lo.num_threads = opt.threads;
  lo.device = opt.device;
  data::DataLoader loader(data, tf, lo);
  loader.start_epoch(0);
  data::Batch b;
  double sum = 0;
  int64_t n = 0;
  while (loader.next(b)) {
    const std::vector<double> got = merged.forward(b.images).to_double_vector();
    std::vector<std::vector<double>> each;
    int64_t outs = 0;
    for (Model* p : parents) {
      each.push_back(p->forward(b.images).to_double_vector());
      outs += int64_t(each.back().size());
    }
    const int64_t B = b.images.size(0);
    // Separate heads (different label spaces): the target is the parents' logits side by side.
    const bool concat = int64_t(got.size()) == outs && parents.size() > 1;
    std::vector<double> ref(got.size(), 0.0);
    if (concat) {
      int64_t off = 0;
      for (auto& e : each) {
        const int64_t c = int64_t(e.size()) / B, C = int64_t(got.size()) / B;
        for (int64_t i = 0; i < B; ++i)
          for (int64_t j = 0; j < c; ++j) ref[size_t(i * C + off + j)] = e[size_t(i * c + j)];
        off += c;
      }
    } else {
      for (auto& e : each) {
        PLEAS_CHECK(e.size() == got.size(), "ensemble_gap: the merged model has ", got.size() / size_t(B),
                    " outputs, a parent ", e.size() / size_t(B));
        for (size_t i = 0; i < e.size(); ++i) ref[i] += e[i] / double(parents.size());
      }
    }
    for (size_t i = 0; i < got.size(); ++i) sum += (got[i] - ref[i]) * (got[i] - ref[i]);
    n += int64_t(got.size());
  }
  PLEAS_CHECK(n > 0, "ensemble_gap: no score images");
  return sum / double(n);
}

MergeOutcome merge_models(Model& A, Model& B, std::shared_ptr<const data::Dataset> merge_data,
                          const data::Transform& tf, const MergeOptions& opt) {
  return merge_models(std::vector<Model*>{&A, &B}, merge_data, tf, opt);
}

MergeOutcome merge_models(const std::vector<Model*>& parents, std::shared_ptr<const data::Dataset> merge_data,
                          const data::Transform& tf, const MergeOptions& opt) {
  PLEAS_CHECK(parents.size() >= 2, "merge: need at least two models, got ", parents.size());
  PLEAS_CHECK(opt.restarts >= 1, "merge: --restarts must be at least 1");
  const uint64_t seed0 = opt.match_seed >= 0 ? uint64_t(opt.match_seed) : opt.seed;
  if (opt.restarts == 1) return merge_once(parents, merge_data, tf, opt, seed0);
  PLEAS_CHECK(opt.match == "weight", "merge: --restarts re-runs weight matching with other seeds (--match weight)");
  PLEAS_CHECK(opt.score_data && opt.score_data->size() > 0, "merge: --restarts needs held-out score images");
  MergeOutcome best;
  std::vector<MergeOutcome::Restart> runs;
  std::vector<std::unique_ptr<Model>> kept;
  int best_i = -1;
  double total = 0;
  for (int r = 0; r < opt.restarts; ++r) {
    MergeOutcome o = merge_once(parents, merge_data, tf, opt, seed0 + uint64_t(r));
    const double score = ensemble_gap(*o.model, parents, opt.score_data, tf, opt);
    runs.push_back({seed0 + uint64_t(r), o.objective_, score});
    total += o.total_s;
    if (opt.progress)
      std::fprintf(stderr, "  restart %d/%d (seed %llu): matching objective %.6g, ensemble gap %.6g\n", r + 1,
                   opt.restarts, (unsigned long long)(seed0 + uint64_t(r)), o.objective_, score);
    if (opt.keep_restart_models)  // a copy: the best one's model moves into the outcome
      kept.push_back(build_model(o.model->state_dict(), o.model->metadata, opt.device, "restart"));
    if (best_i < 0 || score < runs[size_t(best_i)].score) {
      best_i = r;
      best = std::move(o);
    }
  }
  if (opt.keep_restart_models) best.restart_models = std::move(kept);
  best.restarts = runs;
  best.best_restart = best_i;
  best.total_s = total;
  return best;
}

}  // namespace pleas
