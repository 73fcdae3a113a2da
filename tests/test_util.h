// Test helpers: fresh random inputs from an independent generator (std::mt19937_64, not the
// engine's Philox), comparison against double-precision references with
// |got - ref| <= atol + rtol·|ref| and the worst error reported, and CUDA skipping.
#pragma once
#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/model.h"

namespace pleas::test {

inline Tensor random_tensor(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0,
                            DType dt = DType::f32) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(size_t(shape_numel(shape)));
  for (auto& x : v) x = u(rng);
  return Tensor::from_vector(v, shape).to(dt);
}

inline std::vector<double> host(const Tensor& t) { return t.to_double_vector(); }

struct CloseResult {
  double max_abs = 0, max_excess = -1;
  int64_t worst = -1, bad = 0;
};

inline ::testing::AssertionResult all_close(const std::vector<double>& got,
                                            const std::vector<double>& ref, double atol, double rtol) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " vs reference " << ref.size();
  CloseResult r;
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::fabs(got[i] - ref[i]);
    double excess = err - (atol + rtol * std::fabs(ref[i]));
    if (!(err <= atol + rtol * std::fabs(ref[i]))) ++r.bad;  // NaN counts as bad
    if (err > r.max_abs || std::isnan(err)) r.max_abs = err;
    if (excess > r.max_excess || std::isnan(excess)) { r.max_excess = excess; r.worst = int64_t(i); }
  }
  if (r.bad == 0) return ::testing::AssertionSuccess() << "max abs error " << r.max_abs;
  return ::testing::AssertionFailure()
         << r.bad << " of " << got.size() << " elements outside atol " << atol << " + rtol " << rtol
         << "; max abs error " << r.max_abs << "; worst at " << r.worst << ": got " << got[r.worst]
         << ", reference " << ref[r.worst];
}

inline ::testing::AssertionResult all_close(const Tensor& got, const std::vector<double>& ref,
                                            double atol, double rtol) {
  return all_close(host(got), ref, atol, rtol);
}
inline ::testing::AssertionResult all_close(const Tensor& got, const Tensor& ref, double atol,
                                            double rtol) {
  if (got.shape() != ref.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(got.shape()) << " vs reference "
                                         << shape_str(ref.shape());
  return all_close(host(got), host(ref), atol, rtol);
}

// Tensor-scale tolerance: |got - ref| <= atol + rtol * max|ref| for every element. Used where the
// reference is an exact (float64) computation of a deep f32 network, whose rounding error scales
// with the tensor's magnitude rather than with each element's.
inline ::testing::AssertionResult all_close_scaled(const Tensor& got, const Tensor& ref, double atol,
                                                   double rtol) {
  if (got.shape() != ref.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(got.shape()) << " vs reference "
                                         << shape_str(ref.shape());
  auto r = host(ref);
  double mx = 0;
  for (double v : r) mx = std::fmax(mx, std::fabs(v));
  return all_close(host(got), r, atol + rtol * mx, 0.0);
}

// The message of the pleas::Error that f() throws, or "(no error)".
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Expects f() to throw a pleas::Error whose message starts a clause with "op:" and contains detail.
template <typename F>
void expect_error_naming(F f, const std::string& op, const std::string& detail = "") {
  try {
    f();
    ADD_FAILURE() << "expected pleas::Error from " << op;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(op + ":"), std::string::npos) << msg;
    if (!detail.empty()) {
      EXPECT_NE(msg.find(detail), std::string::npos) << msg;
    }
  }
}

// Solves a x = b (a: n x n row-major, b: n x m) by Gaussian elimination with partial pivoting, in
// double: the independent reference for Cholesky solves and least squares.
inline std::vector<double> gauss_solve(std::vector<double> a, std::vector<double> b, int64_t n, int64_t m) {
  for (int64_t c = 0; c < n; ++c) {
    int64_t p = c;
    for (int64_t r = c + 1; r < n; ++r)
      if (std::fabs(a[size_t(r * n + c)]) > std::fabs(a[size_t(p * n + c)])) p = r;
    for (int64_t j = 0; j < n; ++j) std::swap(a[size_t(c * n + j)], a[size_t(p * n + j)]);
    for (int64_t j = 0; j < m; ++j) std::swap(b[size_t(c * m + j)], b[size_t(p * m + j)]);
    for (int64_t r = c + 1; r < n; ++r) {
      const double f = a[size_t(r * n + c)] / a[size_t(c * n + c)];
      for (int64_t j = c; j < n; ++j) a[size_t(r * n + j)] -= f * a[size_t(c * n + j)];
      for (int64_t j = 0; j < m; ++j) b[size_t(r * m + j)] -= f * b[size_t(c * m + j)];
    }
  }
  std::vector<double> x(static_cast<size_t>(n * m));
  for (int64_t c = n - 1; c >= 0; --c)
    for (int64_t j = 0; j < m; ++j) {
      double s = b[size_t(c * m + j)];
      for (int64_t k = c + 1; k < n; ++k) s -= a[size_t(c * n + k)] * x[size_t(k * m + j)];
      x[size_t(c * m + j)] = s / a[size_t(c * n + c)];
    }
  return x;
}

// The input and output of module `path` in one forward of `m` on `x`, as doubles with their shapes.
struct HookedIO {
  std::vector<double> in, out;
  Shape in_shape, out_shape;
};
inline HookedIO hooked_io(Model& m, const std::string& path, const Tensor& x) {
  HookedIO r;
  Hooks h;
  h.add(path, [&](const std::string&, const Tensor& in, const Tensor& out) {
    r.in = host(in); r.out = host(out); r.in_shape = in.shape(); r.out_shape = out.shape();
  });
  ForwardCtx ctx;
  ctx.hooks = &h;
  m.forward(x, ctx);
  return r;
}

// A fresh directory under the system temp dir, removed with its contents at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pleas_test_XXXXXX").string();
    PLEAS_CHECK(mkdtemp(tmpl.data()) != nullptr, "mkdtemp failed for ", tmpl);
    path = tmpl;
  }
  ~TempDir() { std::error_code ec; std::filesystem::remove_all(path, ec); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& rel) const { return (path / rel).string(); }
  std::vector<std::string> listing() const {  // file names, sorted
    std::vector<std::string> v;
    for (const auto& e : std::filesystem::directory_iterator(path)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
  }
};

// ../shared beside the project root, or empty when absent.
inline std::string shared_dir() {
  std::filesystem::path p(PLEAS_SHARED_DIR);
  return std::filesystem::is_directory(p) ? p.string() : std::string();
}

// Population covariance of features f[feature][sample] (row-major n × n), by plain loops.
inline std::vector<double> covariance(const std::vector<std::vector<double>>& f) {
  const size_t n = f.size(), t = f[0].size();
  std::vector<double> mean(n, 0.0), c(n * n);
  for (size_t i = 0; i < n; ++i) {
    for (double v : f[i]) mean[i] += v;
    mean[i] /= double(t);
  }
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      double s = 0;
      for (size_t k = 0; k < t; ++k) s += (f[i][k] - mean[i]) * (f[j][k] - mean[j]);
      c[i * n + j] = s / double(t);
    }
  return c;
}

}  // namespace pleas::test

#define PLEAS_SKIP_WITHOUT_CUDA()                                                     \
  do {                                                                                \
    if (!::pleas::cuda_available())                                                   \
      GTEST_SKIP() << (::pleas::built_with_cuda() ? "no CUDA device present"          \
                                                  : "built without CUDA support");    \
  } while (0)
