// Linear probes on penultimate features; the math is in linear_probe.h.
#include "experiments/linear_probe.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "data/loader.h"
#include "engine/error.h"
#include "engine/progress.h"

namespace pleas {

ProbeKind parse_probe_kind(const std::string& s) {
  if (s == "ridge") return ProbeKind::ridge;
  if (s == "logistic") return ProbeKind::logistic;
  PLEAS_FAIL("linear probe: unknown probe '", s, "' (ridge, logistic)");
}

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Row-major [n, c] float64 host matrix.
struct Mat {
  int64_t n = 0, c = 0;
  std::vector<double> v;
  const double* row(int64_t i) const { return v.data() + i * c; }
};

Mat to_mat(const Tensor& X, const char* what) {
  PLEAS_CHECK(X.defined() && X.dim() == 2, "linear probe: ", what, " features must be a [N, C] matrix, got ",
              X.defined() ? shape_str(X.shape()) : std::string("an undefined tensor"));
  Mat m;
  m.n = X.size(0);
  m.c = X.size(1);
  m.v = X.to_double_vector();
  for (double x : m.v) PLEAS_CHECK(std::isfinite(x), "linear probe: the ", what, " features contain NaN or infinity");
  return m;
}

std::vector<int64_t> all_rows(int64_t n) {
  std::vector<int64_t> r(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) r[size_t(i)] = i;
  return r;
}

// m, s over `rows` (two passes); s_j ≤ 1e-9 |m_j| (constant up to rounding) counts as constant: 1.
void standardiser(const Mat& X, const std::vector<int64_t>& rows, std::vector<double>& mean,
                  std::vector<double>& inv_std) {
  const int64_t C = X.c;
  const double n = double(rows.size());
  mean.assign(size_t(C), 0.0);
  std::vector<double> var(size_t(C), 0.0);
  for (int64_t r : rows)
    for (int64_t j = 0; j < C; ++j) mean[size_t(j)] += X.row(r)[j];
  for (double& m : mean) m /= n;
  for (int64_t r : rows)
    for (int64_t j = 0; j < C; ++j) {
      const double d = X.row(r)[j] - mean[size_t(j)];
      var[size_t(j)] += d * d;
    }
  inv_std.assign(size_t(C), 1.0);
  for (int64_t j = 0; j < C; ++j) {
    const double sd = std::sqrt(var[size_t(j)] / n);
    if (sd > 1e-9 * std::fabs(mean[size_t(j)]) && sd > 0) inv_std[size_t(j)] = 1.0 / sd;
  }
}

// Z [rows, C] = (X[rows] − mean) ⊙ inv_std.
std::vector<double> standardised(const Mat& X, const std::vector<int64_t>& rows, const std::vector<double>& mean,
                                 const std::vector<double>& inv_std) {
  const int64_t C = X.c;
  std::vector<double> Z(rows.size() * size_t(C));
  for (size_t i = 0; i < rows.size(); ++i) {
    const double* x = X.row(rows[i]);
    double* z = Z.data() + i * size_t(C);
    for (int64_t j = 0; j < C; ++j) z[j] = (x[j] - mean[size_t(j)]) * inv_std[size_t(j)];
  }
  return Z;
}

// Scores [rows, K] of a classifier on rows of X.
std::vector<double> scores_rows(const LinearClassifier& f, const Mat& X, const std::vector<int64_t>& rows) {
  PLEAS_CHECK(X.c == f.dim, "linear probe: features of width ", X.c, ", the classifier expects ", f.dim);
  const int64_t n = int64_t(rows.size()), C = f.dim, K = f.classes;
  std::vector<double> S(size_t(n * K));
  if (n == 0) return S;
  const std::vector<double> Z = standardised(X, rows, f.mean, f.inv_std);
  for (int64_t i = 0; i < n; ++i) std::copy(f.b.begin(), f.b.end(), S.begin() + i * K);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(n), int(K), int(C), 1.0, Z.data(), int(C), f.W.data(),
              int(K), 1.0, S.data(), int(K));
  return S;
}

