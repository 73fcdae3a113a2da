// ZipIt! merge/unmerge maps (Stoica et al., "ZipIt! Merging Models from Different Tasks without
// Training", ICLR 2024, Section 4 and Algorithm 1): greedy matching over the features of all N
// parents at once, within and across models, as `match_tensors_zipit` in the authors' code
// (github.com/gstoica27/ZipIt, matching_functions.py) does it.
#pragma once
#include <cstdint>
#include <vector>

#include "pleas/alignment.h"

namespace pleas {

// The defaults of match_tensors_zipit's signature (a = .3, b = .125). The authors' experiment
// scripts tune them (grid a ∈ {1, .5, .3, .1, .01, 1e-4}, b ∈ {1, .25, .125, .075, .0375, 0};
// the CIFAR concept-merging runs use a = 1e-4, b = .075).
struct ZipItOptions {
  double alpha = 0.3;   // a: a merged feature's correlations are min(...) · alpha (must be > 0)
  double beta = 0.125;  // b: same-model merges allowed per model: floor((merges / N) · beta)
};

// cov: covariance of the concatenated features [f_0; ...; f_{N-1}] (each parent d units),
// row-major (N·d) × (N·d). merges: greedy merge steps, 0 ≤ merges < N·d; the merged width is
// w = N·d − merges, full ZipIt! (the paper's r = 1 − 1/N) is merges = (N − 1)·d.
//
// Each merged unit is the mean of its cluster's members (M_x entries 1/|cluster|) and every
// member copies it back (U_x 0/1). Unit order: N = 2, [A | M | B] by kind ('A': members only
// from parent 0, 'M': both, 'B': only parent 1), each kind by its smallest member's index in the
// concatenation; N > 2, all kind 'M', by smallest member. merges = 0 gives the N·d singletons (for
// N = 2 the ensemble layout [A 0..d-1 | B 0..d-1]).
//
// Stuck case, as published: once every model's budget is spent and every remaining pair of
// clusters shares a model, all correlations are −∞; the authors' loop then deletes the first
// remaining cluster at each further step, so w is still N·d − merges but those clusters' parent
// features are in no unit (zero rows of U_x, zero columns of M_x). It happens in N > 2 full zips
// and when merges > (N − 1)·d; a larger beta postpones it.
GroupMaps zipit_maps(const std::vector<double>& cov, int64_t d, int parents, int64_t merges,
                     const ZipItOptions& o = {});

}  // namespace pleas
