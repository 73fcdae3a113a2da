// The shift-structured im2col Gram (conv_gram_accumulate) against the direct Gram UᵀU of the
// im2col matrix written out by plain double loops, in float64: equal to 1e-12 relative on odd
// sizes, strides, paddings (including padding wider than the kernel's reach), dilations and
// rectangular kernels; f32 against the f32 SYRK of unfold2d_rows; accumulation; index math; errors.
#include <cmath>

#include "kernels/common/conv_gram_index.h"
#include "kernels/ops.h"
#include "test_util.h"

using namespace pleas;

namespace {

// U [N·OH·OW, C·KH·KW] by definition, then UᵀU, all in double.
std::vector<double> direct_gram(const std::vector<double>& x, int64_t N, int64_t C, int64_t H, int64_t W, int kh,
                                int kw, const Conv2dArgs& a) {
  const int64_t OH = conv_out_size(H, kh, a.stride_h, a.pad_h, a.dilation_h);
  const int64_t OW = conv_out_size(W, kw, a.stride_w, a.pad_w, a.dilation_w);
  const int64_t K = C * kh * kw;
  std::vector<double> G(size_t(K * K), 0.0), row(static_cast<size_t>(K), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        for (int64_t c = 0; c < C; ++c)
          for (int64_t ky = 0; ky < kh; ++ky)
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t ih = oh * a.stride_h - a.pad_h + ky * a.dilation_h;
              const int64_t iw = ow * a.stride_w - a.pad_w + kx * a.dilation_w;
              row[size_t((c * kh + ky) * kw + kx)] =
                  (ih < 0 || iw < 0 || ih >= H || iw >= W) ? 0.0 : x[size_t(((n * C + c) * H + ih) * W + iw)];
            }
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < K; ++j) G[size_t(i * K + j)] += row[size_t(i)] * row[size_t(j)];
      }
  return G;
}

struct Case {
  int64_t N, C, H, W;
  int kh, kw;
  Conv2dArgs a;
};

}  // namespace

TEST(ConvGramIndex, ShiftPhaseDecomposesTheInputCoordinate) {
  for (int64_t s = 1; s <= 3; ++s)
    for (int64_t p = 0; p <= 4; ++p)
      for (int64_t d = 1; d <= 3; ++d)
        for (int64_t k = 0; k < 5; ++k) {
          const ShiftPhase sp = shift_phase(k, s, p, d);
          EXPECT_GE(sp.phase, 0);
          EXPECT_LT(sp.phase, s);
          for (int64_t o = 0; o < 6; ++o) EXPECT_EQ(o * s - p + k * d, s * (o + sp.shift) + sp.phase);
        }
  // phase_length counts t with s·t + φ < n.
  for (int64_t n = 0; n < 9; ++n)
    for (int64_t s = 1; s <= 3; ++s)
      for (int64_t ph = 0; ph < s; ++ph) {
        int64_t cnt = 0;
        for (int64_t t = 0; s * t + ph < n; ++t) ++cnt;
        EXPECT_EQ(phase_length(n, ph, s), cnt);
      }
  const Interval v = pair_support(5, 7, -2);  // A[t], B[t - 2]: t ∈ [2, 5)
  EXPECT_EQ(v.lo, 2);
  EXPECT_EQ(v.hi, 5);
  EXPECT_EQ(pair_support(5, 4, 1).hi, 3);
  EXPECT_EQ(block_window(-1, 4, {0, 5}).lo, 0);
  EXPECT_EQ(block_window(-1, 4, {0, 5}).hi, 3);
  EXPECT_EQ(Interval({3, 1}).size(), 0);
}