int64_t argmax_row(const double* s, int64_t K) {
  int64_t best = 0;
  for (int64_t k = 1; k < K; ++k)
    if (s[k] > s[best]) best = k;  // first index on ties, as torch.argmax
  return best;
}

double top1_of(const std::vector<double>& S, int64_t K, const std::vector<int64_t>& y,
               const std::vector<int64_t>& rows) {
  if (rows.empty()) return 0.0;
  int64_t correct = 0;
  for (size_t i = 0; i < rows.size(); ++i) correct += argmax_row(S.data() + i * size_t(K), K) == y[size_t(rows[i])];
  return 100.0 * double(correct) / double(rows.size());
}

// Mean squared error to the one-hot targets (ridge) or mean cross-entropy (logistic).
double holdout_loss(const std::vector<double>& S, int64_t K, const std::vector<int64_t>& y,
                    const std::vector<int64_t>& rows, ProbeKind kind) {
  double loss = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const double* s = S.data() + i * size_t(K);
    const int64_t t = y[size_t(rows[i])];
    if (kind == ProbeKind::ridge) {
      for (int64_t k = 0; k < K; ++k) loss += (s[k] - (k == t)) * (s[k] - (k == t));
    } else {
      const double mx = *std::max_element(s, s + K);
      double e = 0;
      for (int64_t k = 0; k < K; ++k) e += std::exp(s[k] - mx);
      loss += mx + std::log(e) - s[t];
    }
  }
  return rows.empty() ? 0.0 : loss / double(rows.size());
}

// Ridge on rows of X: the standardisation, the centred Gram ZcᵀZc and ZcᵀY, formed once; solve(λ)
// for each λ. With z̄ the (rounding-level) mean of Z over the rows: W = (ZcᵀZc + λI)⁻¹ ZcᵀY,
// b = ȳ − Wᵀz̄, which is the exact minimiser of the header's objective in the coordinates z.
struct RidgeSystem {
  int64_t C = 0, K = 0, n = 0;
  std::vector<double> mean, inv_std, zbar, ybar, G, R;

  RidgeSystem(const Mat& X, const std::vector<int64_t>& y, const std::vector<int64_t>& rows, int64_t classes)
      : C(X.c), K(classes), n(int64_t(rows.size())) {
    standardiser(X, rows, mean, inv_std);
    std::vector<double> Z = standardised(X, rows, mean, inv_std);
    zbar.assign(size_t(C), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < C; ++j) zbar[size_t(j)] += Z[size_t(i * C + j)];
    for (double& z : zbar) z /= double(n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < C; ++j) Z[size_t(i * C + j)] -= zbar[size_t(j)];
    ybar.assign(size_t(K), 0.0);
    R.assign(size_t(C * K), 0.0);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t t = y[size_t(rows[size_t(i)])];
      ybar[size_t(t)] += 1.0 / double(n);
      for (int64_t j = 0; j < C; ++j) R[size_t(j * K + t)] += Z[size_t(i * C + j)];
    }
    G.assign(size_t(C * C), 0.0);  // upper triangle (row-major) of ZcᵀZc
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, int(C), int(n), 1.0, Z.data(), int(C), 0.0, G.data(), int(C));
  }

  LinearClassifier solve(double lambda) const {
    PLEAS_CHECK(lambda > 0 && std::isfinite(lambda), "linear probe: ridge needs λ > 0, got ", lambda);
    std::vector<double> A = G, B = R;
    for (int64_t j = 0; j < C; ++j) A[size_t(j * C + j)] += lambda;
    const lapack_int info =
        LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', lapack_int(C), lapack_int(K), A.data(), lapack_int(C), B.data(),
                      lapack_int(K));
    PLEAS_CHECK(info == 0, "linear probe: ridge system (", C, " features, λ = ", lambda, ") not solved (dposv info ",
                info, ")");
    LinearClassifier f;
    f.dim = C;
    f.classes = K;
    f.mean = mean;
    f.inv_std = inv_std;
    f.W = std::move(B);
    f.b = ybar;
    for (int64_t j = 0; j < C; ++j)
      for (int64_t k = 0; k < K; ++k) f.b[size_t(k)] -= f.W[size_t(j * K + k)] * zbar[size_t(j)];
    return f;
  }
};

