// The whole merge: canonical forms, matching, choice of k, partial merge, least squares,
// BatchNorm recomputation — for PLeaS and for the baselines it is compared with, in one code path.
//   pleas     matching, partial merge with k per group, least squares (Eq. 1), BN recompute
//   permute   matching, partial merge (default: full), weights averaged, BN recompute (Git Re-Basin)
//   average   no matching, full merge, weights (and BN statistics) averaged
//   regmean   matching, full merge, RegMean's normal equations, BN recompute
//   ensemble  no merging: both networks side by side, logits averaged (k = 0)
// Different label spaces (the parents name different classes): one head per parent, fitted by
// least squares to that parent's logits; the merged model's classes are A's followed by B's.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "pleas/least_squares.h"

namespace pleas {

struct MergeOptions {
  std::string method = "pleas";
  // The alignment: weight | activation (one-to-one permutations), zipit (ZipIt!'s greedy within-
  // and across-model feature merging), cca (CCA Merge's linear maps). Every alignment is turned
  // into per-group merge/unmerge maps (pleas/alignment.h); partial merging, least squares, BN
  // recompute and the budget then work the same way for all of them.
  std::string match = "weight";
  // Activation matching: per_site (mean of each tap point's correlation; the default: +4.1 and +2.0 pp
  // for Permute on two zoo ResNet-20 pairs, experiments/results/2026-12-04) or pooled moments.
  std::string act_rule = "per_site";
  double zipit_alpha = 0.3, zipit_beta = 0.125;  // ZipIt!'s published defaults
  double cca_gamma = -1;             // CCA regularisation (< 0: the published default)
  // How a model larger than fully merged is made: units = k units per group (PLeaS, Figure 2);
  // prefix = ZipIt!'s partial zipping: the first groups (forward order) fully merged, the rest
  // kept as separate branches (k = 0) up to and including the heads.
  std::string partial = "units";
  int64_t merge_groups = -1;         // partial = prefix: how many groups are merged (< 0: from the budget)
  // Weight matching restarts: N seeded matchings (seeds seed..seed+N−1), each merged and scored on
  // `score_data` (held-out merge images, no labels) by the mean squared difference between the
  // merged model's and the ensemble's logits; the best is kept.
  int restarts = 1;
  int64_t match_seed = -1;           // seed of weight matching's visiting order (< 0: `seed`)
  bool keep_restart_models = false;  // return every restart's merged model (to evaluate them all)
  std::shared_ptr<const data::Dataset> score_data;
  // BatchNorm statistics of the merged model from this data instead of the merge data (PLeaS-free
  // variants that match and fit on public data but reset BatchNorm on domain data); null = merge data.
  std::shared_ptr<const data::Dataset> bn_data;
  std::shared_ptr<const data::Transform> bn_transform;  // its transform (null: the merge transform)
  // BatchNorm statistics of the merged model (pleas, regmean, permute):
  //   recompute     all recomputed on the merge data (or bn_data): the paper's protocol
  //   keep          none recomputed: the statistics merged through the maps like the weights (each
  //                 separate unit its parent's own, a merged unit the mean)
  //   merged_units  only merged units ('M') recomputed; separate units keep their parent's own.
  //                 A separate unit's pre-BN output is fitted to (PLeaS) or is (Permute) its parent's,
  //                 so its parent's statistics are the ensemble's normalisation; statistics recomputed
  //                 on mixed-domain merge data are neither parent's. With k = 0, keep and merged_units
  //                 give the ensemble exactly, also for parents trained on different domains.
  std::string bn = "recompute";
  double ratio = -1;                 // fraction of each group's units kept separate
  double budget = -1;                // parameter footprint × one parent (uniform ratio)
  std::vector<int64_t> k;            // explicit k per group (overrides ratio/budget)
  LsqOptions lsq;
  uint64_t seed = 0;
  int64_t batch = 100;
  int threads = 2;
  Device device = Device::cpu();
  bool progress = true;
};

struct MergeOutcome {
  std::unique_ptr<Model> model;
  PermSpec spec;
  std::vector<int64_t> k;
  double ratio = 0;                  // the uniform ratio used (when one was)
  double params_rel = 0, flops_rel = 0;
  bool separate_heads = false;
  int64_t outputs_a = 0;             // logits [0, outputs_a) are A's head
  std::vector<std::pair<std::string, double>> stages;  // seconds per stage, in order
  LsqStats lsq;  // the least-squares stage's breakdown (zero when the method has none)
  double total_s = 0;
  int64_t merged_groups = -1;        // partial = prefix: groups merged
  struct Restart { uint64_t seed; double objective, score; };
  std::vector<Restart> restarts;     // restarts > 1: every matching, its score; the kept one is best_restart
  int best_restart = -1;
  std::vector<std::unique_ptr<Model>> restart_models;  // keep_restart_models: per restart (the best one moved to `model`)
  double objective_ = 0;             // the matching's objective (weight matching: Σ⟨A, PB⟩)
};

// A and B are modified (canonical channel order, same function).
MergeOutcome merge_models(Model& A, Model& B, std::shared_ptr<const data::Dataset> merge_data,
                          const data::Transform& tf, const MergeOptions& opt);
// N ≥ 2 models. N > 2: every model aligned to a common reference (weight matching: Git Re-Basin's
// MergeMany, each model matched to the mean of the others until no permutation changes; activation
// matching: each model to the first; ZipIt! and CCA: their many-model variants), fully merged,
// least squares to the N-model ensemble. Partial merging (budgets > 1) and separate heads need
// N = 2: the [A | M | B] layout has no N-model analogue here.
MergeOutcome merge_models(const std::vector<Model*>& parents, std::shared_ptr<const data::Dataset> merge_data,
                          const data::Transform& tf, const MergeOptions& opt);

// Label-free score of a merged model: mean over `data` of ‖merged logits − mean of the parents'
// logits‖² / classes (lower is better).
double ensemble_gap(Model& merged, const std::vector<Model*>& parents, std::shared_ptr<const data::Dataset> data,
                    const data::Transform& tf, const MergeOptions& opt);

// The uniform ratio r whose merged parameter count is closest to `budget` × A's without
// exceeding it (bisection over r; counts are exact for the rounded k); 0 (fully merged) when even
// that exceeds the budget (two heads at budget 1.0). Budgets below 1 are an error.
double ratio_for_budget(const PermSpec& spec, const TensorDict& A, double budget, bool separate_heads,
                        double parent_params);

}  // namespace pleas
