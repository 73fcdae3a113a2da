// Matching: a permutation per group of B's units onto A's units (Section 3 of the paper, "Background
// on Git Re-Basin"; Section 4.1 partially merges the best-matched pairs), by
//
//   weight matching (Git Re-Basin's default and PLeaS'): coordinate descent on
//       max_π Σ_layers ⟨W_A, P_out W_B P_inᵀ⟩,
//     one group at a time: with every other group's permutation held fixed the objective is linear in
//     P_g, a linear assignment problem over
//       C_g[i][j] = Σ_{(layer, axis) ∋ g} ⟨A's slice of unit i, B's slice of unit j⟩,
//     B's other axes permuted by their current permutations;
//   activation matching (PLeaS-Act): per group, the assignment maximising the summed Pearson
//     correlation between A's and B's unit activations on data (min_P ‖Z_A − P Z_B‖²).
//
// Convention: perms[g][i] = B's unit matched to A's unit i; permute_state(spec, B, perms) is B in A's
// coordinates (its new unit i is its old unit perms[g][i]). Fixed groups keep the identity.
#pragma once
#include <cstdint>
#include <vector>

#include "data/loader.h"
#include "models/model.h"
#include "pleas/feature_stats.h"
#include "pleas/perm_spec.h"

namespace pleas {

struct Matching {
  // perms[g][i] = B's unit matched to A's unit i (fixed groups: identity).
  std::vector<std::vector<int64_t>> perms;
  // Similarity of each matched pair (i, perms[g][i]) in the final permuted coordinates: cosine
  // similarity of the units' weights (weight matching) or Pearson correlation of their activations
  // (activation matching). Partial merging merges the pairs of largest similarity.
  std::vector<std::vector<double>> similarity;
  int sweeps = 0;        // weight matching: coordinate-descent sweeps run (0 for activation matching)
  double objective = 0;  // Σ over non-fixed groups g of Σ_i C_g[i][perms[g][i]] at the end
                         // (activation matching: the summed matched correlations)
};

// Git Re-Basin weight matching of B onto A (state dicts with the names of spec's layers; any
// device). Coordinate descent from the identity over the non-fixed groups, visited in an order
// reshuffled every sweep by std::mt19937_64(seed); each group's permutation is the maximising
// assignment of C_g (solve_assignment, float64). Stops after the first sweep in which no group
// improved the objective by more than 1e-9·|objective|, or after max_sweeps. The products run on
// `dev` (pleas::matmul), the costs are summed in float64 on the host.
//
// similarity[g][i] (every group, fixed ones included) is the COSINE similarity
//   C_g[i][p_i] / (‖A_i‖·‖B_{p_i}‖),
// norms over all of the unit's entries in the layers above, so that units of different scale
// (e.g. a wide conv's rows vs a BN's few parameters, or a large- vs a small-norm channel) compare
// on the same [-1, 1] scale when partial merging ranks pairs.
Matching weight_matching(const PermSpec& spec, const TensorDict& A, const TensorDict& B, uint64_t seed,
                         int max_sweeps = 100, Device dev = Device::cpu());

// The weight-matching cost C_g (row-major d x d, float64) of `group` when every group is permuted by
// `perms` (only the other groups' permutations and, on the other axis of a layer, g's own matter).
std::vector<double> weight_matching_cost(const PermSpec& spec, const TensorDict& A, const TensorDict& B,
                                         const std::vector<std::vector<int64_t>>& perms, int group,
                                         Device dev = Device::cpu());

// Activation matching over every batch of `loader` (restarted at epoch 0): the cross block of
// feature_stats' correlation of (A, B) (pleas/feature_stats.h). A and B see the same batches; at
// every site of the spec (ReLU applied when site.relu) each non-fixed group's channels give samples
// x ∈ R^d (one per image and pixel, or token) of each model, and
//   rule pooled (the default): samples pooled over all sites where the group appears,
//     corr[i][j] = (E[xa_i xb_j] − μa_i μb_j) / (σa_i σb_j + 1e-12) in float64;
//   rule per_site: that correlation on each site's samples alone, averaged over the group's sites;
// perms[g] = argmax_P Σ_i corr[i][P(i)] (head groups: the two-level head rule with their
// followers), similarity[g][i] = corr[i][perms[g][i]] (fixed groups, never matched nor measured:
// identity and 1).
// (The released PLeaS code kept only the last batch's statistics; these are over all batches.)
// Runs on the models' device; a progress line per batch goes to stderr when `progress`.
Matching activation_matching(const PermSpec& spec, Model& A, Model& B, data::DataLoader& loader,
                             bool progress = true, SiteRule rule = SiteRule::pooled);

}  // namespace pleas
