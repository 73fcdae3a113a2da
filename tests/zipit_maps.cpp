// ZipIt! maps (pleas/zipit.h): identities at zero merges, exact copies zipped across models,
// duplicates merged within a model, the β budget, α letting clusters grow, and bit-for-bit
// agreement with a plain re-implementation of the authors' match_tensors_zipit loop (a dense
// matrix whose merged row/column is deleted each step, as torch does).
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>

#include "pleas/zipit.h"
#include "test_util.h"

using namespace pleas;

namespace {

using Samples = std::vector<std::vector<double>>;  // [feature][sample]
using test::covariance;

std::vector<double> gaussian(std::mt19937_64& rng, size_t t) {
  std::normal_distribution<double> g;
  std::vector<double> v(t);
  for (double& x : v) x = g(rng);
  return v;
}
std::vector<double> noisy(const std::vector<double>& a, double noise, std::mt19937_64& rng) {
  std::vector<double> v = gaussian(rng, a.size());
  for (size_t k = 0; k < a.size(); ++k) v[k] = a[k] + noise * v[k];
  return v;
}

// A random covariance with structure: features mixed from a few shared sources.
std::vector<double> random_cov(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Samples src;
  for (int s = 0; s < 4; ++s) src.push_back(gaussian(rng, 64));
  std::uniform_real_distribution<double> u(-1, 1);
  Samples f;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> v = gaussian(rng, 64);
    for (auto& x : v) x *= 0.5;
    for (auto& s : src) {
      const double w = u(rng);
      for (size_t k = 0; k < v.size(); ++k) v[k] += w * s[k];
    }
    f.push_back(v);
  }
  return covariance(f);
}

// Clusters of parent features (as indices x·d + k into the concatenation) per merged unit, read
// back from U; checks that M is exactly 1/|cluster| on the same entries, the kinds and their order,
// and (complete) that every parent feature is in exactly one unit (else at most one: the stuck case).
std::vector<std::vector<int64_t>> clusters_of(const GroupMaps& g, bool complete = true) {
  EXPECT_NO_THROW(check_maps(g, "zipit"));
  const int64_t w = g.width(), d = g.d;
  std::vector<std::vector<int64_t>> cl(static_cast<size_t>(w));
  for (int x = 0; x < g.parents; ++x)
    for (int64_t k = 0; k < d; ++k) {
      int owners = 0;
      for (int64_t u = 0; u < w; ++u) {
        const double v = g.u(x, k, u);
        EXPECT_TRUE(v == 0.0 || v == 1.0);
        if (v == 1.0) { ++owners; cl[size_t(u)].push_back(x * d + k); }
      }
      EXPECT_EQ(owners, complete ? 1 : std::min(owners, 1)) << "parent " << x << " unit " << k;
    }
  int last = 0;
  for (int64_t u = 0; u < w; ++u) {
    EXPECT_FALSE(cl[size_t(u)].empty());
    std::sort(cl[size_t(u)].begin(), cl[size_t(u)].end());
    for (int x = 0; x < g.parents; ++x)
      for (int64_t k = 0; k < d; ++k) {
        const bool in = std::count(cl[size_t(u)].begin(), cl[size_t(u)].end(), x * d + k) > 0;
        EXPECT_EQ(g.m(x, u, k), in ? 1.0 / double(cl[size_t(u)].size()) : 0.0);
      }
    bool a = false, b = false;
    for (int64_t i : cl[size_t(u)]) (i < d ? a : b) = true;
    const char want = g.parents > 2 || (a && b) ? 'M' : a ? 'A' : 'B';
    EXPECT_EQ(g.kind[size_t(u)], want) << "unit " << u;
    const int rank = want == 'A' ? 0 : want == 'M' ? 1 : 2;
    EXPECT_GE(rank, last);
    if (u > 0 && rank == last) {
      EXPECT_LT(cl[size_t(u - 1)][0], cl[size_t(u)][0]);  // by smallest member
    }
    last = rank;
  }
  return cl;
}

