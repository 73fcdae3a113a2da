// CPU reduce (sum / mean / max of f32, sums accumulated in f64). Two layouts, both contiguous:
//  rows    [K, R]: the reduced dims last (x.permute(kept..., reduced...), a copy unless x already
//                  has that order); out[k] = op_r x[k, r], SIMD over r, OpenMP over rows (or over
//                  the row itself when there are fewer rows than threads);
//  columns [R, K]: the reduced dims first (e.g. a mean over the batch dim), no copy:
//                  out[k] = op_r x[r, k], SIMD over k, in column tiles times row chunks with
//                  per-chunk partial results combined in chunk order.
#include <omp.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "kernels/backend_ops.h"
#include "kernels/common/reduce_plan.h"

namespace pleas::cpu {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// sum_i p[i] in f64.
inline double row_sum(const float* p, int64_t n) {
  double acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += double(p[i]);
  return acc;
}

// max_i p[i], NaN if any p[i] is NaN.
inline float row_max(const float* p, int64_t n) {
  float m = kNegInf;
  int nan = 0;
#pragma omp simd reduction(max : m) reduction(| : nan)
  for (int64_t i = 0; i < n; ++i) {
    m = p[i] > m ? p[i] : m;
    nan |= p[i] != p[i];
  }
  return nan ? std::numeric_limits<float>::quiet_NaN() : m;
}

void reduce_rows(float* out, const float* x, int64_t K, int64_t R, ReduceOp op) {
  const bool big = K * R > (1 << 15);
  if (K >= omp_get_max_threads() || !big) {
#pragma omp parallel for schedule(static) if (big && K > 1)
    for (int64_t k = 0; k < K; ++k) {
      const float* p = x + reduce_segment_begin(k, R);
      out[k] = op == ReduceOp::max ? row_max(p, R) : reduce_finalize(row_sum(p, R), op, R);
    }
    return;
  }
  // Few long rows: the threads share each row in fixed 16K-element chunks whose partial results
  // are combined in chunk order (the same result for any thread count).
  constexpr int64_t kChunk = 1 << 14;
  const int64_t nchunks = (R + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(nchunks));
  for (int64_t k = 0; k < K; ++k) {
    const float* p = x + reduce_segment_begin(k, R);
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nchunks; ++c) {
      const int64_t n = std::min(kChunk, R - c * kChunk);
      part[size_t(c)] = op == ReduceOp::max ? double(row_max(p + c * kChunk, n))
                                            : row_sum(p + c * kChunk, n);
    }
    double acc = 0;
    float m = kNegInf;
    for (int64_t c = 0; c < nchunks; ++c) {
      acc += part[size_t(c)];
      m = nan_max(m, float(part[size_t(c)]));
    }
    out[k] = op == ReduceOp::max ? m : reduce_finalize(acc, op, R);
  }
}

void reduce_columns(float* out, const float* x, int64_t R, int64_t K, ReduceOp op) {
  constexpr int64_t kTile = 1024;  // columns per tile: 8 KiB of f64 accumulators
  const int64_t tiles = (K + kTile - 1) / kTile;
  // Row chunks only when there are too few tiles to share out; independent of the thread count,
  // so the result does not depend on it.
  const int64_t chunks = std::clamp<int64_t>(8 / tiles, 1, std::max<int64_t>(1, R / 64));
  const int64_t rows_per = (R + chunks - 1) / chunks;
  const bool is_max = op == ReduceOp::max;
  std::vector<double> part(static_cast<size_t>(chunks * K));  // partial sums, or partial maxima (as f64)
#pragma omp parallel for collapse(2) schedule(static) if (R * K > (1 << 15))
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t k0 = t * kTile, k1 = std::min(K, k0 + kTile);
      const int64_t r0 = c * rows_per, r1 = std::min(R, r0 + rows_per);
      double acc[kTile];
      float mx[kTile];
      for (int64_t k = k0; k < k1; ++k) { acc[k - k0] = 0; mx[k - k0] = kNegInf; }
      for (int64_t r = r0; r < r1; ++r) {
        const float* p = x + r * K;
        if (is_max) {
#pragma omp simd
          for (int64_t k = k0; k < k1; ++k) mx[k - k0] = nan_max(mx[k - k0], p[k]);
        } else {
#pragma omp simd
          for (int64_t k = k0; k < k1; ++k) acc[k - k0] += double(p[k]);
        }
      }
      for (int64_t k = k0; k < k1; ++k) part[size_t(c * K + k)] = is_max ? mx[k - k0] : acc[k - k0];
    }
  for (int64_t k = 0; k < K; ++k) {
    double acc = 0;
    float m = kNegInf;
    for (int64_t c = 0; c < chunks; ++c) {
      acc += part[size_t(c * K + k)];
      m = nan_max(m, float(part[size_t(c * K + k)]));
    }
    out[k] = is_max ? m : reduce_finalize(acc, op, R);
  }
}

}  // namespace

void reduce(Tensor& out, const Tensor& x, const std::vector<int>& dims, ReduceOp op) {
  PLEAS_CHECK(out.is_contiguous(), "reduce: output must be contiguous, got ", out.str());
  const ReducePlan p = reduce_plan(x.shape(), dims);
  float* o = out.data<float>();
  if (p.reduced_leading && p.kept > 1 && x.is_contiguous()) {
    reduce_columns(o, x.data<float>(), p.count, p.kept, op);
    return;
  }
  const Tensor rows = x.permute(p.perm).contiguous();  // [K, R]
  reduce_rows(o, rows.data<float>(), p.kept, p.count, op);
}

}  // namespace pleas::cpu
