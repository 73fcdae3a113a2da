// index_select / index_copy_ / index_scatter / cat against nested loops over [outer, size, inner]
// views, on random data; the index math of the CUDA kernels (kernels/common/index_math.h) against
// explicit coordinates; error messages.
#include <algorithm>
#include <numeric>
#include <random>

#include "kernels/common/index_math.h"
#include "kernels/ops.h"
#include "test_util.h"

using namespace pleas;
using pleas::test::all_close;
using pleas::test::host;

namespace {

std::vector<int64_t> random_perm(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(p.begin(), p.end(), rng);
  return p;
}
std::vector<int64_t> inverse(const std::vector<int64_t>& p) {
  std::vector<int64_t> q(p.size());
  for (size_t i = 0; i < p.size(); ++i) q[size_t(p[i])] = int64_t(i);
  return q;
}
Tensor idx64(const std::vector<int64_t>& v) { return Tensor::from_vector(v, {int64_t(v.size())}); }
Tensor idx32(const std::vector<int64_t>& v) {
  return Tensor::from_vector(std::vector<int32_t>(v.begin(), v.end()), {int64_t(v.size())});
}

// [outer, size, inner] sizes of `s` around dim.
void split_shape(const Shape& s, int dim, int64_t& outer, int64_t& size, int64_t& inner) {
  outer = 1, inner = 1, size = s[size_t(dim)];
  for (int d = 0; d < dim; ++d) outer *= s[size_t(d)];
  for (size_t d = size_t(dim) + 1; d < s.size(); ++d) inner *= s[d];
}

// out(o, i, r) = x(o, index[i], r), x given row-major (host values of a tensor of shape s).
std::vector<double> ref_select(const std::vector<double>& x, const Shape& s, int dim,
                               const std::vector<int64_t>& index) {
  int64_t outer, size, inner;
  split_shape(s, dim, outer, size, inner);
  const int64_t m = int64_t(index.size());
  std::vector<double> out(size_t(outer * m * inner));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t r = 0; r < inner; ++r)
        out[size_t((o * m + i) * inner + r)] = x[size_t((o * size + index[size_t(i)]) * inner + r)];
  return out;
}

// dst(o, index[i], r) = src(o, i, r) on a copy of dst (shape ds).
std::vector<double> ref_copy(std::vector<double> dst, const Shape& ds, int dim,
                             const std::vector<int64_t>& index, const std::vector<double>& src) {
  int64_t outer, size, inner;
  split_shape(ds, dim, outer, size, inner);
  const int64_t m = int64_t(index.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t r = 0; r < inner; ++r)
        dst[size_t((o * size + index[size_t(i)]) * inner + r)] = src[size_t((o * m + i) * inner + r)];
  return dst;
}

#define EXPECT_ERROR_HAS(stmt, ...)                                                   \
  do {                                                                                \
    std::string msg_ = test::error_of([&] { stmt; });                                       \
    for (const char* s_ : {__VA_ARGS__})                                              \
      EXPECT_NE(msg_.find(s_), std::string::npos) << "'" << s_ << "' not in: " << msg_; \
  } while (0)

}  // namespace

TEST(IndexMath, SplitAndOffsetMatchCoordinates) {
  const int64_t shape[] = {3, 7, 5, 2};  // x; index along dim 1 with m = 4
  const IndexGeom g = index_geom(shape, 4, 1, 4);
  EXPECT_EQ(g.outer, 3);
  EXPECT_EQ(g.size, 7);
  EXPECT_EQ(g.inner, 10);
  EXPECT_EQ(g.m, 4);
  int64_t j = 0;
  for (int64_t o = 0; o < 3; ++o)
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t r = 0; r < 10; ++r, ++j) {
        int64_t oo, ii, rr;
        index_split(g, j, oo, ii, rr);
        ASSERT_EQ(oo, o);
        ASSERT_EQ(ii, i);
        ASSERT_EQ(rr, r);
        // (o, k, h, w) of x with k = 6 - i, r = h * 2 + w: offset o*70 + k*10 + h*2 + w.
        EXPECT_EQ(index_offset(g, o, 6 - i, r), o * 70 + (6 - i) * 10 + r);
      }
  const int32_t i32[] = {5, -1, 3};
  const int64_t i64[] = {int64_t(1) << 40, 2};
  EXPECT_EQ(load_index(i32, DType::i32, 1), -1);
  EXPECT_EQ(load_index(i64, DType::i64, 0), int64_t(1) << 40);
}

