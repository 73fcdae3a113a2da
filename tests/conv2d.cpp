// conv2d: CPU against a direct double-precision 7-loop reference (strides, padding, dilation,
// groups, depthwise, 1x1 fast path, no bias, non-contiguous views), the im2col index math of
// kernels/common/conv_index.h, error paths, and CUDA (cuDNN) against the CPU backend.
//
// Tolerance: atol 1e-4, rtol 1e-4. Inputs are uniform in [-1, 1], so each output is a sum of
// Cin/groups·KH·KW (here <= 288) products of magnitude <= 1 whose partial sums stay O(10); f32
// rounding adds ~6e-8 relative per addition, and the rounding errors of a few hundred additions
// grow like a random walk, ~sqrt(288)·6e-8·10 ≈ 1e-5 — ten times below atol, while a wrong tap,
// offset or missing term moves an output by ~0.1 or more.
#include <string>

#include "engine/cuda_backend.h"
#include "kernels/common/conv_index.h"
#include "kernels/ops.h"
#include "test_util.h"

using namespace pleas;
using pleas::test::all_close;
using pleas::test::host;

namespace {

constexpr double kAtol = 1e-4, kRtol = 1e-4;

// out[n,co,oh,ow] = b[co] + sum_{ci,kh,kw} x[n, g*Cg+ci, oh*sh-ph+kh*dh, ow*sw-pw+kw*dw] · w[co,ci,kh,kw]
// with g = co / (Cout/groups), in double, zero outside the input.
std::vector<double> conv_ref(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dArgs& a) {
  const auto xv = host(x), wv = host(w);
  const auto bv = b.defined() ? host(b) : std::vector<double>();
  const int64_t N = x.size(0), Cin = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Cout = w.size(0), Cg = w.size(1), KH = w.size(2), KW = w.size(3);
  const int64_t OH = (H + 2 * a.pad_h - a.dilation_h * (KH - 1) - 1) / a.stride_h + 1;
  const int64_t OW = (W + 2 * a.pad_w - a.dilation_w * (KW - 1) - 1) / a.stride_w + 1;
  const int64_t Mg = Cout / a.groups;
  std::vector<double> out(size_t(N * Cout * OH * OW));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < Cout; ++co)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double s = bv.empty() ? 0.0 : bv[size_t(co)];
          for (int64_t ci = 0; ci < Cg; ++ci)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * a.stride_h - a.pad_h + kh * a.dilation_h;
                const int64_t iw = ow * a.stride_w - a.pad_w + kw * a.dilation_w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const int64_t c = (co / Mg) * Cg + ci;
                s += xv[size_t(((n * Cin + c) * H + ih) * W + iw)] *
                     wv[size_t(((co * Cg + ci) * KH + kh) * KW + kw)];
              }
          out[size_t(((n * Cout + co) * OH + oh) * OW + ow)] = s;
        }
  return out;
}

struct Case {
  const char* name;
  int64_t N, Cin, H, W, Cout, KH, KW;
  Conv2dArgs args;
  bool bias;
};

Conv2dArgs args2(int sh, int sw, int ph, int pw, int dh, int dw, int groups) {
  return {sh, sw, ph, pw, dh, dw, groups};
}

const Case kCases[] = {
    {"3x3_same_odd", 1, 3, 7, 9, 5, 3, 3, Conv2dArgs::make(1, 1), true},
    {"3x5_stride2_asym_pad", 3, 4, 11, 10, 6, 3, 5, args2(2, 2, 1, 2, 1, 1, 1), true},
    {"dilation2", 2, 3, 13, 12, 4, 3, 3, Conv2dArgs::make(1, 2, 2), true},
    {"dilation_mixed_stride", 3, 2, 10, 15, 3, 2, 3, args2(2, 1, 0, 3, 3, 2, 1), true},
    {"groups2_stride2", 2, 6, 9, 9, 4, 3, 3, Conv2dArgs::make(2, 1, 1, 2), true},
    {"depthwise", 3, 8, 10, 11, 8, 3, 3, Conv2dArgs::make(1, 1, 1, 8), true},
    {"depthwise_mult2_stride2", 2, 5, 9, 8, 10, 3, 3, Conv2dArgs::make(2, 1, 1, 5), false},
    {"pointwise_fast_path", 3, 16, 7, 5, 12, 1, 1, Conv2dArgs::make(1, 0), true},
    {"pointwise_groups", 2, 8, 6, 6, 6, 1, 1, Conv2dArgs::make(1, 0, 1, 2), false},
    {"pointwise_stride2", 3, 16, 7, 7, 8, 1, 1, Conv2dArgs::make(2, 0), true},
    {"no_bias_batch1", 1, 5, 8, 8, 7, 3, 3, Conv2dArgs::make(1, 1), false},
    {"stem_7x7_stride2", 2, 3, 33, 31, 8, 7, 7, Conv2dArgs::make(2, 3), false},
    {"pad_larger_than_kernel", 2, 2, 5, 4, 3, 3, 3, Conv2dArgs::make(1, 3), true},
    {"deep_288_terms", 5, 32, 9, 9, 16, 3, 3, Conv2dArgs::make(1, 1), true},
    {"kernel_equals_padded_input", 2, 3, 3, 4, 2, 5, 6, Conv2dArgs::make(1, 1), true},
};

