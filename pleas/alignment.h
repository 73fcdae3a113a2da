// One representation for every alignment: per permutation group, ZipIt!'s merge and unmerge maps
// (Stoica et al., ICLR 2024, Section 4) over N parents with d units each and a merged width w,
//
//   merged features      m   = Σ_x M_x · f_x        (M_x: w × d)
//   each parent's        f_x ≈ U_x · m              (U_x: d × w)
//
// A merged layer computes W_m = Σ_x M_out,x · W_x · U_in,x (its inputs are unmerged into every
// parent's coordinates, each parent's layer applied, its outputs merged): the merged model of
// Figure 2 when the maps come from a permutation, ZipIt! when they come from its greedy within-
// and across-model matching, CCA Merge when they are CCA's linear maps.
//
// One-to-one permutations with partial merging (N = 2): the merged units are [A-only | merged |
// B-only], M_A has 1 on an A-only unit's row and ½ on a merged pair's, U_A is the 0/1 copy back,
// B likewise. The engine keeps that case implicit (GroupMerge.pairs / a_only / b_only, gathers
// instead of products) and explicit_maps() writes it out as these matrices.
//
// kind[u] says which parents a merged unit reads and feeds: 'A' only parent 0 (M_B row and U_B
// column zero), 'B' only parent 1, 'M' both (every unit when N > 2). Units are ordered by kind,
// [A | M | B], so that the row blocks of models/layers.h (A rows read [A | M] inputs, B rows
// [M | B]) apply to every alignment.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace pleas {

struct GroupMaps {
  int parents = 0;                      // N (0: no explicit maps, the group is a permutation merge)
  int64_t d = 0;                        // units of each parent
  std::vector<char> kind;               // per merged unit, 'A' | 'M' | 'B', ordered [A | M | B]
  std::vector<std::vector<double>> M;   // per parent, row-major [w, d]
  std::vector<std::vector<double>> U;   // per parent, row-major [d, w]
  int64_t width() const { return int64_t(kind.size()); }
  bool empty() const { return parents == 0; }
  double m(int x, int64_t u, int64_t i) const { return M[std::size_t(x)][std::size_t(u * d + i)]; }
  double u(int x, int64_t i, int64_t unit) const { return U[std::size_t(x)][std::size_t(i * width() + unit)]; }
};

// Checks shapes and the kind order / zero pattern (named `what` in errors).
void check_maps(const GroupMaps& g, const char* what);

// N parents aligned by permutations to a common reference, fully merged (w = d, all 'M'):
// perm[x][u] = parent x's unit at merged unit u; M_x[u][perm[x][u]] = 1/N, U_x[perm[x][u]][u] = 1.
GroupMaps permutation_maps(const std::vector<std::vector<int64_t>>& perm);

}  // namespace pleas