// The reference: the authors' loop on a dense matrix that shrinks, plainly.
struct RefResult {
  std::vector<std::vector<int64_t>> clusters;  // in matrix order (smallest member ascending)
  std::vector<int> same_model_merges;
  bool stuck = false;  // reached a step with every pair −∞
};
RefResult reference(const std::vector<double>& cov, int64_t d, int N, int64_t merges, double a, double b) {
  const int64_t n = d * N;
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> S(static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(n)));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const double den = std::sqrt(cov[size_t(i * n + i)]) * std::sqrt(cov[size_t(j * n + j)]);
      S[size_t(i)][size_t(j)] = i == j ? -inf : cov[size_t(i * n + j)] / (den < 1e-7 ? 1e-7 : den);
    }
  RefResult r;
  for (int64_t i = 0; i < n; ++i) r.clusters.push_back({i});
  std::vector<int> origin;
  for (int64_t i = 0; i < n; ++i) origin.push_back(int(i / d));
  std::vector<int64_t> budget(static_cast<size_t>(N), int64_t(std::floor(double(merges / N) * b + 1e-4)));
  r.same_model_merges.assign(size_t(N), 0);
  for (int64_t step = 0; step < merges; ++step) {
    const size_t m = S.size();
    size_t bi = 0, bj = 0;
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < m; ++j)
        if (S[i][j] > S[bi][bj]) { bi = i; bj = j; }
    const size_t row = std::min(bi, bj), col = std::max(bi, bj);  // all −∞: (0, 0), as torch's argmax
    if (S[bi][bj] == -inf) r.stuck = true;
    for (size_t i = 0; i < m; ++i) S[i][row] = std::min(S[i][row], S[i][col]) * a;
    for (size_t j = 0; j < m; ++j) S[row][j] = std::min(S[row][j], S[col][j]) * a;
    for (auto& s : S) s.erase(s.begin() + long(col));
    S.erase(S.begin() + long(col));
    const std::vector<int64_t> absorbed = r.clusters[col];  // row == col when stuck: then dropped
    r.clusters[row].insert(r.clusters[row].end(), absorbed.begin(), absorbed.end());
    r.clusters.erase(r.clusters.begin() + long(col));
    const bool same = origin[row] == origin[col];
    origin.erase(origin.begin() + long(col));
    if (same) {
      const int o = origin[row];
      ++r.same_model_merges[size_t(o)];
      if (--budget[size_t(o)] <= 0)
        for (size_t i = 0; i < S.size(); ++i)
          for (size_t j = 0; j < S.size(); ++j)
            if (origin[i] == o && origin[j] == o) S[i][j] = -inf;
    }
  }
  for (auto& c : r.clusters) std::sort(c.begin(), c.end());
  return r;
}

}  // namespace

TEST(ZipItMaps, ZeroMergesAreTheEnsembleIdentities) {
  for (int N : {2, 3}) {
    const int64_t d = 4;
    GroupMaps g = zipit_maps(random_cov(N * d, 1), d, N, 0);
    ASSERT_EQ(g.parents, N);
    ASSERT_EQ(g.width(), N * d);
    auto cl = clusters_of(g);
    for (int64_t u = 0; u < N * d; ++u) {
      EXPECT_EQ(cl[size_t(u)], std::vector<int64_t>{u});
      EXPECT_EQ(g.kind[size_t(u)], N == 2 ? (u < d ? 'A' : 'B') : 'M');
      for (int x = 0; x < N; ++x)
        for (int64_t k = 0; k < d; ++k) {
          EXPECT_EQ(g.m(x, u, k), u == x * d + k ? 1.0 : 0.0);
          EXPECT_EQ(g.u(x, k, u), u == x * d + k ? 1.0 : 0.0);
        }
    }
  }
}

