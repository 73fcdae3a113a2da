// layer_norm over the last dim against double-precision loops.
#include <cmath>
#include <functional>

#include "kernels/common/row_index.h"
#include "kernels/ops.h"
#include "test_util.h"

using namespace pleas;
using test::all_close;
using test::host;

namespace {
// y = (x - mean) / sqrt(var + eps) · w + b per row of the last dim; undefined w/b mean 1/0.
std::vector<double> ln_ref(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  const auto xv = host(x);
  const int64_t D = x.size(-1), rows = x.numel() / D;
  const std::vector<double> wv = w.defined() ? host(w) : std::vector<double>(size_t(D), 1.0);
  const std::vector<double> bv = b.defined() ? host(b) : std::vector<double>(size_t(D), 0.0);
  std::vector<double> y(xv.size());
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0, ss = 0;
    for (int64_t j = 0; j < D; ++j) s += xv[size_t(r * D + j)];
    const double mean = s / double(D);
    for (int64_t j = 0; j < D; ++j) ss += (xv[size_t(r * D + j)] - mean) * (xv[size_t(r * D + j)] - mean);
    const double rstd = 1.0 / std::sqrt(ss / double(D) + eps);
    for (int64_t j = 0; j < D; ++j)
      y[size_t(r * D + j)] = (xv[size_t(r * D + j)] - mean) * rstd * wv[size_t(j)] + bv[size_t(j)];
  }
  return y;
}

}  // namespace

TEST(RowIndex, LayoutAndBase) {
  const Shape s{3, 4, 5, 6};
  const RowLayout L = row_layout(s.data(), 4, 1);
  EXPECT_EQ(L.outer, 3);
  EXPECT_EQ(L.D, 4);
  EXPECT_EQ(L.inner, 30);
  EXPECT_EQ(L.rows(), 90);
  // Every element is visited exactly once, at the row-major offset of (o, d, j).
  std::vector<int> seen(size_t(shape_numel(s)), 0);
  for (int64_t r = 0; r < L.rows(); ++r)
    for (int64_t d = 0; d < L.D; ++d) {
      const int64_t off = row_base(r, L.D, L.inner) + d * L.inner;
      EXPECT_EQ(off, ((r / L.inner) * L.D + d) * L.inner + r % L.inner);
      ++seen[size_t(off)];
    }
  for (int c : seen) EXPECT_EQ(c, 1);
  const RowLayout last = row_layout(s.data(), 4, 3);
  EXPECT_EQ(last.inner, 1);
  EXPECT_EQ(last.rows(), 60);
  EXPECT_EQ(row_base(7, 6, 1), 42);
}

TEST(LayerNorm, MatchesReference) {
  for (const Shape& s : {Shape{4, 768}, Shape{2, 5, 768}, Shape{3, 7, 33}, Shape{13}, Shape{5, 3, 1}}) {
    const int64_t D = s.back();
    const Tensor x = test::random_tensor(s, 1, -3, 3);
    const Tensor w = test::random_tensor({D}, 2, 0.5, 1.5), b = test::random_tensor({D}, 3);
    const Tensor y = layer_norm(x, w, b, 1e-5);
    EXPECT_EQ(y.shape(), s);
    EXPECT_TRUE(all_close(y, ln_ref(x, w, b, 1e-5), 2e-5, 1e-5)) << shape_str(s);
    EXPECT_TRUE(all_close(layer_norm(x, Tensor(), Tensor(), 1e-6), ln_ref(x, Tensor(), Tensor(), 1e-6),
                          2e-5, 1e-5)) << shape_str(s);
    EXPECT_TRUE(all_close(layer_norm(x, w, Tensor(), 1e-6), ln_ref(x, w, Tensor(), 1e-6), 2e-5, 1e-5));
    EXPECT_TRUE(all_close(layer_norm(x, Tensor(), b, 1e-6), ln_ref(x, Tensor(), b, 1e-6), 2e-5, 1e-5));
  }
}

