// Argument structs and enums shared by the op API (kernels/ops.h) and both backends.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace pleas {

struct Conv2dArgs {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
  static Conv2dArgs make(int stride, int pad, int dilation = 1, int groups = 1) {
    return {stride, stride, pad, pad, dilation, dilation, groups};
  }
};

struct Pool2dArgs {
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_h = 0, pad_w = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg_pool2d only (PyTorch default)
  static Pool2dArgs make(int kernel, int stride, int pad = 0) {
    return {kernel, kernel, stride, stride, pad, pad, false, true};
  }
};

// Output length of a convolution / pooling window along one axis (PyTorch's formula).
PLEAS_HD inline int64_t conv_out_size(int64_t in, int kernel, int stride, int pad, int dilation) {
  const int64_t num = in + 2 * pad - dilation * (kernel - 1) - 1;
  return num < 0 ? 0 : num / stride + 1;  // 0: the kernel does not fit (callers reject it)
}
PLEAS_HD inline int64_t pool_out_size(int64_t in, int kernel, int stride, int pad, bool ceil_mode) {
  int64_t num = in + 2 * pad - kernel;
  if (num < 0) return 0;  // window larger than the padded input: no output (callers reject it)
  int64_t out = (ceil_mode ? (num + stride - 1) / stride : num / stride) + 1;
  // PyTorch: the last window must start inside the input or left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

enum class BinaryOp : uint8_t { add, sub, mul, div };
enum class ReduceOp : uint8_t { sum, mean, max };

}  // namespace pleas
