#include "engine/dtype.h"

#include "engine/error.h"

namespace pleas {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
  }
  return "?";
}

DType dtype_from_name(const std::string& s) {
  if (s == "f32" || s == "F32" || s == "float32" || s == "float") return DType::f32;
  if (s == "f64" || s == "F64" || s == "float64" || s == "double") return DType::f64;
  if (s == "f16" || s == "F16" || s == "float16" || s == "half") return DType::f16;
  if (s == "bf16" || s == "BF16" || s == "bfloat16") return DType::bf16;
  if (s == "i32" || s == "I32" || s == "int32") return DType::i32;
  if (s == "i64" || s == "I64" || s == "int64") return DType::i64;
  if (s == "u8" || s == "U8" || s == "uint8") return DType::u8;
  PLEAS_FAIL("dtype: unknown element type '", s, "'");
}

}  // namespace pleas
