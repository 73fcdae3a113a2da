// CPU normal-equation accumulators on OpenBLAS: G += XᵀX by syrk (one triangle, then mirrored),
// C += XᵀY by gemm. Inputs of another dtype than the accumulator are converted in row chunks so
// that an f32 batch accumulated into f64 never needs an f64 copy of the whole batch.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/backend_ops.h"
#include "kernels/common/gram_index.h"
#include "kernels/common/meta.h"
#include "kernels/common/matmul_index.h"
#include "kernels/cpu/blas_gemm.h"

namespace pleas::cpu {

namespace {

constexpr int64_t kChunkElems = int64_t(1) << 22;  // rows per converted chunk: ~4M elements

int64_t chunk_rows(const Tensor& X, const Tensor& acc, int64_t width) {
  if (X.dtype() == acc.dtype()) return std::max<int64_t>(X.size(0), 1);  // no conversion: one pass
  return std::max<int64_t>(1, std::min(X.size(0), kChunkElems / std::max<int64_t>(width, 1)));
}

// Rows [r0, r0 + rows) of `t` in dtype `dt`: a view when `t` has that dtype, else converted into
// `buf` ([step, cols], allocated once and reused by every chunk: no page faults per chunk).
Tensor rows_as(const Tensor& t, int64_t r0, int64_t rows, int64_t step, DType dt, Tensor& buf) {
  Tensor v = t.narrow(0, r0, rows);
  if (v.dtype() == dt) return v;
  if (!buf.defined()) buf = Tensor::empty({step, t.size(1)}, dt);
  Tensor dst = buf.narrow(0, 0, rows);
  copy_strided(dst, v);
  return dst;
}

// Lower triangle of G [k, k] (row-major, ld k) += XᵀX for rows [r0, r0 + n) of X, single call.
template <typename T>
void syrk_rows(T* G, int64_t k, const BlasOperand& x, int64_t r0, int64_t n) {
  if (n == 0 || k == 0) return;
  // Row-major X [n, k]: G += XᵀX is syrk(Trans) over X. A transposed view stores Xᵀ [k, n]
  // row-major: G += (Xᵀ)(Xᵀ)ᵀ is syrk(NoTrans) over that memory (rows r0.. are columns there).
  const CBLAS_TRANSPOSE tr = x.layout.trans ? CblasNoTrans : CblasTrans;
  const int64_t off = x.layout.trans ? r0 : r0 * x.layout.ld;
  const int kk = blas_int(k, "k"), nn = blas_int(n, "n"), ld = blas_int(x.layout.ld, "ld");
  if constexpr (sizeof(T) == 4)
    cblas_ssyrk(CblasRowMajor, CblasLower, tr, kk, nn, 1.0f, x.t.data<float>() + off, ld, 1.0f, G, kk);
  else
    cblas_dsyrk(CblasRowMajor, CblasLower, tr, kk, nn, 1.0, x.t.data<double>() + off, ld, 1.0, G, kk);
}

// Rows per single-threaded syrk call of the split below. Measured (bench_gram BM_GramRowsLayout,
// 2 cores): one OpenBLAS syrk over a tall X [n, k] reaches 62 / 76 / 124 GFLOP/s at k = 144 / 288 /
// 576; 1024-row chunks in parts on the OpenMP threads, each part its own triangle, 116 / 135 / 154
// (SGEMM: ~200 on the same machine; 512–1024-row chunks measured alike).
constexpr int64_t kSyrkChunk = 1024;

// Lower triangle of G [k, k] (row-major, contiguous) += XᵀX for X [n, k] any layout. Tall inputs
// are split into clamp(chunks / 4, 2, 8) parts of whole 1024-row chunks, each summed chunk by chunk
// into its own triangle (parts spread over the OpenMP threads, single-threaded OpenBLAS inside),
// then added to G in part order. The split depends on n only, never on the thread count, so any
// number of threads (and every run) gives bit-identical sums.
constexpr int64_t kSyrkMaxParts = 8;
template <typename T>
void syrk_lower(T* G, int64_t k, const Tensor& X) {
  const int64_t n = X.size(0);
  if (n == 0 || k == 0) return;
  BlasOperand x = blas_operand(X);
  const int64_t chunks = (n + kSyrkChunk - 1) / kSyrkChunk;
  const int64_t parts = std::min(kSyrkMaxParts, std::max<int64_t>(2, chunks / 4));
  if (chunks < 2 || omp_in_parallel()) {
    syrk_rows<T>(G, k, x, 0, n);
    return;
  }
  std::vector<std::vector<T>> part(size_t(parts), std::vector<T>(size_t(k * k), T(0)));
#pragma omp parallel for schedule(static, 1)
  for (int64_t p = 0; p < parts; ++p) {
    const int64_t c0 = chunks * p / parts, c1 = chunks * (p + 1) / parts;
    for (int64_t c = c0; c < c1; ++c)
      syrk_rows<T>(part[size_t(p)].data(), k, x, c * kSyrkChunk, std::min(kSyrkChunk, n - c * kSyrkChunk));
  }
  for (const std::vector<T>& g : part) {
#pragma omp parallel for schedule(static) if (k >= 256)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j <= i; ++j) G[i * k + j] += g[size_t(i * k + j)];
  }
}

// G[j, i] = G[i, j] for i > j, in 64x64 tiles so both the reads and the writes stay in cache.
template <typename T>
void mirror_lower_to_upper(T* G, int64_t k) {
  constexpr int64_t B = 64;
  const int64_t nb = (k + B - 1) / B;
#pragma omp parallel for schedule(dynamic) if (k >= 256)
  for (int64_t bi = 0; bi < nb; ++bi)
    for (int64_t bj = 0; bj <= bi; ++bj)
      for (int64_t i = bi * B; i < std::min(k, bi * B + B); ++i)
        for (int64_t j = bj * B; j < std::min(i, bj * B + B); ++j) G[j * k + i] = G[i * k + j];
}

template <typename T>
void gram_t(Tensor& G, const Tensor& X) {
  const int64_t n = X.size(0), k = X.size(1), step = chunk_rows(X, G, k);
  Tensor buf;
  for (int64_t r0 = 0; r0 < n; r0 += step)
    syrk_lower<T>(G.data<T>(), k, rows_as(X, r0, std::min(step, n - r0), step, G.dtype(), buf));
  mirror_lower_to_upper<T>(G.data<T>(), k);
}

template <typename T>
void cross_t(Tensor& C, const Tensor& X, const Tensor& Y) {
  const int64_t n = X.size(0), k = X.size(1), m = Y.size(1);
  const int64_t step = std::min(chunk_rows(X, C, k + m), chunk_rows(Y, C, k + m));
  Tensor xbuf, ybuf;
  for (int64_t r0 = 0; r0 < n; r0 += step) {
    const int64_t rows = std::min(step, n - r0);
    // C [k, m] += Xᵀ [k, rows] · Y [rows, m]
    BlasOperand xt = blas_operand(rows_as(X, r0, rows, step, C.dtype(), xbuf).transpose(0, 1));
    BlasOperand y = blas_operand(rows_as(Y, r0, rows, step, C.dtype(), ybuf));
    blas_gemm<T>(k, m, rows, xt.t.data<T>(), xt.layout, y.t.data<T>(), y.layout, T(1),
                 C.data<T>(), m);
  }
}

}  // namespace

void gram_accumulate(Tensor& G, const Tensor& X) {
  if (G.dtype() == DType::f64) gram_t<double>(G, X);
  else gram_t<float>(G, X);
}

void cross_accumulate(Tensor& C, const Tensor& X, const Tensor& Y) {
  if (C.dtype() == DType::f64) cross_t<double>(C, X, Y);
  else cross_t<float>(C, X, Y);
}

namespace {
template <typename A, typename X>
void add_into_t(Tensor& acc, const Tensor& x) {
  const bool two = acc.dim() == 2;
  const int64_t R = two ? acc.size(0) : 1, C = acc.size(two ? 1 : 0);
  const int64_t ar = two ? acc.stride(0) : 0, ac = acc.stride(two ? 1 : 0);
  const int64_t xr = two ? x.stride(0) : 0, xc = x.stride(two ? 1 : 0);
  A* a = acc.data<A>();
  const X* p = x.data<X>();
#pragma omp parallel for schedule(static) if (R * C > (1 << 16))
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) a[r * ar + c * ac] += A(p[r * xr + c * xc]);
}
}  // namespace

void add_into(Tensor& acc, const Tensor& x) {
  with_accumulate_types(acc, x, [&](auto a, auto b) { add_into_t<decltype(a), decltype(b)>(acc, x); });
}

}  // namespace pleas::cpu