Tensor make_bias(const Case& c, uint64_t seed) {
  return c.bias ? test::random_tensor({c.Cout}, seed) : Tensor();
}

}  // namespace

// ---- index math (kernels/common/conv_index.h) ----

TEST(ConvIndex, ValidRangeMatchesBruteForce) {
  for (int64_t in = 1; in <= 9; ++in)
    for (int64_t k = 0; k < 4; ++k)
      for (int64_t stride = 1; stride <= 3; ++stride)
        for (int64_t pad = 0; pad <= 4; ++pad)
          for (int64_t dil = 1; dil <= 3; ++dil) {
            const int64_t out = 7;  // any count of output positions; the range is clamped to it
            int64_t lo, hi;
            conv_valid_range(in, out, k, stride, pad, dil, lo, hi);
            for (int64_t o = 0; o < out; ++o) {
              const int64_t i = o * stride - pad + k * dil;
              const bool inside = i >= 0 && i < in;
              ASSERT_EQ(inside, o >= lo && o < hi)
                  << "in " << in << " k " << k << " stride " << stride << " pad " << pad
                  << " dil " << dil << " o " << o << " range [" << lo << ", " << hi << ")";
            }
            EXPECT_LE(lo, hi);
          }
}

TEST(ConvIndex, Im2colOffsetsMatchDefinition) {
  ConvGeom g;
  g.C = 3; g.H = 6; g.W = 5; g.KH = 3; g.KW = 2;
  g.sh = 2; g.sw = 1; g.ph = 1; g.pw = 2; g.dh = 1; g.dw = 2;
  g.OH = conv_out_size(g.H, int(g.KH), int(g.sh), int(g.ph), int(g.dh));
  g.OW = conv_out_size(g.W, int(g.KW), int(g.sw), int(g.pw), int(g.dw));
  EXPECT_EQ(g.OH, 3);
  EXPECT_EQ(g.OW, 7);
  int64_t r = 0, padded = 0;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw, ++r) {
        int64_t dc, dkh, dkw;
        im2col_row_decode(g, r, dc, dkh, dkw);
        ASSERT_EQ(dc, c);
        ASSERT_EQ(dkh, kh);
        ASSERT_EQ(dkw, kw);
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow = 0; ow < g.OW; ++ow) {
            const int64_t ih = oh * 2 - 1 + kh, iw = ow - 2 + kw * 2;
            const bool in = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
            const int64_t want = in ? (c * g.H + ih) * g.W + iw : -1;
            ASSERT_EQ(im2col_src_offset(g, r, oh * g.OW + ow), want);
            padded += !in;
          }
      }
  EXPECT_GT(padded, 0);  // the geometry does exercise padding
}

// ---- CPU against the double reference ----

TEST(Conv2d, MatchesReference) {
  uint64_t seed = 100;
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Tensor x = test::random_tensor({c.N, c.Cin, c.H, c.W}, ++seed);
    Tensor w = test::random_tensor({c.Cout, c.Cin / c.args.groups, c.KH, c.KW}, ++seed);
    Tensor b = make_bias(c, ++seed);
    Tensor y = conv2d(x, w, b, c.args);
    const int64_t OH = conv_out_size(c.H, int(c.KH), c.args.stride_h, c.args.pad_h, c.args.dilation_h);
    const int64_t OW = conv_out_size(c.W, int(c.KW), c.args.stride_w, c.args.pad_w, c.args.dilation_w);
    ASSERT_EQ(y.shape(), (Shape{c.N, c.Cout, OH, OW}));
    EXPECT_TRUE(all_close(y, conv_ref(x, w, b, c.args), kAtol, kRtol));
  }
}

