// ZipIt! greedy matching (Stoica et al., ICLR 2024, Algorithm 1), step for step as the authors'
// match_tensors_zipit:
//
//   S = corr(cov) = cov_ij / max(std_i·std_j, 1e-7), S_ii = −∞;
//   repeat `merges` times:
//     (i, j) = first argmax of S in row-major order (torch argmax), r = min(i, j), c = max(i, j);
//     cluster r absorbs cluster c;
//     S[:, r] = α·min(S[:, r], S[:, c]), then S[r, :] = α·min(S[r, :], S[c, :]); drop row/col c;
//     if r and c come from the same model m (a cluster's model is that of its smallest member):
//       budget[m] −= 1 (budget starts at floor((merges / N)·β + 1e-4)), and when it reaches ≤ 0
//       every pair of clusters of model m gets S = −∞ (no more same-model merges there).
//
// When no finite pair is left the published loop drops clusters (see below): their parent
// features then have a zero row in U_x and a zero column in M_x.
//
// Instead of deleting rows and columns, clusters keep their smallest member's index and dead ones
// are skipped: the surviving clusters keep the order of the shrinking matrix, so row-major first
// argmax is the same. Each row caches its maximum and first argmax; a step touches only column r
// (and row r), so most rows update in O(1), and a row rescans only when its argmax was r or c.
#include "pleas/zipit.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"

