// gram_accumulate / cross_accumulate: accumulating over batches equals XᵀX / XᵀY of the stacked
// data (double loops); dtype conversion (also across chunk boundaries); layouts; the mirror index
// math of the CUDA kernel; errors; CUDA against the CPU backend.
#include <omp.h>

#include "kernels/common/gram_index.h"
#include "kernels/ops.h"
#include "test_util.h"

using namespace pleas;
using pleas::test::all_close;
using pleas::test::host;
using pleas::test::random_tensor;

namespace {

// Sum over the chunks of XᵀY (X [n_c, k], Y [n_c, m]) in double.
std::vector<double> ref_xty(const std::vector<Tensor>& xs, const std::vector<Tensor>& ys) {
  const int64_t k = xs[0].size(1), m = ys[0].size(1);
  std::vector<double> c(size_t(k * m), 0.0);
  for (size_t t = 0; t < xs.size(); ++t) {
    auto xv = host(xs[t]), yv = host(ys[t]);
    for (int64_t r = 0; r < xs[t].size(0); ++r)
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < m; ++j) c[size_t(i * m + j)] += xv[size_t(r * k + i)] * yv[size_t(r * m + j)];
  }
  return c;
}

void expect_symmetric(const Tensor& G) {
  auto g = host(G);
  const int64_t k = G.size(0);
  int64_t bad = 0;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < i; ++j) bad += g[size_t(i * k + j)] != g[size_t(j * k + i)];
  EXPECT_EQ(bad, 0) << "G is not exactly symmetric";
}


std::vector<Tensor> chunks(const std::vector<int64_t>& rows, int64_t k, uint64_t seed, DType dt) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < rows.size(); ++i) out.push_back(random_tensor({rows[i], k}, seed + i, -1, 1, dt));
  return out;
}

}  // namespace

// ---- index math of the CUDA mirror / ridge kernels ----

TEST(GramIndex, TriangleEnumerationIsRowByRow) {
  for (int64_t k : {0, 1, 2, 3, 17, 300}) {
    ASSERT_EQ(tri_lower_count(k), k * (k - 1) / 2);
    int64_t t = 0;
    for (int64_t i = 1; i < k; ++i)
      for (int64_t j = 0; j < i; ++j, ++t) {
        int64_t gi = -1, gj = -1;
        tri_lower_index(t, gi, gj);
        ASSERT_EQ(gi, i) << "t " << t;
        ASSERT_EQ(gj, j) << "t " << t;
      }
  }
}

TEST(GramIndex, ExactForLargeIndices) {
  // Far beyond where sqrt in double rounds: row starts i(i-1)/2 and their neighbours.
  for (int64_t i : {int64_t(1) << 20, (int64_t(1) << 26) + 7, (int64_t(1) << 30) + 3}) {
    const int64_t start = i * (i - 1) / 2;
    for (int64_t t : {start - 1, start, start + 1, start + i - 1}) {
      int64_t gi, gj;
      tri_lower_index(t, gi, gj);
      EXPECT_LE(gi * (gi - 1) / 2, t);
      EXPECT_GT(gi * (gi + 1) / 2, t);
      EXPECT_EQ(gj, t - gi * (gi - 1) / 2);
      EXPECT_LT(gj, gi);
    }
  }
}

TEST(GramIndex, MirrorOffsetsSymmetrise) {
  // Applying the kernel's per-thread copies to a matrix with only its lower triangle filled.
  const int64_t k = 23, ld = 29;  // ld > k: a row-strided buffer
  std::vector<double> g(size_t(k * ld), -7.0), want(size_t(k * ld), -7.0);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      g[size_t(i * ld + j)] = double(i * 100 + j);
      want[size_t(i * ld + j)] = want[size_t(j * ld + i)] = double(i * 100 + j);
    }
  for (int64_t t = 0; t < tri_lower_count(k); ++t) {
    int64_t src, dst;
    mirror_offsets(t, ld, src, dst);
    g[size_t(dst)] = g[size_t(src)];
  }
  EXPECT_EQ(g, want);
  EXPECT_EQ(diag_offset(0, 5), 0);
  EXPECT_EQ(diag_offset(3, 5), 18);
}

// ---- gram_accumulate ----

TEST(Gram, F32AccumulatedOverChunksEqualsStackedXtX) {
  const int64_t k = 37;
  auto xs = chunks({50, 31, 7}, k, 100, DType::f32);
  Tensor G = Tensor::zeros({k, k});
  for (auto& x : xs) gram_accumulate(G, x);
  EXPECT_TRUE(all_close(G, ref_xty(xs, xs), 1e-4, 1e-5));
  expect_symmetric(G);
}

