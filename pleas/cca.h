// CCA Merge maps (Horoi et al., "Harmony in Diversity: Merging Neural Networks with Canonical
// Correlation Analysis", ICML 2024), as `match_tensors_cca` in the authors' code
// (github.com/shoroi/align-n-merge, core/matching_functions.py): every parent i > 0 is mapped into
// parent 0's feature space by the CCA of their activations, and the merged unit is the average.
#pragma once
#include <cstdint>
#include <vector>

#include "pleas/alignment.h"

namespace pleas {

// cov: covariance of the concatenated features [f_0; ...; f_{N-1}] (each parent d units),
// row-major (N·d) × (N·d). gamma: ridge added to each parent's own covariance (S_xx + γI,
// S_yy + γI); absolute, in the covariance's units, not relative to its scale. 0.1 is
// match_tensors_cca's default; the authors tune it per experiment over 1e-6 … 1e7
// (evaluation/cca_hparam_search.py) and their CLI's --gamma defaults to 1.
//
// Result: width d, every unit 'M'; M_0 = I/N, U_0 = I; M_i = T_i/N, U_i = T_i⁻¹ with T_i the
// linear map from parent i's features into parent 0's (see cca.cpp), so U_x · (N·M_x) = I.
GroupMaps cca_maps(const std::vector<double>& cov, int64_t d, int parents, double gamma = 0.1);

}  // namespace pleas
