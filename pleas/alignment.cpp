#include "pleas/alignment.h"

#include <cmath>

#include "engine/error.h"

namespace pleas {

void check_maps(const GroupMaps& g, const char* what) {
  PLEAS_CHECK(g.parents >= 2, what, ": merge maps need at least two parents, got ", g.parents);
  PLEAS_CHECK(g.M.size() == size_t(g.parents) && g.U.size() == size_t(g.parents), what, ": ", g.M.size(), " merge and ",
              g.U.size(), " unmerge maps for ", g.parents, " parents");
  const int64_t w = g.width();
  PLEAS_CHECK(w > 0 && g.d > 0, what, ": empty merge maps (width ", w, ", ", g.d, " units)");
  for (int x = 0; x < g.parents; ++x)
    PLEAS_CHECK(int64_t(g.M[size_t(x)].size()) == w * g.d && int64_t(g.U[size_t(x)].size()) == w * g.d, what,
                ": maps of parent ", x, " are not ", w, " x ", g.d);
  int last = 0;
  for (int64_t u = 0; u < w; ++u) {
    const char k = g.kind[size_t(u)];
    const int rank = k == 'A' ? 0 : k == 'M' ? 1 : k == 'B' ? 2 : -1;
    PLEAS_CHECK(rank >= last, what, ": merged units are not ordered [A | M | B] (unit ", u, " is '", k, "')");
    PLEAS_CHECK(k == 'M' || g.parents == 2, what, ": units of kind '", k, "' need exactly two parents");
    last = rank;
    // A unit of kind 'A' neither reads nor feeds parent 1 (and 'B' parent 0): the row blocks rely on it.
    if (k != 'M') {
      const int other = k == 'A' ? 1 : 0;
      for (int64_t i = 0; i < g.d; ++i)
        PLEAS_CHECK(g.m(other, u, i) == 0.0 && g.u(other, i, u) == 0.0, what, ": merged unit ", u, " is kind '", k,
                    "' but parent ", other, " reads or feeds it");
    }
  }
  for (int x = 0; x < g.parents; ++x)
    for (double v : g.M[size_t(x)]) PLEAS_CHECK(std::isfinite(v), what, ": non-finite merge map entry");
}

GroupMaps permutation_maps(const std::vector<std::vector<int64_t>>& perm) {
  PLEAS_CHECK(perm.size() >= 2, "permutation_maps: need at least two parents");
  GroupMaps g;
  g.parents = int(perm.size());
  g.d = int64_t(perm[0].size());
  g.kind.assign(size_t(g.d), 'M');
  const double inv = 1.0 / double(g.parents);
  for (const auto& p : perm) {
    PLEAS_CHECK(int64_t(p.size()) == g.d, "permutation_maps: permutations of different sizes");
    std::vector<double> M(size_t(g.d * g.d), 0.0), U(size_t(g.d * g.d), 0.0);
    std::vector<bool> seen(size_t(g.d), false);
    for (int64_t u = 0; u < g.d; ++u) {
      const int64_t i = p[size_t(u)];
      PLEAS_CHECK(i >= 0 && i < g.d && !seen[size_t(i)], "permutation_maps: not a permutation of 0..", g.d - 1);
      seen[size_t(i)] = true;
      M[size_t(u * g.d + i)] = inv;
      U[size_t(i * g.d + u)] = 1.0;
    }
    g.M.push_back(std::move(M));
    g.U.push_back(std::move(U));
  }
  return g;
}

}  // namespace pleas
