// linear, matmul, bmm against double-precision triple loops; operand layouts (transposed views,
// slices, merged leading dims); error paths; CUDA against the CPU backend.
#include "kernels/common/matmul_index.h"
#include "kernels/ops.h"
#include "test_util.h"

using namespace pleas;
using pleas::test::all_close;
using pleas::test::host;
using pleas::test::random_tensor;

namespace {

// C [M, N] = A [M, K] · B [K, N] over the logical (row-major) values of any views.
std::vector<double> ref_matmul(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  auto av = host(a), bv = host(b);
  std::vector<double> c(size_t(M * N), 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += av[size_t(i * K + k)] * bv[size_t(k * N + j)];
      c[size_t(i * N + j)] = s;
    }
  return c;
}

// y [M, N] = x [M, K] · w[N, K]ᵀ + bias[N].
std::vector<double> ref_linear(const Tensor& x2, const Tensor& w, const Tensor& bias) {
  auto y = ref_matmul(x2, w.transpose(0, 1));
  if (bias.defined()) {
    auto bv = host(bias);
    const size_t N = bv.size();
    for (size_t i = 0; i < y.size(); ++i) y[i] += bv[i % N];
  }
  return y;
}

std::vector<double> ref_bmm(const Tensor& a, const Tensor& b) {
  std::vector<double> out;
  for (int64_t i = 0; i < a.size(0); ++i) {
    auto c = ref_matmul(a.select(0, i), b.select(0, i));
    out.insert(out.end(), c.begin(), c.end());
  }
  return out;
}


}  // namespace

// ---- operand layout analysis (host side of both backends) ----

TEST(MatmulLayout, RowMajorColumnMajorAndFallback) {
  BlasLayout l;
  ASSERT_TRUE(blas_layout(37, 53, 53, 1, l));  // contiguous
  EXPECT_FALSE(l.trans);
  EXPECT_EQ(l.ld, 53);
  ASSERT_TRUE(blas_layout(37, 53, 60, 1, l));  // row slice of a wider matrix
  EXPECT_FALSE(l.trans);
  EXPECT_EQ(l.ld, 60);
  ASSERT_TRUE(blas_layout(37, 53, 1, 37, l));  // transposed view of a [53, 37] matrix
  EXPECT_TRUE(l.trans);
  EXPECT_EQ(l.ld, 37);
  ASSERT_TRUE(blas_layout(1, 53, 999, 1, l));  // single row: row stride irrelevant
  EXPECT_FALSE(l.trans);
  EXPECT_EQ(l.ld, 53);
  ASSERT_TRUE(blas_layout(37, 1, 1, 5, l));    // single column: column stride irrelevant
  EXPECT_FALSE(l.trans);
  EXPECT_EQ(l.ld, 1);
  ASSERT_TRUE(blas_layout(37, 1, 3, 5, l));
  EXPECT_EQ(l.ld, 3);
  ASSERT_TRUE(blas_layout(1, 53, 1, 4, l));    // single row with column stride 4: column-major
  EXPECT_TRUE(l.trans);
  EXPECT_EQ(l.ld, 4);
  EXPECT_FALSE(blas_layout(37, 53, 106, 2, l));  // column slice with step 2
  EXPECT_FALSE(blas_layout(37, 53, 0, 1, l));    // rows expanded with stride 0
  EXPECT_FALSE(blas_layout(37, 53, 40, 1, l));   // overlapping rows: ld < cols
}

TEST(MatmulLayout, OperandCopiesOnlyWhenNeeded) {
  Tensor base = random_tensor({53, 74}, 1);
  BlasOperand t = blas_operand(base.transpose(0, 1));
  EXPECT_TRUE(t.t.shares_storage(base));
  EXPECT_TRUE(t.layout.trans);
  EXPECT_EQ(t.layout.ld, 74);
  BlasOperand s = blas_operand(base.slice(1, 0, 74, 2));
  EXPECT_FALSE(s.t.shares_storage(base));
  EXPECT_FALSE(s.layout.trans);
  EXPECT_EQ(s.layout.ld, 37);
  Tensor b3 = random_tensor({6, 5, 7}, 2).permute({1, 0, 2});  // [5, 6, 7], batch stride 7
  BlasOperand p = blas_operand(b3);
  EXPECT_TRUE(p.t.shares_storage(b3));
  EXPECT_EQ(p.batch_stride, 7);
  EXPECT_EQ(p.layout.ld, 35);
}

TEST(MatmulLayout, BiasOffset) {
  // out [3, 4] contiguous: element i gets bias[(i mod 4) * stride].
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(linear_bias_offset(i, 4, 3), (i % 4) * 3);
  EXPECT_EQ(linear_bias_offset(7, 1, 5), 0);
}

// ---- linear ----