TEST(ZipItMaps, FullZipPairsExactCopiesAcrossModels) {
  const int64_t d = 6;
  const std::vector<int64_t> pi = {3, 0, 5, 1, 4, 2};  // B unit j copies A unit pi[j]
  std::mt19937_64 rng(7);
  Samples f;
  for (int64_t i = 0; i < d; ++i) f.push_back(gaussian(rng, 500));
  for (int64_t j = 0; j < d; ++j) f.push_back(f[size_t(pi[size_t(j)])]);
  GroupMaps g = zipit_maps(covariance(f), d, 2, d);
  ASSERT_EQ(g.width(), d);
  auto cl = clusters_of(g);
  for (int64_t j = 0; j < d; ++j) {
    const int64_t u = pi[size_t(j)];  // merged units ordered by their A member
    EXPECT_EQ(g.kind[size_t(u)], 'M');
    EXPECT_EQ(cl[size_t(u)], (std::vector<int64_t>{pi[size_t(j)], d + j}));
    EXPECT_EQ(g.m(0, u, pi[size_t(j)]), 0.5);
    EXPECT_EQ(g.m(1, u, j), 0.5);
    EXPECT_EQ(g.u(0, pi[size_t(j)], u), 1.0);
    EXPECT_EQ(g.u(1, j, u), 1.0);
  }
}

TEST(ZipItMaps, MatchesPlainReferenceLoop) {
  const int64_t d = 5;
  int compared = 0, stuck = 0;
  for (int N : {2, 3})
    for (uint64_t seed : {11u, 12u, 13u})
      for (double a : {0.3, 1.0, 1e-4})
        for (double b : {0.125, 0.5, 1.0}) {
          const std::vector<double> cov = random_cov(N * d, seed * 100 + uint64_t(N));
          for (int64_t merges = 0; merges < N * d; ++merges) {
            GroupMaps g = zipit_maps(cov, d, N, merges, {a, b});
            ASSERT_EQ(g.width(), N * d - merges);
            RefResult r = reference(cov, d, N, merges, a, b);
            // Reference order: [A | M | B] for N = 2 (stable, so by smallest member inside a kind).
            std::vector<std::vector<int64_t>> want = r.clusters;
            auto rank = [&](const std::vector<int64_t>& c) {
              if (N > 2) return 1;
              const bool A = c.front() < d, B = c.back() >= d;
              return A && B ? 1 : A ? 0 : 2;
            };
            std::stable_sort(want.begin(), want.end(), [&](auto& x, auto& y) { return rank(x) < rank(y); });
            stuck += r.stuck;
            ASSERT_EQ(clusters_of(g, false), want) << "N " << N << " seed " << seed << " a " << a << " b " << b
                                            << " merges " << merges;
            ++compared;
          }
        }
  EXPECT_EQ(compared, 3 * 3 * 3 * (10 + 15));
  EXPECT_GT(stuck, 0);  // the published "drop the first cluster" steps are exercised too
}

