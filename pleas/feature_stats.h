// Feature statistics of N models on the same data: per permutation group, the float64 covariance
// and correlation of the concatenated unit activations [f_0; …; f_{N−1}] of the N models, over
// every sample (image · pixel, or token) of every activation site where the group appears (see
// PermSpec::sites). Activation matching correlates two models' units with them (the cross block
// of the correlation); merges of more than two parents (ZipIt-, CCA-style) use the full matrix.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/loader.h"
#include "models/model.h"
#include "pleas/perm_spec.h"

namespace pleas {

// How a group's sites combine into the correlation used for matching:
//   pooled:   one correlation over the samples of all sites together (the covariance normalised);
//   per_site: the correlation of each site on that site's samples alone, averaged over the sites
//             (a site whose activations are large or numerous does not dominate the others).
// The two agree for a group that appears at one site.
enum class SiteRule { pooled, per_site };
SiteRule parse_site_rule(const std::string& name);  // "pooled" | "per_site"; pleas::Error otherwise
const char* site_rule_name(SiteRule rule);

struct GroupStats {
  int parents = 0;   // N (0 for fixed groups, which are never measured: everything else empty)
  int64_t d = 0;     // the group's units per model
  double n = 0;      // samples pooled over the group's sites (a site where the group appears
                     // twice, e.g. a ViT qkv output's q and k, counts its samples twice)
  int sites = 0;     // distinct sites where the group appears
  // [(N·d)²] row-major: the pooled population covariance E[xxᵀ] − μμᵀ of x = [f_0; …; f_{N−1}]
  // (model k's unit i at index k·d + i), over every sample of every site (whatever the rule).
  std::vector<double> cov;
  // [(N·d)²] the correlation used for matching: pooled: cov_ij / (σ_i σ_j + 1e-12), σ_i² = cov_ii
  // (clamped at 0); per_site: the same normalisation of each site's own covariance, summed over the
  // group's sites and divided by their number.
  std::vector<double> corr;
};

// One pass over `loader` (restarted at epoch 0): the N models' forwards on each batch, hooked at
// every site of the spec (ReLU applied when site.relu; a site's input when site.input; channels
// last when site.channels_last). Returns one entry per group of the spec (fixed groups: parents =
// 0, empty vectors). Models: N >= 1, the same architecture, on one device, where the sums are
// accumulated in float64: Σ f_k f_lᵀ by blocks (k <= l; gram_accumulate for k = l,
// cross_accumulate otherwise), per unit Σx and Σx² from each site's batch_channel_stats (the
// latter is the covariance's diagonal). Memory: N(N+1)/2 blocks of d² per group (per group and
// site for per_site) and, per batch, the models' samples of the spec's groups at each site until
// the last model's forward reports that site. A progress line per batch goes to stderr when
// `progress`.
// Errors (pleas::Error, "feature_stats: ..."): no models or a null one, models on different
// devices, a loader with no batches, a non-fixed group at no site, a site missing, repeated or of
// another shape in some model (naming the site and the model).
std::vector<GroupStats> feature_stats(const PermSpec& spec, const std::vector<Model*>& models,
                                      data::DataLoader& loader, SiteRule rule, bool progress);

}  // namespace pleas