// Multinomial logistic regression on rows of X (standardised by their own m, s), L-BFGS.
struct LogisticSystem {
  int64_t C = 0, K = 0, n = 0;
  std::vector<double> mean, inv_std, Z;
  std::vector<int64_t> t;  // labels of the rows
  mutable std::vector<double> row_loss;

  LogisticSystem(const Mat& X, const std::vector<int64_t>& y, const std::vector<int64_t>& rows, int64_t classes)
      : C(X.c), K(classes), n(int64_t(rows.size())) {
    standardiser(X, rows, mean, inv_std);
    Z = standardised(X, rows, mean, inv_std);
    for (int64_t r : rows) t.push_back(y[size_t(r)]);
  }

  // f(θ) and ∇f(θ), θ = [W (C·K, row-major), b (K)].
  double eval(const std::vector<double>& th, double mu, std::vector<double>& g, std::vector<double>& S) const {
    const double* W = th.data();
    const double* b = th.data() + C * K;
    S.resize(size_t(n * K));
    for (int64_t i = 0; i < n; ++i) std::copy(b, b + K, S.begin() + i * K);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(n), int(K), int(C), 1.0, Z.data(), int(C), W, int(K),
                1.0, S.data(), int(K));
    const double inv_n = 1.0 / double(n);
    row_loss.resize(size_t(n));
    // Rows in parallel; their losses summed in row order afterwards (the same sum for any threads).
#pragma omp parallel for schedule(static) if (n * K >= 16384)
    for (int64_t i = 0; i < n; ++i) {  // S becomes (P − Y) / n
      double* s = S.data() + i * K;
      const double mx = *std::max_element(s, s + K);
      double e = 0;
      for (int64_t k = 0; k < K; ++k) e += std::exp(s[k] - mx);
      const double lse = mx + std::log(e);
      row_loss[size_t(i)] = lse - s[t[size_t(i)]];
      for (int64_t k = 0; k < K; ++k) s[k] = std::exp(s[k] - lse) * inv_n;
      s[t[size_t(i)]] -= inv_n;
    }
    double loss = 0;
    for (double l : row_loss) loss += l;
    loss *= inv_n;
    g.assign(th.size(), 0.0);
    double w2 = 0;
    for (int64_t j = 0; j < C * K; ++j) {
      w2 += W[j] * W[j];
      g[size_t(j)] = mu * W[j];
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(C), int(K), int(n), 1.0, Z.data(), int(C), S.data(),
                int(K), 1.0, g.data(), int(K));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < K; ++k) g[size_t(C * K + k)] += S[size_t(i * K + k)];
    return loss + 0.5 * mu * w2;
  }

  // From θ = 0, or from `warm` (a classifier of the same shape) when given.
  LinearClassifier fit(double mu, const ProbeOptions& o, const LinearClassifier* warm = nullptr) const {
    PLEAS_CHECK(mu >= 0 && std::isfinite(mu), "linear probe: logistic needs weight decay μ ≥ 0, got ", mu);
    PLEAS_CHECK(o.max_iter >= 0 && o.lbfgs_history >= 1, "linear probe: max_iter ≥ 0 and lbfgs_history ≥ 1 needed");
    const size_t P = size_t((C + 1) * K);
    auto dot = [](const std::vector<double>& a, const std::vector<double>& b) {
      double s = 0;
      for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
      return s;
    };
    auto inf_norm = [](const std::vector<double>& a) {
      double m = 0;
      for (double x : a) m = std::max(m, std::fabs(x));
      return m;
    };
    std::vector<double> x(P, 0.0), g, S, xn(P), gn, d(P);
    if (warm) {
      PLEAS_CHECK(warm->dim == C && warm->classes == K, "linear probe: internal: warm start of another shape");
      std::copy(warm->W.begin(), warm->W.end(), x.begin());
      std::copy(warm->b.begin(), warm->b.end(), x.begin() + C * K);
    }
    double f = eval(x, mu, g, S);
    std::vector<std::vector<double>> ss, ys;  // the last `history` steps and gradient changes
    std::vector<double> rho;
    int it = 0;
    for (; it < o.max_iter && inf_norm(g) > o.tol; ++it) {
      // d = −H g by the two-loop recursion, H₀ = γI with γ = sᵀy / yᵀy of the newest pair.
      d = g;
      std::vector<double> alpha(ss.size());
      for (size_t h = ss.size(); h-- > 0;) {
        alpha[h] = rho[h] * dot(ss[h], d);
        for (size_t p = 0; p < P; ++p) d[p] -= alpha[h] * ys[h][p];
      }
      const double gamma = ss.empty() ? 1.0 / std::max(1.0, std::sqrt(dot(g, g)))
                                      : dot(ss.back(), ys.back()) / dot(ys.back(), ys.back());
      for (double& v : d) v *= gamma;
      for (size_t h = 0; h < ss.size(); ++h) {
        const double beta = rho[h] * dot(ys[h], d);
        for (size_t p = 0; p < P; ++p) d[p] += (alpha[h] - beta) * ss[h][p];
      }
      for (double& v : d) v = -v;
      double gd = dot(g, d);
      if (!(gd < 0)) {  // not a descent direction (rounding): restart from steepest descent
        ss.clear(), ys.clear(), rho.clear();
        for (size_t p = 0; p < P; ++p) d[p] = -g[p] / std::max(1.0, std::sqrt(dot(g, g)));
        gd = dot(g, d);
      }
      // Armijo backtracking from step 1.
      double step = 1.0, fn = 0;
      bool ok = false;
      for (int ls = 0; ls < 60; ++ls, step *= 0.5) {
        for (size_t p = 0; p < P; ++p) xn[p] = x[p] + step * d[p];
        fn = eval(xn, mu, gn, S);
        if (fn <= f + 1e-4 * step * gd) { ok = true; break; }
      }
      if (!ok) break;  // no decrease at rounding level: converged as far as float64 allows
      std::vector<double> s(P), yv(P);
      for (size_t p = 0; p < P; ++p) { s[p] = xn[p] - x[p]; yv[p] = gn[p] - g[p]; }
      const double sy = dot(s, yv);
      if (sy > 1e-12 * dot(yv, yv)) {
        if (int(ss.size()) == o.lbfgs_history) { ss.erase(ss.begin()); ys.erase(ys.begin()); rho.erase(rho.begin()); }
        ss.push_back(std::move(s));
        ys.push_back(std::move(yv));
        rho.push_back(1.0 / sy);
      }
      x.swap(xn);
      g.swap(gn);
      f = fn;
    }
    LinearClassifier c;
    c.dim = C;
    c.classes = K;
    c.mean = mean;
    c.inv_std = inv_std;
    c.W.assign(x.begin(), x.begin() + C * K);
    c.b.assign(x.begin() + C * K, x.end());
    c.iterations = it;
    return c;
  }
};

