// Index arithmetic of the shift-structured im2col Gram (kernels/*/conv_gram), shared by both
// backends and tested on the CPU in tests/conv_gram.cpp.
//
// Along one axis, output position o of a convolution reads input u = o·s − p + k·d for kernel
// offset k. Writing k·d − p = s·a_k + φ_k with 0 ≤ φ_k < s, u = s·(o + a_k) + φ_k: offset k reads
// the phase-φ_k subsequence x_φ[t] = x[s·t + φ] at t = o + a_k. So the im2col Gram block of two
// offsets (k, k'), Σ_o x_φk[o + a_k] · x_φk'[o + a_k'], depends on the pair only through the
// phases, the shift difference δ = a_k' − a_k and the window of t it sums over; blocks that share
// (φ, φ', δ) share their sums up to a few border rows and columns.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace pleas {

struct ShiftPhase {
  int64_t phase;  // φ_k ∈ [0, s)
  int64_t shift;  // a_k = (k·d − p − φ_k) / s (floor division)
};
PLEAS_HD inline ShiftPhase shift_phase(int64_t k, int64_t stride, int64_t pad, int64_t dilation) {
  const int64_t e = k * dilation - pad;
  const int64_t ph = ((e % stride) + stride) % stride;
  return {ph, (e - ph) / stride};
}

// Samples of the phase-φ subsequence x[s·t + φ], t = 0, 1, ..., of an axis of n samples.
PLEAS_HD inline int64_t phase_length(int64_t n, int64_t phase, int64_t stride) {
  return phase < n ? (n - phase + stride - 1) / stride : 0;
}

// Half-open interval [lo, hi) (empty when hi ≤ lo).
struct Interval {
  int64_t lo, hi;
  PLEAS_HD int64_t size() const { return hi > lo ? hi - lo : 0; }
};
PLEAS_HD inline Interval intersect(Interval a, Interval b) {
  return {a.lo > b.lo ? a.lo : b.lo, a.hi < b.hi ? a.hi : b.hi};
}
// The t where both A[t] (length la) and B[t + delta] (length lb) exist.
PLEAS_HD inline Interval pair_support(int64_t la, int64_t lb, int64_t delta) {
  return {delta < 0 ? -delta : 0, la < lb - delta ? la : lb - delta};
}
// The t that offset k's window visits, [a_k, a_k + out), within the pair's support.
PLEAS_HD inline Interval block_window(int64_t shift, int64_t out, Interval support) {
  return intersect({shift, shift + out}, support);
}

}  // namespace pleas
