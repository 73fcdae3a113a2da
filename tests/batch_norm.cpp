// batch_norm (inference), scale_shift and batch_channel_stats against double-precision loops.
#include <cmath>
#include <functional>

#include "kernels/common/channel_index.h"
#include "kernels/ops.h"
#include "test_util.h"

using namespace pleas;
using test::all_close;
using test::host;

namespace {
// The message of the pleas::Error thrown by f ("" when none is thrown).
#define EXPECT_ERROR_HAS(stmt, ...)                                        \
  do {                                                                     \
    const std::string msg_ = test::error_of([&] { stmt; });                      \
    EXPECT_FALSE(msg_.empty()) << #stmt " did not throw";                  \
    for (const char* s_ : {__VA_ARGS__})                                   \
      EXPECT_NE(msg_.find(s_), std::string::npos) << msg_ << " lacks " << s_; \
  } while (0)

int64_t inner_of(const Shape& s) {
  int64_t inner = 1;
  for (size_t d = 2; d < s.size(); ++d) inner *= s[d];
  return inner;
}

// y[n,c,j] = x[n,c,j] · s[c] + t[c] over row-major x [N, C, inner].
std::vector<double> affine_ref(const std::vector<double>& x, const Shape& shape,
                               const std::vector<double>& s, const std::vector<double>& t) {
  const int64_t N = shape[0], C = shape[1], inner = inner_of(shape);
  std::vector<double> y(x.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < inner; ++j) {
        const size_t i = size_t((n * C + c) * inner + j);
        y[i] = x[i] * s[size_t(c)] + t[size_t(c)];
      }
  return y;
}

// y = (x - m) / sqrt(v + eps) · w + b; empty w/b mean 1/0.
std::vector<double> bn_ref(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& m,
                           const Tensor& v, double eps) {
  const int64_t C = x.size(1);
  std::vector<double> s(size_t(C), 1.0), t(size_t(C), 0.0);
  const auto wv = w.defined() ? host(w) : s, bv = b.defined() ? host(b) : t;
  const auto mv = host(m), vv = host(v);
  for (size_t c = 0; c < size_t(C); ++c) {
    s[c] = wv[c] / std::sqrt(vv[c] + eps);
    t[c] = bv[c] - mv[c] * s[c];
  }
  return affine_ref(host(x), x.shape(), s, t);
}

// Two-pass per-channel mean and biased variance in double.
void stats_ref(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const auto xv = host(x);
  const int64_t N = x.size(0), C = x.size(1), inner = inner_of(x.shape());
  mean.assign(size_t(C), 0.0);
  var.assign(size_t(C), 0.0);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0, ss = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < inner; ++j) s += xv[size_t((n * C + c) * inner + j)];
    const double mu = s / double(N * inner);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < inner; ++j) {
        const double d = xv[size_t((n * C + c) * inner + j)] - mu;
        ss += d * d;
      }
    mean[size_t(c)] = mu;
    var[size_t(c)] = ss / double(N * inner);
  }
}

struct BnParams { Tensor w, b, m, v; };
BnParams bn_params(int64_t C, uint64_t seed) {
  return {test::random_tensor({C}, seed, 0.5, 1.5), test::random_tensor({C}, seed + 1),
          test::random_tensor({C}, seed + 2), test::random_tensor({C}, seed + 3, 0.1, 2.0)};
}
}  // namespace

TEST(ChannelIndex, MatchesEnumeration) {
  const int64_t N = 3, C = 5, inner = 7;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t i = (n * C + c) * inner + j;
        EXPECT_EQ(channel_of<int64_t>(i, inner, C), c);
        EXPECT_EQ(channel_of<uint32_t>(uint32_t(i), inner, C), uint32_t(c));
        EXPECT_EQ(channel_elem_offset<int64_t>(c, n * inner + j, C, inner), i);
        EXPECT_EQ(channel_elem_offset<uint32_t>(c, uint32_t(n * inner + j), C, inner), uint32_t(i));
      }
  const Shape s{2, 3, 4, 5};
  EXPECT_EQ(channel_inner(s.data(), 4), 20);
  EXPECT_EQ(channel_inner(s.data(), 2), 1);
}

