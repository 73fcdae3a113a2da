// Linked instead of kernels/cuda/ in a build without CUDA (PLEAS_CUDA=OFF): every CUDA entry point
// throws a clear error; device_count() is 0 so CUDA tests skip.
#include <cstdlib>

#include "engine/cuda_backend.h"
#include "kernels/backend_ops.h"

namespace {
[[noreturn]] void no_cuda(const char* what) {
  throw pleas::Error(std::string(what) + ": pleas was built without CUDA support "
                     "(reconfigure with -DPLEAS_CUDA=ON on a machine with the CUDA toolkit)");
}
}  // namespace

namespace pleas::cudab {
bool built_with_cuda() { return false; }
int device_count() { return 0; }
void* alloc(int, size_t) { no_cuda("cuda alloc"); }
void release(int, void*) {}
void memcpy_h2d(int, void*, const void*, size_t) { no_cuda("cuda memcpy"); }
void memcpy_d2h(int, void*, const void*, size_t) { no_cuda("cuda memcpy"); }
void memcpy_d2d(int, void*, const void*, size_t) { no_cuda("cuda memcpy"); }
void memset_zero(int, void*, size_t) { no_cuda("cuda memset"); }
void synchronize(int) { no_cuda("cuda synchronize"); }
void* host_alloc_pinned(size_t bytes) {
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) throw pleas::Error("host_alloc_pinned: out of host memory");
  return p;
}
void host_free_pinned(void* p) { std::free(p); }
void memcpy_h2d_async(int, void*, const void*, size_t) { no_cuda("cuda memcpy"); }
MemoryStats memory_stats(int) { return {}; }
void reset_peak(int) {}
void empty_cache(int) {}
}  // namespace pleas::cudab

namespace pleas::cuda {
void copy_strided(Tensor&, const Tensor&) { no_cuda("copy"); }
void fill(Tensor&, double) { no_cuda("fill"); }
void conv2d(Tensor&, const Tensor&, const Tensor&, const Tensor&, const Conv2dArgs&) { no_cuda("conv2d"); }
void unfold2d(Tensor&, const Tensor&, int, int, const Conv2dArgs&) { no_cuda("unfold2d"); }
void gather_mix(Tensor&, const Tensor&, const Tensor&, int, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  no_cuda("gather_mix");
}
void add_into(Tensor&, const Tensor&) { no_cuda("add_into"); }
void conv_cross_accumulate(Tensor&, const Tensor&, const Tensor&, int, int, const Conv2dArgs&) {
  no_cuda("conv_cross_accumulate");
}
void conv_gram_accumulate(Tensor&, const Tensor&, int, int, const Conv2dArgs&) { no_cuda("conv_gram_accumulate"); }
void batch_norm(Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                double) { no_cuda("batch_norm"); }
void batch_channel_stats(Tensor&, Tensor&, const Tensor&) { no_cuda("batch_channel_stats"); }
void scale_shift(Tensor&, const Tensor&, const Tensor&, const Tensor&) { no_cuda("scale_shift"); }
void relu(Tensor&, const Tensor&) { no_cuda("relu"); }
void gelu(Tensor&, const Tensor&) { no_cuda("gelu"); }
void gelu_tanh(Tensor&, const Tensor&) { no_cuda("gelu_tanh"); }
void binary(Tensor&, const Tensor&, const Tensor&, BinaryOp) { no_cuda("binary"); }
void max_pool2d(Tensor&, const Tensor&, const Pool2dArgs&) { no_cuda("max_pool2d"); }
void avg_pool2d(Tensor&, const Tensor&, const Pool2dArgs&) { no_cuda("avg_pool2d"); }
void global_avg_pool2d(Tensor&, const Tensor&) { no_cuda("global_avg_pool2d"); }
void linear(Tensor&, const Tensor&, const Tensor&, const Tensor&) { no_cuda("linear"); }
void matmul(Tensor&, const Tensor&, const Tensor&, bool, bool) { no_cuda("matmul"); }
void bmm(Tensor&, const Tensor&, const Tensor&) { no_cuda("bmm"); }
void layer_norm(Tensor&, const Tensor&, const Tensor&, const Tensor&, double) { no_cuda("layer_norm"); }
void softmax(Tensor&, const Tensor&, int) { no_cuda("softmax"); }
void index_select(Tensor&, const Tensor&, int, const Tensor&) { no_cuda("index_select"); }
void index_copy(Tensor&, int, const Tensor&, const Tensor&) { no_cuda("index_copy"); }
void reduce(Tensor&, const Tensor&, const std::vector<int>&, ReduceOp) { no_cuda("reduce"); }
void gram_accumulate(Tensor&, const Tensor&) { no_cuda("gram_accumulate"); }
void cross_accumulate(Tensor&, const Tensor&, const Tensor&) { no_cuda("cross_accumulate"); }
int64_t spd_solve(Tensor&, const Tensor&, const Tensor&, double) { no_cuda("spd_solve"); }
void fill_uniform(Tensor&, uint64_t, double, double) { no_cuda("fill_uniform"); }
void fill_normal(Tensor&, uint64_t, double, double) { no_cuda("fill_normal"); }
}  // namespace pleas::cuda