const std::vector<Case>& odd_cases() {
  static const std::vector<Case> cases = {
      {2, 3, 7, 6, 3, 3, Conv2dArgs::make(1, 1)},            // same padding, odd sizes
      {2, 2, 9, 8, 3, 3, Conv2dArgs::make(2, 1)},            // stride 2: four phases
      {1, 3, 11, 7, 3, 2, Conv2dArgs{2, 1, 1, 2, 1, 2, 1}},  // rectangular kernel, mixed strides/pads/dilations
      {2, 2, 10, 9, 3, 3, Conv2dArgs::make(1, 2, 2)},        // dilation 2
      {1, 2, 6, 6, 3, 3, Conv2dArgs::make(1, 0)},            // no padding
      {1, 2, 5, 6, 3, 3, Conv2dArgs::make(3, 4)},            // padding wider than the kernel's reach, stride 3
      {3, 1, 13, 12, 7, 7, Conv2dArgs::make(2, 3)},          // a ResNet stem
      {1, 4, 4, 5, 1, 1, Conv2dArgs::make(1, 0)},            // 1x1: one block
      {1, 2, 8, 3, 5, 1, Conv2dArgs{1, 2, 2, 0, 1, 1, 1}},   // 5x1 kernel, stride 2 along x
  };
  return cases;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

TEST(ConvGram, Float64EqualsDirectGramOnOddShapes) {
  for (const Case& c : odd_cases()) {
    const Tensor x = test::random_tensor({c.N, c.C, c.H, c.W}, 100 + uint64_t(c.H * c.W)).to(DType::f64);
    const int64_t K = c.C * c.kh * c.kw;
    Tensor G = Tensor::zeros({K, K}, DType::f64);
    conv_gram_accumulate(G, x, c.kh, c.kw, c.a);
    const std::vector<double> ref = direct_gram(x.to_vector<double>(), c.N, c.C, c.H, c.W, c.kh, c.kw, c.a);
    const std::vector<double> got = G.to_vector<double>();
    double scale = max_abs(ref), worst = 0;
    for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::fabs(got[i] - ref[i]));
    EXPECT_LE(worst, 1e-12 * scale) << c.H << "x" << c.W << " kernel " << c.kh << "x" << c.kw << " stride "
                                    << c.a.stride_h << " pad " << c.a.pad_h << " dilation " << c.a.dilation_h;
    EXPECT_GT(scale, 1.0);
  }
}

// f32: the same matrix as the SYRK of the unfolded rows (different summation order), and G is
// accumulated into (G = 2·UᵀU after two calls).
// UᵀY with Y the rows (n, oh, ow) of random outputs y [N, P, OH, OW]: plain double loops.
TEST(ConvCross, Float64EqualsDirectProductOnOddShapes) {
  for (const Case& c : odd_cases()) {
    const int64_t OH = conv_out_size(c.H, c.kh, c.a.stride_h, c.a.pad_h, c.a.dilation_h);
    const int64_t OW = conv_out_size(c.W, c.kw, c.a.stride_w, c.a.pad_w, c.a.dilation_w);
    const int64_t P = 3, K = c.C * c.kh * c.kw;
    const Tensor x = test::random_tensor({c.N, c.C, c.H, c.W}, 200 + uint64_t(c.H)).to(DType::f64);
    const Tensor y = test::random_tensor({c.N, P, OH, OW}, 300 + uint64_t(c.W)).to(DType::f64);
    Tensor Cm = Tensor::zeros({K, P}, DType::f64);
    conv_cross_accumulate(Cm, x, y, c.kh, c.kw, c.a);
    const std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
    std::vector<double> ref(size_t(K * P), 0.0);
    for (int64_t n = 0; n < c.N; ++n)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow)
          for (int64_t ch = 0; ch < c.C; ++ch)
            for (int64_t ky = 0; ky < c.kh; ++ky)
              for (int64_t kx = 0; kx < c.kw; ++kx) {
                const int64_t ih = oh * c.a.stride_h - c.a.pad_h + ky * c.a.dilation_h;
                const int64_t iw = ow * c.a.stride_w - c.a.pad_w + kx * c.a.dilation_w;
                if (ih < 0 || iw < 0 || ih >= c.H || iw >= c.W) continue;
                const double u = xv[size_t(((n * c.C + ch) * c.H + ih) * c.W + iw)];
                for (int64_t p = 0; p < P; ++p)
                  ref[size_t(((ch * c.kh + ky) * c.kw + kx) * P + p)] += u * yv[size_t(((n * P + p) * OH + oh) * OW + ow)];
              }
    const std::vector<double> got = Cm.to_vector<double>();
    double worst = 0;
    for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::fabs(got[i] - ref[i]));
    EXPECT_LE(worst, 1e-12 * max_abs(ref)) << c.H << "x" << c.W << " kernel " << c.kh << "x" << c.kw;
    EXPECT_GT(max_abs(ref), 0.5);
  }
  Tensor bad = Tensor::zeros({5, 3}, DType::f64);
  test::expect_error_naming([&] { conv_cross_accumulate(bad, Tensor::zeros({1, 2, 5, 5}), Tensor::zeros({1, 3, 5, 5}), 3, 3,
                                                        Conv2dArgs::make(1, 1)); },
                            "conv_cross_accumulate", "[18, 3]");
  Tensor ok = Tensor::zeros({18, 3});
  test::expect_error_naming([&] { conv_cross_accumulate(ok, Tensor::zeros({1, 2, 5, 5}), Tensor::zeros({1, 3, 4, 5}), 3, 3,
                                                        Conv2dArgs::make(1, 1)); },
                            "conv_cross_accumulate", "output");
}

