// Philox4x32-10 against the Random123 known-answer vectors (the independent reference), the
// documented element layout, statistics of 1e6 samples (5-sigma bounds), reproducibility, views
// and errors.
#include <cmath>
#include <cstring>

#include "kernels/common/philox.h"
#include "kernels/ops.h"
#include "test_util.h"

using namespace pleas;
using pleas::test::all_close;
using pleas::test::host;

namespace {

struct Moments {
  double mean = 0, var = 0, lag1 = 0, lag4 = 0;  // lag-k correlation of x[i] and x[i + k]
};
Moments moments(const std::vector<double>& v) {
  Moments m;
  const double n = double(v.size());
  for (double x : v) m.mean += x;
  m.mean /= n;
  for (double x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= n;
  for (size_t i = 0; i + 4 < v.size(); ++i) {
    m.lag1 += (v[i] - m.mean) * (v[i + 1] - m.mean);
    m.lag4 += (v[i] - m.mean) * (v[i + 4] - m.mean);
  }
  m.lag1 /= (n - 4) * m.var;
  m.lag4 /= (n - 4) * m.var;
  return m;
}


constexpr int64_t kN = 1000000;

}  // namespace

// Random123 tests/kat_vectors, "philox4x32 10" lines: counter[4] key[2] -> output[4].
TEST(Philox, KnownAnswerVectors) {
  struct Kat {
    Philox4 ctr;
    uint32_t k0, k1;
    Philox4 want;
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}},
      {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu,
       {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}},
      {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u,
       {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}},
  };
  for (const Kat& k : kats) {
    Philox4 got = philox4x32_10(k.ctr, k.k0, k.k1);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(got.v[j], k.want.v[j]) << std::hex << k.ctr.v[0] << " word " << j;
  }
  // Stream layout: block c of seed s is counter (lo c, hi c, 0, 0) under key (lo s, hi s).
  const uint64_t seed = 0x299f31d0a4093822ull, c = 0x85a308d3243f6a88ull;
  Philox4 a = philox_block(seed, c), b = philox4x32_10({{0x243f6a88u, 0x85a308d3u, 0, 0}}, 0xa4093822u, 0x299f31d0u);
  for (int j = 0; j < 4; ++j) EXPECT_EQ(a.v[j], b.v[j]);
}

// Element values of seed 0 from the first known-answer block (counter 0, key 0).
TEST(Philox, ElementLayoutFromKnownAnswer) {
  const uint32_t w[4] = {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u};
  // f32 uniform: element i = (w_i >> 8) 2^-24.
  auto u32 = rand_uniform({4}, 0).to_vector<float>();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(u32[size_t(i)], float(double(w[i] >> 8) / 16777216.0)) << i;
  // f32 uniform on [lo, hi): lo + (hi - lo) u.
  auto s32 = rand_uniform({1}, 0, -3.0, 5.0).to_vector<float>();
  EXPECT_EQ(s32[0], float(-3.0 + 8.0 * double(w[0] >> 8) / 16777216.0));
  // f64 uniform: element 0 = top 53 bits of (w0, w1) 2^-53, element 1 from (w2, w3).
  Tensor d = Tensor::empty({2}, DType::f64);
  fill_uniform_(d, 0);
  auto dv = d.to_vector<double>();
  EXPECT_EQ(dv[0], double((uint64_t(w[0]) << 21) | (w[1] >> 11)) / 9007199254740992.0);
  EXPECT_EQ(dv[1], double((uint64_t(w[2]) << 21) | (w[3] >> 11)) / 9007199254740992.0);
  // f64 normal: Box-Muller on u1 = (bits(w0, w1) + 1) 2^-53, u2 = bits(w2, w3) 2^-53.
  Tensor z = Tensor::empty({2}, DType::f64);
  fill_normal_(z, 0);
  auto zv = z.to_vector<double>();
  const double u1 = double(((uint64_t(w[0]) << 21) | (w[1] >> 11)) + 1) / 9007199254740992.0;
  const double u2 = double((uint64_t(w[2]) << 21) | (w[3] >> 11)) / 9007199254740992.0;
  const double r = std::sqrt(-2 * std::log(u1)), kTwoPi = 6.283185307179586;
  EXPECT_NEAR(zv[0], r * std::cos(kTwoPi * u2), 1e-14);
  EXPECT_NEAR(zv[1], r * std::sin(kTwoPi * u2), 1e-14);
}

