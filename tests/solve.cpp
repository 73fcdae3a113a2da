// spd_solve against double loops: the residual A·X - B and a brute-force Gaussian elimination;
// ridge; failing pivots; layouts; errors; CUDA against the CPU backend.
#include <cmath>
#include <functional>

#include "kernels/ops.h"
#include "test_util.h"

using namespace pleas;
using pleas::test::all_close;
using pleas::test::host;
using pleas::test::random_tensor;

namespace {

// A random symmetric positive-definite matrix: A = MᵀM / n + 0.5·I (eigenvalues >= 0.5).
Tensor random_spd(int64_t n, uint64_t seed, DType dt) {
  auto m = host(random_tensor({n, n}, seed, -1, 1, DType::f64));
  std::vector<double> a(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t r = 0; r < n; ++r) s += m[size_t(r * n + i)] * m[size_t(r * n + j)];
      a[size_t(i * n + j)] = s / double(n) + (i == j ? 0.5 : 0.0);
    }
  return Tensor::from_vector(a, {n, n}).to(dt);
}

// X = (A + ridge·I)⁻¹ B by Gaussian elimination with partial pivoting, in double.
std::vector<double> ref_solve(const Tensor& A, const Tensor& B, double ridge) {
  const int64_t n = A.size(0);
  auto a = host(A);
  for (int64_t i = 0; i < n; ++i) a[size_t(i * n + i)] += ridge;
  return test::gauss_solve(a, host(B), n, B.size(1));
}

// (A + ridge·I) · X in double.
std::vector<double> apply(const Tensor& A, const Tensor& X, double ridge) {
  const int64_t n = A.size(0), m = X.size(1);
  auto a = host(A), x = host(X);
  std::vector<double> y(size_t(n * m), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      double s = ridge * x[size_t(i * m + j)];
      for (int64_t k = 0; k < n; ++k) s += a[size_t(i * n + k)] * x[size_t(k * m + j)];
      y[size_t(i * m + j)] = s;
    }
  return y;
}


}  // namespace

class SpdSolveSizes : public ::testing::TestWithParam<std::tuple<int64_t, DType>> {};

TEST_P(SpdSolveSizes, ResidualAndGaussianReference) {
  auto [n, dt] = GetParam();
  Tensor A = random_spd(n, 10 + uint64_t(n), dt);
  Tensor B = random_tensor({n, 3}, 20 + uint64_t(n), -1, 1, dt);
  Tensor X = spd_solve(A, B, 0.0);
  EXPECT_EQ(X.shape(), (Shape{n, 3}));
  EXPECT_EQ(X.dtype(), dt);
  // cond(A) is small here: f32 solutions are good to ~1e-6, f64 ones to ~1e-15.
  const double tol = dt == DType::f64 ? 1e-11 : 2e-5;
  EXPECT_TRUE(all_close(apply(A, X, 0.0), host(B), tol, tol));
  EXPECT_TRUE(all_close(X, ref_solve(A, B, 0.0), tol, tol));
}
INSTANTIATE_TEST_SUITE_P(SpdSolve, SpdSolveSizes,
                         ::testing::Combine(::testing::Values(int64_t(1), int64_t(7), int64_t(64)),
                                            ::testing::Values(DType::f32, DType::f64)),
                         [](const auto& info) {
                           return "n" + std::to_string(std::get<0>(info.param)) + "_" +
                                  dtype_name(std::get<1>(info.param));
                         });

TEST(SpdSolve, RidgeShiftsTheDiagonal) {
  Tensor A = random_spd(9, 30, DType::f64), B = random_tensor({9, 2}, 31, -1, 1, DType::f64);
  Tensor X = spd_solve(A, B, 2.5);
  EXPECT_TRUE(all_close(X, ref_solve(A, B, 2.5), 1e-12, 1e-10));
  EXPECT_TRUE(all_close(apply(A, X, 2.5), host(B), 1e-12, 1e-10));
  EXPECT_FALSE(all_close(X, ref_solve(A, B, 0.0), 1e-3, 1e-3));  // the ridge changes the answer
  // A singular PSD matrix fails without a ridge and is solvable with one.
  Tensor S = Tensor::from_vector(std::vector<double>{1, 1, 1, 1}, {2, 2});
  Tensor b = Tensor::from_vector(std::vector<double>{1, 2}, {2, 1});
  EXPECT_THROW(spd_solve(S, b, 0.0), Error);
  EXPECT_TRUE(all_close(spd_solve(S, b, 0.5), ref_solve(S, b, 0.5), 1e-14, 1e-12));
}

