// CPU Philox fills: OpenMP over groups of Philox blocks; each block writes its 2 or 4 consecutive
// elements (kernels/common/philox.h, the same code the CUDA kernel runs).
#include "kernels/backend_ops.h"
#include "kernels/common/philox.h"

namespace pleas::cpu {

namespace {
// Philox blocks are computed kLanes at a time in a SIMD loop (the 32 x 32 -> 64-bit products
// vectorise), then mapped to values block by block with the shared random_store_block.
constexpr int64_t kLanes = 16;

template <typename T>
void fill_blocks(T* out, int64_t n, uint64_t seed, RandomDist d, double a, double b) {
  const int64_t per = random_per_block(d, sizeof(T) == 8);
  const int64_t blocks = (n + per - 1) / per;
  const int64_t groups = (blocks + kLanes - 1) / kLanes;
#pragma omp parallel for schedule(static) if (n > (1 << 14))
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t c0 = g * kLanes;
    uint32_t w[4][kLanes];
#pragma omp simd
    for (int64_t l = 0; l < kLanes; ++l) {
      const Philox4 r = philox_block(seed, uint64_t(c0 + l));
      for (int j = 0; j < 4; ++j) w[j][l] = r.v[j];
    }
    for (int64_t l = 0; l < kLanes && c0 + l < blocks; ++l)
      random_store_block(out, n, c0 + l, Philox4{{w[0][l], w[1][l], w[2][l], w[3][l]}}, d, a, b);
  }
}

void fill_random(Tensor& t, uint64_t seed, RandomDist d, double a, double b) {
  PLEAS_CHECK(t.is_contiguous(), "random fill: tensor must be contiguous, got ", t.str());
  if (t.dtype() == DType::f64) fill_blocks(t.data<double>(), t.numel(), seed, d, a, b);
  else fill_blocks(t.data<float>(), t.numel(), seed, d, a, b);
}
}  // namespace

void fill_uniform(Tensor& t, uint64_t seed, double lo, double hi) {
  fill_random(t, seed, RandomDist::uniform, lo, hi);
}
void fill_normal(Tensor& t, uint64_t seed, double mean, double std) {
  fill_random(t, seed, RandomDist::normal, mean, std);
}

}  // namespace pleas::cpu
