// CCA Merge maps (pleas/cca.h): self-merge is the average, an invertible linear remix of the same
// features is undone, every U_x is the inverse of N·M_x, and the maps equal a re-derivation in
// plain double arithmetic with a Jacobi eigensolver (no LAPACK), through the polar factor
// P Qᵀ = C (CᵀC)^{-1/2} of the whitened cross-covariance C.
#include <cmath>
#include <random>

#include "pleas/cca.h"
#include "test_util.h"

using namespace pleas;

namespace {

using Mat = std::vector<double>;  // row-major n × n
using Samples = std::vector<std::vector<double>>;
using test::covariance;

// d correlated features (random mixes of d Gaussians) over t samples.
Samples features(int64_t d, size_t t, std::mt19937_64& rng) {
  std::normal_distribution<double> g;
  Samples z(static_cast<size_t>(d), std::vector<double>(t));
  for (auto& r : z)
    for (double& v : r) v = g(rng);
  Samples f(static_cast<size_t>(d), std::vector<double>(t, 0.0));
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) {
      const double w = g(rng) + (i == j ? 2.0 : 0.0);
      for (size_t k = 0; k < t; ++k) f[size_t(i)][k] += w * z[size_t(j)][k];
    }
  return f;
}

Samples mix(const Mat& r, const Samples& a) {  // the samples R·A
  const size_t d = a.size();
  Samples b(d, std::vector<double>(a[0].size(), 0.0));
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j)
      for (size_t k = 0; k < a[0].size(); ++k) b[i][k] += r[i * d + j] * a[j][k];
  return b;
}

Mat mul(const Mat& a, const Mat& b, int64_t n) {
  Mat c(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < n; ++k)
      for (int64_t j = 0; j < n; ++j) c[size_t(i * n + j)] += a[size_t(i * n + k)] * b[size_t(k * n + j)];
  return c;
}
Mat transpose(const Mat& a, int64_t n) {
  Mat t(a.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) t[size_t(j * n + i)] = a[size_t(i * n + j)];
  return t;
}
Mat eye(int64_t n) {
  Mat e(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) e[size_t(i * n + i)] = 1.0;
  return e;
}

// Cyclic Jacobi: S = V diag(λ) Vᵀ for symmetric S; returns S^p.
Mat jacobi_power(Mat s, int64_t n, double p) {
  Mat v = eye(n);
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        if (i != j) off += s[size_t(i * n + j)] * s[size_t(i * n + j)];
    if (off < 1e-30) break;
    for (int64_t a = 0; a < n; ++a)
      for (int64_t b = a + 1; b < n; ++b) {
        const double sab = s[size_t(a * n + b)];
        if (std::fabs(sab) < 1e-300) continue;
        const double theta = (s[size_t(b * n + b)] - s[size_t(a * n + a)]) / (2 * sab);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), sn = t * c;
        for (int64_t k = 0; k < n; ++k) {  // S ← Jᵀ S J, V ← V J
          const double ka = s[size_t(k * n + a)], kb = s[size_t(k * n + b)];
          s[size_t(k * n + a)] = c * ka - sn * kb;
          s[size_t(k * n + b)] = sn * ka + c * kb;
        }
        for (int64_t k = 0; k < n; ++k) {
          const double ak = s[size_t(a * n + k)], bk = s[size_t(b * n + k)];
          s[size_t(a * n + k)] = c * ak - sn * bk;
          s[size_t(b * n + k)] = sn * ak + c * bk;
        }
        for (int64_t k = 0; k < n; ++k) {
          const double ka = v[size_t(k * n + a)], kb = v[size_t(k * n + b)];
          v[size_t(k * n + a)] = c * ka - sn * kb;
          v[size_t(k * n + b)] = sn * ka + c * kb;
        }
      }
  }
  Mat r(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < n; ++k)
        r[size_t(i * n + j)] += v[size_t(i * n + k)] * std::pow(s[size_t(k * n + k)], p) * v[size_t(j * n + k)];
  return r;
}

Mat block(const std::vector<double>& cov, int64_t d, int N, int x, int y) {
  Mat b(size_t(d * d));
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) b[size_t(i * d + j)] = cov[size_t((x * d + i) * (N * d) + y * d + j)];
  return b;
}

}  // namespace

TEST(CcaMaps, SelfMergeIsTheAverage) {
  std::mt19937_64 rng(1);
  const int64_t d = 4;
  Samples f = features(d, 300, rng), ff = f;
  ff.insert(ff.end(), f.begin(), f.end());
  GroupMaps g = cca_maps(covariance(ff), d, 2);
  EXPECT_NO_THROW(check_maps(g, "cca"));
  ASSERT_EQ(g.parents, 2);
  ASSERT_EQ(g.width(), d);
  for (char k : g.kind) EXPECT_EQ(k, 'M');
  Mat half = eye(d);
  for (double& v : half) v *= 0.5;
  EXPECT_TRUE(test::all_close(g.M[0], half, 1e-15, 0));
  EXPECT_TRUE(test::all_close(g.U[0], eye(d), 1e-15, 0));
  EXPECT_TRUE(test::all_close(g.M[1], half, 1e-9, 0));
  EXPECT_TRUE(test::all_close(g.U[1], eye(d), 1e-9, 0));
}

