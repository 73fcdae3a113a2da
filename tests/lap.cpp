// Linear assignment: brute force for n <= 8, scipy's linear_sum_assignment optimal costs (committed
// in tests/data/lap_reference.json by tools/lap_reference.py) on instances up to n = 2048.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "pleas/lap.h"
#include "test_util.h"

using namespace pleas;

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Same instances as tools/lap_reference.py.
std::vector<double> instance(const std::string& kind, uint64_t seed, int64_t n) {
  std::vector<double> u(size_t(n * n));
  for (int64_t k = 0; k < n * n; ++k)
    u[size_t(k)] = double(splitmix64((seed << 32) + uint64_t(k)) >> 11) * std::ldexp(1.0, -53);
  std::vector<double> c(u.size());
  std::vector<double> a(u.begin(), u.begin() + n);
  std::sort(a.begin(), a.end());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double x = u[size_t(i * n + j)];
      double& o = c[size_t(i * n + j)];
      if (kind == "uniform") o = x;
      else if (kind == "integer") o = std::floor(x * 10.0);
      else if (kind == "geometric") o = std::fabs(a[size_t(i)] - u[size_t((1 % n) * n + j)]);
      else o = (double(i) / n) * (double(j) / n) + std::sin(i * 0.37) * std::cos(j * 0.11) + 1e-3 * x;
    }
  return c;
}

double brute_force(const std::vector<double>& c, int n, bool maximize) {
  std::vector<int> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  double best = maximize ? -INFINITY : INFINITY;
  do {
    double s = 0;
    for (int i = 0; i < n; ++i) s += c[size_t(i * n + p[size_t(i)])];
    best = maximize ? std::max(best, s) : std::min(best, s);
  } while (std::next_permutation(p.begin(), p.end()));
  return best;
}

void expect_permutation(const Assignment& a, int64_t n) {
  std::vector<int> seen(static_cast<size_t>(n), 0);
  for (int64_t c : a.col_of_row) {
    ASSERT_GE(c, 0);
    ASSERT_LT(c, n);
    ++seen[size_t(c)];
  }
  for (int s : seen) ASSERT_EQ(s, 1);
}

}  // namespace

TEST(Assignment, MatchesBruteForceUpTo8) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> U(-5, 5);
  for (int n = 1; n <= 8; ++n)
    for (int rep = 0; rep < 6; ++rep) {
      std::vector<double> c(size_t(n * n));
      for (auto& x : c) x = rep % 2 ? std::round(U(rng)) : U(rng);  // odd reps: integer ties
      for (bool maximize : {false, true}) {
        Assignment a = solve_assignment(c, n, maximize);
        expect_permutation(a, n);
        double s = 0;
        for (int i = 0; i < n; ++i) s += c[size_t(i * n + a.col_of_row[size_t(i)])];
        EXPECT_NEAR(a.cost, s, 1e-12);
        EXPECT_NEAR(a.cost, brute_force(c, n, maximize), 1e-9) << "n=" << n << " rep=" << rep;
      }
    }
}

TEST(Assignment, IdentityAndPermutedDiagonal) {
  const int64_t n = 50;
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937_64(3));
  std::vector<double> c(size_t(n * n), 1.0);
  for (int64_t i = 0; i < n; ++i) c[size_t(i * n + perm[size_t(i)])] = 0.0;
  Assignment a = solve_assignment(c, n);
  EXPECT_EQ(a.col_of_row, perm);
  EXPECT_EQ(a.cost, 0.0);
}

TEST(Assignment, EqualsScipyOptimalCost) {
  std::ifstream f(std::string(PLEAS_SOURCE_DIR) + "/tests/data/lap_reference.json");
  ASSERT_TRUE(f.good()) << "tests/data/lap_reference.json missing";
  auto j = nlohmann::json::parse(f);
  int checked = 0;
  for (auto& cs : j["cases"]) {
    std::string kind = cs["kind"];
    int64_t n = cs["n"], seed = cs["seed"];
    auto c = instance(kind, uint64_t(seed), n);
    for (bool maximize : {false, true}) {
      double want = cs[maximize ? "max" : "min"];
      Assignment a = solve_assignment(c, n, maximize);
      expect_permutation(a, n);
      EXPECT_NEAR(a.cost, want, 1e-9 * std::max(1.0, std::fabs(want)))
          << kind << " n=" << n << (maximize ? " max" : " min");
      ++checked;
    }
  }
  EXPECT_EQ(checked, 36);
}

TEST(Assignment, RejectsBadInput) {
  EXPECT_THROW(solve_assignment({1, 2, 3}, 2), Error);
  EXPECT_THROW(solve_assignment({1, NAN, 3, 4}, 2), Error);
  EXPECT_THROW(solve_assignment({1, INFINITY, 3, 4}, 2), Error);
  EXPECT_TRUE(solve_assignment({}, 0).col_of_row.empty());
}
