// IEEE half and bfloat16 <-> float conversions (round to nearest even), usable on host and device.
#pragma once
#include <cstdint>
#include <cstring>
#include "kernels/common/hd.h"

namespace pleas {

PLEAS_HD inline uint32_t f32_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u; std::memcpy(&u, &f, 4); return u;
#endif
}
PLEAS_HD inline float f32_from_bits(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f; std::memcpy(&f, &u, 4); return f;
#endif
}

PLEAS_HD inline uint16_t float_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
PLEAS_HD inline float bf16_to_float(uint16_t h) { return f32_from_bits(uint32_t(h) << 16); }

PLEAS_HD inline uint16_t float_to_f16(float f) {
  uint32_t x = f32_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return uint16_t(sign | 0x7e00u);      // NaN
  if (absx >= 0x477ff000u) return uint16_t(sign | 0x7c00u);     // overflow (incl. rounding) -> inf
  if (absx < 0x38800000u) {                                     // subnormal or zero in half
    if (absx < 0x33000000u) return uint16_t(sign);              // < 2^-25 rounds to 0
    uint32_t e = absx >> 23;
    uint32_t m = (absx & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;                                   // 14..24
    uint32_t half_m = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half_m & 1u))) ++half_m;
    return uint16_t(sign | half_m);
  }
  uint32_t r = absx - 0x38000000u;                              // rebias exponent 127 -> 15
  r += 0xfffu + ((r >> 13) & 1u);                               // round to nearest even
  return uint16_t(sign | (r >> 13));
}
PLEAS_HD inline float f16_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {
    if (m == 0) return f32_from_bits(sign);
    float v = float(m) * (1.0f / 16777216.0f);                  // m * 2^-24
    return sign ? -v : v;
  }
  if (e == 31) return f32_from_bits(sign | 0x7f800000u | (m << 13));
  return f32_from_bits(sign | ((e + 112u) << 23) | (m << 13));
}

}  // namespace pleas
