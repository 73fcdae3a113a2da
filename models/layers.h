// The layers models are built from: plain structs of tensors plus free forward functions over the
// engine's ops. Every forward reports (input, output) to the hooks under the layer's path.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "kernels/ops.h"
#include "models/hooks.h"

namespace pleas {

using TensorDict = std::map<std::string, Tensor>;

// How BatchNorm layers run: with their running statistics (inference), or in recompute mode,
// where each forward normalises with the batch's own statistics (as PyTorch's train mode) and
// accumulates them so that finish_bn_recompute() installs the exact cumulative average.
enum class BnMode { inference, recompute };

struct ForwardCtx {
  const Hooks* hooks = nullptr;
  BnMode bn_mode = BnMode::inference;
  double* macs = nullptr;  // when set, conv/linear/attention multiply-adds are added here
  void count(double n) const { if (macs) *macs += n; }
  void report(const std::string& path, const Tensor& in, const Tensor& out) const {
    if (hooks && hooks->wants(path)) hooks->call(path, in, out);
  }
};

// Block structure of a merged layer (Figure 2 of the paper): output rows [out0, out1) read only
// inputs [in0, in1). A layer with blocks executes one product per block, never the zero blocks.
struct RowBlock {
  int64_t out0 = 0, out1 = 0, in0 = 0, in1 = 0;
};

struct Conv2d {
  std::string path;
  Tensor weight, bias;  // weight [out, in/groups, kh, kw] (dense; zero outside blocks); bias [out]
  Conv2dArgs args;
  std::vector<RowBlock> blocks;      // empty: dense
  std::vector<Tensor> block_weight;  // contiguous [out1-out0, in1-in0, kh, kw] per block
  int64_t out_channels() const { return weight.size(0); }
  int64_t in_channels() const { return weight.size(1) * args.groups; }
};

struct BatchNorm2d {
  std::string path;
  Tensor weight, bias, running_mean, running_var;  // [C], f32
  double eps = 1e-5;
  // Recompute accumulators: sums over batches of batch means and unbiased batch variances.
  std::vector<double> acc_mean, acc_var;
  int64_t acc_batches = 0;
};

struct Linear {
  std::string path;
  Tensor weight, bias;  // [out, in], [out] or undefined
  std::vector<RowBlock> blocks;
  std::vector<Tensor> block_weight;
};

// Installs a block structure (checked to tile the output rows) and extracts the block weights
// from the dense weight; an empty list makes the layer dense again.
void set_blocks(Conv2d& l, const std::vector<RowBlock>& blocks);
void set_blocks(Linear& l, const std::vector<RowBlock>& blocks);
// Weights the layer executes (block areas; the dense size without blocks).
int64_t executed_weights(const Conv2d& l);
int64_t executed_weights(const Linear& l);

// A LayerNorm normalises the last dim. A merged one (ViT partial merging, pleas/partial_merge.h)
// has several *views*: view v standardises x[..., in0:in1) with its own mean and variance,
//   ẑ_v = (x_v − μ_v) / sqrt(σ²_v + eps),
// each position takes the mean of ẑ over the views that contain it, then the usual affine:
//   y[p] = weight[p] · mean_{v ∋ p} ẑ_v[p] + bias[p].
// No views: one view over the whole dim (the ordinary LayerNorm).
struct NormView {
  int64_t in0 = 0, in1 = 0;
};

struct LayerNorm {
  std::string path;
  Tensor weight, bias;  // [D]
  double eps = 1e-6;
  std::vector<NormView> views;
};
// Checks that `views` lie inside `width` features and cover every one of them.
void check_norm_views(const std::string& path, const std::vector<NormView>& views, int64_t width);

Tensor forward(const Conv2d& l, const Tensor& x, const ForwardCtx& ctx);
Tensor forward(BatchNorm2d& l, const Tensor& x, const ForwardCtx& ctx);
Tensor forward(const Linear& l, const Tensor& x, const ForwardCtx& ctx);
Tensor forward(const LayerNorm& l, const Tensor& x, const ForwardCtx& ctx);

// BatchNorm recomputation: reset accumulators, then (after forwards in BnMode::recompute) install
// running_mean = mean over batches of batch means, running_var = mean of unbiased batch variances
// — what PyTorch computes with momentum=None after reset_running_stats().
void begin_bn_recompute(BatchNorm2d& l);
void finish_bn_recompute(BatchNorm2d& l);

// Strict weight loading: every key read is checked against the expected shape; at the end
// finish() reports every missing, unexpected or mis-shaped key in one error.
class WeightReader {
 public:
  WeightReader(const TensorDict& dict, Device dev, std::string source);
  // Reads `name` with the expected shape (-1 = any size in that dim); returns an undefined tensor
  // and records the problem when missing or mis-shaped.
  Tensor get(const std::string& name, const Shape& expect, bool optional = false);
  bool has(const std::string& name) const { return dict_.count(name) > 0; }
  const Tensor* peek(const std::string& name) const;
  void ignore(const std::string& name) { used_.insert(name); }  // e.g. num_batches_tracked
  void finish() const;  // throws pleas::Error listing all problems

  Conv2d conv(const std::string& path, int64_t out, int64_t in, int k, Conv2dArgs args, bool bias);
  BatchNorm2d bn(const std::string& path, int64_t c, double eps = 1e-5);
  Linear linear(const std::string& path, int64_t out, int64_t in, bool bias = true);
  LayerNorm layer_norm(const std::string& path, int64_t d, double eps = 1e-6,
                       const std::vector<NormView>& views = {});

 private:
  const TensorDict& dict_;
  Device dev_;
  std::string source_;
  std::set<std::string> used_;
  std::vector<std::string> missing_, misshaped_;
};

// Writes layers back to a dict (names as PyTorch's state_dict).
void store(TensorDict& d, const Conv2d& l);
void store(TensorDict& d, const BatchNorm2d& l);
void store(TensorDict& d, const Linear& l);
void store(TensorDict& d, const LayerNorm& l);

}  // namespace pleas