void check_labels(const std::vector<int64_t>& y, int64_t classes, const char* what) {
  for (size_t i = 0; i < y.size(); ++i)
    PLEAS_CHECK(y[i] >= 0 && y[i] < classes, "linear probe: ", what, " label ", y[i], " (row ", i,
                ") is not a class in [0, ", classes, ")");
}

void check_fit_input(const Mat& X, const std::vector<int64_t>& y, int64_t classes) {
  PLEAS_CHECK(classes >= 2, "linear probe: needs at least 2 classes, got ", classes);
  PLEAS_CHECK(X.n > 0, "linear probe: no training features");
  PLEAS_CHECK(X.c > 0, "linear probe: features of width 0");
  PLEAS_CHECK(int64_t(y.size()) == X.n, "linear probe: ", X.n, " training feature rows but ", y.size(), " labels");
  check_labels(y, classes, "training");
}

}  // namespace

std::vector<double> LinearClassifier::scores(const Tensor& X) const {
  const Mat m = to_mat(X, "input");
  return scores_rows(*this, m, all_rows(m.n));
}

std::vector<int64_t> LinearClassifier::predict(const Tensor& X) const {
  const std::vector<double> S = scores(X);
  std::vector<int64_t> p(S.size() / size_t(std::max<int64_t>(classes, 1)));
  for (size_t i = 0; i < p.size(); ++i) p[i] = argmax_row(S.data() + i * size_t(classes), classes);
  return p;
}