TEST(BatchNorm, MatchesReferenceOddShapes) {
  for (const Shape& s : {Shape{3, 5, 7, 9}, Shape{2, 3, 1, 1}, Shape{7, 6}, Shape{2, 4, 11}}) {
    const Tensor x = test::random_tensor(s, 10, -3, 3);
    const BnParams p = bn_params(s[1], 20);
    const Tensor y = batch_norm(x, p.w, p.b, p.m, p.v, 1e-5);
    EXPECT_EQ(y.shape(), s);
    EXPECT_TRUE(all_close(y, bn_ref(x, p.w, p.b, p.m, p.v, 1e-5), 1e-5, 1e-5)) << shape_str(s);
  }
}

TEST(BatchNorm, UndefinedWeightAndBiasAreOneAndZero) {
  const Tensor x = test::random_tensor({4, 6, 5, 3}, 11);
  const BnParams p = bn_params(6, 30);
  const Tensor none;
  EXPECT_TRUE(all_close(batch_norm(x, none, none, p.m, p.v, 1e-3),
                        bn_ref(x, none, none, p.m, p.v, 1e-3), 1e-5, 1e-5));
  EXPECT_TRUE(all_close(batch_norm(x, p.w, none, p.m, p.v, 1e-3),
                        bn_ref(x, p.w, none, p.m, p.v, 1e-3), 1e-5, 1e-5));
  EXPECT_TRUE(all_close(batch_norm(x, none, p.b, p.m, p.v, 1e-3),
                        bn_ref(x, none, p.b, p.m, p.v, 1e-3), 1e-5, 1e-5));
}

TEST(BatchNorm, F64RunningStatsAndStridedParams) {
  const Tensor x = test::random_tensor({2, 5, 4, 4}, 12);
  const BnParams p = bn_params(5, 40);
  // f64 running statistics (as batch_channel_stats produces) and every-other-element parameters.
  const Tensor m64 = p.m.to(DType::f64), v64 = p.v.to(DType::f64);
  const Tensor w2 = test::random_tensor({10}, 41, 0.5, 1.5).slice(0, 0, 10, 2);
  ASSERT_FALSE(w2.is_contiguous());
  EXPECT_TRUE(all_close(batch_norm(x, w2, p.b, m64, v64, 1e-5), bn_ref(x, w2, p.b, p.m, p.v, 1e-5),
                        1e-5, 1e-5));
}

TEST(BatchNorm, NonContiguousInput) {
  // Channels-last storage viewed as NCHW, and a sliced view.
  const Tensor nhwc = test::random_tensor({3, 6, 7, 4}, 13);
  const Tensor x = nhwc.permute({0, 3, 1, 2});  // [3, 4, 6, 7]
  ASSERT_FALSE(x.is_contiguous());
  const BnParams p = bn_params(4, 50);
  EXPECT_TRUE(all_close(batch_norm(x, p.w, p.b, p.m, p.v, 1e-5), bn_ref(x, p.w, p.b, p.m, p.v, 1e-5),
                        1e-5, 1e-5));
  const Tensor xs = test::random_tensor({2, 4, 9, 10}, 14).slice(3, 1, 10, 3);
  EXPECT_TRUE(all_close(batch_norm(xs, p.w, p.b, p.m, p.v, 1e-5),
                        bn_ref(xs, p.w, p.b, p.m, p.v, 1e-5), 1e-5, 1e-5));
}

TEST(ScaleShift, MatchesReference) {
  for (const Shape& s : {Shape{3, 5, 7, 9}, Shape{9, 7}, Shape{1, 3, 2}}) {
    const Tensor x = test::random_tensor(s, 15, -2, 2);
    const Tensor sc = test::random_tensor({s[1]}, 16), sh = test::random_tensor({s[1]}, 17);
    EXPECT_TRUE(all_close(scale_shift(x, sc, sh), affine_ref(host(x), s, host(sc), host(sh)), 1e-6, 1e-6))
        << shape_str(s);
  }
  // Non-contiguous input (transposed H/W).
  const Tensor x = test::random_tensor({2, 3, 5, 6}, 18).transpose(2, 3);
  const Tensor sc = test::random_tensor({3}, 19), sh = test::random_tensor({3}, 20);
  EXPECT_TRUE(all_close(scale_shift(x, sc, sh), affine_ref(host(x), x.shape(), host(sc), host(sh)),
                        1e-6, 1e-6));
}