TEST(RandomStats, UniformF32MomentsBinsAndRange) {
  auto v = host(rand_uniform({kN}, 1234));
  Moments m = moments(v);
  const double n = double(kN);
  // U(0, 1): mean 1/2, variance 1/12; sd of the sample variance sqrt((mu4 - sigma^4) / n),
  // mu4 = 1/80.
  EXPECT_NEAR(m.mean, 0.5, 5 * std::sqrt(1.0 / 12 / n));
  EXPECT_NEAR(m.var, 1.0 / 12, 5 * std::sqrt((1.0 / 80 - 1.0 / 144) / n));
  EXPECT_NEAR(m.lag1, 0, 5 / std::sqrt(n));
  EXPECT_NEAR(m.lag4, 0, 5 / std::sqrt(n));
  int64_t bins[16] = {};
  for (double x : v) {
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
    ++bins[int(x * 16)];
  }
  const double p = 1.0 / 16, sd = std::sqrt(n * p * (1 - p));
  for (int b = 0; b < 16; ++b) EXPECT_NEAR(double(bins[b]), n * p, 5 * sd) << "bin " << b;
}

TEST(RandomStats, UniformF64OnInterval) {
  Tensor t = Tensor::empty({kN}, DType::f64);
  fill_uniform_(t, 77, -2.0, 3.0);
  auto v = host(t);
  Moments m = moments(v);
  const double n = double(kN), w = 5.0;
  for (double x : v) {
    ASSERT_GE(x, -2.0);
    ASSERT_LT(x, 3.0);
  }
  EXPECT_NEAR(m.mean, 0.5, 5 * w * std::sqrt(1.0 / 12 / n));
  EXPECT_NEAR(m.var, w * w / 12, 5 * w * w * std::sqrt((1.0 / 80 - 1.0 / 144) / n));
  EXPECT_NEAR(m.lag1, 0, 5 / std::sqrt(n));
}

TEST(RandomStats, NormalF32AndF64) {
  const double mu = 1.5, sigma = 2.0, n = double(kN);
  Tensor t64 = Tensor::empty({kN}, DType::f64);
  fill_normal_(t64, 99, mu, sigma);
  for (const Tensor& t : {rand_normal({kN}, 98, mu, sigma), t64}) {
    auto v = host(t);
    Moments m = moments(v);
    // N(mu, sigma^2): sd of the mean sigma / sqrt(n), of the sample variance sigma^2 sqrt(2 / n).
    EXPECT_NEAR(m.mean, mu, 5 * sigma / std::sqrt(n)) << dtype_name(t.dtype());
    EXPECT_NEAR(m.var, sigma * sigma, 5 * sigma * sigma * std::sqrt(2 / n)) << dtype_name(t.dtype());
    EXPECT_NEAR(m.lag1, 0, 5 / std::sqrt(n));  // the cos / sin pair of one Box-Muller draw
    EXPECT_NEAR(m.lag4, 0, 5 / std::sqrt(n));
    // P(|z| < 1) = erf(1 / sqrt 2) = 0.682689...; P(|z| < 3) = 0.997300...
    double in1 = 0, in3 = 0;
    for (double x : v) {
      in1 += std::fabs(x - mu) < sigma;
      in3 += std::fabs(x - mu) < 3 * sigma;
    }
    const double p1 = std::erf(1 / std::sqrt(2.0)), p3 = std::erf(3 / std::sqrt(2.0));
    EXPECT_NEAR(in1 / n, p1, 5 * std::sqrt(p1 * (1 - p1) / n));
    EXPECT_NEAR(in3 / n, p3, 5 * std::sqrt(p3 * (1 - p3) / n));
  }
}

TEST(Random, SameSeedSameValuesDifferentSeedDifferent) {
  for (bool normal : {false, true}) {
    auto gen = [&](uint64_t seed) {
      return normal ? rand_normal({100003}, seed) : rand_uniform({100003}, seed);
    };
    auto a = gen(5).to_vector<float>(), b = gen(5).to_vector<float>(), c = gen(6).to_vector<float>();
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
    int64_t same = 0;
    for (size_t i = 0; i < a.size(); ++i) same += a[i] == c[i];
    EXPECT_LT(same, 10) << (normal ? "normal" : "uniform");
  }
  // Seeds differing only in the high 32 bits give different streams.
  EXPECT_NE(rand_uniform({4}, 1).to_vector<float>(), rand_uniform({4}, 1 | (uint64_t(1) << 32)).to_vector<float>());
}

TEST(Random, ValueDependsOnlyOnSeedAndPosition) {
  // Odd sizes (partial Philox blocks), serial and OpenMP-parallel fills: the common prefix agrees.
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor small = Tensor::empty({7}, dt), big = Tensor::empty({100001}, dt);
    for (bool normal : {false, true}) {
      if (normal) { fill_normal_(small, 3); fill_normal_(big, 3); }
      else { fill_uniform_(small, 3); fill_uniform_(big, 3); }
      EXPECT_TRUE(all_close(small, host(big.narrow(0, 0, 7)), 0, 0));
    }
  }
  // Shape does not matter, only the row-major position.
  EXPECT_TRUE(all_close(rand_normal({3, 5}, 8), host(rand_normal({15}, 8)), 0, 0));
}

TEST(Random, NormalF32IsRoundedNormalF64) {
  Tensor d = Tensor::empty({1001}, DType::f64);
  fill_normal_(d, 42, -1.0, 0.5);
  auto dv = d.to_vector<double>();
  auto fv = rand_normal({1001}, 42, -1.0, 0.5).to_vector<float>();
  for (size_t i = 0; i < fv.size(); ++i) ASSERT_EQ(fv[i], float(dv[i])) << i;
}