// Permuting the channels of an activation [N, C, H, W]: out[:, c] = x[:, perm[c]].
TEST(IndexSelect, ChannelPermutationNCHW) {
  const Shape s{3, 7, 5, 4};
  Tensor x = test::random_tensor(s, 1);
  auto perm = random_perm(7, 2);
  Tensor y = index_select(x, 1, idx64(perm));
  EXPECT_EQ(y.shape(), s);
  EXPECT_TRUE(all_close(y, ref_select(host(x), s, 1, perm), 0, 0));
  auto yv = host(y), xv = host(x);
  for (int64_t n = 0; n < 3; ++n)  // spot check in NCHW coordinates
    for (int64_t c = 0; c < 7; ++c)
      EXPECT_EQ(yv[size_t(((n * 7 + c) * 5 + 2) * 4 + 3)],
                xv[size_t(((n * 7 + perm[size_t(c)]) * 5 + 2) * 4 + 3)]);
}

// Permuting a conv weight [Cout, Cin, 3, 3]: output channels along dim 0 (this layer), input
// channels along dim 1 (the next layer, with the same permutation).
TEST(IndexSelect, WeightPermutationDims0And1) {
  const Shape s{6, 5, 3, 3};
  Tensor w = test::random_tensor(s, 3);
  auto p_out = random_perm(6, 4), p_in = random_perm(5, 5);
  Tensor w0 = index_select(w, 0, idx64(p_out));
  EXPECT_TRUE(all_close(w0, ref_select(host(w), s, 0, p_out), 0, 0));
  Tensor w1 = index_select(w, 1, idx64(p_in));
  EXPECT_TRUE(all_close(w1, ref_select(host(w), s, 1, p_in), 0, 0));
  // Both at once, as a whole-model permutation does: w'[o, i] = w[p_out[o], p_in[i]].
  Tensor both = index_select(w0, 1, idx64(p_in));
  auto bv = host(both), wv = host(w);
  for (int64_t o = 0; o < 6; ++o)
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t k = 0; k < 9; ++k)
        EXPECT_EQ(bv[size_t((o * 5 + i) * 9 + k)],
                  wv[size_t((p_out[size_t(o)] * 5 + p_in[size_t(i)]) * 9 + k)]);
}

TEST(IndexSelect, LastAndFirstDimSubsetsWithRepeats) {
  const Shape s{4, 3, 9};
  Tensor x = test::random_tensor(s, 6);
  std::vector<int64_t> idx{8, 0, 0, 5, 2};  // a selection may repeat and drop indices
  EXPECT_TRUE(all_close(index_select(x, -1, idx64(idx)), ref_select(host(x), s, 2, idx), 0, 0));
  std::vector<int64_t> idx0{3, 1};
  EXPECT_TRUE(all_close(index_select(x, 0, idx64(idx0)), ref_select(host(x), s, 0, idx0), 0, 0));
  Tensor e = index_select(x, 1, idx64({}));
  EXPECT_EQ(e.shape(), (Shape{4, 0, 9}));
}

TEST(IndexSelect, I32AndI64IndicesAgree) {
  const Shape s{2, 11, 3};
  Tensor x = test::random_tensor(s, 7);
  auto perm = random_perm(11, 8);
  Tensor a = index_select(x, 1, idx64(perm)), b = index_select(x, 1, idx32(perm));
  EXPECT_TRUE(all_close(b, host(a), 0, 0));
  EXPECT_TRUE(all_close(a, ref_select(host(x), s, 1, perm), 0, 0));
}