// Tall inputs take the threaded path (chunks of rows on OpenMP threads, each into its own
// triangle, summed): both layouts, a ragged last chunk, f32 and f64 accumulators.
TEST(Gram, TallInputsOverThreadedChunksEqualXtX) {
  const int64_t k = 23, n = 5 * 1024 + 77;
  Tensor rows = random_tensor({k, n}, 150);          // unfold2d_rows' layout [k, n]
  Tensor x = rows.transpose(0, 1);                   // [n, k] transposed view
  Tensor xc = random_tensor({n, k}, 151);            // [n, k] row-major
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor G = Tensor::zeros({k, k}, dt);
    gram_accumulate(G, x);
    gram_accumulate(G, xc);
    EXPECT_TRUE(all_close(G, ref_xty({x, xc}, {x, xc}), 2e-4, 1e-4)) << dtype_name(dt);
    expect_symmetric(G);
  }
}

TEST(Gram, F64AccumulatorFromF32AndF64Inputs) {
  const int64_t k = 29;
  auto xs = chunks({64, 33, 1}, k, 110, DType::f32);
  Tensor G = Tensor::zeros({k, k}, DType::f64);
  gram_accumulate(G, xs[0]);
  gram_accumulate(G, xs[1].to(DType::f64));  // f64 input
  gram_accumulate(G, xs[2]);
  // f32 inputs are exact in f64, so the accumulation is exact to f64 rounding.
  EXPECT_TRUE(all_close(G, ref_xty(xs, xs), 1e-12, 1e-12));
  expect_symmetric(G);
  // f64 input into an f32 accumulator.
  Tensor Gf = Tensor::zeros({k, k});
  for (auto& x : xs) gram_accumulate(Gf, x.to(DType::f64));
  EXPECT_TRUE(all_close(Gf, ref_xty(xs, xs), 1e-4, 1e-5));
}

TEST(Gram, AddsToExistingSymmetricMatrix) {
  const int64_t k = 11;
  Tensor x = random_tensor({20, k}, 120, -1, 1, DType::f64);
  Tensor S = random_tensor({k, k}, 121, -1, 1, DType::f64);
  auto sv = host(S);
  std::vector<double> s0(sv.size());
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) s0[size_t(i * k + j)] = sv[size_t(i * k + j)] + sv[size_t(j * k + i)];
  Tensor G = Tensor::from_vector(s0, {k, k});  // symmetric start
  gram_accumulate(G, x);
  auto want = ref_xty({x}, {x});
  for (size_t i = 0; i < want.size(); ++i) want[i] += s0[i];
  EXPECT_TRUE(all_close(G, want, 1e-12, 1e-12));
}

TEST(Gram, NonContiguousInputsAndAccumulator) {
  const int64_t k = 19;
  Tensor xt = random_tensor({k, 45}, 130).transpose(0, 1);         // [45, k] column-major view
  Tensor xs = random_tensor({30, 2 * k}, 131).slice(1, 0, 2 * k, 2);  // [30, k] step-2 columns
  Tensor big = Tensor::zeros({k, k + 5}, DType::f64);
  Tensor G = big.narrow(1, 2, k);  // non-contiguous accumulator view
  gram_accumulate(G, xt);
  gram_accumulate(G, xs);
  EXPECT_TRUE(all_close(G, ref_xty({xt, xs}, {xt, xs}), 1e-12, 1e-12));
  expect_symmetric(G);
  for (double v : host(big.narrow(1, 0, 2))) EXPECT_EQ(v, 0.0);  // outside the view untouched
}

TEST(Gram, ManyConversionChunksAndEmptyInput) {
  // 1.1M rows x 8 f32 into f64: the conversion runs in three row chunks (4M elements each).
  const int64_t k = 8;
  Tensor x = random_tensor({1100000, k}, 140);
  Tensor G = Tensor::zeros({k, k}, DType::f64);
  gram_accumulate(G, x);
  EXPECT_TRUE(all_close(G, ref_xty({x}, {x}), 1e-8, 1e-11));
  Tensor before = G.clone();
  gram_accumulate(G, Tensor::zeros({0, k}));
  EXPECT_TRUE(all_close(G, host(before), 0, 0));
}

