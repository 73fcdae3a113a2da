// Permutation specs: which units of a network can be permuted together without changing its
// function (Git Re-Basin's permutation groups), derived from the engine's model definitions.
//
// Every channel axis in the network is a *layout*: a concatenation of whole groups. A residual
// stream is one layout shared by every tensor that reads or writes it (through every shortcut and
// add); a block's inner channels are a group of their own. Input pixels and class logits are
// fixed groups (never permuted). CIFAR ResNets' option-A shortcuts (stride-2 subsampling,
// zero-padded channels) are handled exactly: the stream of stage s is [pad_s | stream of stage
// s-1], so the carried channels share the previous stage's permutation while the zero-padded ones
// ("streamS.pad") permute freely. canonicalize() first reorders a checkpoint's stream channels into
// that order (a function-preserving permutation; the shortcut's channel map is updated with it).
#pragma once
#include <string>
#include <vector>

#include "models/model.h"

namespace pleas {

struct PermGroup {
  std::string name;
  int64_t size = 0;
  bool fixed = false;  // input channels / class logits: identity, never merged or split
};

using Layout = std::vector<int>;  // group ids along a channel axis, in order

enum class LayerKind { conv, linear, bn, channel_map };

// A layer of the network, named as in the state dict (path + ".weight", ...): conv/linear weights
// are [out, in, ...]; bn has weight, bias, running_mean, running_var over `out` (in == out);
// channel_map is a CIFAR option-A shortcut (path + ".index": out position of each in channel).
struct LayerSpec {
  std::string path;
  LayerKind kind = LayerKind::conv;
  Layout in, out;
  bool has_bias = false;
};

// A post-activation tensor whose channels carry `layout`: what activation matching correlates.
// `relu` = apply ReLU to the hooked module's output first (the model's ReLU is functional).
struct ActSite {
  std::string path;
  Layout layout;
  bool relu = false;
};

struct PermSpec {
  std::string arch;
  std::vector<PermGroup> groups;
  std::vector<LayerSpec> layers;  // in forward order
  std::vector<ActSite> sites;
  int classes_group = -1;         // the logits' group
  int64_t layout_size(const Layout& l) const;
  int64_t group_offset(const Layout& l, int group) const;  // -1 when absent
  int find_group(const std::string& name) const;
};

// The spec of a CIFAR ResNet (after canonicalize()) or a torchvision ResNet.
PermSpec perm_spec(Model& m);
// Reorders the stream channels of a CIFAR ResNet into canonical order (no-op for other models).
void canonicalize(Model& m);

// Applies one permutation per group to a state dict: along every axis of layout L, new unit
// offset_g + i is old unit offset_g + perm[g][i]. (Fixed groups must keep the identity.) The result
// computes the same function.
TensorDict permute_state(const PermSpec& spec, const TensorDict& state,
                         const std::vector<std::vector<int64_t>>& perms);
// Index tensor (i64, length layout_size) realising `perms` along one layout.
std::vector<int64_t> layout_index(const PermSpec& spec, const Layout& l,
                                  const std::vector<std::vector<int64_t>>& perms);
std::vector<std::vector<int64_t>> identity_perms(const PermSpec& spec);

}  // namespace pleas