double LinearClassifier::top1(const Tensor& X, const std::vector<int64_t>& y) const {
  const Mat m = to_mat(X, "input");
  PLEAS_CHECK(int64_t(y.size()) == m.n, "linear probe: ", m.n, " feature rows but ", y.size(), " labels");
  const auto rows = all_rows(m.n);
  return top1_of(scores_rows(*this, m, rows), classes, y, rows);
}

LinearClassifier fit_ridge(const Tensor& X, const std::vector<int64_t>& y, int64_t classes, double lambda) {
  const Mat m = to_mat(X, "training");
  check_fit_input(m, y, classes);
  return RidgeSystem(m, y, all_rows(m.n), classes).solve(lambda);
}

LinearClassifier fit_logistic(const Tensor& X, const std::vector<int64_t>& y, int64_t classes, double mu,
                              const ProbeOptions& o) {
  const Mat m = to_mat(X, "training");
  check_fit_input(m, y, classes);
  return LogisticSystem(m, y, all_rows(m.n), classes).fit(mu, o);
}

ProbeResult probe_features(const Tensor& train_x, const std::vector<int64_t>& train_y, const Tensor& test_x,
                           const std::vector<int64_t>& test_y, int64_t classes, const ProbeOptions& o) {
  const auto t0 = Clock::now();
  const ProbeKind kind = parse_probe_kind(o.kind);
  const Mat Xtr = to_mat(train_x, "training"), Xte = to_mat(test_x, "test");
  check_fit_input(Xtr, train_y, classes);
  PLEAS_CHECK(Xte.n > 0, "linear probe: no test features");
  PLEAS_CHECK(Xte.c == Xtr.c, "linear probe: test features of width ", Xte.c, ", training features of width ", Xtr.c);
  PLEAS_CHECK(int64_t(test_y.size()) == Xte.n, "linear probe: ", Xte.n, " test feature rows but ", test_y.size(),
              " labels");
  check_labels(test_y, classes, "test");
  const bool ridge = kind == ProbeKind::ridge;
  const std::vector<double>& grid = ridge ? o.ridge_grid : o.logistic_grid;
  PLEAS_CHECK(!grid.empty(), "linear probe: empty ", ridge ? "ridge" : "logistic", " grid");
  for (double g : grid)
    PLEAS_CHECK(std::isfinite(g) && (ridge ? g > 0 : g >= 0), "linear probe: grid value ", g,
                ridge ? " (ρ must be > 0)" : " (μ must be ≥ 0)");

  ProbeResult r;
  r.kind = o.kind;
  r.train_images = Xtr.n;
  r.test_images = Xte.n;
  r.dim = Xtr.c;
  r.classes = classes;
  double chosen = grid[0];
  std::vector<LinearClassifier> holdout_fits;  // logistic: the path's solutions, in grid order
  if (grid.size() > 1) {
    PLEAS_CHECK(o.holdout > 0 && o.holdout < 1, "linear probe: holdout fraction must be in (0, 1), got ", o.holdout);
    PLEAS_CHECK(Xtr.n >= 2, "linear probe: choosing the regularisation needs at least 2 training images, got ", Xtr.n);
    const std::vector<size_t> perm = data::seeded_permutation(size_t(Xtr.n), o.seed);
    const int64_t h = std::clamp<int64_t>(std::llround(o.holdout * double(Xtr.n)), 1, Xtr.n - 1);
    std::vector<int64_t> hold(perm.begin(), perm.begin() + h), fit(perm.begin() + h, perm.end());
    std::sort(hold.begin(), hold.end());
    std::sort(fit.begin(), fit.end());
    double best_acc = -1, best_loss = std::numeric_limits<double>::infinity();
    auto consider = [&](double g, const LinearClassifier& f) {
      const std::vector<double> S = scores_rows(f, Xtr, hold);
      const double acc = top1_of(S, classes, train_y, hold), loss = holdout_loss(S, classes, train_y, hold, kind);
      r.grid.push_back(g);
      r.holdout_top1.push_back(acc);
      if (acc > best_acc || (acc == best_acc && loss < best_loss)) { best_acc = acc; best_loss = loss; chosen = g; }
    };
    if (ridge) {
      const RidgeSystem sys(Xtr, train_y, fit, classes);
      for (double g : grid) consider(g, sys.solve(g * double(fit.size())));
    } else {
      // The regularisation path from the strongest weight decay down, each fit warm-started from
      // the previous one's solution; results are recorded in grid order.
      const LogisticSystem sys(Xtr, train_y, fit, classes);
      std::vector<size_t> order(grid.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return grid[a] > grid[b]; });
      holdout_fits.resize(grid.size());
      for (size_t i = 0; i < order.size(); ++i)
        holdout_fits[order[i]] = sys.fit(grid[order[i]], o, i ? &holdout_fits[order[i - 1]] : nullptr);
      for (size_t i = 0; i < grid.size(); ++i) consider(grid[i], holdout_fits[i]);
    }
  }
  const auto rows = all_rows(Xtr.n);
  r.lambda = chosen;
  if (ridge) {
    r.lambda_abs = chosen * double(Xtr.n);
    r.classifier = RidgeSystem(Xtr, train_y, rows, classes).solve(r.lambda_abs);
  } else {
    r.lambda_abs = chosen;
    const size_t at = size_t(std::find(grid.begin(), grid.end(), chosen) - grid.begin());
    r.classifier = LogisticSystem(Xtr, train_y, rows, classes)
                       .fit(chosen, o, holdout_fits.empty() ? nullptr : &holdout_fits[at]);
    r.iterations = r.classifier.iterations;
  }
  r.fit_seconds = since(t0);
  r.train_top1 = top1_of(scores_rows(r.classifier, Xtr, rows), classes, train_y, rows);
  const auto test_rows = all_rows(Xte.n);
  r.test_top1 = top1_of(scores_rows(r.classifier, Xte, test_rows), classes, test_y, test_rows);
  r.seconds = since(t0);
  return r;
}

