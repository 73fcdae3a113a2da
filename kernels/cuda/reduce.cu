// CUDA reduce with CUB: x.permute(kept..., reduced...) made contiguous is a [K, R] matrix whose
// rows are the segments [k R, (k + 1) R) (kernels/common/reduce_plan.h); one
// cub::DeviceSegmentedReduce call reduces them all (cub::DeviceReduce when K = 1). Sums are
// accumulated in f64 (the input is read through a float -> double transform iterator) and turned
// into f32 (divided by R for mean) by a small kernel; max uses the NaN-propagating nan_max.
// CUB's temporary storage comes from the context workspace.
#include <cub/device/device_reduce.cuh>
#include <cub/device/device_segmented_reduce.cuh>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <limits>

#include "kernels/backend_ops.h"
#include "kernels/common/reduce_plan.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"

namespace pleas::cuda {

namespace {

struct ToDouble {
  __host__ __device__ double operator()(float v) const { return double(v); }
};
struct NanMax {
  __host__ __device__ float operator()(float a, float b) const { return nan_max(a, b); }
};
// Offset of segment s: s * R.
struct SegmentBegin {
  int64_t count;
  __host__ __device__ int64_t operator()(int64_t s) const { return reduce_segment_begin(s, count); }
};

__global__ void finalize_kernel(float* out, const double* acc, ReduceOp op, int64_t count,
                                int64_t k) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < k;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = reduce_finalize(acc[i], op, count);
}

// CUB's temporary storage. Never null: a null pointer would turn the reducing call into another
// size query.
void* workspace(Context& c, size_t bytes) { return c.workspace(bytes > 0 ? bytes : 1); }

}  // namespace

void reduce(Tensor& out, const Tensor& x, const std::vector<int>& dims, ReduceOp op) {
  PLEAS_CHECK(out.is_contiguous(), "reduce: output must be contiguous, got ", out.str());
  const ReducePlan p = reduce_plan(x.shape(), dims);
  const int64_t K = p.kept, R = p.count;
  if (K == 0 || R == 0) return;  // handled by the dispatcher
  auto& c = context(out);
  const Tensor rows = x.permute(p.perm).contiguous();  // [K, R]
  const float* in = rows.data<float>();
  float* o = out.data<float>();
  auto begin = thrust::make_transform_iterator(thrust::make_counting_iterator<int64_t>(0),
                                               SegmentBegin{R});
  auto end = begin + 1;
  size_t bytes = 0;
  if (op == ReduceOp::max) {
    const float init = -std::numeric_limits<float>::infinity();
    // Two calls each: the first sizes the temporary storage, the second reduces.
    if (K == 1) {
      PLEAS_CUDA_CHECK(cub::DeviceReduce::Reduce(nullptr, bytes, in, o, R, NanMax{}, init, c.stream));
      PLEAS_CUDA_CHECK(cub::DeviceReduce::Reduce(workspace(c, bytes), bytes, in, o, R, NanMax{},
                                                 init, c.stream));
    } else {
      PLEAS_CUDA_CHECK(cub::DeviceSegmentedReduce::Reduce(nullptr, bytes, in, o, K, begin, end,
                                                          NanMax{}, init, c.stream));
      PLEAS_CUDA_CHECK(cub::DeviceSegmentedReduce::Reduce(workspace(c, bytes), bytes, in, o, K,
                                                          begin, end, NanMax{}, init, c.stream));
    }
    return;
  }
  Tensor acc = Tensor::empty({K}, DType::f64, out.device());
  double* a = acc.data<double>();
  auto in_d = thrust::make_transform_iterator(in, ToDouble{});
  if (K == 1) {
    PLEAS_CUDA_CHECK(cub::DeviceReduce::Sum(nullptr, bytes, in_d, a, R, c.stream));
    PLEAS_CUDA_CHECK(cub::DeviceReduce::Sum(workspace(c, bytes), bytes, in_d, a, R, c.stream));
  } else {
    PLEAS_CUDA_CHECK(cub::DeviceSegmentedReduce::Sum(nullptr, bytes, in_d, a, K, begin, end, c.stream));
    PLEAS_CUDA_CHECK(cub::DeviceSegmentedReduce::Sum(workspace(c, bytes), bytes, in_d, a, K, begin,
                                                     end, c.stream));
  }
  finalize_kernel<<<grid_for(K), kBlock, 0, c.stream>>>(o, a, op, R, K);
  PLEAS_KERNEL_CHECK();
}

}  // namespace pleas::cuda
