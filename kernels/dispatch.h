// Routes a validated op to the backend of its tensors' device.
#pragma once
#include "kernels/backend_ops.h"

#define PLEAS_DISPATCH(tensor, fn, ...)                          \
  ((tensor).is_cpu() ? ::pleas::cpu::fn(__VA_ARGS__) : ::pleas::cuda::fn(__VA_ARGS__))