Tensor penultimate_features(Model& m, std::shared_ptr<const data::Dataset> ds, const data::Transform& tf,
                            const FeatureOptions& o) {
  PLEAS_CHECK(ds != nullptr, "penultimate features: no dataset");
  PLEAS_CHECK(ds->size() > 0, "penultimate features: the dataset is empty");
  const std::vector<Linear*> lin = m.linears();
  PLEAS_CHECK(!lin.empty() && lin.back() != nullptr, "penultimate features: the model (", m.arch(),
              ") has no Linear layer, so it has no classifier whose input could be taken");
  const Linear& head = *lin.back();
  PLEAS_CHECK(head.weight.defined() && head.weight.dim() == 2, "penultimate features: ", head.path,
              " has no [out, in] weight");
  const int64_t N = int64_t(ds->size()), C = head.weight.size(1);
  std::vector<float> out(size_t(N * C));
  int64_t pos = 0, batch_n = 0, calls = 0;
  Shape head_out;
  Hooks hooks;
  hooks.add(head.path, [&](const std::string& path, const Tensor& in, const Tensor& y) {
    ++calls;
    PLEAS_CHECK(in.dim() == 2 && in.size(0) == batch_n && in.size(1) == C, "penultimate features: ", path,
                " read ", shape_str(in.shape()), ", expected [", batch_n, ", ", C, "]");
    const Tensor h = in.to(Device::cpu()).to(DType::f32).contiguous();
    std::memcpy(out.data() + pos * C, h.data<float>(), size_t(batch_n * C) * sizeof(float));
    head_out = y.shape();
  });
  ForwardCtx ctx;
  ctx.hooks = &hooks;
  data::LoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.num_threads = o.threads;
  lo.device = m.device();
  PLEAS_CHECK(!o.device || *o.device == m.device(), "penultimate features: batches on ", o.device->str(),
              " but the model is on ", m.device().str());
  data::DataLoader loader(ds, tf, lo);
  data::Batch b;
  Progress bar(o.progress);
  const auto t0 = Clock::now();
  while (loader.next(b)) {
    batch_n = b.images.size(0);
    PLEAS_CHECK(b.first == pos, "penultimate features: internal: batch at ", b.first, ", expected ", pos);
    calls = 0;
    const Tensor logits = m.forward(b.images, ctx);
    PLEAS_CHECK(calls == 1, "penultimate features: the final Linear ", head.path, " ran ", calls,
                " times in one forward (expected once)");
    PLEAS_CHECK(head_out == logits.shape(), "penultimate features: ", head.path, " is not the classifier: it gives ",
                shape_str(head_out), ", the model's output is ", shape_str(logits.shape()));
    pos += batch_n;
    const double s = since(t0);
    bar.update(pos == N, "  features %lld/%lld images, %.0f images/s", (long long)pos, (long long)N, pos / s);
  }
  PLEAS_CHECK(pos == N, "penultimate features: ", pos, " of ", N, " images loaded");
  return Tensor::from_vector(out, {N, C});
}

