// max_pool2d / avg_pool2d / global_avg_pool2d: CPU against double loops written from PyTorch's
// definitions (padding, ceil_mode, count_include_pad), the window math of
// kernels/common/pool_index.h, hand-checked values, non-contiguous inputs, error paths, and CUDA
// against the CPU backend.
// Tolerances: max pooling selects an input value, so it must match exactly (atol = rtol = 0);
// averages of at most a few dozen f32 values in [-1, 1] (CPU global pooling sums in f64) round to
// well under 1e-6, so atol = rtol = 1e-6 (CUDA sums in f32 over up to ~3000 elements: 1e-5).
#include <cmath>
#include <limits>
#include <string>

#include "kernels/common/pool_index.h"
#include "kernels/ops.h"
#include "test_util.h"

using namespace pleas;
using pleas::test::all_close;
using pleas::test::host;

namespace {

// PyTorch's definitions, written as loops over the padded window:
//   window of output o along an axis: positions i in [o*s - p, o*s - p + k), of which only those
//   with 0 <= i < in are read; count_include_pad divides by the positions with -p <= i < in + p.
//   Output size: floor or ceil of (in + 2p - k)/s + 1, minus one in ceil mode when the last
//   window would start at or past in + p.
int64_t ref_out_size(int64_t in, int k, int s, int p, bool ceil_mode) {
  const double q = double(in + 2 * p - k) / s;
  int64_t out = int64_t(ceil_mode ? std::ceil(q) : std::floor(q)) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

std::vector<double> pool_ref(const Tensor& x, const Pool2dArgs& a, bool is_max) {
  const auto xv = host(x);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = ref_out_size(H, a.kernel_h, a.stride_h, a.pad_h, a.ceil_mode);
  const int64_t OW = ref_out_size(W, a.kernel_w, a.stride_w, a.pad_w, a.ceil_mode);
  std::vector<double> out;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double m = -std::numeric_limits<double>::infinity(), s = 0;
          int64_t real = 0, padded = 0;
          for (int64_t i = 0; i < a.kernel_h; ++i)
            for (int64_t j = 0; j < a.kernel_w; ++j) {
              const int64_t h = oh * a.stride_h - a.pad_h + i, w = ow * a.stride_w - a.pad_w + j;
              if (h >= -a.pad_h && h < H + a.pad_h && w >= -a.pad_w && w < W + a.pad_w) ++padded;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              const double v = xv[size_t(((n * C + c) * H + h) * W + w)];
              m = std::max(m, v);
              s += v;
              ++real;
            }
          out.push_back(is_max ? m : s / double(a.count_include_pad ? padded : real));
        }
  return out;
}

Pool2dArgs pargs(int kh, int kw, int sh, int sw, int ph, int pw, bool ceil_mode, bool include_pad) {
  return {kh, kw, sh, sw, ph, pw, ceil_mode, include_pad};
}

struct Case {
  const char* name;
  Shape shape;
  Pool2dArgs args;
};

const Case kCases[] = {
    {"2x2_stride2", {2, 3, 8, 8}, Pool2dArgs::make(2, 2)},
    {"2x2_stride2_odd_floor", {1, 2, 7, 9}, Pool2dArgs::make(2, 2)},
    {"stem_3x3_s2_p1", {2, 4, 13, 11}, Pool2dArgs::make(3, 2, 1)},
    {"3x3_s2_ceil", {2, 3, 8, 10}, pargs(3, 3, 2, 2, 0, 0, true, true)},
    {"3x3_s2_p1_ceil", {1, 3, 6, 7}, pargs(3, 3, 2, 2, 1, 1, true, true)},
    {"3x3_s2_p1_ceil_exclude_pad", {1, 3, 6, 7}, pargs(3, 3, 2, 2, 1, 1, true, false)},
    {"exclude_pad", {2, 2, 9, 6}, pargs(3, 3, 1, 1, 1, 1, false, false)},
    {"nonsquare", {3, 2, 10, 7}, pargs(3, 2, 2, 1, 1, 0, false, true)},
    {"nonsquare_ceil_exclude", {2, 2, 11, 5}, pargs(4, 3, 3, 2, 2, 1, true, false)},
    {"window_1x1", {1, 3, 5, 4}, Pool2dArgs::make(1, 1)},
    {"whole_plane", {2, 5, 7, 7}, Pool2dArgs::make(7, 1)},
};

constexpr double kAvgTol = 1e-6;

}  // namespace