TEST(Random, NonContiguousViewsGetLogicalPositions) {
  // A transposed view is filled as if contiguous in its own (logical) order.
  Tensor base = Tensor::zeros({8, 6});
  Tensor t = base.transpose(0, 1);  // [6, 8]
  fill_uniform_(t, 11);
  EXPECT_TRUE(all_close(t, host(rand_uniform({6, 8}, 11)), 0, 0));
  // A strided slice: only its elements change.
  Tensor z = Tensor::zeros({4, 10}, DType::f64);
  Tensor s = z.slice(1, 1, 10, 3);  // columns 1, 4, 7
  fill_normal_(s, 12);
  Tensor ref = Tensor::empty({4, 3}, DType::f64);
  fill_normal_(ref, 12);
  EXPECT_TRUE(all_close(s, host(ref), 0, 0));
  auto zv = host(z);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 10; ++c)
      if (c % 3 != 1) {
        EXPECT_EQ(zv[size_t(r * 10 + c)], 0.0);
      }
  // Degenerate parameters: lo == hi gives lo, std == 0 gives mean.
  for (double x : host(rand_uniform({9}, 1, 2.0, 2.0))) EXPECT_EQ(x, 2.0);
  for (double x : host(rand_normal({9}, 1, -4.0, 0.0))) EXPECT_EQ(x, -4.0);
  Tensor e = Tensor::empty({0, 3});
  fill_uniform_(e, 1);  // nothing to fill
}

TEST(RandomErrors, DtypeAndParameters) {
  Tensor i = Tensor::zeros({3}, DType::i32);
  std::string m = test::error_of([&] { fill_uniform_(i, 1); });
  EXPECT_NE(m.find("fill_uniform_"), std::string::npos) << m;
  EXPECT_NE(m.find("f32 or f64"), std::string::npos) << m;
  Tensor f = Tensor::zeros({3});
  m = test::error_of([&] { fill_uniform_(f, 1, 2.0, 1.0); });
  EXPECT_NE(m.find("fill_uniform_"), std::string::npos) << m;
  m = test::error_of([&] { fill_normal_(f, 1, 0.0, -1.0); });
  EXPECT_NE(m.find("fill_normal_"), std::string::npos) << m;
  EXPECT_THROW(fill_normal_(f, 1, NAN, 1.0), Error);
  EXPECT_THROW(fill_uniform_(f, 1, 0.0, INFINITY), Error);
  Tensor u = Tensor();
  EXPECT_THROW(fill_normal_(u, 1), Error);
}

// ---- CUDA: the same Philox code on the device ----

TEST(RandomCuda, UniformBitIdenticalToCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(1000003)}) {
    auto c = rand_uniform({n}, 2024, -1.0, 3.0).to_vector<float>();
    auto d = rand_uniform({n}, 2024, -1.0, 3.0, g).to_vector<float>();
    EXPECT_EQ(std::memcmp(c.data(), d.data(), c.size() * sizeof(float)), 0) << n;
    Tensor c64 = Tensor::empty({n}, DType::f64), d64 = Tensor::empty({n}, DType::f64, g);
    fill_uniform_(c64, 2025);
    fill_uniform_(d64, 2025);
    auto cv = c64.to_vector<double>(), dv = d64.to_vector<double>();
    EXPECT_EQ(std::memcmp(cv.data(), dv.data(), cv.size() * sizeof(double)), 0) << n;
  }
  // Non-contiguous view on the device.
  Tensor b = Tensor::zeros({8, 6}, DType::f32, g);
  Tensor t = b.transpose(0, 1);
  fill_uniform_(t, 11);
  EXPECT_TRUE(all_close(t, host(rand_uniform({6, 8}, 11)), 0, 0));
}

TEST(RandomCuda, NormalMatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  // The device's log / sin / cos may differ from the host libm in the last f64 bit: f64 normals
  // agree to a few f64 ulps; f32 normals (rounded from f64) agree bit for bit except, rarely, at
  // a rounding boundary (then by one f32 ulp).
  const int64_t n = 1000001;
  auto c = rand_normal({n}, 7, 0.5, 2.0).to_vector<float>();
  auto d = rand_normal({n}, 7, 0.5, 2.0, g).to_vector<float>();
  int64_t differ = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    differ += c[i] != d[i];
    ASSERT_NEAR(d[i], c[i], std::fabs(c[i]) * 1.2e-7 + 1e-14) << i;
  }
  EXPECT_LE(differ, 10);
  Tensor c64 = Tensor::empty({n}, DType::f64), d64 = Tensor::empty({n}, DType::f64, g);
  fill_normal_(c64, 8);
  fill_normal_(d64, 8);
  EXPECT_TRUE(all_close(d64, c64, 1e-14, 1e-14));
}
