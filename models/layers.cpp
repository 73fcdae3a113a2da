#include "models/layers.h"

#include <sstream>

namespace pleas {

namespace {
Tensor narrow_bias(const Tensor& b, const RowBlock& k) {
  return b.defined() ? b.narrow(0, k.out0, k.out1 - k.out0) : Tensor();
}

void check_blocks(const std::string& path, const std::vector<RowBlock>& blocks, int64_t out, int64_t in) {
  int64_t next = 0;
  for (const RowBlock& b : blocks) {
    PLEAS_CHECK(b.out0 == next && b.out1 > b.out0 && b.in0 >= 0 && b.in1 > b.in0 && b.in1 <= in,
                path, ": block rows [", b.out0, ", ", b.out1, ") inputs [", b.in0, ", ", b.in1,
                ") do not tile ", out, " outputs over ", in, " inputs");
    next = b.out1;
  }
  PLEAS_CHECK(next == out, path, ": blocks cover ", next, " of ", out, " output rows");
}
}  // namespace

// Conv2d and Linear hold blocks alike (weight [out, in, ...]).
template <typename Layer>
void set_blocks_impl(Layer& l, const std::vector<RowBlock>& blocks) {
  l.blocks.clear();
  l.block_weight.clear();
  if (blocks.empty()) return;
  check_blocks(l.path, blocks, l.weight.size(0), l.weight.size(1));
  for (const RowBlock& b : blocks)
    l.block_weight.push_back(
        l.weight.narrow(0, b.out0, b.out1 - b.out0).narrow(1, b.in0, b.in1 - b.in0).contiguous());
  l.blocks = blocks;
}

template <typename Layer>
int64_t executed_impl(const Layer& l) {
  if (l.blocks.empty()) return l.weight.numel();
  int64_t n = 0;
  for (const Tensor& w : l.block_weight) n += w.numel();
  return n;
}

void set_blocks(Conv2d& l, const std::vector<RowBlock>& blocks) {
  PLEAS_CHECK(blocks.empty() || l.args.groups == 1, l.path, ": block structure needs groups = 1");
  set_blocks_impl(l, blocks);
}
void set_blocks(Linear& l, const std::vector<RowBlock>& blocks) { set_blocks_impl(l, blocks); }
int64_t executed_weights(const Conv2d& l) { return executed_impl(l); }
int64_t executed_weights(const Linear& l) { return executed_impl(l); }

Tensor forward(const Conv2d& l, const Tensor& x, const ForwardCtx& ctx) {
  Tensor y;
  if (l.blocks.empty()) {
    y = conv2d(x, l.weight, l.bias, l.args);
  } else {
    // One convolution per block over its input channel range, written into its output rows.
    for (size_t i = 0; i < l.blocks.size(); ++i) {
      const RowBlock& b = l.blocks[i];
      Tensor part = conv2d(x.narrow(1, b.in0, b.in1 - b.in0), l.block_weight[i], narrow_bias(l.bias, b), l.args);
      if (!y.defined()) y = Tensor::empty({x.size(0), l.weight.size(0), part.size(2), part.size(3)}, DType::f32, x.device());
      y.narrow(1, b.out0, b.out1 - b.out0).copy_(part);
    }
  }
  const int64_t positions = y.numel() / y.size(1);
  ctx.count(double(positions) * double(executed_weights(l)));
  ctx.report(l.path, x, y);
  return y;
}

Tensor forward(BatchNorm2d& l, const Tensor& x, const ForwardCtx& ctx) {
  Tensor y;
  if (ctx.bn_mode == BnMode::inference) {
    y = batch_norm(x, l.weight, l.bias, l.running_mean, l.running_var, l.eps);
  } else {
    // Normalise with the batch's statistics (biased variance, as PyTorch's train mode) and
    // accumulate the mean and the unbiased variance n/(n-1)·var for the running estimates.
    ChannelStats s = batch_channel_stats(x);
    y = batch_norm(x, l.weight, l.bias, s.mean.to(DType::f32), s.var.to(DType::f32), l.eps);
    std::vector<double> m = s.mean.to_vector<double>(), v = s.var.to_vector<double>();
    const double unbias = s.count > 1 ? double(s.count) / double(s.count - 1) : 1.0;
    if (l.acc_mean.empty()) { l.acc_mean.assign(m.size(), 0.0); l.acc_var.assign(m.size(), 0.0); }
    for (size_t c = 0; c < m.size(); ++c) { l.acc_mean[c] += m[c]; l.acc_var[c] += v[c] * unbias; }
    ++l.acc_batches;
  }
  ctx.report(l.path, x, y);
  return y;
}

Tensor forward(const Linear& l, const Tensor& x, const ForwardCtx& ctx) {
  Tensor y;
  if (l.blocks.empty()) {
    y = linear(x, l.weight, l.bias);
  } else {
    Shape s = x.shape();
    s.back() = l.weight.size(0);
    y = Tensor::empty(s, DType::f32, x.device());
    for (size_t i = 0; i < l.blocks.size(); ++i) {
      const RowBlock& b = l.blocks[i];
      Tensor part = linear(x.narrow(-1, b.in0, b.in1 - b.in0), l.block_weight[i], narrow_bias(l.bias, b));
      y.narrow(-1, b.out0, b.out1 - b.out0).copy_(part);
    }
  }
  ctx.count(double(y.numel() / y.size(-1)) * double(executed_weights(l)));
  ctx.report(l.path, x, y);
  return y;
}

void check_norm_views(const std::string& path, const std::vector<NormView>& views, int64_t width) {
  std::vector<int> cover(size_t(width), 0);
  for (const NormView& v : views) {
    PLEAS_CHECK(v.in0 >= 0 && v.in1 > v.in0 && v.in1 <= width, path, ": norm view [", v.in0, ", ", v.in1,
                ") is not inside the ", width, " features");
    for (int64_t i = v.in0; i < v.in1; ++i) ++cover[size_t(i)];
  }
  for (int64_t i = 0; !views.empty() && i < width; ++i)
    PLEAS_CHECK(cover[size_t(i)] > 0, path, ": feature ", i, " is in no norm view");
}

Tensor forward(const LayerNorm& l, const Tensor& x, const ForwardCtx& ctx) {
  Tensor y;
  if (l.views.empty()) {
    y = layer_norm(x, l.weight, l.bias, l.eps);
  } else {
    // ẑ averaged over the views containing each position, then y = weight·ẑ + bias.
    const int64_t D = x.size(-1);
    check_norm_views(l.path, l.views, D);
    Tensor z = Tensor::zeros(x.shape(), DType::f32, x.device());
    std::vector<float> cover(size_t(D), 0.f);
    for (const NormView& v : l.views) {
      const int64_t w = v.in1 - v.in0;
      Tensor ones = Tensor::full({w}, 1.0, DType::f32, x.device()), zeros = Tensor::zeros({w}, DType::f32, x.device());
      Tensor dst = z.narrow(-1, v.in0, w);
      add_(dst, layer_norm(x.narrow(-1, v.in0, w), ones, zeros, l.eps));
      for (int64_t i = v.in0; i < v.in1; ++i) cover[size_t(i)] += 1.f;
    }
    for (float& c : cover) c = 1.f / c;
    y = add(mul(mul(z, Tensor::from_vector(cover, {D}, x.device())), l.weight), l.bias);
  }
  ctx.report(l.path, x, y);
  return y;
}

void begin_bn_recompute(BatchNorm2d& l) {
  l.acc_mean.clear();
  l.acc_var.clear();
  l.acc_batches = 0;
}

void finish_bn_recompute(BatchNorm2d& l) {
  PLEAS_CHECK(l.acc_batches > 0, "BatchNorm ", l.path, ": no batch was seen during recomputation");
  std::vector<float> m(l.acc_mean.size()), v(l.acc_var.size());
  for (size_t c = 0; c < m.size(); ++c) {
    m[c] = float(l.acc_mean[c] / double(l.acc_batches));
    v[c] = float(l.acc_var[c] / double(l.acc_batches));
  }
  Shape s{int64_t(m.size())};
  Device d = l.running_mean.device();
  l.running_mean = Tensor::from_vector(m, s, d);
  l.running_var = Tensor::from_vector(v, s, d);
  begin_bn_recompute(l);
}

// ---- strict loading ----
WeightReader::WeightReader(const TensorDict& dict, Device dev, std::string source)
    : dict_(dict), dev_(dev), source_(std::move(source)) {}

const Tensor* WeightReader::peek(const std::string& name) const {
  auto it = dict_.find(name);
  return it == dict_.end() ? nullptr : &it->second;
}

Tensor WeightReader::get(const std::string& name, const Shape& expect, bool optional) {
  auto it = dict_.find(name);
  if (it == dict_.end()) {
    if (!optional) missing_.push_back(name + " " + shape_str(expect));
    return Tensor();
  }
  used_.insert(name);
  const Tensor& t = it->second;
  bool ok = t.dim() == int(expect.size());
  for (size_t i = 0; ok && i < expect.size(); ++i) ok = expect[i] < 0 || expect[i] == t.shape()[i];
  if (!ok) {
    misshaped_.push_back(name + ": expected " + shape_str(expect) + ", got " + shape_str(t.shape()));
    return Tensor();
  }
  return t.to(DType::f32).to(dev_).contiguous();
}

void WeightReader::finish() const {
  std::vector<std::string> unexpected;
  for (auto& kv : dict_)
    if (!used_.count(kv.first)) unexpected.push_back(kv.first);
  if (missing_.empty() && unexpected.empty() && misshaped_.empty()) return;
  std::ostringstream os;
  os << "load weights from " << source_ << ": ";
  auto list = [&](const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return;
    os << v.size() << " " << what << " (";
    for (size_t i = 0; i < v.size() && i < 12; ++i) os << (i ? "; " : "") << v[i];
    if (v.size() > 12) os << "; ...";
    os << ") ";
  };
  list("missing keys", missing_);
  list("unexpected keys", unexpected);
  list("mis-shaped keys", misshaped_);
  throw Error(os.str());
}

Conv2d WeightReader::conv(const std::string& path, int64_t out, int64_t in, int k, Conv2dArgs args,
                          bool bias) {
  Conv2d c;
  c.path = path;
  c.args = args;
  c.weight = get(path + ".weight", {out, in / args.groups, k, k});
  if (bias) c.bias = get(path + ".bias", {out});
  return c;
}

BatchNorm2d WeightReader::bn(const std::string& path, int64_t c, double eps) {
  BatchNorm2d b;
  b.path = path;
  b.eps = eps;
  b.weight = get(path + ".weight", {c});
  b.bias = get(path + ".bias", {c});
  b.running_mean = get(path + ".running_mean", {c});
  b.running_var = get(path + ".running_var", {c});
  ignore(path + ".num_batches_tracked");
  return b;
}

Linear WeightReader::linear(const std::string& path, int64_t out, int64_t in, bool bias) {
  Linear l;
  l.path = path;
  l.weight = get(path + ".weight", {out, in});
  if (bias) l.bias = get(path + ".bias", {out});
  return l;
}

LayerNorm WeightReader::layer_norm(const std::string& path, int64_t d, double eps,
                                   const std::vector<NormView>& views) {
  LayerNorm l;
  l.path = path;
  l.eps = eps;
  check_norm_views(path, views, d);
  l.views = views;
  l.weight = get(path + ".weight", {d});
  l.bias = get(path + ".bias", {d});
  return l;
}

// ---- storing ----
static void put(TensorDict& d, const std::string& name, const Tensor& t) {
  if (t.defined()) d[name] = t.to(Device::cpu()).contiguous();
}
void store(TensorDict& d, const Conv2d& l) {
  put(d, l.path + ".weight", l.weight);
  put(d, l.path + ".bias", l.bias);
}
void store(TensorDict& d, const BatchNorm2d& l) {
  put(d, l.path + ".weight", l.weight);
  put(d, l.path + ".bias", l.bias);
  put(d, l.path + ".running_mean", l.running_mean);
  put(d, l.path + ".running_var", l.running_var);
}
void store(TensorDict& d, const Linear& l) {
  put(d, l.path + ".weight", l.weight);
  put(d, l.path + ".bias", l.bias);
}
void store(TensorDict& d, const LayerNorm& l) {
  put(d, l.path + ".weight", l.weight);
  put(d, l.path + ".bias", l.bias);
}

}  // namespace pleas