// ---- index math (kernels/common/pool_index.h) ----

TEST(PoolIndex, WindowMatchesCounting) {
  for (int64_t in = 1; in <= 8; ++in)
    for (int64_t k = 1; k <= 4; ++k)
      for (int64_t s = 1; s <= 3; ++s)
        for (int64_t p = 0; p <= k / 2; ++p)
          for (bool ceil_mode : {false, true}) {
            if (in + 2 * p < k) continue;  // rejected by the ops (Pooling.Errors)
            const int64_t out = pool_out_size(in, int(k), int(s), int(p), ceil_mode);
            ASSERT_EQ(out, ref_out_size(in, int(k), int(s), int(p), ceil_mode))
                << in << " " << k << " " << s << " " << p << " " << ceil_mode;
            for (int64_t o = 0; o < out; ++o) {
              int64_t lo, hi, padded;
              pool_window_1d(o, in, k, s, p, lo, hi, padded);
              int64_t want_real = 0, want_padded = 0, first = -1;
              for (int64_t i = o * s - p; i < o * s - p + k; ++i) {
                want_padded += i >= -p && i < in + p;
                if (i >= 0 && i < in) { ++want_real; if (first < 0) first = i; }
              }
              ASSERT_EQ(padded, want_padded);
              ASSERT_EQ(hi - lo, want_real);
              ASSERT_GE(want_real, 1);  // every window reads at least one input element
              ASSERT_EQ(lo, first);
            }
          }
}

TEST(PoolIndex, InteriorRangeMatchesBruteForce) {
  for (int64_t in = 1; in <= 9; ++in)
    for (int64_t k = 1; k <= 4; ++k)
      for (int64_t s = 1; s <= 3; ++s)
        for (int64_t p = 0; p <= k / 2; ++p) {
          if (in + 2 * p < k) continue;
          const int64_t out = pool_out_size(in, int(k), int(s), int(p), true);
          int64_t lo, hi;
          pool_interior_range(in, out, k, s, p, lo, hi);
          ASSERT_LE(lo, hi);
          for (int64_t o = 0; o < out; ++o) {
            const bool inside = o * s - p >= 0 && o * s - p + k <= in;
            ASSERT_EQ(inside, o >= lo && o < hi) << in << " " << k << " " << s << " " << p << " o " << o;
          }
        }
}

TEST(PoolIndex, DecodeAndPlaneOffsets) {
  PoolGeom g;
  g.N = 2; g.C = 3; g.H = 4; g.W = 5; g.OH = 4; g.OW = 6;
  g.sn = 1000; g.sc = 100; g.sh = 7; g.sw = 3;
  int64_t i = 0;
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow, ++i) {
          int64_t dn, dc, doh, dow;
          pool_out_decode(g, i, dn, dc, doh, dow);
          ASSERT_EQ(dn, n); ASSERT_EQ(dc, c); ASSERT_EQ(doh, oh); ASSERT_EQ(dow, ow);
        }
  EXPECT_EQ(pool_plane_offset(g, 1, 2), 1200);
  for (int64_t j = 0; j < g.H * g.W; ++j)
    EXPECT_EQ(plane_elem_offset(g, j), (j / 5) * 7 + (j % 5) * 3);
}

// ---- CPU against the references ----

TEST(Pooling, MaxMatchesReference) {
  uint64_t seed = 1;
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Tensor x = test::random_tensor(c.shape, ++seed);
    Tensor y = max_pool2d(x, c.args);
    ASSERT_EQ(y.shape(), (Shape{c.shape[0], c.shape[1],
                                ref_out_size(c.shape[2], c.args.kernel_h, c.args.stride_h, c.args.pad_h, c.args.ceil_mode),
                                ref_out_size(c.shape[3], c.args.kernel_w, c.args.stride_w, c.args.pad_w, c.args.ceil_mode)}));
    EXPECT_TRUE(all_close(y, pool_ref(x, c.args, true), 0, 0));
  }
}

