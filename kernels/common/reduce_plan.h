// Reduction plan and per-segment arithmetic shared by the CPU and CUDA reduce kernels.
// A reduction of x over `dims` is done on the permuted view x.permute(kept..., reduced...): made
// contiguous it is a [K, R] matrix (K = product of kept sizes = out.numel(), R = product of reduced
// sizes = count), and out[k] = op over row k, i.e. over the segment [k * R, (k + 1) * R).
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/common/hd.h"
#include "kernels/op_args.h"

namespace pleas {

struct ReducePlan {
  std::vector<int> perm;         // kept dims in order, then reduced dims in order
  int64_t kept = 1, count = 1;   // K and R
  bool reduced_leading = false;  // every reduced dim of size > 1 precedes every kept dim of size > 1:
                                 // a contiguous x is then already an [R, K] matrix
};

// dims: sorted, distinct, in [0, ndim) (the dispatcher normalises them; empty means all dims).
inline ReducePlan reduce_plan(const std::vector<int64_t>& shape, const std::vector<int>& dims) {
  ReducePlan p;
  const int nd = int(shape.size());
  std::vector<bool> red(size_t(nd), dims.empty());
  for (int d : dims) red[size_t(d)] = true;
  bool seen_kept = false;
  p.reduced_leading = true;
  for (int d = 0; d < nd; ++d) {
    if (red[size_t(d)]) continue;
    p.perm.push_back(d);
    p.kept *= shape[size_t(d)];
  }
  for (int d = 0; d < nd; ++d) {
    if (!red[size_t(d)]) continue;
    p.perm.push_back(d);
    p.count *= shape[size_t(d)];
  }
  for (int d = 0; d < nd; ++d) {
    if (shape[size_t(d)] <= 1) continue;
    if (!red[size_t(d)]) seen_kept = true;
    else if (seen_kept) p.reduced_leading = false;
  }
  return p;
}

// First element of segment s (row s of the [K, R] matrix); the segment ends where s + 1 begins.
PLEAS_HD inline int64_t reduce_segment_begin(int64_t s, int64_t count) { return s * count; }

// max that propagates NaN (like PyTorch's amax): associative and commutative, so any reduction
// order gives the same result.
PLEAS_HD inline float nan_max(float a, float b) { return (a != a || a > b) ? a : b; }

// Final value of a segment from its accumulator: the f64 sum (sum, mean) or the max.
// mean = sum / count.
PLEAS_HD inline float reduce_finalize(double acc, ReduceOp op, int64_t count) {
  return op == ReduceOp::mean ? float(acc / double(count)) : float(acc);
}

}  // namespace pleas
