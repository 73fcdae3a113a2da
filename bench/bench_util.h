// Benchmark helpers: Arg(0) = CPU, Arg(1) = CUDA (skipped with a message when absent).
#pragma once
#include <benchmark/benchmark.h>

#include "engine/cuda_backend.h"
#include "engine/tensor.h"

namespace pleas::bench {

inline Device device_arg(benchmark::State& st, int arg = 0) {
  return st.range(arg) ? Device::cuda() : Device::cpu();
}
inline bool device_ok(benchmark::State& st, Device d) {
  if (d.is_cuda() && !cuda_available()) {
    st.SkipWithError(built_with_cuda() ? "no CUDA device" : "built without CUDA");
    return false;
  }
  st.SetLabel(d.str());
  return true;
}
inline void sync(Device d) { if (d.is_cuda()) cudab::synchronize(d.index); }
inline void set_flops(benchmark::State& st, double flops_per_iter) {
  st.counters["GFLOP/s"] = benchmark::Counter(flops_per_iter * 1e-9 * double(st.iterations()),
                                              benchmark::Counter::kIsRate);
}
inline void set_bytes(benchmark::State& st, double bytes_per_iter) {
  st.counters["GB/s"] = benchmark::Counter(bytes_per_iter * 1e-9 * double(st.iterations()),
                                           benchmark::Counter::kIsRate);
}

}  // namespace pleas::bench