TEST(IndexSelect, NonContiguousInput) {
  // A channels-last view of [2, 6, 4, 5] (shape [2, 4, 5, 6]) and a strided slice.
  Tensor base = test::random_tensor({2, 6, 4, 5}, 9);
  Tensor v = base.permute({0, 2, 3, 1});
  ASSERT_FALSE(v.is_contiguous());
  auto perm = random_perm(6, 10);
  EXPECT_TRUE(all_close(index_select(v, 3, idx64(perm)), ref_select(host(v), v.shape(), 3, perm), 0, 0));
  Tensor sl = base.slice(3, 0, 5, 2);  // [2, 6, 4, 3]
  std::vector<int64_t> idx{1, 3};
  EXPECT_TRUE(all_close(index_select(sl, 2, idx64(idx)), ref_select(host(sl), sl.shape(), 2, idx), 0, 0));
}

TEST(IndexSelect, DataTypesCopiedBitExactly) {
  const Shape s{3, 5, 2};
  auto perm = random_perm(5, 11);
  std::vector<int64_t> big(30);  // beyond 2^53: a conversion through double would lose bits
  for (size_t i = 0; i < big.size(); ++i) big[i] = (int64_t(1) << 60) + int64_t(i) * 7 + 1;
  Tensor xi = Tensor::from_vector(big, s);
  auto yi = index_select(xi, 1, idx64(perm)).to_vector<int64_t>();
  for (int64_t o = 0; o < 3; ++o)
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t r = 0; r < 2; ++r)
        EXPECT_EQ(yi[size_t((o * 5 + i) * 2 + r)], big[size_t((o * 5 + perm[size_t(i)]) * 2 + r)]);
  for (DType dt : {DType::u8, DType::f64, DType::f16, DType::i32}) {
    Tensor x = test::random_tensor(s, 12, 0, 200, dt);
    Tensor y = index_select(x, 1, idx32(perm));
    EXPECT_EQ(y.dtype(), dt);
    EXPECT_TRUE(all_close(y, ref_select(host(x), s, 1, perm), 0, 0)) << dtype_name(dt);
  }
}

TEST(IndexSelect, LargeParallel) {
  const Shape s{8, 64, 14, 14};  // above the OpenMP threshold
  Tensor x = test::random_tensor(s, 13);
  auto perm = random_perm(64, 14);
  EXPECT_TRUE(all_close(index_select(x, 1, idx64(perm)), ref_select(host(x), s, 1, perm), 0, 0));
}

TEST(IndexCopy, SelectThenCopyRoundTrips) {
  const Shape s{4, 9, 3, 5};
  Tensor x = test::random_tensor(s, 15);
  for (int dim : {0, 1, 3}) {
    auto perm = random_perm(s[size_t(dim)], 16 + uint64_t(dim));
    Tensor y = index_select(x, dim, idx64(perm));  // y[i] = x[perm[i]]
    Tensor back = Tensor::zeros(s);
    index_copy_(back, dim, idx64(perm), y);  // back[perm[i]] = y[i] = x[perm[i]]
    EXPECT_TRUE(all_close(back, host(x), 0, 0)) << "dim " << dim;
    // Selecting with the inverse permutation undoes the permutation as well.
    EXPECT_TRUE(all_close(index_select(y, dim, idx32(inverse(perm))), host(x), 0, 0)) << "dim " << dim;
  }
}

TEST(IndexCopy, PartialCopyVsLoops) {
  const Shape ds{3, 8, 4}, ss{3, 3, 4};
  Tensor dst = test::random_tensor(ds, 17), src = test::random_tensor(ss, 18);
  std::vector<int64_t> idx{6, 1, 3};
  auto ref = ref_copy(host(dst), ds, 1, idx, host(src));
  index_copy_(dst, 1, idx32(idx), src);
  EXPECT_TRUE(all_close(dst, ref, 0, 0));
}

