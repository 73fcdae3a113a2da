// The budget program (Appendix A.2) for a real model: its footprint model built from the
// permutation spec (so it counts exactly what the block-structured merged model executes), the
// leave-one-out table (2G + 2 merges evaluated on a proxy set), and its JSON form.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pleas/budget_solver.h"
#include "pleas/perm_spec.h"

namespace pleas {

// Footprint groups are the spec's non-fixed groups, in spec order, except followers (a ViT block's
// values), which count with their leader; a head group's footprint units are heads (d = H, so k
// is a number of heads); fixed groups (image channels, shared classes) are ungrouped axes.
// `image_size` sets the output positions counted in FLOPs (pixels for convolutions, tokens for
// linear layers and attention: 2·L²·head_dim multiply-adds per head).
FootprintModel footprint_from_spec(const PermSpec& spec, Model& A, int image_size);
int footprint_group_count(const PermSpec& spec);
// k per spec group from k per footprint group (fixed groups: k = d; head groups: heads × head_dim;
// followers: their leader's).
std::vector<int64_t> spec_k_from_footprint(const PermSpec& spec, const std::vector<int64_t>& k_fp);

struct LooTable {
  std::string arch;
  double merged = 0, ensemble = 0;                   // A_m, A_e (top-1 %, proxy set)
  std::vector<double> only_merged, only_separate;    // R0_g, R1_g per footprint group
  FootprintModel footprint;
  nlohmann::json info;                               // how it was measured
};
nlohmann::json loo_to_json(const LooTable& t);
LooTable loo_from_json(const nlohmann::json& j, const std::string& source);

// Runs the 2G + 2 leave-one-out merges: `evaluate_k(k per spec group)` merges with those k and
// returns the proxy accuracy. Progress on stderr.
LooTable leave_one_out(const PermSpec& spec, const FootprintModel& fp,
                       const std::function<double(const std::vector<int64_t>&)>& evaluate_k);

}  // namespace pleas