TEST(SpdSolve, NotPositiveDefiniteNamesPivotAndShape) {
  Tensor A = Tensor::from_vector(std::vector<float>{1, 2, 2, 1}, {2, 2});
  Tensor B = Tensor::from_vector(std::vector<float>{1, 1}, {2, 1});
  std::string msg = test::error_of([&] { spd_solve(A, B, 0.0); });
  EXPECT_NE(msg.find("spd_solve:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 2]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not positive definite"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pivot 2"), std::string::npos) << msg;
  // The first pivot failing, with the ridge reported.
  Tensor N = Tensor::from_vector(std::vector<double>{-1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 3});
  msg = test::error_of([&] { spd_solve(N, Tensor::zeros({3, 2}, DType::f64), 0.25); });
  EXPECT_NE(msg.find("[3, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pivot 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ridge 0.25"), std::string::npos) << msg;
  // A large enough ridge makes it positive definite: the shift moves -1 to +0.5.
  EXPECT_NO_THROW(spd_solve(N, Tensor::zeros({3, 2}, DType::f64), 1.5));
}

TEST(SpdSolve, StridedInputsAndLowerTriangleOnly) {
  const int64_t n = 12;
  Tensor A = random_spd(n, 40, DType::f64);
  Tensor Bt = random_tensor({4, n}, 41, -1, 1, DType::f64).transpose(0, 1);  // [n, 4] view
  Tensor Av = A.transpose(0, 1);  // the same symmetric matrix through a transposed view
  EXPECT_TRUE(all_close(spd_solve(Av, Bt, 0.1), ref_solve(A, Bt, 0.1), 1e-12, 1e-10));
  // Only the (row-major) lower triangle of A is read: garbage above the diagonal changes nothing.
  auto a = host(A);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) a[size_t(i * n + j)] = 1e6;
  Tensor Au = Tensor::from_vector(a, {n, n});
  EXPECT_TRUE(all_close(spd_solve(Au, Bt, 0.1), ref_solve(A, Bt, 0.1), 1e-12, 1e-10));
  // The input A is not modified.
  EXPECT_TRUE(all_close(Au, a, 0, 0));
}

TEST(SpdSolve, EmptyShapes) {
  Tensor A = random_spd(4, 50, DType::f32);
  EXPECT_EQ(spd_solve(A, Tensor::zeros({4, 0}), 0.0).shape(), (Shape{4, 0}));
  EXPECT_EQ(spd_solve(Tensor::zeros({0, 0}), Tensor::zeros({0, 3}), 0.0).shape(), (Shape{0, 3}));
  // A failing pivot is reported even when there is nothing to solve for.
  Tensor negA = Tensor::full({4, 4}, -1.0);
  EXPECT_THROW(spd_solve(negA, Tensor::zeros({4, 0}), 0.0), Error);
}

TEST(SpdSolve, Errors) {
  Tensor A = random_spd(4, 60, DType::f32), B = random_tensor({4, 2}, 61);
  std::string msg = test::error_of([&] { spd_solve(random_tensor({4, 3}, 62), B, 0.0); });
  EXPECT_NE(msg.find("spd_solve:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4, 3]"), std::string::npos) << msg;
  msg = test::error_of([&] { spd_solve(A, random_tensor({5, 2}, 63), 0.0); });
  EXPECT_NE(msg.find("spd_solve:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[5, 2]"), std::string::npos) << msg;
  msg = test::error_of([&] { spd_solve(A, B.to(DType::f64), 0.0); });
  EXPECT_NE(msg.find("spd_solve: dtype"), std::string::npos) << msg;
  msg = test::error_of([&] { spd_solve(A.to(DType::i32), B.to(DType::i32), 0.0); });
  EXPECT_NE(msg.find("spd_solve:"), std::string::npos) << msg;
  msg = test::error_of([&] { spd_solve(A, random_tensor({4}, 64), 0.0); });
  EXPECT_NE(msg.find("spd_solve: B must have 2 dims"), std::string::npos) << msg;
  msg = test::error_of([&] { spd_solve(A, B, NAN); });
  EXPECT_NE(msg.find("spd_solve: ridge"), std::string::npos) << msg;
}

// ---- CUDA against the CPU backend ----

TEST(SpdSolveCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  for (int64_t n : {1, 7, 64, 300})
    for (DType dt : {DType::f32, DType::f64}) {
      Tensor A = random_spd(n, 70 + uint64_t(n), dt), B = random_tensor({n, 5}, 80, -1, 1, dt);
      const double tol = dt == DType::f64 ? 1e-11 : 2e-5;
      EXPECT_TRUE(all_close(spd_solve(A.to(g), B.to(g), 0.3), spd_solve(A, B, 0.3), tol, tol));
      // A transposed right-hand side view on the device.
      Tensor Bt = random_tensor({5, n}, 81, -1, 1, dt);
      EXPECT_TRUE(all_close(spd_solve(A.to(g), Bt.to(g).transpose(0, 1), 0.0),
                            spd_solve(A, Bt.transpose(0, 1), 0.0), tol, tol));
    }
}

TEST(SpdSolveCuda, FailingPivotMatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Tensor A = Tensor::from_vector(std::vector<float>{1, 2, 2, 1}, {2, 2});
  Tensor B = Tensor::from_vector(std::vector<float>{1, 1}, {2, 1});
  std::string msg = test::error_of([&] { spd_solve(A.to(Device::cuda()), B.to(Device::cuda()), 0.0); });
  EXPECT_NE(msg.find("pivot 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 2]"), std::string::npos) << msg;
}

TEST(SpdSolveCuda, DeviceMismatchNamesOp) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Tensor A = random_spd(4, 90, DType::f32), B = random_tensor({4, 2}, 91);
  std::string msg = test::error_of([&] { spd_solve(A, B.to(Device::cuda()), 0.0); });
  EXPECT_NE(msg.find("spd_solve:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("devices"), std::string::npos) << msg;
}
