// Dense linear assignment: find the permutation col_of_row minimising (or maximising)
// Σ_i cost[i, col_of_row[i]] over an n x n float64 matrix, by Jonker–Volgenant's shortest
// augmenting paths with dual variables (each row is added by one Dijkstra-like search over the
// reduced costs c[i][j] - u[i] - v[j] >= 0, then duals are updated so they stay feasible).
#pragma once
#include <cstdint>
#include <vector>

namespace pleas {

struct Assignment {
  std::vector<int64_t> col_of_row;  // row i -> column
  double cost = 0;                  // Σ cost[i, col_of_row[i]] (of the original matrix)
};

// cost: row-major n*n. maximize: find the assignment of largest total instead.
// Throws pleas::Error for NaN or infinite entries.
Assignment solve_assignment(const std::vector<double>& cost, int64_t n, bool maximize = false);

}  // namespace pleas