TEST(Linear, OddSizesWithAndWithoutBias) {
  Tensor x = random_tensor({37, 53}, 10), w = random_tensor({29, 53}, 11), b = random_tensor({29}, 12);
  Tensor y = linear(x, w, b);
  EXPECT_EQ(y.shape(), (Shape{37, 29}));
  EXPECT_TRUE(all_close(y, ref_linear(x, w, b), 1e-5, 1e-5));
  Tensor y0 = linear(x, w, Tensor());
  EXPECT_TRUE(all_close(y0, ref_linear(x, w, Tensor()), 1e-5, 1e-5));
}

TEST(Linear, ThreeDimAndOneDimInputs) {
  Tensor x = random_tensor({3, 7, 53}, 13), w = random_tensor({29, 53}, 14), b = random_tensor({29}, 15);
  Tensor y = linear(x, w, b);
  EXPECT_EQ(y.shape(), (Shape{3, 7, 29}));
  EXPECT_TRUE(all_close(y, ref_linear(x.reshape({21, 53}), w, b), 1e-5, 1e-5));
  Tensor v = x.select(0, 1).select(0, 2);  // [53]
  Tensor yv = linear(v, w, b);
  EXPECT_EQ(yv.shape(), (Shape{29}));
  EXPECT_TRUE(all_close(yv, ref_linear(v.reshape({1, 53}), w, b), 1e-5, 1e-5));
}

TEST(Linear, NonContiguousOperands) {
  Tensor w = random_tensor({29, 53}, 16), b = random_tensor({58}, 17).slice(0, 0, 58, 2);  // strided bias
  // Transposed input and weight views: passed to BLAS with op = T, no copy.
  Tensor xt = random_tensor({53, 37}, 18).transpose(0, 1);
  Tensor wt = random_tensor({53, 29}, 19).transpose(0, 1);
  EXPECT_TRUE(all_close(linear(xt, wt, b), ref_linear(xt, wt, b), 1e-5, 1e-5));
  // Column slice with step (copied) and a row-sliced 3-D input whose leading dims merge.
  Tensor xs = random_tensor({37, 106}, 20).slice(1, 0, 106, 2);
  EXPECT_TRUE(all_close(linear(xs, w, b), ref_linear(xs, w, b), 1e-5, 1e-5));
  Tensor x3 = random_tensor({4, 6, 60}, 21).narrow(2, 3, 53);
  EXPECT_TRUE(all_close(linear(x3, w, b), ref_linear(x3.contiguous().reshape({24, 53}), w, b), 1e-5, 1e-5));
  // Permuted 3-D input whose leading dims do not merge (copied).
  Tensor xp = random_tensor({6, 4, 53}, 22).permute({1, 0, 2});
  Tensor yp = linear(xp, w, b);
  EXPECT_EQ(yp.shape(), (Shape{4, 6, 29}));
  EXPECT_TRUE(all_close(yp, ref_linear(xp.contiguous().reshape({24, 53}), w, b), 1e-5, 1e-5));
}

TEST(Linear, Float64) {
  Tensor x = random_tensor({37, 53}, 23, -1, 1, DType::f64), w = random_tensor({29, 53}, 24, -1, 1, DType::f64);
  Tensor b = random_tensor({29}, 25, -1, 1, DType::f64);
  Tensor y = linear(x, w, b);
  EXPECT_EQ(y.dtype(), DType::f64);
  EXPECT_TRUE(all_close(y, ref_linear(x, w, b), 1e-12, 1e-12));
}

TEST(Linear, EmptyDims) {
  Tensor w = random_tensor({5, 0}, 26), b = random_tensor({5}, 27);
  Tensor y = linear(Tensor::zeros({3, 0}), w, b);  // K = 0: y = bias
  EXPECT_TRUE(all_close(y, ref_linear(Tensor::zeros({3, 0}), w, b), 0, 0));
  EXPECT_TRUE(all_close(linear(Tensor::zeros({3, 0}), w, Tensor()), std::vector<double>(15, 0.0), 0, 0));
  EXPECT_EQ(linear(Tensor::zeros({0, 4}), random_tensor({5, 4}, 28), b).shape(), (Shape{0, 5}));
}

TEST(Linear, Errors) {
  Tensor x = random_tensor({4, 6}, 29), w = random_tensor({3, 6}, 30);
  test::expect_error_naming([&] { linear(x, random_tensor({3, 5}, 31), Tensor()); }, "linear", "[4, 6]");
  test::expect_error_naming([&] { linear(x, w, random_tensor({4}, 32)); }, "linear", "bias");
  test::expect_error_naming([&] { linear(x, w.to(DType::f64), Tensor()); }, "linear", "f64");
  test::expect_error_naming([&] { linear(x.to(DType::i32), w.to(DType::i32), Tensor()); }, "linear", "i32");
  test::expect_error_naming([&] { linear(x, random_tensor({3}, 33), Tensor()); }, "linear", "weight");
  test::expect_error_naming([&] { linear(x, w, random_tensor({3}, 34, -1, 1, DType::f64)); }, "linear");
}