TEST(IndexCopy, NonContiguousDestinationAndSource) {
  // dst: every other column of a [5, 12] base, viewed transposed ([6, 5]); the other columns of
  // the base must stay untouched.
  Tensor base = test::random_tensor({5, 12}, 19);
  auto before = host(base);
  Tensor dst = base.slice(1, 0, 12, 2).transpose(0, 1);  // [6, 5]
  Tensor src = test::random_tensor({5, 3}, 20).transpose(0, 1);  // [3, 5], non-contiguous
  std::vector<int64_t> idx{4, 0, 2};
  auto ref = ref_copy(host(dst), dst.shape(), 0, idx, host(src));
  index_copy_(dst, 0, idx64(idx), src);
  EXPECT_TRUE(all_close(dst, ref, 0, 0));
  auto after = host(base);
  for (int64_t r = 0; r < 5; ++r)
    for (int64_t c = 1; c < 12; c += 2) EXPECT_EQ(after[size_t(r * 12 + c)], before[size_t(r * 12 + c)]);
}

TEST(IndexCopy, SourceOverlappingDestination) {
  // dst rows (2, 0) <- dst rows (0, 1): read as if the source were copied first.
  Tensor x = test::random_tensor({3, 4}, 21);
  auto xv = host(x);
  index_copy_(x, 0, idx64({2, 0}), x.narrow(0, 0, 2));
  std::vector<double> ref = xv;
  for (int c = 0; c < 4; ++c) { ref[size_t(8 + c)] = xv[size_t(c)]; ref[size_t(c)] = xv[size_t(4 + c)]; }
  EXPECT_TRUE(all_close(x, ref, 0, 0));
}

TEST(IndexScatter, IntoBiggerSizeZerosElsewhere) {
  const Shape ss{2, 3, 4};
  Tensor src = test::random_tensor(ss, 22);
  std::vector<int64_t> idx{4, 0, 2};
  Tensor out = index_scatter(src, 1, idx64(idx), 6);
  EXPECT_EQ(out.shape(), (Shape{2, 6, 4}));
  auto ref = ref_copy(std::vector<double>(48, 0.0), {2, 6, 4}, 1, idx, host(src));
  EXPECT_TRUE(all_close(out, ref, 0, 0));
  auto ov = host(out);
  for (int64_t o = 0; o < 2; ++o)
    for (int64_t c : {1, 3, 5})
      for (int64_t r = 0; r < 4; ++r) EXPECT_EQ(ov[size_t((o * 6 + c) * 4 + r)], 0.0);
  // Along the last dim, i64 data, i32 index.
  std::vector<int64_t> iv{7, -3, int64_t(1) << 55};
  Tensor s64 = Tensor::from_vector(iv, {1, 3});
  EXPECT_EQ(index_scatter(s64, -1, idx32({1, 4, 0}), 5).to_vector<int64_t>(),
            (std::vector<int64_t>{int64_t(1) << 55, 7, 0, 0, -3}));
}

TEST(Cat, ThreeTensorsAlongEachDim) {
  for (int dim : {0, 1, 2, -1}) {
    const int d = dim < 0 ? dim + 3 : dim;
    Shape s0{2, 3, 4}, s1 = s0, s2 = s0;
    s1[size_t(d)] = 1;
    s2[size_t(d)] = 5;
    Tensor a = test::random_tensor(s0, 23), b = test::random_tensor(s1, 24), c = test::random_tensor(s2, 25);
    Tensor y = cat({a, b, c}, dim);
    Shape so = s0;
    so[size_t(d)] = s0[size_t(d)] + 6;
    ASSERT_EQ(y.shape(), so);
    // Reference: out(o, j, r) from the piece that holds j along the cat dim.
    int64_t outer, size, inner;
    split_shape(so, d, outer, size, inner);
    std::vector<double> ref(size_t(y.numel()));
    const std::vector<Tensor> parts{a, b, c};
    int64_t at = 0;
    for (const Tensor& p : parts) {
      auto pv = host(p);
      const int64_t m = p.size(d);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < m; ++j)
          for (int64_t r = 0; r < inner; ++r)
            ref[size_t((o * size + at + j) * inner + r)] = pv[size_t((o * m + j) * inner + r)];
      at += m;
    }
    EXPECT_TRUE(all_close(y, ref, 0, 0)) << "dim " << dim;
  }
}