TEST(Pooling, AvgMatchesReference) {
  uint64_t seed = 50;
  for (const Case& c : kCases)
    for (bool include_pad : {true, false}) {
      SCOPED_TRACE(std::string(c.name) + (include_pad ? " include_pad" : " exclude_pad"));
      Pool2dArgs a = c.args;
      a.count_include_pad = include_pad;
      Tensor x = test::random_tensor(c.shape, ++seed);
      EXPECT_TRUE(all_close(avg_pool2d(x, a), pool_ref(x, a, false), kAvgTol, kAvgTol));
    }
}

TEST(Pooling, HandCheckedCeilMode) {
  // x = [[1,2,3],[4,5,6],[7,8,9]], 2x2 windows, stride 2, ceil_mode: the windows past the input
  // are clipped, so the averages divide by the elements present (PyTorch gives the same).
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  Pool2dArgs a = pargs(2, 2, 2, 2, 0, 0, true, true);
  EXPECT_EQ(max_pool2d(x, a).to_vector<float>(), (std::vector<float>{5, 6, 8, 9}));
  EXPECT_EQ(avg_pool2d(x, a).to_vector<float>(), (std::vector<float>{3, 4.5f, 7.5f, 9}));
  // 3x3, stride 2, pad 1, ceil_mode: 2x2 output; the corner window [-1,2)x[-1,2) holds 4 inputs
  // (1+2+4+5 = 12) in 9 padded positions; every window lies inside the padded input [-1,4).
  Pool2dArgs b = pargs(3, 3, 2, 2, 1, 1, true, true);
  EXPECT_EQ(avg_pool2d(x, b).to_vector<float>(),
            (std::vector<float>{12.f / 9, 16.f / 9, 24.f / 9, 28.f / 9}));
  b.count_include_pad = false;
  EXPECT_EQ(avg_pool2d(x, b).to_vector<float>(), (std::vector<float>{3, 4, 6, 7}));
}

TEST(Pooling, MaxPropagatesNaN) {
  std::vector<float> v(16, 1.f);
  v[5] = std::numeric_limits<float>::quiet_NaN();
  v[15] = 7.f;
  auto y = max_pool2d(Tensor::from_vector(v, {1, 1, 4, 4}), Pool2dArgs::make(2, 2)).to_vector<float>();
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], 1.f);
  EXPECT_EQ(y[3], 7.f);
  // Padded windows (the per-element edge path): NaN in the corner reaches outputs (0,0) only.
  std::vector<float> u(25, 2.f);
  u[0] = std::numeric_limits<float>::quiet_NaN();
  auto z = max_pool2d(Tensor::from_vector(u, {1, 1, 5, 5}), Pool2dArgs::make(3, 2, 1)).to_vector<float>();
  ASSERT_EQ(z.size(), 9u);
  EXPECT_TRUE(std::isnan(z[0]));
  for (size_t i = 1; i < z.size(); ++i) EXPECT_EQ(z[i], 2.f) << i;
}

TEST(Pooling, NonContiguousInputs) {
  // Channels-last storage viewed as NCHW, and a view strided along W.
  Tensor nhwc = test::random_tensor({2, 9, 10, 3}, 90).permute({0, 3, 1, 2});
  Tensor wslice = test::random_tensor({2, 3, 9, 21}, 91).slice(3, 1, 21, 2);
  for (const Tensor& x : {nhwc, wslice}) {
    ASSERT_FALSE(x.is_contiguous());
    const Pool2dArgs a = pargs(3, 3, 2, 2, 1, 1, true, false);
    EXPECT_TRUE(all_close(max_pool2d(x, a), pool_ref(x, a, true), 0, 0));
    EXPECT_TRUE(all_close(avg_pool2d(x, a), pool_ref(x, a, false), kAvgTol, kAvgTol));
    EXPECT_TRUE(all_close(global_avg_pool2d(x),
                          pool_ref(x, pargs(int(x.size(2)), int(x.size(3)), 1, 1, 0, 0, false, true), false),
                          kAvgTol, kAvgTol));
  }
}