TEST(Conv2d, StemOutputShape) {
  Tensor x = Tensor::zeros({1, 3, 224, 224});
  Tensor w = Tensor::zeros({64, 3, 7, 7});
  EXPECT_EQ(conv2d(x, w, Tensor(), Conv2dArgs::make(2, 3)).shape(), (Shape{1, 64, 112, 112}));
}

TEST(Conv2d, BiasOnlyWhereWindowIsAllPadding) {
  // pad 2 with a 1x1 kernel: the border outputs see only padding and equal the bias.
  Tensor x = test::random_tensor({1, 2, 3, 3}, 7);
  Tensor w = test::random_tensor({3, 2, 1, 1}, 8);
  Tensor b = Tensor::from_vector(std::vector<float>{0.5f, -1.f, 2.f}, {3});
  Tensor y = conv2d(x, w, b, Conv2dArgs::make(1, 2));
  ASSERT_EQ(y.shape(), (Shape{1, 3, 7, 7}));
  auto yv = host(y);
  EXPECT_EQ(yv[0], 0.5);
  EXPECT_EQ(yv[49 + 6], -1.0);
  EXPECT_EQ(yv[2 * 49 + 48], 2.0);
  EXPECT_TRUE(all_close(y, conv_ref(x, w, b, Conv2dArgs::make(1, 2)), kAtol, kRtol));
}

TEST(Conv2d, NonContiguousInputsAndWeight) {
  // Channels-last input (NHWC storage viewed as NCHW), a channel-strided slice, and a weight stored
  // as [KH, KW, Cin, Cout] viewed as [Cout, Cin, KH, KW]; batch 1 and 3 (both threading schemes).
  for (int64_t N : {1, 3}) {
    SCOPED_TRACE("N=" + std::to_string(N));
    Tensor x = test::random_tensor({N, 9, 11, 6}, 20 + uint64_t(N)).permute({0, 3, 1, 2});
    ASSERT_FALSE(x.is_contiguous());
    Tensor w = test::random_tensor({3, 3, 6, 5}, 30).permute({3, 2, 0, 1});
    ASSERT_FALSE(w.is_contiguous());
    Tensor b = test::random_tensor({10}, 31).slice(0, 0, 10, 2);
    const auto a = Conv2dArgs::make(2, 1);
    EXPECT_TRUE(all_close(conv2d(x, w, b, a), conv_ref(x, w, b, a), kAtol, kRtol));
    Tensor xs = test::random_tensor({N, 12, 8, 8}, 40).slice(1, 0, 12, 2);  // 6 channels
    EXPECT_TRUE(all_close(conv2d(xs, w, b, a), conv_ref(xs, w, b, a), kAtol, kRtol));
  }
}

TEST(Conv2d, RepeatedCallsAreIdentical) {
  // The per-thread column buffers are reused across calls of different sizes.
  Tensor x1 = test::random_tensor({4, 8, 12, 12}, 50), w1 = test::random_tensor({4, 8, 3, 3}, 51);
  Tensor x2 = test::random_tensor({4, 2, 5, 5}, 52), w2 = test::random_tensor({3, 2, 3, 3}, 53);
  const auto a = Conv2dArgs::make(1, 1);
  auto y1 = host(conv2d(x1, w1, Tensor(), a));
  EXPECT_TRUE(all_close(conv2d(x2, w2, Tensor(), a), conv_ref(x2, w2, Tensor(), a), kAtol, kRtol));
  EXPECT_TRUE(all_close(conv2d(x1, w1, Tensor(), a), y1, 0, 0));
}

// ---- errors ----

namespace {
// Runs f, expecting pleas::Error whose message contains every string in `parts`.
template <typename F>
void expect_error(F f, std::initializer_list<const char*> parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
}
}  // namespace