TEST(LayerNorm, SingleElementRowsGiveBias) {
  // D = 1: x - mean = 0 exactly, so y = bias.
  const Tensor x = test::random_tensor({6, 1}, 4, -100, 100);
  const Tensor b = Tensor::full({1}, 0.25);
  for (double v : host(layer_norm(x, Tensor::full({1}, 3.0), b, 1e-5))) EXPECT_EQ(v, 0.25);
}

TEST(LayerNorm, LargeOffsetRows) {
  // Rows around 1e4 with unit spread: a one-pass E[x²] - E[x]² in f32 would be meaningless.
  const Tensor x = test::random_tensor({8, 768}, 5, 1e4 - 1, 1e4 + 1);
  EXPECT_TRUE(all_close(layer_norm(x, Tensor(), Tensor(), 1e-5), ln_ref(x, Tensor(), Tensor(), 1e-5),
                        2e-5, 1e-5));
}

TEST(LayerNorm, NonContiguousInputAndParams) {
  const Tensor x = test::random_tensor({6, 4, 9}, 6).transpose(0, 2);  // [9, 4, 6], rows strided
  const Tensor w = test::random_tensor({12}, 7).slice(0, 0, 12, 2), b = test::random_tensor({6}, 8);
  ASSERT_FALSE(x.is_contiguous());
  EXPECT_TRUE(all_close(layer_norm(x, w, b, 1e-5), ln_ref(x, w, b, 1e-5), 2e-5, 1e-5));
}

TEST(LayerNorm, Errors) {
  const Tensor x = test::random_tensor({2, 8}, 9);
  std::string m = test::error_of([&] { layer_norm(x, test::random_tensor({7}, 1), Tensor(), 1e-5); });
  EXPECT_NE(m.find("layer_norm"), std::string::npos) << m;
  EXPECT_NE(m.find("[2, 8]"), std::string::npos) << m;
  EXPECT_NE(m.find("[7]"), std::string::npos) << m;
  m = test::error_of([&] { layer_norm(x, Tensor(), test::random_tensor({8}, 1).to(DType::f64), 1e-5); });
  EXPECT_NE(m.find("bias"), std::string::npos) << m;
  m = test::error_of([&] { layer_norm(x.to(DType::f64), Tensor(), Tensor(), 1e-5); });
  EXPECT_NE(m.find("layer_norm"), std::string::npos) << m;
  EXPECT_NE(m.find("f32"), std::string::npos) << m;
  EXPECT_THROW(layer_norm(x, Tensor(), Tensor(), -1.0), Error);
  EXPECT_THROW(layer_norm(Tensor(), Tensor(), Tensor(), 1e-5), Error);
}

// ---- CUDA: compared with the CPU backend on the same inputs ----

TEST(LayerNormCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  for (const Shape& s : {Shape{64, 197, 768}, Shape{3, 7, 33}, Shape{6, 1}, Shape{2, 3000}}) {
    const int64_t D = s.back();
    const Tensor x = test::random_tensor(s, 10, 1e2 - 3, 1e2 + 3);
    const Tensor w = test::random_tensor({D}, 11, 0.5, 1.5), b = test::random_tensor({D}, 12);
    EXPECT_TRUE(all_close(layer_norm(x.to(g), w.to(g), b.to(g), 1e-5), layer_norm(x, w, b, 1e-5),
                          1e-5, 1e-5)) << shape_str(s);
    EXPECT_TRUE(all_close(layer_norm(x.to(g), Tensor(), Tensor(), 1e-5),
                          layer_norm(x, Tensor(), Tensor(), 1e-5), 1e-5, 1e-5)) << shape_str(s);
  }
  const Tensor xt = test::random_tensor({6, 4, 9}, 13).transpose(0, 2);
  EXPECT_TRUE(all_close(layer_norm(xt.to(g), Tensor(), Tensor(), 1e-5),
                        layer_norm(xt, Tensor(), Tensor(), 1e-5), 1e-5, 1e-5));
}
