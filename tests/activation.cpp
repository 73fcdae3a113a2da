// relu, relu_ and gelu against double-precision references.
#include <cmath>
#include <functional>

#include "kernels/common/pointwise_index.h"
#include "kernels/ops.h"
#include "test_util.h"

using namespace pleas;
using test::all_close;
using test::host;

namespace {
std::vector<double> map_ref(const Tensor& x, double (*f)(double)) {
  std::vector<double> v = host(x);
  for (double& e : v) e = f(e);
  return v;
}
double relu_ref(double v) { return v > 0 ? v : 0; }
double gelu_ref(double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }
double gelu_tanh_ref(double v) {
  return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
}

}  // namespace

TEST(Activation, ReluMatchesReference) {
  for (const Shape& s : {Shape{1}, Shape{7, 13}, Shape{3, 5, 7, 9}, Shape{100003}}) {
    const Tensor x = test::random_tensor(s, 1, -3, 3);
    const Tensor y = relu(x);
    EXPECT_EQ(y.shape(), s);
    EXPECT_TRUE(all_close(y, map_ref(x, relu_ref), 0, 0)) << shape_str(s);
  }
}

TEST(Activation, GeluMatchesErfReference) {
  // Wide range: deep negative tail (-> 0), around 0, large positive (-> x).
  for (const Shape& s : {Shape{5}, Shape{7, 13}, Shape{3, 5, 7, 9}, Shape{65537}}) {
    const Tensor x = test::random_tensor(s, 2, -8, 8);
    EXPECT_TRUE(all_close(gelu(x), map_ref(x, gelu_ref), 1e-6, 1e-6)) << shape_str(s);
  }
  // Specific values: gelu(0) = 0, gelu(1) = 0.8413447..., gelu(-1) = -0.1586553...
  const auto v = host(gelu(Tensor::from_vector(std::vector<float>{0.f, 1.f, -1.f}, {3})));
  EXPECT_EQ(v[0], 0.0);
  EXPECT_NEAR(v[1], 0.8413447460685429, 1e-6);
  EXPECT_NEAR(v[2], -0.15865525393145707, 1e-6);
}

TEST(Activation, GeluTanhMatchesReference) {
  for (const Shape& s : {Shape{5}, Shape{7, 13}, Shape{65537}}) {
    const Tensor x = test::random_tensor(s, 5, -8, 8);
    EXPECT_TRUE(all_close(gelu_tanh(x), map_ref(x, gelu_tanh_ref), 1e-6, 1e-6)) << shape_str(s);
  }
  // PyTorch: F.gelu(torch.tensor([1., -1., 3.]), approximate='tanh') = 0.8411920, -0.1588080, 2.9963627
  const auto v = host(gelu_tanh(Tensor::from_vector(std::vector<float>{1.f, -1.f, 3.f}, {3})));
  EXPECT_NEAR(v[0], 0.8411920, 1e-6);
  EXPECT_NEAR(v[1], -0.1588080, 1e-6);
  EXPECT_NEAR(v[2], 2.9963627, 1e-6);
  // It differs from the erf form (by ~1e-4 at x = 2): the two must not be confused.
  const Tensor x = Tensor::from_vector(std::vector<float>{2.f}, {1});
  EXPECT_GT(std::fabs(host(gelu_tanh(x))[0] - host(gelu(x))[0]), 5e-5);
}

TEST(Activation, NonContiguousInputs) {
  const Tensor base = test::random_tensor({4, 6, 10}, 3, -2, 2);
  for (const Tensor& x : {base.permute({2, 0, 1}), base.slice(2, 1, 10, 3), base.select(1, 4),
                          Tensor::from_vector(std::vector<float>{-1.f, 2.f, -3.f}, {3, 1}).expand({3, 5})}) {
    ASSERT_FALSE(x.is_contiguous());
    EXPECT_TRUE(all_close(relu(x), map_ref(x, relu_ref), 0, 0)) << shape_str(x.shape());
    EXPECT_TRUE(all_close(gelu(x), map_ref(x, gelu_ref), 1e-6, 1e-6)) << shape_str(x.shape());
  }
}