TEST(Cat, NonContiguousAndEmptyPieces) {
  Tensor a = test::random_tensor({4, 3}, 26).transpose(0, 1);     // [3, 4], transposed view
  Tensor b = test::random_tensor({3, 10}, 27).slice(1, 1, 9, 2);  // [3, 4], strided view
  Tensor e = Tensor::empty({0, 4});
  Tensor y = cat({a, e, b}, 0);
  auto av = host(a), bv = host(b);
  std::vector<double> ref = av;
  ref.insert(ref.end(), bv.begin(), bv.end());
  EXPECT_TRUE(all_close(y, ref, 0, 0));
  Tensor z = cat({a, b}, 1);  // [3, 8]
  std::vector<double> rz;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 4; ++c) rz.push_back(av[size_t(r * 4 + c)]);
    for (int c = 0; c < 4; ++c) rz.push_back(bv[size_t(r * 4 + c)]);
  }
  EXPECT_TRUE(all_close(z, rz, 0, 0));
  Tensor u8 = cat({Tensor::full({2}, 3, DType::u8), Tensor::full({1}, 250, DType::u8)}, 0);
  EXPECT_EQ(u8.to_vector<uint8_t>(), (std::vector<uint8_t>{3, 3, 250}));
}

TEST(IndexErrors, MessagesNameOpIndexAndSize) {
  Tensor x = test::random_tensor({2, 5, 3}, 28);
  EXPECT_ERROR_HAS(index_select(x, 1, idx64({0, 7})), "index_select", "index 7", "size 5");
  EXPECT_ERROR_HAS(index_select(x, 1, idx32({-1})), "index_select", "index -1", "size 5");
  EXPECT_ERROR_HAS(index_select(x, 3, idx64({0})), "index_select", "dim 3");
  EXPECT_ERROR_HAS(index_select(x, 1, Tensor::zeros({2})), "index_select", "i64 or i32");
  EXPECT_ERROR_HAS(index_select(x, 1, Tensor::zeros({1, 1}, DType::i64)), "index_select", "1-D");
  EXPECT_ERROR_HAS(index_select(x, 1, Tensor()), "index_select", "undefined");
  EXPECT_THROW(index_select(Tensor::full({}, 1.0), 0, idx64({0})), Error);

  Tensor dst = Tensor::zeros({2, 5, 3});
  EXPECT_ERROR_HAS(index_copy_(dst, 1, idx64({0, 5}), Tensor::zeros({2, 2, 3})), "index_copy_",
                   "index 5", "size 5");
  EXPECT_ERROR_HAS(index_copy_(dst, 1, idx64({1, 1}), Tensor::zeros({2, 2, 3})), "index_copy_",
                   "more than once");
  EXPECT_ERROR_HAS(index_copy_(dst, 1, idx64({0, 1}), Tensor::zeros({2, 3, 3})), "index_copy_",
                   "2 indices");
  EXPECT_ERROR_HAS(index_copy_(dst, 1, idx64({0}), Tensor::zeros({3, 1, 3})), "index_copy_",
                   "[3, 1, 3]", "[2, 5, 3]");
  EXPECT_ERROR_HAS(index_copy_(dst, 1, idx64({0}), Tensor::zeros({2, 1, 3}, DType::f64)),
                   "index_copy_", "dtype");
  EXPECT_ERROR_HAS(index_scatter(x, 1, idx64({0, 1, 2, 3, 4}), 4), "index_scatter", "size 4");
  EXPECT_ERROR_HAS(index_scatter(x, 1, idx64({0, 1, 2, 3, 4}), -1), "index_scatter", "negative");

  EXPECT_ERROR_HAS(cat({}, 0), "cat", "no tensors");
  EXPECT_ERROR_HAS(cat({x, Tensor::zeros({2, 4, 4})}, 1), "cat", "input 1", "[2, 4, 4]", "[2, 5, 3]");
  EXPECT_ERROR_HAS(cat({x, Tensor::zeros({2, 5})}, 0), "cat", "input 1");
  EXPECT_ERROR_HAS(cat({x, Tensor::zeros({2, 5, 3}, DType::f64)}, 0), "cat", "input 1", "f64");
  EXPECT_ERROR_HAS(cat({x}, -4), "cat", "dim -4");
}

// ---- CUDA: same inputs on both backends ----