// Parents B = R_1·A and C = R_2·A: with γ → 0 each is mapped back onto A exactly (T_i = R_i⁻¹), so
// M_i f_i = f_A / 3 and unmerging the merged features returns each parent's own.
TEST(CcaMaps, UndoesAnInvertibleRemix) {
  std::mt19937_64 rng(2);
  const int64_t d = 4;
  const size_t t = 200;
  Samples a = features(d, t, rng);
  std::normal_distribution<double> g;
  std::vector<Samples> parents = {a};
  for (int i = 0; i < 2; ++i) {
    Mat r(size_t(d * d));
    for (int64_t k = 0; k < d * d; ++k) r[size_t(k)] = g(rng) + (k % (d + 1) == 0 ? 3.0 : 0.0);
    parents.push_back(mix(r, a));
  }
  Samples all;
  for (auto& p : parents) all.insert(all.end(), p.begin(), p.end());
  GroupMaps maps = cca_maps(covariance(all), d, 3, 1e-9);
  Samples merged(static_cast<size_t>(d), std::vector<double>(t, 0.0));
  for (int x = 0; x < 3; ++x) {
    Samples mx = mix(maps.M[size_t(x)], parents[size_t(x)]);
    for (int64_t i = 0; i < d; ++i)
      for (size_t k = 0; k < t; ++k) {
        EXPECT_NEAR(mx[size_t(i)][k], a[size_t(i)][k] / 3.0, 1e-6) << "parent " << x;
        merged[size_t(i)][k] += mx[size_t(i)][k];
      }
  }
  for (int x = 0; x < 3; ++x) {
    Samples back = mix(maps.U[size_t(x)], merged);
    for (int64_t i = 0; i < d; ++i)
      for (size_t k = 0; k < t; ++k) EXPECT_NEAR(back[size_t(i)][k], parents[size_t(x)][size_t(i)][k], 1e-6);
  }
}

// Independent features per parent (weakly coupled through a shared component), γ = 0.1: maps
// against the Jacobi re-derivation, and U_x·(N·M_x) = I.
TEST(CcaMaps, MatchesJacobiRederivation) {
  for (int64_t d : {3, 4}) {
    std::mt19937_64 rng(uint64_t(10 + d));
    const int N = 3;
    Samples shared = features(d, 150, rng), all;
    for (int x = 0; x < N; ++x) {
      Samples own = features(d, 150, rng);
      for (int64_t i = 0; i < d; ++i)
        for (size_t k = 0; k < 150; ++k) own[size_t(i)][k] = 0.7 * own[size_t(i)][k] + shared[size_t((i + x) % d)][k];
      all.insert(all.end(), own.begin(), own.end());
    }
    const auto cov = covariance(all);
    const double gamma = 0.1;
    GroupMaps g = cca_maps(cov, d, N, gamma);
    EXPECT_NO_THROW(check_maps(g, "cca"));
    ASSERT_EQ(g.width(), d);
    Mat sxx = block(cov, d, N, 0, 0);
    for (int64_t i = 0; i < d; ++i) sxx[size_t(i * d + i)] += gamma;
    const Mat xr = jacobi_power(sxx, d, 0.5), xi = jacobi_power(sxx, d, -0.5);
    for (int i = 1; i < N; ++i) {
      Mat syy = block(cov, d, N, i, i);
      for (int64_t k = 0; k < d; ++k) syy[size_t(k * d + k)] += gamma;
      const Mat yr = jacobi_power(syy, d, 0.5), yi = jacobi_power(syy, d, -0.5);
      const Mat c = mul(mul(xi, block(cov, d, N, 0, i), d), yi, d);
      const Mat polar = mul(c, jacobi_power(mul(transpose(c, d), c, d), d, -0.5), d);
      Mat t = mul(mul(xr, polar, d), yi, d);
      const Mat t_inv = mul(mul(yr, transpose(polar, d), d), xi, d);
      for (double& v : t) v /= N;
      EXPECT_TRUE(test::all_close(g.M[size_t(i)], t, 1e-10, 1e-9)) << "d " << d << " parent " << i;
      EXPECT_TRUE(test::all_close(g.U[size_t(i)], t_inv, 1e-10, 1e-9)) << "d " << d << " parent " << i;
    }
    for (int x = 0; x < N; ++x) {
      Mat nm = g.M[size_t(x)];
      for (double& v : nm) v *= N;
      EXPECT_TRUE(test::all_close(mul(g.U[size_t(x)], nm, d), eye(d), 1e-10, 0)) << "parent " << x;
    }
  }
}

TEST(CcaMaps, RejectsBadInput) {
  std::mt19937_64 rng(4);
  Samples f = features(6, 50, rng);
  const auto cov = covariance(f);
  test::expect_error_naming([&] { cca_maps(cov, 2, 2); }, "cca_maps", "entries");
  test::expect_error_naming([&] { cca_maps(cov, 3, 1); }, "cca_maps", "two parents");
  test::expect_error_naming([&] { cca_maps(cov, 3, 2, -1.0); }, "cca_maps", "gamma");
  auto bad = cov;
  bad[3] = INFINITY;
  test::expect_error_naming([&] { cca_maps(bad, 3, 2); }, "cca_maps", "non-finite");
  std::vector<double> zero(36, 0.0);
  test::expect_error_naming([&] { cca_maps(zero, 3, 2, 0.0); }, "cca_maps", "positive eigenvalue");
}
