// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
// as 1, 2, 3", SC'11; the Random123 library), and the mapping from a tensor element to its random
// value, shared by the CPU and CUDA kernels so that both produce the same numbers.
//
// Stream: key = (lo32(seed), hi32(seed)); block c (a 64-bit counter) is
//   philox4x32_10(ctr = (lo32(c), hi32(c), 0, 0), key) = four 32-bit words w0..w3.
// Element i of a contiguous tensor (its row-major position):
//   uniform f32: block i / 4, word w_{i%4}:   u = (w >> 8) 2^-24 in [0, 1)  (24 bits, exact in f32)
//   uniform f64: block i / 2, words (w_{2(i%2)}, w_{2(i%2)+1}): u = (top 53 bits) 2^-53 in [0, 1)
//   value = fma(u, hi - lo, lo) in f64, rounded to the tensor's dtype.
//   normal (f32 and f64): block i / 2 gives u1 = (53 bits of w0,w1 + 1) 2^-53 in (0, 1] and
//   u2 = (53 bits of w2,w3) 2^-53 in [0, 1); Box-Muller:
//     z_even = sqrt(-2 ln u1) cos(2 pi u2),  z_odd = sqrt(-2 ln u1) sin(2 pi u2)
//   value = fma(std, z, mean) in f64, rounded to the dtype (an f32 normal tensor is therefore the
//   rounding of the f64 one with the same seed).
// All arithmetic is explicit (fma, no contractible a*b+c), so host and device agree bit for bit
// except where the device's log/sin/cos differ from the host libm in the last f64 bit (normals).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/hd.h"

namespace pleas {

struct Philox4 {
  uint32_t v[4];
};

// 32 x 32 -> 64-bit product split into its high and low words.
PLEAS_HD inline void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
}

// One Philox4x32 round: (x0, x1, x2, x3) -> (hi(M1 x2) ^ x1 ^ k0, lo(M1 x2), hi(M0 x0) ^ x3 ^ k1,
// lo(M0 x0)), M0 = 0xD2511F53, M1 = 0xCD9E8D57.
PLEAS_HD inline Philox4 philox_round(const Philox4& x, uint32_t k0, uint32_t k1) {
  uint32_t hi0, lo0, hi1, lo1;
  philox_mulhilo(0xD2511F53u, x.v[0], hi0, lo0);
  philox_mulhilo(0xCD9E8D57u, x.v[2], hi1, lo1);
  return Philox4{{hi1 ^ x.v[1] ^ k0, lo1, hi0 ^ x.v[3] ^ k1, lo0}};
}

// Philox4x32-10: 10 rounds, the key bumped by the Weyl constants (0x9E3779B9, 0xBB67AE85)
// before every round but the first.
PLEAS_HD inline Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
  ctr = philox_round(ctr, k0, k1);
  for (int r = 1; r < 10; ++r) {
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
    ctr = philox_round(ctr, k0, k1);
  }
  return ctr;
}

// Block c of the stream of `seed`.
PLEAS_HD inline Philox4 philox_block(uint64_t seed, uint64_t c) {
  return philox4x32_10(Philox4{{uint32_t(c), uint32_t(c >> 32), 0u, 0u}},
                       uint32_t(seed), uint32_t(seed >> 32));
}

// u = (w >> 8) 2^-24 in [0, 1).
PLEAS_HD inline double uniform24(uint32_t w) { return double(w >> 8) * (1.0 / 16777216.0); }
// u = (top 53 bits of (a, b)) 2^-53 in [0, 1).
PLEAS_HD inline double uniform53(uint32_t a, uint32_t b) {
  const uint64_t bits = (uint64_t(a) << 21) | uint64_t(b >> 11);
  return double(bits) * (1.0 / 9007199254740992.0);
}

enum class RandomDist : uint8_t { uniform, normal };

// Elements produced by one Philox block (see the table at the top).
PLEAS_HD inline int64_t random_per_block(RandomDist d, bool is_f64) {
  return d == RandomDist::uniform && !is_f64 ? 4 : 2;
}

// The `per` values of one Philox block w (see the table at the top) in f64. Uniform: a = lo,
// b = hi; normal: a = mean, b = std.
PLEAS_HD inline void random_values(const Philox4& w, RandomDist d, bool is_f64, double a, double b,
                                   double v[4]) {
  if (d == RandomDist::uniform) {
    const double width = b - a;
    if (is_f64) {
      v[0] = fma(uniform53(w.v[0], w.v[1]), width, a);
      v[1] = fma(uniform53(w.v[2], w.v[3]), width, a);
    } else {
      for (int k = 0; k < 4; ++k) v[k] = fma(uniform24(w.v[k]), width, a);
    }
  } else {
    const double kTwoPi = 6.283185307179586476925286766559;
    const double u1 = uniform53(w.v[0], w.v[1]) + (1.0 / 9007199254740992.0);  // (0, 1]
    const double u2 = uniform53(w.v[2], w.v[3]);                                // [0, 1)
    const double r = sqrt(-2.0 * log(u1));
    const double theta = kTwoPi * u2;
    v[0] = fma(b, r * cos(theta), a);
    v[1] = fma(b, r * sin(theta), a);
  }
}

// Writes the elements of block c (positions c * per .. c * per + per - 1, those below n) of a
// contiguous tensor `out` of n elements (T = float or double), given the block's words w.
template <typename T>
PLEAS_HD inline void random_store_block(T* out, int64_t n, int64_t c, const Philox4& w,
                                        RandomDist d, double a, double b) {
  const bool is_f64 = sizeof(T) == 8;
  const int64_t per = random_per_block(d, is_f64);
  double v[4];
  random_values(w, d, is_f64, a, b, v);
  for (int64_t k = 0; k < per && c * per + k < n; ++k) out[c * per + k] = T(v[k]);
}

// Block c of `out` from the stream of `seed`.
template <typename T>
PLEAS_HD inline void random_fill_block(T* out, int64_t n, int64_t c, uint64_t seed, RandomDist d,
                                       double a, double b) {
  random_store_block(out, n, c, philox_block(seed, uint64_t(c)), d, a, b);
}

}  // namespace pleas