TEST(ZipItMaps, DuplicatesInsideOneModelMergeWithinIt) {
  const int64_t d = 4;
  std::mt19937_64 rng(3);
  Samples f;
  for (int64_t i = 0; i < 2 * d; ++i) f.push_back(gaussian(rng, 400));
  f[1] = f[0];  // A1 duplicates A0; nothing else correlated
  GroupMaps g = zipit_maps(covariance(f), d, 2, 1);
  auto cl = clusters_of(g);
  ASSERT_EQ(g.width(), 2 * d - 1);
  EXPECT_EQ(g.kind[0], 'A');
  EXPECT_EQ(cl[0], (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(g.m(0, 0, 0), 0.5);
  EXPECT_EQ(g.m(0, 0, 1), 0.5);
  EXPECT_EQ(g.u(0, 0, 0), 1.0);
  EXPECT_EQ(g.u(0, 1, 0), 1.0);
}

// A and B each hold 4 near-duplicate pairs (correlation ≥ .97, B's within-pair ones higher);
// B's features are noisy copies of A's (correlation ≈ .9). Full zip (8 merges) does same-model
// merges until the budget floor((8 / 2)·β) is spent, then only cross-model ones.
TEST(ZipItMaps, BetaBudgetLimitsSameModelMerges) {
  const int64_t d = 8;
  std::mt19937_64 rng(5);
  Samples f(size_t(2 * d));
  for (int64_t k = 0; k < d; k += 2) {
    f[size_t(k)] = gaussian(rng, 2000);
    f[size_t(k + 1)] = noisy(f[size_t(k)], 0.1 + 0.05 * double(k / 2), rng);
    f[size_t(d + k)] = noisy(f[size_t(k)], 0.45, rng);
    f[size_t(d + k + 1)] = noisy(f[size_t(d + k)], 0.08 + 0.05 * double(k / 2), rng);
  }
  const auto cov = covariance(f);
  for (double beta : {0.0, 0.25, 0.5, 1.0}) {
    GroupMaps g = zipit_maps(cov, d, 2, d, {0.3, beta});
    auto cl = clusters_of(g);
    const int64_t budget = int64_t(4 * beta + 1e-4);
    const int64_t within = std::max<int64_t>(budget, 1);  // budget 0 still lets one through, as theirs
    std::map<char, int64_t> kinds;
    for (char k : g.kind) ++kinds[k];
    EXPECT_EQ(kinds['A'], within) << "beta " << beta;
    EXPECT_EQ(kinds['B'], within) << "beta " << beta;
    EXPECT_EQ(kinds['M'], d - 2 * within) << "beta " << beta;
    for (auto& c : cl) EXPECT_EQ(c.size(), 2u);
    RefResult r = reference(cov, d, 2, d, 0.3, beta);
    EXPECT_EQ(r.same_model_merges, (std::vector<int>{int(within), int(within)}));
  }
}

// Three parents: A0 = B0, C0 a slightly noisy copy (correlation ≈ .999), units 1 of A and B
// correlated ≈ .8. With α = 1 the merged {A0, B0} still correlates ≈ .999 with C0 and absorbs it (a
// cluster of 3); with α = .3 its correlations drop to ≈ .3 and the second merge is {A1, B1}.
TEST(ZipItMaps, LargeAlphaGrowsClustersBeyondTwo) {
  const int64_t d = 2;
  std::mt19937_64 rng(9);
  const auto z = gaussian(rng, 1000), w = gaussian(rng, 1000);
  Samples f = {z, noisy(w, 0.5, rng), z, noisy(w, 0.5, rng), noisy(z, 0.05, rng), gaussian(rng, 1000)};
  const auto cov = covariance(f);
  GroupMaps big = zipit_maps(cov, d, 3, 2, {1.0, 0.125});
  auto cl = clusters_of(big);
  ASSERT_EQ(cl[0], (std::vector<int64_t>{0, 2, 4}));
  for (int x = 0; x < 3; ++x) EXPECT_DOUBLE_EQ(big.m(x, 0, 0), 1.0 / 3.0);
  GroupMaps small = zipit_maps(cov, d, 3, 2, {0.3, 0.125});
  cl = clusters_of(small);
  ASSERT_EQ(cl.size(), 4u);
  EXPECT_EQ(cl[0], (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(cl[1], (std::vector<int64_t>{1, 3}));
}

TEST(ZipItMaps, RejectsBadInput) {
  const auto cov = random_cov(6, 2);
  test::expect_error_naming([&] { zipit_maps(cov, 3, 2, 6); }, "zipit_maps", "merges");
  test::expect_error_naming([&] { zipit_maps(cov, 2, 2, 1); }, "zipit_maps", "entries");
  test::expect_error_naming([&] { zipit_maps(cov, 3, 1, 1); }, "zipit_maps", "two parents");
  test::expect_error_naming([&] { zipit_maps(cov, 3, 2, 1, {0.0, 0.1}); }, "zipit_maps", "alpha");
  auto bad = cov;
  bad[7] = std::nan("");
  test::expect_error_naming([&] { zipit_maps(bad, 3, 2, 1); }, "zipit_maps", "non-finite");
}