TEST(BatchChannelStats, MatchesReference) {
  // [N, C] shapes take the row-major path (large one: threaded partial sums).
  for (const Shape& s : {Shape{4, 6, 5, 7}, Shape{9, 3}, Shape{1, 2, 1, 1}, Shape{3, 5, 17}, Shape{20000, 48}}) {
    const Tensor x = test::random_tensor(s, 21, -2, 3);
    const ChannelStats st = batch_channel_stats(x);
    std::vector<double> m, v;
    stats_ref(x, m, v);
    EXPECT_EQ(st.mean.dtype(), DType::f64);
    EXPECT_EQ(st.var.dtype(), DType::f64);
    EXPECT_EQ(st.mean.shape(), (Shape{s[1]}));
    EXPECT_EQ(st.count, shape_numel(s) / s[1]);
    EXPECT_TRUE(all_close(st.mean, m, 1e-12, 1e-12)) << shape_str(s);
    EXPECT_TRUE(all_close(st.var, v, 1e-12, 1e-12)) << shape_str(s);
  }
  // Channels-last view.
  const Tensor x = test::random_tensor({3, 5, 6, 4}, 22).permute({0, 3, 1, 2});
  const ChannelStats st = batch_channel_stats(x);
  std::vector<double> m, v;
  stats_ref(x, m, v);
  EXPECT_TRUE(all_close(st.mean, m, 1e-12, 1e-12));
  EXPECT_TRUE(all_close(st.var, v, 1e-12, 1e-12));
}

TEST(BatchChannelStats, LargeOffsetDoesNotCancel) {
  // x = 1e4 + u, u ~ U(-1, 1): var ≈ 1/3 while E[x²] ≈ 1e8, so E[x²] - E[x]² in f32 (or even a
  // naive f64 one-pass sum at this size) would lose most digits of the variance.
  const Shape s{16, 4, 13, 11};
  const Tensor x = test::random_tensor(s, 23, 1e4 - 1, 1e4 + 1);
  const ChannelStats st = batch_channel_stats(x);
  std::vector<double> m, v;
  stats_ref(x, m, v);
  EXPECT_TRUE(all_close(st.mean, m, 0, 1e-13));
  EXPECT_TRUE(all_close(st.var, v, 0, 1e-10));
  for (double vc : host(st.var)) EXPECT_NEAR(vc, 1.0 / 3.0, 0.03);
  // A constant channel has exactly zero variance.
  const ChannelStats c = batch_channel_stats(Tensor::full({5, 2, 3, 3}, 12345.678));
  for (double vc : host(c.var)) EXPECT_EQ(vc, 0.0);
}

TEST(BatchNorm, Errors) {
  const Tensor x = test::random_tensor({2, 3, 4, 4}, 24);
  const BnParams p = bn_params(3, 60), q = bn_params(4, 70);
  EXPECT_ERROR_HAS(batch_norm(x, q.w, p.b, p.m, p.v, 1e-5), "batch_norm", "[2, 3, 4, 4]", "[4]",
                   "3 channels");
  EXPECT_ERROR_HAS(batch_norm(x, p.w, p.b, q.m, p.v, 1e-5), "batch_norm", "running mean", "[4]");
  EXPECT_ERROR_HAS(batch_norm(x, p.w, p.b, p.m, Tensor(), 1e-5), "batch_norm", "running var");
  EXPECT_ERROR_HAS(batch_norm(x.to(DType::f64), p.w, p.b, p.m, p.v, 1e-5), "batch_norm", "f32");
  EXPECT_ERROR_HAS(batch_norm(x, p.w.to(DType::f64), p.b, p.m, p.v, 1e-5), "batch_norm", "weight");
  EXPECT_ERROR_HAS(batch_norm(test::random_tensor({3}, 1), p.w, p.b, p.m, p.v, 1e-5), "batch_norm",
                   "[N, C, ...]");
  EXPECT_ERROR_HAS(batch_norm(x, p.w, p.b, p.m, p.v, -1.0), "batch_norm", "eps");
  EXPECT_ERROR_HAS(scale_shift(x, q.w, p.b), "scale_shift", "[2, 3, 4, 4]", "scale", "[4]");
  EXPECT_ERROR_HAS(scale_shift(x, p.w, Tensor()), "scale_shift", "shift");
  EXPECT_ERROR_HAS(scale_shift(x, p.w.reshape({1, 3}), p.b), "scale_shift", "[1, 3]");
  EXPECT_ERROR_HAS(batch_channel_stats(x.to(DType::f64)), "batch_channel_stats", "f32");
  EXPECT_ERROR_HAS(batch_channel_stats(Tensor::zeros({0, 3, 2, 2})), "batch_channel_stats");
  EXPECT_ERROR_HAS(batch_channel_stats(Tensor()), "batch_channel_stats", "undefined");
}

