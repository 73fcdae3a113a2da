// softmax over any dim against double-precision loops, including inputs that overflow exp().
#include <cmath>
#include <functional>

#include "kernels/ops.h"
#include "test_util.h"

using namespace pleas;
using test::all_close;
using test::host;

namespace {
// Reference over dim `dim` of row-major x, written with explicit (outer, d, inner) loops.
std::vector<double> softmax_ref(const Tensor& x, int dim) {
  const auto xv = host(x);
  const Shape& s = x.shape();
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < dim; ++d) outer *= s[size_t(d)];
  for (size_t d = size_t(dim) + 1; d < s.size(); ++d) inner *= s[d];
  const int64_t D = s[size_t(dim)];
  std::vector<double> y(xv.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      auto at = [&](int64_t d) { return size_t((o * D + d) * inner + j); };
      double mx = -INFINITY, sum = 0;
      for (int64_t d = 0; d < D; ++d) mx = std::max(mx, xv[at(d)]);
      for (int64_t d = 0; d < D; ++d) sum += std::exp(xv[at(d)] - mx);
      for (int64_t d = 0; d < D; ++d) y[at(d)] = std::exp(xv[at(d)] - mx) / sum;
    }
  return y;
}

}  // namespace

TEST(Softmax, EveryDim) {
  for (const Shape& s : {Shape{7, 13}, Shape{3, 5, 7, 9}, Shape{1, 1000}, Shape{11}, Shape{2, 300, 3}}) {
    const Tensor x = test::random_tensor(s, 1, -4, 4);
    for (int dim = 0; dim < int(s.size()); ++dim) {
      const Tensor y = softmax(x, dim);
      EXPECT_EQ(y.shape(), s);
      EXPECT_TRUE(all_close(y, softmax_ref(x, dim), 1e-7, 1e-5)) << shape_str(s) << " dim " << dim;
    }
    EXPECT_TRUE(all_close(softmax(x, -1), softmax_ref(x, int(s.size()) - 1), 1e-7, 1e-5));
  }
}

TEST(Softmax, LargeMagnitudesAreStable) {
  // exp(±1e4) overflows/underflows every float; the max subtraction keeps the result finite.
  const Shape s{4, 6, 10};
  const Tensor x = test::random_tensor(s, 2, -1e4, 1e4);
  const Tensor shifted = add(test::random_tensor(s, 3, -5, 5), Tensor::full({1}, 3e4));
  for (const Tensor& t : {x, shifted})
    for (int dim : {0, 1, 2}) {
      const Tensor y = softmax(t, dim);
      for (double v : host(y)) ASSERT_TRUE(std::isfinite(v));
      EXPECT_TRUE(all_close(y, softmax_ref(t, dim), 1e-7, 1e-5)) << "dim " << dim;
    }
  // Equal inputs, however large, give the uniform distribution.
  for (double v : host(softmax(Tensor::full({3, 8}, 8e4), 1))) EXPECT_NEAR(v, 0.125, 1e-7);
}

TEST(Softmax, RowsSumToOneOnNonContiguousInput) {
  const Tensor x = test::random_tensor({5, 6, 7}, 4, -3, 3).permute({2, 0, 1});  // [7, 5, 6]
  ASSERT_FALSE(x.is_contiguous());
  for (int dim : {0, 1, 2}) EXPECT_TRUE(all_close(softmax(x, dim), softmax_ref(x, dim), 1e-7, 1e-5));
  const Tensor y = softmax(x.slice(2, 0, 6, 2), 2);  // [7, 5, 3]
  const auto v = host(y);
  for (size_t r = 0; r < v.size() / 3; ++r) EXPECT_NEAR(v[3 * r] + v[3 * r + 1] + v[3 * r + 2], 1.0, 1e-6);
}

TEST(Softmax, Errors) {
  const Tensor x = test::random_tensor({2, 3}, 5);
  std::string m = test::error_of([&] { softmax(x, 2); });
  EXPECT_NE(m.find("softmax"), std::string::npos) << m;
  EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
  EXPECT_THROW(softmax(x, -3), Error);
  m = test::error_of([&] { softmax(x.to(DType::f64), 0); });
  EXPECT_NE(m.find("softmax"), std::string::npos) << m;
  EXPECT_NE(m.find("f32"), std::string::npos) << m;
}

// ---- CUDA: compared with the CPU backend on the same inputs ----

TEST(SoftmaxCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  for (const Tensor& x : {test::random_tensor({3, 5, 7, 9}, 6, -4, 4),
                          test::random_tensor({4, 6, 10}, 7, -1e4, 1e4),
                          test::random_tensor({64, 12, 197, 197}, 8, -8, 8),
                          test::random_tensor({2, 5000}, 9, -4, 4),
                          test::random_tensor({5, 6, 7}, 10).permute({2, 0, 1})})
    for (int dim = 0; dim < x.dim(); ++dim)
      EXPECT_TRUE(all_close(softmax(x.to(g), dim), softmax(x, dim), 1e-7, 1e-5))
          << x.str() << " dim " << dim;
}
