#include "pleas/lap.h"

#include <cmath>
#include <limits>

#include "engine/error.h"

namespace pleas {

Assignment solve_assignment(const std::vector<double>& input, int64_t n, bool maximize) {
  PLEAS_CHECK(n >= 0 && int64_t(input.size()) == n * n, "assignment: cost has ", input.size(),
              " entries, expected ", n, " x ", n);
  Assignment out;
  out.col_of_row.assign(size_t(n), -1);
  if (n == 0) return out;
  // Work on a minimisation problem with non-negative costs (shifting by a constant per row does
  // not change the optimal assignment).
  std::vector<double> c(input.size());
  for (int64_t i = 0; i < n; ++i) {
    const double* src = &input[size_t(i * n)];
    double* dst = &c[size_t(i * n)];
    double lo = std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < n; ++j) {
      double x = maximize ? -src[j] : src[j];
      PLEAS_CHECK(std::isfinite(x), "assignment: cost[", i, ", ", j, "] is not finite (", src[j], ")");
      dst[j] = x;
      lo = std::fmin(lo, x);
    }
    for (int64_t j = 0; j < n; ++j) dst[j] -= lo;
  }

  const double inf = std::numeric_limits<double>::infinity();
  const size_t N = static_cast<size_t>(n);
  std::vector<double> u(N, 0.0), v(N, 0.0), dist(N, inf);
  std::vector<int64_t> row_of_col(N, -1), col_of_row(N, -1), pred(N, -1);
  std::vector<int64_t> todo(N);              // columns not yet scanned in this search
  std::vector<int64_t> scanned_rows;         // rows reached in this search
  std::vector<int64_t> scanned_cols;
  scanned_rows.reserve(size_t(n));
  scanned_cols.reserve(size_t(n));

  for (int64_t cur = 0; cur < n; ++cur) {
    // Dijkstra over columns from row `cur` with reduced costs; dist[j] = length of the shortest
    // alternating path from cur to column j.
    for (int64_t j = 0; j < n; ++j) { dist[size_t(j)] = inf; todo[size_t(j)] = j; }
    int64_t ntodo = n;
    scanned_rows.clear();
    scanned_cols.clear();
    double min_val = 0;
    int64_t i = cur, sink = -1;
    while (sink < 0) {
      scanned_rows.push_back(i);
      const double* ci = &c[size_t(i * n)];
      const double ui = u[size_t(i)];
      double lowest = inf;
      int64_t best = -1;
      for (int64_t t = 0; t < ntodo; ++t) {
        int64_t j = todo[size_t(t)];
        double r = min_val + ci[j] - ui - v[size_t(j)];
        if (r < dist[size_t(j)]) { dist[size_t(j)] = r; pred[size_t(j)] = i; }
        double d = dist[size_t(j)];
        // Prefer an unassigned column on ties: it ends the search.
        if (d < lowest || (d == lowest && row_of_col[size_t(j)] < 0)) { lowest = d; best = t; }
      }
      PLEAS_CHECK(best >= 0 && std::isfinite(lowest), "assignment: no augmenting path (infeasible)");
      min_val = lowest;
      int64_t j = todo[size_t(best)];
      todo[size_t(best)] = todo[size_t(--ntodo)];
      scanned_cols.push_back(j);
      if (row_of_col[size_t(j)] < 0) sink = j;
      else i = row_of_col[size_t(j)];
    }
    // Dual update keeps c[i][j] - u[i] - v[j] >= 0 with equality on the matching.
    u[size_t(cur)] += min_val;
    for (int64_t r : scanned_rows)
      if (r != cur) u[size_t(r)] += min_val - dist[size_t(col_of_row[size_t(r)])];
    for (int64_t j : scanned_cols) v[size_t(j)] -= min_val - dist[size_t(j)];
    // Augment along the path back to `cur`.
    for (int64_t j = sink;;) {
      int64_t r = pred[size_t(j)];
      row_of_col[size_t(j)] = r;
      std::swap(col_of_row[size_t(r)], j);
      if (r == cur) break;
    }
  }
  out.col_of_row = col_of_row;
  for (int64_t r = 0; r < n; ++r) out.cost += input[size_t(r * n + col_of_row[size_t(r)])];
  return out;
}

}  // namespace pleas