TEST(IndexCuda, SelectCopyScatterCatMatchCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  const Shape s{4, 16, 7, 5};
  Tensor x = test::random_tensor(s, 30);
  Tensor xg = x.to(g);
  for (int dim : {0, 1, 3}) {
    auto perm = random_perm(s[size_t(dim)], 31 + uint64_t(dim));
    for (bool i32 : {false, true}) {
      Tensor idx = i32 ? idx32(perm) : idx64(perm);
      Tensor c = index_select(x, dim, idx), gg = index_select(xg, dim, idx.to(g));
      EXPECT_TRUE(gg.is_cuda());
      EXPECT_TRUE(all_close(gg, c, 0, 0)) << "select dim " << dim;
      Tensor dc = Tensor::zeros(s), dg = Tensor::zeros(s, DType::f32, g);
      index_copy_(dc, dim, idx, c);
      index_copy_(dg, dim, idx.to(g), gg);
      EXPECT_TRUE(all_close(dg, dc, 0, 0)) << "copy dim " << dim;
      EXPECT_TRUE(all_close(dg, host(x), 0, 0));
    }
  }
  std::vector<int64_t> idx{9, 2, 0};
  Tensor src = test::random_tensor({3, 3, 2}, 32, 0, 100, DType::f64);
  EXPECT_TRUE(all_close(index_scatter(src.to(g), 1, idx64(idx).to(g), 12),
                        index_scatter(src, 1, idx64(idx), 12), 0, 0));
  // Non-contiguous (channels-last) views on both devices.
  EXPECT_TRUE(all_close(index_select(xg.permute({0, 2, 3, 1}), 3, idx64(idx).to(g)),
                        index_select(x.permute({0, 2, 3, 1}), 3, idx64(idx)), 0, 0));
  EXPECT_TRUE(all_close(cat({xg.narrow(1, 0, 3), xg.narrow(1, 5, 2)}, 1),
                        cat({x.narrow(1, 0, 3), x.narrow(1, 5, 2)}, 1), 0, 0));
  Tensor u = test::random_tensor({3, 5}, 33, 0, 255, DType::u8);
  Tensor ut = test::random_tensor({5, 3}, 36, 0, 255, DType::u8);  // used transposed
  EXPECT_TRUE(all_close(cat({u.to(g), ut.to(g).transpose(0, 1)}, 0), cat({u, ut.transpose(0, 1)}, 0),
                        0, 0));
}

TEST(IndexCuda, NonContiguousDestination) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  Tensor base = test::random_tensor({5, 12}, 34);
  Tensor bg = base.to(g);
  Tensor src = test::random_tensor({3, 5}, 35);
  Tensor dc = base.slice(1, 0, 12, 2).transpose(0, 1), dg = bg.slice(1, 0, 12, 2).transpose(0, 1);
  index_copy_(dc, 0, idx64({4, 0, 2}), src);
  index_copy_(dg, 0, idx64({4, 0, 2}).to(g), src.to(g));
  EXPECT_TRUE(all_close(bg, base, 0, 0));
}

TEST(IndexCuda, DeviceMismatchErrors) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Tensor xg = Tensor::zeros({2, 5}, DType::f32, Device::cuda());
  EXPECT_ERROR_HAS(index_select(xg, 1, idx64({0})), "index_select", "different devices");
  Tensor dst = Tensor::zeros({2, 5});
  EXPECT_ERROR_HAS(index_copy_(dst, 1, idx64({0}), xg.narrow(1, 0, 1)), "index_copy_", "different devices");
  EXPECT_ERROR_HAS(cat({dst, xg}, 0), "cat", "different devices");
}

