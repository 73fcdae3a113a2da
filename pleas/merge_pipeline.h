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
  std::string match = "weight";      // weight | activation
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
  double total_s = 0;
};

// A and B are modified (canonical channel order, same function).
MergeOutcome merge_models(Model& A, Model& B, std::shared_ptr<const data::Dataset> merge_data,
                          const data::Transform& tf, const MergeOptions& opt);

// The uniform ratio r whose merged parameter count is closest to `budget` × A's without
// exceeding it (bisection over r; counts are exact for the rounded k); 0 (fully merged) when even
// that exceeds the budget (two heads at budget 1.0). Budgets below 1 are an error.
double ratio_for_budget(const PermSpec& spec, const TensorDict& A, double budget, bool separate_heads,
                        double parent_params);

}  // namespace pleas
