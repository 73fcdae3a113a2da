// CCA Merge (Horoi et al., ICML 2024, Section 3), step for step as match_tensors_cca.
//
// For parent 0 (x) and parent i (y):  S_xx = Cov(x) + γI,  S_yy = Cov(y) + γI,  S_xy = Cov(x, y),
//   C = S_xx^{-1/2} S_xy S_yy^{-1/2} = P Σ Qᵀ   (their torch.svd: U, S, V = P, Σ, Q).
// The canonical variables Pᵀ S_xx^{-1/2} x and Qᵀ S_yy^{-1/2} y are pairwise correlated by Σ;
// identifying them sends y into x's space by
//   T_i = S_xx^{1/2} P Qᵀ S_yy^{-1/2}        (their y_map = S_yy^{-1/2} Q Pᵀ S_xx^{1/2} = T_iᵀ),
// and back by T_i⁻¹ = S_yy^{1/2} Q Pᵀ S_xx^{-1/2}   (their y_unmerge_map = S_xx^{-1/2} P Qᵀ S_yy^{1/2}).
//
// Their convention: merge = [I; y_map_1; ...] / N ([N·d, d]), returned as merge.T, merged
// m = merge.T · [f_0; ...; f_{N-1}]; unmerge = [I; y_unmerge_map_1ᵀ; ...], f ≈ unmerge · m. In
// GroupMaps terms (m = Σ_x M_x f_x, f_x ≈ U_x m), M_x is parent x's column block of merge.T and U_x
// its row block of unmerge:
//   M_0 = I/N,  U_0 = I;   M_i = y_map_iᵀ / N = T_i / N,  U_i = y_unmerge_map_iᵀ = T_i⁻¹.
// T_i depends on the SVD only through the polar factor P Qᵀ of C (unique when C is invertible).
//
// Square roots: eigendecomposition (dsyevd) of the symmetric S (they use torch.svd, the same for
// positive definite S), eigenvalues clamped at 1e-12 · λ_max. All products in float64 (cblas_dgemm).
#include "pleas/cca.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace pleas {
namespace {

using Mat = std::vector<double>;  // row-major n × n

Mat mul(const Mat& a, const Mat& b, int64_t n, bool ta = false, bool tb = false) {
  Mat c(size_t(n * n));
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(n), int(n), int(n),
              1.0, a.data(), int(n), b.data(), int(n), 0.0, c.data(), int(n));
  return c;
}

// S^{1/2} and S^{-1/2} of a symmetric positive (semi)definite S.
void sqrt_pair(Mat s, int64_t n, Mat& root, Mat& inv_root, const char* what) {
  for (int64_t i = 0; i < n; ++i)  // symmetrise against rounding in the caller's covariance
    for (int64_t j = 0; j < i; ++j) s[size_t(i * n + j)] = s[size_t(j * n + i)] = 0.5 * (s[size_t(i * n + j)] + s[size_t(j * n + i)]);
  std::vector<double> lam(static_cast<size_t>(n));
  const lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', lapack_int(n), s.data(), lapack_int(n), lam.data());
  PLEAS_CHECK(info == 0, "cca_maps: eigendecomposition of ", what, " failed (LAPACK info ", info, ")");
  const double top = lam.back();  // ascending
  PLEAS_CHECK(std::isfinite(top) && top > 0, "cca_maps: ", what, " has no positive eigenvalue (largest ", top,
              "); dead units and gamma = 0?");
  Mat a(size_t(n * n)), b(size_t(n * n));  // V·diag(λ^{±1/4}) so that root = a·aᵀ, inv_root = b·bᵀ
  for (int64_t k = 0; k < n; ++k) {
    const double l = std::max(lam[size_t(k)], 1e-12 * top);
    for (int64_t i = 0; i < n; ++i) {
      a[size_t(i * n + k)] = s[size_t(i * n + k)] * std::pow(l, 0.25);
      b[size_t(i * n + k)] = s[size_t(i * n + k)] * std::pow(l, -0.25);
    }
  }
  root = mul(a, a, n, false, true);
  inv_root = mul(b, b, n, false, true);
}

}  // namespace

GroupMaps cca_maps(const std::vector<double>& cov, int64_t d, int parents, double gamma) {
  PLEAS_CHECK(parents >= 2, "cca_maps: need at least two parents, got ", parents);
  PLEAS_CHECK(d >= 1, "cca_maps: need at least one unit per parent, got ", d);
  const int64_t n = d * parents;
  PLEAS_CHECK(int64_t(cov.size()) == n * n, "cca_maps: covariance has ", cov.size(), " entries, expected (", parents,
              "·", d, ")² = ", n * n);
  PLEAS_CHECK(std::isfinite(gamma) && gamma >= 0, "cca_maps: gamma must be finite and >= 0, got ", gamma);
  for (double v : cov) PLEAS_CHECK(std::isfinite(v), "cca_maps: non-finite covariance entry");

  auto block = [&](int x, int y, double ridge) {
    Mat b(size_t(d * d));
    for (int64_t i = 0; i < d; ++i)
      for (int64_t j = 0; j < d; ++j)
        b[size_t(i * d + j)] = cov[size_t((x * d + i) * n + y * d + j)] + (i == j ? ridge : 0.0);
    return b;
  };
  Mat eye(size_t(d * d), 0.0);
  for (int64_t i = 0; i < d; ++i) eye[size_t(i * d + i)] = 1.0;

  GroupMaps g;
  g.parents = parents;
  g.d = d;
  g.kind.assign(size_t(d), 'M');
  const double inv_n = 1.0 / parents;
  Mat xx_root, xx_inv;
  sqrt_pair(block(0, 0, gamma), d, xx_root, xx_inv, "S_xx (parent 0)");
  g.M.push_back(eye);
  for (double& v : g.M.back()) v *= inv_n;
  g.U.push_back(eye);
  for (int i = 1; i < parents; ++i) {
    Mat yy_root, yy_inv;
    sqrt_pair(block(i, i, gamma), d, yy_root, yy_inv, "S_yy");
    Mat c = mul(mul(xx_inv, block(0, i, 0.0), d), yy_inv, d);
    // SVD: dgesdd (divide and conquer, ~20x faster than dgesvd here at d = 1024), dgesvd if it fails.
    Mat p(size_t(d * d)), qt(size_t(d * d)), sv(static_cast<size_t>(d)), c2 = c;
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'A', lapack_int(d), lapack_int(d), c.data(), lapack_int(d),
                                     sv.data(), p.data(), lapack_int(d), qt.data(), lapack_int(d));
    if (info > 0) {
      Mat work(static_cast<size_t>(std::max<int64_t>(d - 1, 1)));
      info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'A', 'A', lapack_int(d), lapack_int(d), c2.data(), lapack_int(d),
                            sv.data(), p.data(), lapack_int(d), qt.data(), lapack_int(d), work.data());
    }
    PLEAS_CHECK(info == 0, "cca_maps: SVD of the whitened cross-covariance of parents 0 and ", i,
                " failed (LAPACK info ", info, ")");
    const Mat polar = mul(p, qt, d);                       // P Qᵀ
    Mat t = mul(mul(xx_root, polar, d), yy_inv, d);        // T_i = S_xx^{1/2} P Qᵀ S_yy^{-1/2}
    Mat t_inv = mul(mul(yy_root, polar, d, false, true), xx_inv, d);  // S_yy^{1/2} Q Pᵀ S_xx^{-1/2}
    for (double& v : t) v *= inv_n;
    g.M.push_back(std::move(t));
    g.U.push_back(std::move(t_inv));
  }
  return g;
}

}  // namespace pleas
