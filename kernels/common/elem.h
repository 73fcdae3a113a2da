// Element load/store with run-time dtype, shared by the CPU and CUDA copy kernels.
// Conversions go through double (exact for every f32/f16/bf16/i32/u8 value and for |i64| <= 2^53);
// same-dtype copies never convert (see copy kernels).
#pragma once
#include <cstdint>

#include "engine/dtype.h"
#include "engine/half.h"
#include "kernels/common/hd.h"

namespace pleas {

PLEAS_HD inline double load_elem(const void* base, DType t, int64_t i) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(base)[i];
    case DType::f64: return static_cast<const double*>(base)[i];
    case DType::f16: return f16_to_float(static_cast<const uint16_t*>(base)[i]);
    case DType::bf16: return bf16_to_float(static_cast<const uint16_t*>(base)[i]);
    case DType::i32: return static_cast<const int32_t*>(base)[i];
    case DType::i64: return double(static_cast<const int64_t*>(base)[i]);
    case DType::u8: return static_cast<const uint8_t*>(base)[i];
  }
  return 0;
}

PLEAS_HD inline void store_elem(void* base, DType t, int64_t i, double v) {
  switch (t) {
    case DType::f32: static_cast<float*>(base)[i] = float(v); break;
    case DType::f64: static_cast<double*>(base)[i] = v; break;
    case DType::f16: static_cast<uint16_t*>(base)[i] = float_to_f16(float(v)); break;
    case DType::bf16: static_cast<uint16_t*>(base)[i] = float_to_bf16(float(v)); break;
    case DType::i32: static_cast<int32_t*>(base)[i] = int32_t(v); break;
    case DType::i64: static_cast<int64_t*>(base)[i] = int64_t(v); break;
    case DType::u8: static_cast<uint8_t*>(base)[i] = uint8_t(v); break;
  }
}

// Copies one element of `size` bytes (same dtype, no conversion).
PLEAS_HD inline void copy_bytes(void* dst, int64_t di, const void* src, int64_t si, int size) {
  switch (size) {
    case 8: static_cast<uint64_t*>(dst)[di] = static_cast<const uint64_t*>(src)[si]; break;
    case 4: static_cast<uint32_t*>(dst)[di] = static_cast<const uint32_t*>(src)[si]; break;
    case 2: static_cast<uint16_t*>(dst)[di] = static_cast<const uint16_t*>(src)[si]; break;
    default: static_cast<uint8_t*>(dst)[di] = static_cast<const uint8_t*>(src)[si]; break;
  }
}

}  // namespace pleas