// ---- matmul ----

class MatmulTrans : public ::testing::TestWithParam<std::tuple<bool, bool, DType>> {};

TEST_P(MatmulTrans, AllFlagCombinations) {
  auto [ta, tb, dt] = GetParam();
  const int64_t M = 37, K = 53, N = 29;
  Tensor a = random_tensor(ta ? Shape{K, M} : Shape{M, K}, 40, -1, 1, dt);
  Tensor b = random_tensor(tb ? Shape{N, K} : Shape{K, N}, 41, -1, 1, dt);
  Tensor c = matmul(a, b, ta, tb);
  EXPECT_EQ(c.shape(), (Shape{M, N}));
  const Tensor la = ta ? a.transpose(0, 1) : a, lb = tb ? b.transpose(0, 1) : b;
  const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
  EXPECT_TRUE(all_close(c, ref_matmul(la, lb), tol, tol));
  // The same product from transposed views with the flags flipped.
  Tensor c2 = matmul(a.transpose(0, 1), b.transpose(0, 1), !ta, !tb);
  EXPECT_TRUE(all_close(c2, ref_matmul(la, lb), tol, tol));
}
INSTANTIATE_TEST_SUITE_P(Matmul, MatmulTrans,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool(),
                                            ::testing::Values(DType::f32, DType::f64)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "T" : "N") +
                                  (std::get<1>(info.param) ? "T_" : "N_") +
                                  dtype_name(std::get<2>(info.param));
                         });

TEST(Matmul, LargerThanCacheAndSlicedOperands) {
  Tensor a = random_tensor({300, 260}, 42).narrow(1, 3, 257);  // row stride 260
  Tensor b = random_tensor({257, 400}, 43).slice(1, 0, 400, 2);  // copied
  EXPECT_TRUE(all_close(matmul(a, b), ref_matmul(a, b), 1e-4, 1e-4));
}

TEST(Matmul, EmptyDims) {
  EXPECT_TRUE(all_close(matmul(Tensor::zeros({3, 0}), Tensor::zeros({0, 4})),
                        std::vector<double>(12, 0.0), 0, 0));
  EXPECT_EQ(matmul(Tensor::zeros({0, 3}), Tensor::zeros({3, 4})).shape(), (Shape{0, 4}));
  EXPECT_EQ(matmul(Tensor::zeros({2, 3}), Tensor::zeros({3, 0})).shape(), (Shape{2, 0}));
}

TEST(Matmul, Errors) {
  Tensor a = random_tensor({4, 6}, 44), b = random_tensor({5, 3}, 45);
  test::expect_error_naming([&] { matmul(a, b); }, "matmul", "[5, 3]");
  test::expect_error_naming([&] { matmul(a, b, true, false); }, "matmul", "(4 vs 5)");
  test::expect_error_naming([&] { matmul(a, b.to(DType::f64)); }, "matmul", "f64");
  test::expect_error_naming([&] { matmul(a, random_tensor({6}, 46)); }, "matmul", "2 dims");
  EXPECT_EQ(matmul(a, random_tensor({3, 6}, 47), false, true).shape(), (Shape{4, 3}));
}

// ---- bmm ----

TEST(Bmm, SmallBatchParallelPath) {
  // ViT attention-like: many small matrices (parallel over the batch).
  Tensor q = random_tensor({8, 197, 64}, 50), kt = random_tensor({8, 64, 197}, 51);
  Tensor s = bmm(q, kt);
  EXPECT_EQ(s.shape(), (Shape{8, 197, 197}));
  EXPECT_TRUE(all_close(s, ref_bmm(q, kt), 1e-4, 1e-4));
}

TEST(Bmm, LargeMatricesSequentialPath) {
  Tensor a = random_tensor({2, 320, 330}, 52), b = random_tensor({2, 330, 310}, 53);
  EXPECT_TRUE(all_close(bmm(a, b), ref_bmm(a, b), 2e-4, 1e-4));
}