TEST(Gram, Errors) {
  Tensor G = Tensor::zeros({5, 5}), x = random_tensor({4, 5}, 150);
  test::expect_error_naming([&] { gram_accumulate(G, random_tensor({4, 6}, 151)); }, "gram_accumulate", "[4, 6]");
  Tensor Gr = Tensor::zeros({5, 4});
  test::expect_error_naming([&] { gram_accumulate(Gr, x); }, "gram_accumulate", "[5, 4]");
  Tensor Gi = Tensor::zeros({5, 5}, DType::i32);
  test::expect_error_naming([&] { gram_accumulate(Gi, x); }, "gram_accumulate", "i32");
  test::expect_error_naming([&] { gram_accumulate(G, x.to(DType::i64)); }, "gram_accumulate", "i64");
  test::expect_error_naming([&] { gram_accumulate(G, random_tensor({20}, 152)); }, "gram_accumulate", "2 dims");
}

// ---- cross_accumulate ----

TEST(Cross, F32AndF64AccumulatedOverChunks) {
  const int64_t k = 23, m = 13;
  auto xs = chunks({40, 17, 3}, k, 200, DType::f32);
  auto ys = chunks({40, 17, 3}, m, 210, DType::f32);
  Tensor C = Tensor::zeros({k, m});
  for (size_t i = 0; i < xs.size(); ++i) cross_accumulate(C, xs[i], ys[i]);
  EXPECT_TRUE(all_close(C, ref_xty(xs, ys), 1e-4, 1e-5));
  Tensor Cd = Tensor::zeros({k, m}, DType::f64);
  for (size_t i = 0; i < xs.size(); ++i) cross_accumulate(Cd, xs[i], i == 1 ? ys[i].to(DType::f64) : ys[i]);
  EXPECT_TRUE(all_close(Cd, ref_xty(xs, ys), 1e-12, 1e-12));
}

TEST(Cross, NonContiguousInputsAndConversionChunks) {
  const int64_t k = 9, m = 4;
  Tensor xt = random_tensor({k, 31}, 220).transpose(0, 1);
  Tensor ys = random_tensor({31, 3 * m}, 221).slice(1, 1, 3 * m, 3);
  Tensor C = Tensor::zeros({m, k}, DType::f64).transpose(0, 1);  // [k, m] non-contiguous
  cross_accumulate(C, xt, ys);
  EXPECT_TRUE(all_close(C, ref_xty({xt}, {ys}), 1e-12, 1e-12));
  // Two f32 -> f64 conversion chunks of 4M / (k + m) rows.
  Tensor x = random_tensor({400000, k}, 222), y = random_tensor({400000, m}, 223);
  Tensor C2 = Tensor::zeros({k, m}, DType::f64);
  cross_accumulate(C2, x, y);
  EXPECT_TRUE(all_close(C2, ref_xty({x}, {y}), 1e-8, 1e-11));
}

TEST(Cross, Errors) {
  Tensor C = Tensor::zeros({5, 3}), x = random_tensor({4, 5}, 230), y = random_tensor({4, 3}, 231);
  test::expect_error_naming([&] { cross_accumulate(C, x, random_tensor({6, 3}, 232)); }, "cross_accumulate", "[6, 3]");
  Tensor Cw = Tensor::zeros({5, 4});
  test::expect_error_naming([&] { cross_accumulate(Cw, x, y); }, "cross_accumulate", "[5, 4]");
  test::expect_error_naming([&] { cross_accumulate(C, x, y.to(DType::i32)); }, "cross_accumulate", "i32");
}

// ---- CUDA against the CPU backend ----

// The tall-input split depends on the number of rows only: 1 and 2 OpenMP threads give
// bit-identical Grams (part of the engine's reproducibility across thread counts).
TEST(Gram, TallInputsBitIdenticalAcrossThreadCounts) {
  const Tensor X = random_tensor({9000, 40}, 61);
  auto gram_with = [&](int threads) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    Tensor G = Tensor::zeros({40, 40});
    gram_accumulate(G, X);
    omp_set_num_threads(before);
    return G;
  };
  const Tensor g1 = gram_with(1), g2 = gram_with(2);
  EXPECT_TRUE(all_close(g2, host(g1), 0, 0));
}