TEST(Conv2d, Errors) {
  Tensor x = Tensor::zeros({2, 3, 8, 8});
  const auto a = Conv2dArgs::make(1, 1);
  expect_error([&] { conv2d(x, Tensor::zeros({4, 5, 3, 3}), Tensor(), a); },
               {"conv2d", "[2, 3, 8, 8] has 3 channels but weight [4, 5, 3, 3] expects 5"});
  // groups that divide neither the input channels nor the output channels
  expect_error([&] { conv2d(Tensor::zeros({1, 6, 8, 8}), Tensor::zeros({4, 1, 3, 3}), Tensor(),
                            Conv2dArgs::make(1, 1, 1, 4)); },
               {"conv2d", "6 channels, not divisible by groups=4"});
  expect_error([&] { conv2d(Tensor::zeros({1, 6, 8, 8}), Tensor::zeros({5, 2, 3, 3}), Tensor(),
                            Conv2dArgs::make(1, 1, 1, 3)); },
               {"conv2d", "5 output channels, not divisible by groups=3"});
  expect_error([&] { conv2d(Tensor::zeros({3, 8, 8}), Tensor::zeros({4, 3, 3, 3}), Tensor(), a); },
               {"conv2d", "must have 4 dims", "[3, 8, 8]"});
  expect_error([&] { conv2d(x, Tensor::zeros({4, 3, 3}), Tensor(), a); },
               {"conv2d", "weight", "must have 4 dims"});
  expect_error([&] { conv2d(Tensor::zeros({1, 3, 4, 4}), Tensor::zeros({2, 3, 7, 7}), Tensor(), a); },
               {"conv2d", "kernel 7x7", "larger than the padded input 6x6"});
  // dilation makes a 3x3 kernel span 5x5 > 4x4
  expect_error([&] { conv2d(Tensor::zeros({1, 3, 4, 4}), Tensor::zeros({2, 3, 3, 3}), Tensor(),
                            Conv2dArgs::make(1, 0, 2)); },
               {"conv2d", "kernel 5x5"});
  expect_error([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor::zeros({5}), a); },
               {"conv2d", "bias [5]", "4 output channels"});
  expect_error([&] { conv2d(x.to(DType::f64), Tensor::zeros({4, 3, 3, 3}), Tensor(), a); },
               {"conv2d", "input must be f32"});
  expect_error([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), Conv2dArgs::make(0, 1)); },
               {"conv2d", "stride"});
  expect_error([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), Conv2dArgs::make(1, -1)); },
               {"conv2d", "padding"});
  expect_error([&] { conv2d(x, Tensor(), Tensor(), a); }, {"conv2d", "weight is undefined"});
}

// ---- CUDA (cuDNN) against the CPU backend ----

TEST(Conv2dCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  uint64_t seed = 200;
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Tensor x = test::random_tensor({c.N, c.Cin, c.H, c.W}, ++seed);
    Tensor w = test::random_tensor({c.Cout, c.Cin / c.args.groups, c.KH, c.KW}, ++seed);
    Tensor b = make_bias(c, ++seed);
    Tensor ref = conv2d(x, w, b, c.args);
    Tensor y = conv2d(x.to(Device::cuda()), w.to(Device::cuda()),
                      b.defined() ? b.to(Device::cuda()) : Tensor(), c.args);
    EXPECT_TRUE(y.is_cuda());
    EXPECT_TRUE(all_close(y, ref, kAtol, kRtol));
  }
}

TEST(Conv2dCuda, NonContiguousInputAndRepeatedShape) {
  PLEAS_SKIP_WITHOUT_CUDA();
  // Channels-last storage on the device viewed as NCHW (Tensor::to copies into contiguous form).
  Tensor nhwc = test::random_tensor({3, 9, 11, 6}, 300);
  Tensor x = nhwc.permute({0, 3, 1, 2});
  Tensor w = test::random_tensor({5, 6, 3, 3}, 301);
  Tensor b = test::random_tensor({5}, 302);
  const auto a = Conv2dArgs::make(2, 1);
  Tensor ref = conv2d(x, w, b, a);
  Tensor xd = nhwc.to(Device::cuda()).permute({0, 3, 1, 2});
  ASSERT_FALSE(xd.is_contiguous());
  Tensor wd = w.to(Device::cuda()), bd = b.to(Device::cuda());
  EXPECT_TRUE(all_close(conv2d(xd, wd, bd, a), ref, kAtol, kRtol));
  EXPECT_TRUE(all_close(conv2d(xd, wd, bd, a), ref, kAtol, kRtol));  // cached algorithm
}

TEST(Conv2dCuda, DeviceMismatch) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Tensor x = Tensor::zeros({1, 3, 8, 8}, DType::f32, Device::cuda());
  expect_error([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), Conv2dArgs::make(1, 1)); },
               {"conv2d", "different devices"});
  expect_error([&] {
    conv2d(x, Tensor::zeros({4, 3, 3, 3}, DType::f32, Device::cuda()), Tensor::zeros({4}),
           Conv2dArgs::make(1, 1));
  }, {"conv2d", "different devices"});
}

