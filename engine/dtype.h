// Element types of the tensor runtime. f16/bf16 are storage types (uint16 bit patterns);
// compute kernels convert through float (see engine/half.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace pleas {

enum class DType : uint8_t { f32, f64, f16, bf16, i32, i64, u8 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::f64: case DType::i64: return 8;
    case DType::f32: case DType::i32: return 4;
    case DType::f16: case DType::bf16: return 2;
    case DType::u8: return 1;
  }
  return 0;
}

const char* dtype_name(DType t);
// Parses "f32", "float32", "F32" (safetensors spelling) etc.; throws on unknown names.
DType dtype_from_name(const std::string& s);
inline bool is_floating(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::f16 || t == DType::bf16;
}

// C++ type -> DType mapping for typed accessors.
template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };

}  // namespace pleas
