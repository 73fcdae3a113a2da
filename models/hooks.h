// Named hooks: callbacks on module paths (PyTorch names, e.g. "layer2.1.conv1", "blocks.3.attn")
// that receive the module's input and output as device tensors (views, never host copies).
// In general the tensors are valid only during the callback: later in-place ops (relu_, add_)
// may overwrite them (a BatchNorm's output, a residual block's), so a hook that keeps them must
// clone(). Exception, relied on by least squares to hold activations without copying them: the
// input and output of a Conv2d, a Linear or a LayerNorm are never modified after they are
// reported (every model's forward keeps this; tests/models.cpp Model.LayerIoStableAfterReport).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace pleas {

using HookFn = std::function<void(const std::string& path, const Tensor& input, const Tensor& output)>;

class Hooks {
 public:
  // `path` is an exact module path, or "*" for every module a model reports.
  void add(const std::string& path, HookFn fn) { hooks_[path].push_back(std::move(fn)); }
  void clear() { hooks_.clear(); }
  bool empty() const { return hooks_.empty(); }
  bool wants(const std::string& path) const { return hooks_.count(path) || hooks_.count("*"); }
  void call(const std::string& path, const Tensor& in, const Tensor& out) const {
    for (const char* key : {path.c_str(), "*"}) {
      auto it = hooks_.find(key);
      if (it == hooks_.end()) continue;
      for (auto& fn : it->second) fn(path, in, out);
    }
  }

 private:
  std::map<std::string, std::vector<HookFn>> hooks_;
};

}  // namespace pleas