// unfold2d against its definition col[n, (c*KH+kh)*KW+kw, oh*OW+ow] = x[n, c, oh*s-p+kh*d, ...],
// and conv2d == W · unfold2d (how least squares sees a convolution).
TEST(Unfold2d, MatchesDefinitionAndConv) {
  Tensor x = test::random_tensor({2, 3, 7, 6}, 71);
  Conv2dArgs a{2, 1, 1, 2, 1, 2, 1};
  Tensor col = unfold2d(x, 3, 2, a);
  const int64_t OH = conv_out_size(7, 3, 2, 1, 1), OW = conv_out_size(6, 2, 1, 2, 2);
  ASSERT_EQ(col.shape(), (Shape{2, 3 * 3 * 2, OH * OW}));
  auto xv = test::host(x);
  std::vector<double> ref(size_t(col.numel()));
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t kh = 0; kh < 3; ++kh)
        for (int64_t kw = 0; kw < 2; ++kw)
          for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) {
              int64_t ih = oh * 2 - 1 + kh, iw = ow * 1 - 2 + kw * 2;
              double v = (ih < 0 || iw < 0 || ih >= 7 || iw >= 6) ? 0.0 : xv[size_t(((n * 3 + c) * 7 + ih) * 6 + iw)];
              ref[size_t(((n * 18) + (c * 3 + kh) * 2 + kw) * OH * OW + oh * OW + ow)] = v;
            }
  EXPECT_TRUE(test::all_close(col, ref, 0, 0));
  Tensor w = test::random_tensor({4, 3, 3, 2}, 72);
  Tensor y = conv2d(x, w, Tensor(), a);
  Tensor y2 = bmm(w.reshape({1, 4, 18}).expand({2, 4, 18}).contiguous(), col);
  EXPECT_TRUE(test::all_close(y.reshape({2, 4, OH * OW}), y2, 1e-5, 1e-5));
  EXPECT_THROW(unfold2d(x, 9, 9, Conv2dArgs{}), Error);
}

// unfold2d_rows: the same columns with the images side by side, rows[(c*KH+kh)*KW+kw, n*OH*OW + p]
// = col[n, ., p]; _into writes them into the first rows of a larger buffer and leaves the rest.
TEST(Unfold2d, RowsLayoutMatchesUnfold) {
  Tensor x = test::random_tensor({3, 4, 9, 7}, 74);
  for (Conv2dArgs a : {Conv2dArgs{2, 1, 1, 2, 1, 2, 1}, Conv2dArgs::make(1, 1), Conv2dArgs::make(2, 0)}) {
    Tensor col = unfold2d(x, 3, 2, a);  // [N, K, P]
    const int64_t K = col.size(1), P = col.size(2);
    Tensor rows = unfold2d_rows(x, 3, 2, a);
    ASSERT_EQ(rows.shape(), (Shape{K, 3 * P}));
    EXPECT_TRUE(test::all_close(rows, test::host(col.permute({1, 0, 2}).contiguous().reshape({K, 3 * P})), 0, 0));
    Tensor buf = Tensor::full({K + 5, 3 * P}, 7.0);
    Tensor head = buf.narrow(0, 0, K);
    unfold2d_rows_into(head, x, 3, 2, a);
    EXPECT_TRUE(test::all_close(buf.narrow(0, 0, K), test::host(rows), 0, 0));
    EXPECT_TRUE(test::all_close(buf.narrow(0, K, 5), std::vector<double>(size_t(5 * 3 * P), 7.0), 0, 0));
  }
  Tensor small = Tensor::empty({10, 3}, DType::f32);
  expect_error([&] { unfold2d_rows_into(small, x, 3, 3, Conv2dArgs::make(1, 1)); }, {"unfold2d"});
}

TEST(Unfold2dCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Tensor x = test::random_tensor({2, 5, 9, 8}, 73);
  Conv2dArgs a = Conv2dArgs::make(2, 1);
  EXPECT_TRUE(test::all_close(unfold2d(x.to(Device::cuda()), 3, 3, a), test::host(unfold2d(x, 3, 3, a)), 0, 0));
}

TEST(Unfold2dCuda, RowsMatchCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Tensor x = test::random_tensor({2, 5, 9, 8}, 75);
  Conv2dArgs a{2, 1, 1, 2, 1, 2, 1};
  EXPECT_TRUE(test::all_close(unfold2d_rows(x.to(Device::cuda()), 3, 3, a), test::host(unfold2d_rows(x, 3, 3, a)), 0, 0));
}