namespace pleas {

GroupMaps zipit_maps(const std::vector<double>& cov, int64_t d, int parents, int64_t merges,
                     const ZipItOptions& o) {
  PLEAS_CHECK(parents >= 2, "zipit_maps: need at least two parents, got ", parents);
  PLEAS_CHECK(d >= 1, "zipit_maps: need at least one unit per parent, got ", d);
  const int64_t n = d * parents;
  PLEAS_CHECK(int64_t(cov.size()) == n * n, "zipit_maps: covariance has ", cov.size(), " entries, expected (",
              parents, "·", d, ")² = ", n * n);
  PLEAS_CHECK(merges >= 0 && merges < n, "zipit_maps: merges must be in [0, ", n, "), got ", merges);
  // The authors' α ≤ 0 branch masks blocks by indices of the already shrunk matrix; not supported.
  PLEAS_CHECK(std::isfinite(o.alpha) && o.alpha > 0, "zipit_maps: alpha must be finite and > 0, got ", o.alpha);
  PLEAS_CHECK(std::isfinite(o.beta) && o.beta >= 0, "zipit_maps: beta must be finite and >= 0, got ", o.beta);
  for (double v : cov) PLEAS_CHECK(std::isfinite(v), "zipit_maps: non-finite covariance entry");
  for (int64_t i = 0; i < n; ++i)
    PLEAS_CHECK(cov[size_t(i * n + i)] >= 0, "zipit_maps: negative variance ", cov[size_t(i * n + i)], " at ", i);

  const double NEG = -std::numeric_limits<double>::infinity();
  auto at = [n](int64_t i, int64_t j) { return size_t(i * n + j); };
  const size_t nn = static_cast<size_t>(n);
  std::vector<double> std_(nn), S(nn * nn);
  for (int64_t i = 0; i < n; ++i) std_[size_t(i)] = std::sqrt(cov[at(i, i)]);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      S[at(i, j)] = i == j ? NEG : cov[at(i, j)] / std::max(std_[size_t(i)] * std_[size_t(j)], 1e-7);

  std::vector<int64_t> alive(nn);  // surviving clusters, by smallest member (ascending)
  for (int64_t i = 0; i < n; ++i) alive[size_t(i)] = i;
  std::vector<int> model(nn);
  for (int64_t i = 0; i < n; ++i) model[size_t(i)] = int(i / d);
  std::vector<std::vector<int64_t>> members(nn);
  for (int64_t i = 0; i < n; ++i) members[size_t(i)] = {i};
  std::vector<int64_t> budget(static_cast<size_t>(parents), int64_t(double(merges / parents) * o.beta + 1e-4));

  std::vector<double> best(nn);
  std::vector<int64_t> arg(nn);
  auto rescan = [&](int64_t i) {
    best[size_t(i)] = NEG;
    arg[size_t(i)] = alive[0];
    bool first = true;
    for (int64_t j : alive) {
      const double v = S[at(i, j)];
      if (first || v > best[size_t(i)]) { best[size_t(i)] = v; arg[size_t(i)] = j; first = false; }
    }
  };
  for (int64_t i = 0; i < n; ++i) rescan(i);

  for (int64_t step = 0; step < merges; ++step) {
    int64_t bi = alive[0];
    for (int64_t i : alive)
      if (best[size_t(i)] > best[size_t(bi)]) bi = i;
    if (best[size_t(bi)] == NEG) {
      // Stuck: every pair is −∞ (all budgets spent and every two clusters share a model; seen in
      // N > 2 full zips and when merges > (N − 1)·d). torch's argmax then returns the diagonal
      // (0, 0), and the authors' step with row = col = 0 deletes the first cluster from the maps;
      // nothing becomes finite again, so every remaining step does the same. Kept as published.
      for (; step < merges; ++step) {
        members[size_t(alive[0])].clear();
        alive.erase(alive.begin());
      }
      break;
    }
    const int64_t r = std::min(bi, arg[size_t(bi)]), c = std::max(bi, arg[size_t(bi)]);

    for (int64_t j : alive) S[at(j, r)] = std::min(S[at(j, r)], S[at(j, c)]) * o.alpha;
    for (int64_t j : alive) S[at(r, j)] = std::min(S[at(r, j)], S[at(c, j)]) * o.alpha;
    alive.erase(std::find(alive.begin(), alive.end(), c));
    members[size_t(r)].insert(members[size_t(r)].end(), members[size_t(c)].begin(), members[size_t(c)].end());
    members[size_t(c)].clear();

    rescan(r);
    for (int64_t j : alive) {
      if (j == r) continue;
      if (arg[size_t(j)] == r || arg[size_t(j)] == c) { rescan(j); continue; }
      const double v = S[at(j, r)];
      if (v > best[size_t(j)] || (v == best[size_t(j)] && r < arg[size_t(j)])) { best[size_t(j)] = v; arg[size_t(j)] = r; }
    }
    const int m = model[size_t(r)];
    if (m == model[size_t(c)] && --budget[size_t(m)] <= 0) {
      for (int64_t i : alive)
        for (int64_t j : alive)
          if (model[size_t(i)] == m && model[size_t(j)] == m) S[at(i, j)] = NEG;
      for (int64_t i : alive)
        if (model[size_t(i)] == m) rescan(i);
    }
  }

  // Kinds and order: N = 2 by [A | M | B], then by smallest member (the cluster's id); N > 2 all 'M'.
  auto kind_of = [&](int64_t id) {
    if (parents != 2) return 'M';
    bool a = false, b = false;
    for (int64_t i : members[size_t(id)]) (i < d ? a : b) = true;
    return a && b ? 'M' : a ? 'A' : 'B';
  };
  auto rank = [](char k) { return k == 'A' ? 0 : k == 'M' ? 1 : 2; };
  std::vector<int64_t> order = alive;
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return rank(kind_of(x)) < rank(kind_of(y)); });

  GroupMaps g;
  g.parents = parents;
  g.d = d;
  const int64_t w = int64_t(order.size());
  g.M.assign(size_t(parents), std::vector<double>(size_t(w * d), 0.0));
  g.U.assign(size_t(parents), std::vector<double>(size_t(d * w), 0.0));
  for (int64_t u = 0; u < w; ++u) {
    const auto& mem = members[size_t(order[size_t(u)])];
    g.kind.push_back(kind_of(order[size_t(u)]));
    for (int64_t i : mem) {
      const int x = int(i / d);
      const int64_t k = i % d;
      g.M[size_t(x)][size_t(u * d + k)] = 1.0 / double(mem.size());
      g.U[size_t(x)][size_t(k * w + u)] = 1.0;
    }
  }
  return g;
}

}  // namespace pleas