TEST(Pooling, GlobalAvgMatchesReference) {
  for (Shape s : {Shape{2, 5, 7, 7}, Shape{3, 4, 8, 9}, Shape{1, 1, 1, 1}, Shape{4, 64, 7, 7}}) {
    SCOPED_TRACE(shape_str(s));
    Tensor x = test::random_tensor(s, 7 + uint64_t(s[3]));
    Tensor y = global_avg_pool2d(x);
    ASSERT_EQ(y.shape(), (Shape{s[0], s[1]}));
    auto xv = host(x);
    std::vector<double> ref;
    const int64_t hw = s[2] * s[3];
    for (int64_t p = 0; p < s[0] * s[1]; ++p) {
      double sum = 0;
      for (int64_t j = 0; j < hw; ++j) sum += xv[size_t(p * hw + j)];
      ref.push_back(sum / double(hw));
    }
    EXPECT_TRUE(all_close(y, ref, kAvgTol, kAvgTol));
  }
}

TEST(Pooling, Errors) {
  auto expect_msg = [](auto f, const char* op, const char* part) {
    try {
      f();
      ADD_FAILURE() << op << ": no error thrown";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(op), std::string::npos) << msg;
      EXPECT_NE(msg.find(part), std::string::npos) << msg;
    }
  };
  Tensor x = Tensor::zeros({1, 2, 6, 6});
  expect_msg([&] { max_pool2d(Tensor::zeros({2, 6, 6}), Pool2dArgs::make(2, 2)); }, "max_pool2d",
             "must have 4 dims");
  expect_msg([&] { avg_pool2d(x, Pool2dArgs::make(3, 1, 2)); }, "avg_pool2d", "at most half the kernel");
  expect_msg([&] { max_pool2d(x, Pool2dArgs::make(2, 0)); }, "max_pool2d", "stride");
  expect_msg([&] { max_pool2d(Tensor::zeros({1, 1, 2, 2}), Pool2dArgs::make(3, 1)); }, "max_pool2d",
             "too small");
  expect_msg([&] { avg_pool2d(Tensor::zeros({1, 1, 1, 5}), Pool2dArgs::make(2, 2)); }, "avg_pool2d",
             "too small");
  expect_msg([&] { avg_pool2d(x.to(DType::f64), Pool2dArgs::make(2, 2)); }, "avg_pool2d", "must be f32");
  expect_msg([&] { global_avg_pool2d(Tensor::zeros({2, 3})); }, "global_avg_pool2d", "must have 4 dims");
  expect_msg([&] { global_avg_pool2d(Tensor()); }, "global_avg_pool2d", "undefined");
}

// ---- CUDA against the CPU backend ----

TEST(PoolingCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  uint64_t seed = 500;
  for (const Case& c : kCases)
    for (bool include_pad : {true, false}) {
      SCOPED_TRACE(c.name);
      Pool2dArgs a = c.args;
      a.count_include_pad = include_pad;
      Tensor x = test::random_tensor(c.shape, ++seed);
      Tensor xd = x.to(Device::cuda());
      EXPECT_TRUE(all_close(max_pool2d(xd, a), max_pool2d(x, a), 0, 0));
      EXPECT_TRUE(all_close(avg_pool2d(xd, a), avg_pool2d(x, a), kAvgTol, kAvgTol));
    }
}

TEST(PoolingCuda, NonContiguousAndGlobal) {
  PLEAS_SKIP_WITHOUT_CUDA();
  // Channels-last storage on the device viewed as NCHW (Tensor::to copies into contiguous form).
  Tensor nhwc = test::random_tensor({4, 9, 10, 64}, 600);
  Tensor x = nhwc.permute({0, 3, 1, 2});
  Tensor xd = nhwc.to(Device::cuda()).permute({0, 3, 1, 2});
  ASSERT_FALSE(xd.is_contiguous());
  const Pool2dArgs a = Pool2dArgs::make(3, 2, 1);
  EXPECT_TRUE(all_close(max_pool2d(xd, a), max_pool2d(x, a), 0, 0));
  EXPECT_TRUE(all_close(avg_pool2d(xd, a), avg_pool2d(x, a), kAvgTol, kAvgTol));
  EXPECT_TRUE(all_close(global_avg_pool2d(xd), global_avg_pool2d(x), 1e-5, 1e-5));
  Tensor big = test::random_tensor({2, 3, 56, 56}, 601);  // planes longer than a warp's sweep
  EXPECT_TRUE(all_close(global_avg_pool2d(big.to(Device::cuda())), global_avg_pool2d(big), 1e-5, 1e-5));
}
