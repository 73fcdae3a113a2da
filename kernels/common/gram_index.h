// Index arithmetic of the normal-equation kernels (gram mirror, ridge on the diagonal), shared by
// the CPU and CUDA backends and tested on the CPU in tests/gram.cpp.
#pragma once
#include <math.h>

#include <cstdint>

#include "kernels/common/hd.h"

namespace pleas {

// Number of strictly-lower entries (i > j) of a k x k matrix: k(k-1)/2.
PLEAS_HD inline int64_t tri_lower_count(int64_t k) { return k * (k - 1) / 2; }

// The t-th strictly-lower entry (i, j), i > j, enumerated row by row:
// (1,0), (2,0), (2,1), (3,0), ...; row i starts at t = i(i-1)/2, so i is the largest integer with
// i(i-1)/2 <= t, i.e. i = floor((1 + sqrt(1 + 8t)) / 2). The floating-point estimate is corrected
// by exact integer steps so the result is exact for every t < 2^60.
PLEAS_HD inline void tri_lower_index(int64_t t, int64_t& i, int64_t& j) {
  int64_t r = int64_t((1.0 + sqrt(1.0 + 8.0 * double(t))) * 0.5);
  while (r > 1 && r * (r - 1) / 2 > t) --r;
  while ((r + 1) * r / 2 <= t) ++r;
  i = r;
  j = t - r * (r - 1) / 2;
}

// Row-major k x k matrix G (row stride ld): the element offsets that mirroring the lower triangle
// into the upper one reads and writes for the t-th strictly-lower entry: G[j, i] = G[i, j].
PLEAS_HD inline void mirror_offsets(int64_t t, int64_t ld, int64_t& src, int64_t& dst) {
  int64_t i, j;
  tri_lower_index(t, i, j);
  src = i * ld + j;
  dst = j * ld + i;
}

// Offset of the diagonal element (i, i) of a row-major matrix with row stride ld.
PLEAS_HD inline int64_t diag_offset(int64_t i, int64_t ld) { return i * (ld + 1); }

}  // namespace pleas