// gather_mix against plain loops over every dim of a 4-D tensor (the conv layout along dim 1, the
// token layout along the last), repeated indices, a non-contiguous input, and bad arguments.
TEST(GatherMix, MatchesLoopsAlongEveryDim) {
  const Shape s{3, 5, 4, 6};
  const Tensor a = test::random_tensor(s, 31), b = test::random_tensor(s, 32);
  const std::vector<double> av = host(a), bv = host(b);
  for (int dim = 0; dim < 4; ++dim) {
    const int64_t n = s[size_t(dim)];
    std::vector<int64_t> ia, ib;
    std::vector<float> wa, wb;
    for (int64_t i = 0; i < n + 2; ++i) {  // more outputs than inputs: repeats
      ia.push_back((i * 2) % n);
      ib.push_back((n - 1 - i % n + n) % n);
      wa.push_back(0.25f * float(i % 3));
      wb.push_back(1.0f - 0.5f * float(i % 2));
    }
    const int64_t m = int64_t(ia.size());
    Tensor out = gather_mix(a, b, dim, Tensor::from_vector(ia, {m}), Tensor::from_vector(ib, {m}),
                            Tensor::from_vector(wa, {m}), Tensor::from_vector(wb, {m}));
    Shape os = s;
    os[size_t(dim)] = m;
    ASSERT_EQ(out.shape(), os);
    std::vector<double> ref(size_t(out.numel()));
    int64_t idx[4];
    for (size_t j = 0; j < ref.size(); ++j) {
      int64_t r = int64_t(j);
      for (int d = 3; d >= 0; --d) { idx[d] = r % os[size_t(d)]; r /= os[size_t(d)]; }
      auto at = [&](const std::vector<double>& v, int64_t c) {
        int64_t k[4] = {idx[0], idx[1], idx[2], idx[3]};
        k[dim] = c;
        return v[size_t(((k[0] * s[1] + k[1]) * s[2] + k[2]) * s[3] + k[3])];
      };
      const int64_t i = idx[dim];
      ref[j] = wa[size_t(i)] * at(av, ia[size_t(i)]) + wb[size_t(i)] * at(bv, ib[size_t(i)]);
    }
    EXPECT_TRUE(all_close(out, ref, 1e-6, 1e-6)) << "dim " << dim;
  }
  // A non-contiguous input (a transposed view) is read through its strides.
  const Tensor at = a.transpose(2, 3), bt = b.transpose(2, 3);
  const Tensor i2 = Tensor::from_vector(std::vector<int64_t>{4, 0}, {2}), j2 = Tensor::from_vector(std::vector<int64_t>{1, 1}, {2});
  const Tensor w2 = Tensor::from_vector(std::vector<float>{1, 0.5f}, {2}), v2 = Tensor::from_vector(std::vector<float>{-1, 2}, {2});
  EXPECT_TRUE(all_close(gather_mix(at, bt, 1, i2, j2, w2, v2),
                        host(gather_mix(at.contiguous(), bt.contiguous(), 1, i2, j2, w2, v2)), 0, 0));
  test::expect_error_naming([&] { gather_mix(a, b.narrow(0, 0, 2), 1, i2, i2, w2, w2); }, "gather_mix", "shape");
  test::expect_error_naming([&] { gather_mix(a, b, 1, Tensor::from_vector(std::vector<int64_t>{7, 0}, {2}), i2, w2, w2); },
                            "gather_mix", "out of range");
  test::expect_error_naming([&] { gather_mix(a, b, 1, i2, i2, Tensor::from_vector(std::vector<float>{1}, {1}), w2); },
                            "gather_mix", "weights");
}

TEST(GatherMixCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Tensor a = test::random_tensor({2, 7, 5, 3}, 41), b = test::random_tensor({2, 7, 5, 3}, 42);
  const Tensor ia = Tensor::from_vector(std::vector<int64_t>{2, 0, 1, 1}, {4});
  const Tensor ib = Tensor::from_vector(std::vector<int64_t>{1, 1, 0, 2}, {4});
  const Tensor wa = Tensor::from_vector(std::vector<float>{0.5f, 1, 0, 0.25f}, {4});
  const Tensor wb = Tensor::from_vector(std::vector<float>{0.5f, 0, 1, 2}, {4});
  const Device d = Device::cuda();
  for (int dim : {1, 3}) {
    Tensor got = gather_mix(a.to(d), b.to(d), dim, ia.to(d), ib.to(d), wa.to(d), wb.to(d));
    EXPECT_TRUE(all_close(got, host(gather_mix(a, b, dim, ia, ib, wa, wb)), 1e-6, 1e-6)) << "dim " << dim;
  }
}
