// CUDA Philox fills: one thread per Philox block (grid-stride), running the same
// random_fill_block as the CPU (kernels/common/philox.h), so both give the same values.
#include "kernels/backend_ops.h"
#include "kernels/common/philox.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {
template <typename T>
__global__ void fill_kernel(T* out, int64_t n, int64_t blocks, uint64_t seed, RandomDist d,
                            double a, double b) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < blocks;
       c += int64_t(gridDim.x) * blockDim.x)
    random_fill_block(out, n, c, seed, d, a, b);
}

template <typename T>
void launch(Tensor& t, uint64_t seed, RandomDist d, double a, double b) {
  const int64_t n = t.numel();
  const int64_t per = random_per_block(d, sizeof(T) == 8);
  const int64_t blocks = (n + per - 1) / per;
  auto& c = context(t);
  fill_kernel<T><<<grid_for(blocks), kBlock, 0, c.stream>>>(t.data<T>(), n, blocks, seed, d, a, b);
  PLEAS_KERNEL_CHECK();
}

void fill_random(Tensor& t, uint64_t seed, RandomDist d, double a, double b) {
  PLEAS_CHECK(t.is_contiguous(), "random fill: tensor must be contiguous, got ", t.str());
  if (t.numel() == 0) return;
  if (t.dtype() == DType::f64) launch<double>(t, seed, d, a, b);
  else launch<float>(t, seed, d, a, b);
}
}  // namespace

void fill_uniform(Tensor& t, uint64_t seed, double lo, double hi) {
  fill_random(t, seed, RandomDist::uniform, lo, hi);
}
void fill_normal(Tensor& t, uint64_t seed, double mean, double std) {
  fill_random(t, seed, RandomDist::normal, mean, std);
}

}  // namespace pleas::cuda
