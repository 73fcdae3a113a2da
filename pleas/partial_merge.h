// Partial merging (Section 4.1, Figure 2): per permutation group g, the k_g matched pairs of
// highest similarity are merged and the other d_g − k_g units of each parent are kept, giving
// width 2·d_g − k_g. Along every channel axis (a layout of groups) the merged model orders its
// units as [A-only of every group | merged of every group | B-only of every group], so that the
// inputs each output row may read are contiguous:
//   A-only rows read [A-only | merged] inputs with A's weights,
//   B-only rows read [merged | B-only] inputs with B's weights,
//   merged rows read everything: ½·A's weights on A-only and merged inputs plus ½·B's weights on
//   merged and B-only inputs (the average of the two parents' units).
// Conv and linear layers execute exactly these row blocks (models/layers.h RowBlock). An output
// axis of several segments (a fused qkv: [q | k | v]) is laid out [A | M | B] per segment, and its
// rows form one block per run of equal kind.
//
// ViTs. Attention heads are merged or kept whole: h merged head pairs and 2(H − h) separate heads
// (k = h·head_dim units of the qk and v groups), so a merged block runs 2H − h heads of the
// parents' width. A LayerNorm over a partly merged stream [A-only | merged | B-only] normalises
// each parent's view of it — A's view = A-only ∪ merged, B's = merged ∪ B-only — with that
// view's own statistics, averages the two standardised values on merged units, then applies one
// affine per unit (A's on A-only units, B's on B-only, the mean on merged ones; models/layers.h
// NormView). Why this and not folding the affine into the next layer and running RMSNorm on a
// mean-free stream: with per-view statistics k = 0 is the ensemble exactly (the views are the
// two parents' own streams) and a self-merge at k = d is the model exactly (both views are the
// whole stream, with equal statistics and affines), for any weights; one RMS over the whole merged
// stream mixes the two parents' scales, so at k = 0 each parent's features would be normalised by
// the other's energy too and the ensemble is not reproduced (measured: tests/vit_merge.cpp
// FullStreamNormIsNotTheEnsemble).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pleas/alignment.h"
#include "pleas/perm_spec.h"

namespace pleas {

// A group's merge: a permutation merge (pairs, a_only, b_only; merged units ordered
// [a_only | pairs | b_only]) or, when `maps` is set, any alignment's merge/unmerge maps
// (pleas/alignment.h: ZipIt!, CCA, N parents). k = the units saved: width = parents·d − k.
struct GroupMerge {
  int64_t d = 0, k = 0;
  std::vector<std::pair<int64_t, int64_t>> pairs;  // merged (A unit, B unit), in A's unit order
  std::vector<int64_t> a_only, b_only;             // separate units (own coordinates)
  GroupMaps maps;                                  // explicit maps (empty: the permutation merge above)
  int64_t width() const { return maps.empty() ? int64_t(a_only.size() + pairs.size() + b_only.size()) : maps.width(); }
};

struct MergePlan {
  std::vector<GroupMerge> groups;
  int parents = 2;
  // Merge every layer through the maps (dense products), also where the plan is a permutation
  // merge that has a faster exact path (gathers): for tests of the shared representation.
  bool force_maps = false;
  bool permutation_only() const {
    for (const GroupMerge& g : groups)
      if (!g.maps.empty()) return false;
    return parents == 2;
  }
};

// The maps of a permutation merge written out (M: 1 on separate units, ½ on merged pairs; U: 0/1),
// or the group's own maps.
GroupMaps explicit_maps(const GroupMerge& g);
// A group with explicit maps from an alignment (k = parents·d − width).
GroupMerge maps_merge(GroupMaps maps);

// The k[g] pairs (i, perm[g][i]) of highest similarity[g][i] are merged (ties: lower i first).
// Fixed groups are always fully merged (identity). With `separate_classes` the classes group is
// kept fully separate: one head per parent (different label spaces).
MergePlan plan_merge(const PermSpec& spec, const std::vector<std::vector<int64_t>>& perms,
                     const std::vector<std::vector<double>>& similarity, const std::vector<int64_t>& k,
                     bool separate_classes);

// One position of a merged layout: kind 'A', 'M' or 'B'; a and b are the unit's channel indices
// along the parents' own axis of that layout (-1 where the parent has no such unit, and for
// groups merged by explicit maps); u = the merged unit of the group (index into its maps),
// off = where the group's units start along the parents' axis of that layout.
struct MergedPos {
  char kind = 'M';
  int group = 0;
  int64_t a = -1, b = -1;
  int64_t u = 0, off = 0;
};
// `split`: segment starts (LayerSpec::out_split); each segment is laid out [A | M | B].
std::vector<MergedPos> merged_layout(const PermSpec& spec, const MergePlan& plan, const Layout& l,
                                     const std::vector<size_t>& split = {});

// Row blocks of a merged conv/linear layer: one per run of output rows of equal kind, over the
// inputs that kind reads (A: A-only and merged, M: all, B: merged and B-only; `in` must be laid out
// [A | M | B]); adjacent runs that read the same inputs are one block; empty when every row reads
// every input.
std::vector<RowBlock> merged_blocks(const std::vector<MergedPos>& out, const std::vector<MergedPos>& in);

// The merged state dict per Figure 2 (BatchNorm parameters and statistics: A's, B's or their
// average per unit; channel maps re-targeted), and the block structure of every conv/linear layer
// as pleas_blocks metadata JSON.
// `norm_views_json` receives the views of every LayerNorm over a partly merged axis (metadata
// pleas_norm_views, models/vit.h).
TensorDict merge_state(const PermSpec& spec, const MergePlan& plan, const TensorDict& A,
                       const TensorDict& B, std::string* blocks_json, std::string* norm_views_json = nullptr);
// Any number of parents (plan.parents), any alignment: W_m = Σ_x M_out,x · W_x · U_in,x for
// conv/linear weights, Σ_x M_x · v_x for biases and BatchNorm vectors (ZipIt!'s rule), computed in
// float64. For a permutation merge this equals the gathers of merge_state bit for bit.
TensorDict merge_state(const PermSpec& spec, const MergePlan& plan, const std::vector<const TensorDict*>& parents,
                       std::string* blocks_json, std::string* norm_views_json = nullptr);

// Layout-level maps of parent x along a merged layout `pos` (from merged_layout over a layout of
// `parent_size` channels): M [P, D] and U [D, P], float64 row-major, block-diagonal by group.
struct LayoutMaps {
  int64_t P = 0, D = 0;
  std::vector<double> M, U;
};
LayoutMaps layout_maps(const MergePlan& plan, const std::vector<MergedPos>& pos, int64_t parent_size, int x);

// k per group for a uniform ratio r of units kept separate: k_g = round((1 − r)·d_g); head groups
// k_g = head_dim·round((1 − r)·heads), followers as their leader.
std::vector<int64_t> uniform_k(const PermSpec& spec, double r);
// Parameters the merged model executes (conv/linear weights by blocks, biases and BatchNorm
// weight/bias per unit), and multiply-adds given each conv layer's output positions (spatial size
// per layer path, 1 for linear).
double merged_params(const PermSpec& spec, const MergePlan& plan, const TensorDict& A);

}  // namespace pleas