namespace {
std::shared_ptr<const data::Dataset> first_per_class(std::shared_ptr<const data::Dataset> ds, int64_t k) {
  if (k <= 0) return ds;
  std::vector<int64_t> taken(size_t(std::max<int64_t>(ds->num_classes(), 0)), 0);
  std::vector<size_t> idx;
  for (size_t i = 0; i < ds->size(); ++i) {
    const int64_t l = ds->label(i);
    if (l >= 0 && l < int64_t(taken.size()) && taken[size_t(l)] < k) {
      ++taken[size_t(l)];
      idx.push_back(i);
    }
  }
  return std::make_shared<data::SubsetDataset>(ds, std::move(idx));
}
}  // namespace

ProbeResult linear_probe(Model& m, std::shared_ptr<const data::Dataset> train_ds,
                         std::shared_ptr<const data::Dataset> test_ds, const data::Transform& tf,
                         const ProbeOptions& o) {
  const auto t0 = Clock::now();
  PLEAS_CHECK(train_ds && test_ds, "linear probe: no training or no test dataset");
  PLEAS_CHECK(train_ds->size() > 0, "linear probe: the training dataset is empty");
  PLEAS_CHECK(test_ds->size() > 0, "linear probe: the test dataset is empty");
  PLEAS_CHECK(train_ds->num_classes() == test_ds->num_classes(), "linear probe: the training set has ",
              train_ds->num_classes(), " classes, the test set ", test_ds->num_classes());
  const auto &tn = train_ds->class_names(), &sn = test_ds->class_names();
  PLEAS_CHECK(tn.empty() || sn.empty() || tn == sn, "linear probe: the training set's classes (", join_csv(tn),
              ") are not the test set's (", join_csv(sn), ")");
  auto train = first_per_class(train_ds, o.train_per_class), test = first_per_class(test_ds, o.test_per_class);
  const Tensor xtr = penultimate_features(m, train, tf, o);
  const Tensor xte = penultimate_features(m, test, tf, o);
  const double feature_seconds = since(t0);
  ProbeResult r = probe_features(xtr, train->labels(), xte, test->labels(), train_ds->num_classes(), o);
  r.feature_seconds = feature_seconds;
  r.seconds = since(t0);
  return r;
}

}  // namespace pleas