// ---- CUDA: compared with the CPU backend on the same inputs ----

TEST(BatchNormCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  for (const Shape& s : {Shape{3, 5, 7, 9}, Shape{7, 6}, Shape{32, 64, 14, 14}}) {
    const Tensor x = test::random_tensor(s, 80, -3, 3);
    const BnParams p = bn_params(s[1], 81);
    const Tensor ref = batch_norm(x, p.w, p.b, p.m, p.v, 1e-5);
    const Tensor got = batch_norm(x.to(g), p.w.to(g), p.b.to(g), p.m.to(g), p.v.to(g), 1e-5);
    EXPECT_TRUE(got.is_cuda());
    EXPECT_TRUE(all_close(got, ref, 1e-5, 1e-5)) << shape_str(s);
    // No affine, f64 statistics.
    const Tensor ref0 = batch_norm(x, Tensor(), Tensor(), p.m, p.v, 1e-5);
    const Tensor got0 = batch_norm(x.to(g), Tensor(), Tensor(), p.m.to(DType::f64).to(g),
                                   p.v.to(DType::f64).to(g), 1e-5);
    EXPECT_TRUE(all_close(got0, ref0, 1e-5, 1e-5)) << shape_str(s);
  }
  // Channels-last view (strided path) and a strided weight.
  const Tensor x = test::random_tensor({3, 6, 7, 4}, 82).permute({0, 3, 1, 2});
  const BnParams p = bn_params(4, 83);
  const Tensor w2 = test::random_tensor({8}, 84).slice(0, 1, 8, 2);
  EXPECT_TRUE(all_close(batch_norm(x.to(g), w2.to(g), p.b.to(g), p.m.to(g), p.v.to(g), 1e-5),
                        batch_norm(x, w2, p.b, p.m, p.v, 1e-5), 1e-5, 1e-5));
}

TEST(ScaleShiftCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  for (const Tensor& x : {test::random_tensor({4, 5, 9, 11}, 85), test::random_tensor({9, 7}, 86),
                          test::random_tensor({2, 3, 5, 6}, 87).transpose(2, 3)}) {
    const Tensor sc = test::random_tensor({x.size(1)}, 88), sh = test::random_tensor({x.size(1)}, 89);
    EXPECT_TRUE(all_close(scale_shift(x.to(g), sc.to(g), sh.to(g)), scale_shift(x, sc, sh), 1e-6, 1e-6));
  }
}

TEST(BatchChannelStatsCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  for (const Tensor& x :
       {test::random_tensor({4, 6, 5, 7}, 90), test::random_tensor({9, 3}, 91),
        test::random_tensor({32, 64, 28, 28}, 92, 1e4 - 1, 1e4 + 1),
        test::random_tensor({3, 5, 6, 4}, 93).permute({0, 3, 1, 2})}) {
    const ChannelStats ref = batch_channel_stats(x);
    const ChannelStats got = batch_channel_stats(x.to(g));
    EXPECT_TRUE(got.mean.is_cuda());
    EXPECT_EQ(got.count, ref.count);
    EXPECT_TRUE(all_close(got.mean, ref.mean, 1e-12, 1e-12)) << x.str();
    EXPECT_TRUE(all_close(got.var, ref.var, 1e-12, 1e-9)) << x.str();
  }
}