TEST(Bmm, NonContiguousAndFloat64) {
  // a: transposed inner dims; b: batch dim permuted (batch stride 11, row stride 55).
  Tensor a = random_tensor({5, 17, 13}, 54).transpose(1, 2);
  Tensor b = random_tensor({17, 5, 11}, 55).permute({1, 0, 2});
  EXPECT_TRUE(all_close(bmm(a, b), ref_bmm(a, b), 1e-5, 1e-5));
  Tensor bs = random_tensor({5, 17, 22}, 56).slice(2, 0, 22, 2);  // copied
  EXPECT_TRUE(all_close(bmm(a, bs), ref_bmm(a, bs), 1e-5, 1e-5));
  Tensor ad = a.to(DType::f64), bd = b.to(DType::f64);
  EXPECT_TRUE(all_close(bmm(ad, bd), ref_bmm(ad, bd), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(bmm(Tensor::zeros({2, 3, 0}), Tensor::zeros({2, 0, 4})),
                        std::vector<double>(24, 0.0), 0, 0));
}

TEST(Bmm, Errors) {
  Tensor a = random_tensor({3, 4, 5}, 57);
  test::expect_error_naming([&] { bmm(a, random_tensor({2, 5, 6}, 58)); }, "bmm", "[2, 5, 6]");
  test::expect_error_naming([&] { bmm(a, random_tensor({3, 4, 6}, 59)); }, "bmm", "[3, 4, 5]");
  test::expect_error_naming([&] { bmm(a, random_tensor({5, 6}, 60)); }, "bmm", "3 dims");
  test::expect_error_naming([&] { bmm(a, random_tensor({3, 5, 6}, 61, -1, 1, DType::f64)); }, "bmm", "f64");
}

// ---- CUDA against the CPU backend ----

TEST(MatmulCuda, LinearMatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  Tensor x = random_tensor({3, 37, 53}, 70), w = random_tensor({29, 53}, 71), b = random_tensor({29}, 72);
  EXPECT_TRUE(all_close(linear(x.to(g), w.to(g), b.to(g)), linear(x, w, b), 1e-5, 1e-5));
  EXPECT_TRUE(all_close(linear(x.to(g), w.to(g), Tensor()), linear(x, w, Tensor()), 1e-5, 1e-5));
  // Transposed views made on the device (a copy to the device would be contiguous).
  Tensor x0 = random_tensor({53, 37}, 73), w0 = random_tensor({53, 29}, 74);
  EXPECT_TRUE(all_close(linear(x0.to(g).transpose(0, 1), w0.to(g).transpose(0, 1), b.to(g)),
                        linear(x0.transpose(0, 1), w0.transpose(0, 1), b), 1e-5, 1e-5));
  Tensor xd = x.to(DType::f64), wd = w.to(DType::f64), bd = b.to(DType::f64);
  EXPECT_TRUE(all_close(linear(xd.to(g), wd.to(g), bd.to(g)), linear(xd, wd, bd), 1e-12, 1e-12));
}

TEST(MatmulCuda, TransposedViewsMatchCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  // Views created on the device keep their strides: the cuBLAS op/ld path is what is tested.
  Tensor a = random_tensor({53, 37}, 75), b = random_tensor({29, 53}, 76);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor ha = ta ? a : a.transpose(0, 1), hb = tb ? b : b.transpose(0, 1);
      Tensor da = ta ? a.to(g) : a.to(g).transpose(0, 1), db = tb ? b.to(g) : b.to(g).transpose(0, 1);
      EXPECT_TRUE(all_close(matmul(da, db, ta, tb), matmul(ha, hb, ta, tb), 1e-5, 1e-5));
    }
  EXPECT_TRUE(all_close(matmul(Tensor::zeros({3, 0}, DType::f32, g), Tensor::zeros({0, 4}, DType::f32, g)),
                        std::vector<double>(12, 0.0), 0, 0));
}

TEST(MatmulCuda, BmmMatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  Tensor q = random_tensor({12, 197, 64}, 77), k = random_tensor({12, 197, 64}, 78);
  // q kᵀ with kᵀ a transposed view (strided batched GEMM with op = T).
  EXPECT_TRUE(all_close(bmm(q.to(g), k.to(g).transpose(1, 2)), bmm(q, k.transpose(1, 2)), 1e-4, 1e-4));
  Tensor b = random_tensor({17, 5, 11}, 79);
  Tensor a = random_tensor({5, 13, 17}, 80);
  EXPECT_TRUE(all_close(bmm(a.to(g), b.to(g).permute({1, 0, 2})), bmm(a, b.permute({1, 0, 2})), 1e-5, 1e-5));
}

TEST(MatmulCuda, DeviceMismatchNamesOp) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Tensor a = random_tensor({4, 6}, 81), w = random_tensor({3, 6}, 82);
  test::expect_error_naming([&] { linear(a, w.to(Device::cuda()), Tensor()); }, "linear", "devices");
  test::expect_error_naming([&] { linear(a.to(Device::cuda()), w.to(Device::cuda()), random_tensor({3}, 83)); },
                      "linear", "devices");
  test::expect_error_naming([&] { matmul(a, w.to(Device::cuda()), false, true); }, "matmul", "devices");
  test::expect_error_naming([&] { bmm(a.unsqueeze(0), w.to(Device::cuda()).unsqueeze(0)); }, "bmm", "devices");
}