// add_into: a strided block of a larger f64 accumulator += an f32 (or f64) view, against loops;
// 1-D rows and columns; the rest of the accumulator untouched; errors.
TEST(AddInto, StridedBlocksAndConversions) {
  Tensor acc = random_tensor({6, 7}, 51).to(DType::f64);
  const std::vector<double> before = acc.to_vector<double>();
  const Tensor x = random_tensor({5, 4}, 52);  // f32
  Tensor blk = acc.narrow(0, 1, 4).narrow(1, 2, 3);
  add_into(blk, x.narrow(0, 0, 4).narrow(1, 1, 3));  // both non-contiguous
  Tensor col = acc.narrow(1, 6, 1).narrow(0, 0, 5);
  add_into(col, x.narrow(1, 0, 1));               // a column
  Tensor row = acc.select(0, 5);
  add_into(row, random_tensor({7}, 53).to(DType::f64));  // f64 into f64, 1-D
  const std::vector<double> xv = host(x), rv = host(random_tensor({7}, 53).to(DType::f64));
  std::vector<double> ref = before;
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 3; ++j) ref[size_t((1 + i) * 7 + 2 + j)] += xv[size_t(i * 4 + 1 + j)];
  for (int64_t i = 0; i < 5; ++i) ref[size_t(i * 7 + 6)] += xv[size_t(i * 4)];
  for (int64_t j = 0; j < 7; ++j) ref[size_t(5 * 7 + j)] += rv[size_t(j)];
  EXPECT_TRUE(all_close(acc, ref, 0, 0));
  Tensor f32acc = Tensor::zeros({2, 2});
  test::expect_error_naming([&] { add_into(f32acc, Tensor::zeros({2, 2}, DType::f64)); }, "add_into", "precision");
  test::expect_error_naming([&] { add_into(f32acc, Tensor::zeros({2, 3})); }, "add_into", "shape");
}

TEST(GramCuda, AccumulationMatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  const int64_t k = 37, m = 11;
  auto xs = chunks({50, 31, 7}, k, 300, DType::f32);
  auto ys = chunks({50, 31, 7}, m, 310, DType::f32);
  for (DType acc : {DType::f32, DType::f64}) {
    Tensor G = Tensor::zeros({k, k}, acc), Gd = Tensor::zeros({k, k}, acc, g);
    Tensor C = Tensor::zeros({k, m}, acc), Cd = Tensor::zeros({k, m}, acc, g);
    for (size_t i = 0; i < xs.size(); ++i) {
      gram_accumulate(G, xs[i]);
      gram_accumulate(Gd, xs[i].to(g));
      cross_accumulate(C, xs[i], ys[i]);
      cross_accumulate(Cd, xs[i].to(g), ys[i].to(g));
    }
    const double tol = acc == DType::f64 ? 1e-12 : 1e-4;
    EXPECT_TRUE(all_close(Gd, G, tol, tol));
    EXPECT_TRUE(all_close(Cd, C, tol, tol));
    expect_symmetric(Gd);
  }
}

TEST(GramCuda, TransposedViewAndConversionChunks) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  const int64_t k = 8;
  Tensor x0 = random_tensor({k, 45}, 320);  // transposed view on the device: syrk with op = T
  Tensor G = Tensor::zeros({k, k}), Gd = Tensor::zeros({k, k}, DType::f32, g);
  gram_accumulate(G, x0.transpose(0, 1));
  gram_accumulate(Gd, x0.to(g).transpose(0, 1));
  EXPECT_TRUE(all_close(Gd, G, 1e-5, 1e-5));
  Tensor x = random_tensor({2200000, k}, 321);  // two 16M-element f32 -> f64 chunks
  Tensor H = Tensor::zeros({k, k}, DType::f64), Hd = Tensor::zeros({k, k}, DType::f64, g);
  gram_accumulate(H, x);
  gram_accumulate(Hd, x.to(g));
  EXPECT_TRUE(all_close(Hd, H, 1e-8, 1e-11));
}

TEST(GramCuda, DeviceMismatchNamesOp) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Tensor G = Tensor::zeros({5, 5}), x = random_tensor({4, 5}, 330), y = random_tensor({4, 3}, 331);
  test::expect_error_naming([&] { gram_accumulate(G, x.to(Device::cuda())); }, "gram_accumulate", "devices");
  Tensor C = Tensor::zeros({5, 3});
  test::expect_error_naming([&] { cross_accumulate(C, x, y.to(Device::cuda())); }, "cross_accumulate", "devices");
}

TEST(AddIntoCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Tensor acc = random_tensor({6, 7}, 54).to(DType::f64), accd = acc.to(Device::cuda());
  const Tensor x = random_tensor({6, 9}, 55);
  Tensor a = acc.narrow(1, 1, 5), ad = accd.narrow(1, 1, 5);
  add_into(a, x.narrow(1, 2, 5));
  add_into(ad, x.to(Device::cuda()).narrow(1, 2, 5));
  EXPECT_TRUE(all_close(accd, host(acc), 0, 0));
}