TEST(ConvGram, Float32MatchesSyrkAndAccumulates) {
  const Tensor x = test::random_tensor({4, 8, 12, 10}, 9);
  const Conv2dArgs a = Conv2dArgs::make(1, 1);
  const int64_t K = 8 * 9;
  Tensor G = Tensor::zeros({K, K}), R = Tensor::zeros({K, K});
  conv_gram_accumulate(G, x, 3, 3, a);
  conv_gram_accumulate(G, x, 3, 3, a);
  Tensor rows = unfold2d_rows(x, 3, 3, a);
  gram_accumulate(R, rows.transpose(0, 1));
  gram_accumulate(R, rows.transpose(0, 1));
  EXPECT_TRUE(test::all_close_scaled(G, R, 1e-5, 1e-5));
  // f32 input into an f64 accumulator.
  Tensor G64 = Tensor::zeros({K, K}, DType::f64);
  conv_gram_accumulate(G64, x, 3, 3, a);
  EXPECT_TRUE(test::all_close_scaled(mul(G64.to(DType::f32), Tensor::full({1}, 2.0)), R, 1e-5, 1e-5));
}

TEST(ConvGram, Errors) {
  const Tensor x = Tensor::zeros({1, 2, 5, 5});
  Tensor G = Tensor::zeros({18, 18}), bad = Tensor::zeros({17, 18});
  EXPECT_THROW(conv_gram_accumulate(bad, x, 3, 3, Conv2dArgs::make(1, 1)), Error);
  EXPECT_THROW(conv_gram_accumulate(G, x, 9, 9, Conv2dArgs{}), Error);
  EXPECT_THROW(conv_gram_accumulate(G, Tensor::zeros({2, 5, 5}), 3, 3, Conv2dArgs::make(1, 1)), Error);
  EXPECT_THROW(conv_gram_accumulate(G, x, 3, 3, Conv2dArgs::make(1, 1, 1, 2)), Error);
  try {
    conv_gram_accumulate(bad, x, 3, 3, Conv2dArgs::make(1, 1));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv_gram_accumulate"), std::string::npos) << e.what();
  }
}

TEST(ConvGramCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Tensor x = test::random_tensor({3, 6, 9, 8}, 11);
  const Conv2dArgs a = Conv2dArgs::make(2, 1);
  Tensor G = Tensor::zeros({54, 54}), Gd = Tensor::zeros({54, 54}, DType::f32, Device::cuda());
  conv_gram_accumulate(G, x, 3, 3, a);
  conv_gram_accumulate(Gd, x.to(Device::cuda()), 3, 3, a);
  EXPECT_TRUE(test::all_close_scaled(Gd, G, 1e-5, 1e-5));
}

TEST(ConvCrossCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Tensor x = test::random_tensor({3, 6, 9, 8}, 12), y = test::random_tensor({3, 4, 9, 8}, 13);
  const Conv2dArgs a = Conv2dArgs::make(1, 1);
  Tensor C = Tensor::zeros({54, 4}), Cd = Tensor::zeros({54, 4}, DType::f32, Device::cuda());
  conv_cross_accumulate(C, x, y, 3, 3, a);
  conv_cross_accumulate(Cd, x.to(Device::cuda()), y.to(Device::cuda()), 3, 3, a);
  EXPECT_TRUE(test::all_close_scaled(Cd, C, 1e-5, 1e-5));
}
