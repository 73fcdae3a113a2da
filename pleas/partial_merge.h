// Partial merging (Section 4.1, Figure 2): per permutation group g, the k_g matched pairs of
// highest similarity are merged and the other d_g − k_g units of each parent are kept, giving
// width 2·d_g − k_g. Along every channel axis (a layout of groups) the merged model orders its
// units as [A-only of every group | merged of every group | B-only of every group], so that the
// inputs each output row may read are contiguous:
//   A-only rows read [A-only | merged] inputs with A's weights,
//   B-only rows read [merged | B-only] inputs with B's weights,
//   merged rows read everything: ½·A's weights on A-only and merged inputs plus ½·B's weights on
//   merged and B-only inputs (the average of the two parents' units).
// Conv and linear layers execute exactly these three row blocks (models/layers.h RowBlock).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pleas/perm_spec.h"

namespace pleas {

struct GroupMerge {
  int64_t d = 0, k = 0;
  std::vector<std::pair<int64_t, int64_t>> pairs;  // merged (A unit, B unit), in A's unit order
  std::vector<int64_t> a_only, b_only;             // separate units (own coordinates)
};

struct MergePlan {
  std::vector<GroupMerge> groups;
};

// The k[g] pairs (i, perm[g][i]) of highest similarity[g][i] are merged (ties: lower i first).
// Fixed groups are always fully merged (identity). With `separate_classes` the classes group is
// kept fully separate: one head per parent (different label spaces).
MergePlan plan_merge(const PermSpec& spec, const std::vector<std::vector<int64_t>>& perms,
                     const std::vector<std::vector<double>>& similarity, const std::vector<int64_t>& k,
                     bool separate_classes);

// One position of a merged layout: kind 'A', 'M' or 'B'; a and b are the unit's channel indices
// along the parents' own axis of that layout (-1 where the parent has no such unit).
struct MergedPos {
  char kind = 'M';
  int group = 0;
  int64_t a = -1, b = -1;
};
std::vector<MergedPos> merged_layout(const PermSpec& spec, const MergePlan& plan, const Layout& l);

// Row blocks of a merged conv/linear layer (empty when every row reads every input).
std::vector<RowBlock> merged_blocks(const std::vector<MergedPos>& out, const std::vector<MergedPos>& in);

// The merged state dict per Figure 2 (BatchNorm parameters and statistics: A's, B's or their
// average per unit; channel maps re-targeted), and the block structure of every conv/linear layer
// as pleas_blocks metadata JSON.
TensorDict merge_state(const PermSpec& spec, const MergePlan& plan, const TensorDict& A,
                       const TensorDict& B, std::string* blocks_json);

// k per group for a uniform ratio r of units kept separate: k_g = round((1 − r)·d_g).
std::vector<int64_t> uniform_k(const PermSpec& spec, double r);
// Parameters the merged model executes (conv/linear weights by blocks, biases and BatchNorm
// weight/bias per unit), and multiply-adds given each conv layer's output positions (spatial size
// per layer path, 1 for linear).
double merged_params(const PermSpec& spec, const MergePlan& plan, const TensorDict& A);

}  // namespace pleas