TEST(Activation, ReluInPlaceOnViewTouchesOnlyTheView) {
  Tensor base = test::random_tensor({6, 8}, 4, -1, 1);
  const std::vector<double> before = host(base);
  Tensor view = base.slice(1, 1, 8, 2).narrow(0, 2, 3);  // rows 2..4, odd columns
  ASSERT_FALSE(view.is_contiguous());
  relu_(view);
  const std::vector<double> after = host(base);
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t c = 0; c < 8; ++c) {
      const size_t i = size_t(r * 8 + c);
      const bool in_view = r >= 2 && r < 5 && c % 2 == 1;
      EXPECT_EQ(after[i], in_view ? relu_ref(before[i]) : before[i]) << r << "," << c;
    }
  // Contiguous in place.
  Tensor x = test::random_tensor({1001}, 5);
  const auto ref = map_ref(x, relu_ref);
  relu_(x);
  EXPECT_TRUE(all_close(x, ref, 0, 0));
}

TEST(Activation, CoalesceDims) {
  // x [N,C,H,W] + b [C,1,1] expanded: H and W merge, then nothing else.
  const Tensor x = Tensor::zeros({2, 3, 4, 5});
  const Tensor b = Tensor::zeros({3, 1, 1}).expand({2, 3, 4, 5});
  StridedMeta m[2] = {{}, {}};
  for (int t = 0; t < 2; ++t) {
    const Tensor& u = t ? b : x;
    m[t].ndim = 4;
    for (int d = 0; d < 4; ++d) { m[t].shape[d] = u.shape()[d]; m[t].stride[d] = u.strides()[d]; }
  }
  coalesce_dims(m, 2);
  ASSERT_EQ(m[0].ndim, 3);
  EXPECT_EQ(m[0].shape[0], 2); EXPECT_EQ(m[0].shape[1], 3); EXPECT_EQ(m[0].shape[2], 20);
  EXPECT_EQ(m[0].stride[2], 1); EXPECT_EQ(m[1].stride[1], 1); EXPECT_EQ(m[1].stride[2], 0);
  // Every linear index maps to the same element before and after.
  const Tensor v = test::random_tensor({3, 1, 4, 6}, 6).permute({2, 1, 0, 3}).slice(3, 0, 6, 2);
  StridedMeta a{}, c{};
  a.ndim = v.dim();
  for (int d = 0; d < v.dim(); ++d) { a.shape[d] = v.shape()[d]; a.stride[d] = v.strides()[d]; }
  c = a;
  coalesce_dims(&c, 1);
  EXPECT_LT(c.ndim, a.ndim);
  for (int64_t i = 0; i < v.numel(); ++i) {
    EXPECT_EQ(strided_offset(c, i), strided_offset(a, i)) << i;
    EXPECT_EQ(pointwise_offset(c, false, i), strided_offset(a, i)) << i;
  }
  EXPECT_EQ(pointwise_offset(c, true, 7), 7);
}

TEST(Activation, Errors) {
  const Tensor x = test::random_tensor({3, 4}, 7).to(DType::f64);
  std::string m = test::error_of([&] { relu(x); });
  EXPECT_NE(m.find("relu"), std::string::npos) << m;
  EXPECT_NE(m.find("f32"), std::string::npos) << m;
  m = test::error_of([&] { gelu(x); });
  EXPECT_NE(m.find("gelu"), std::string::npos) << m;
  Tensor xi = x;
  m = test::error_of([&] { relu_(xi); });
  EXPECT_NE(m.find("relu_"), std::string::npos) << m;
  EXPECT_THROW(relu(Tensor()), Error);
}

// ---- CUDA: compared with the CPU backend on the same inputs ----

TEST(ActivationCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  const Tensor base = test::random_tensor({4, 6, 10}, 8, -8, 8);
  for (const Tensor& x : {base, base.permute({2, 0, 1}), base.slice(2, 1, 10, 3),
                          test::random_tensor({1000003}, 9, -8, 8)}) {
    EXPECT_TRUE(all_close(relu(x.to(g)), relu(x), 0, 0)) << x.str();
    EXPECT_TRUE(all_close(gelu(x.to(g)), gelu(x), 1e-6, 1e-6)) << x.str();
  }
}

TEST(ActivationCuda, ReluInPlaceOnView) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Tensor cpu = test::random_tensor({6, 8}, 10);
  Tensor gpu = cpu.to(Device::cuda());
  Tensor vc = cpu.slice(1, 1, 8, 2), vg = gpu.slice(1, 1, 8, 2);
  relu_(vc);
  relu_(vg);
  EXPECT_TRUE(all_close(gpu, cpu, 0, 0));
}
