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

// Attention heads (ViT): a group with head_dim > 0 is size / head_dim heads of head_dim units.
// Its valid permutations move whole heads and permute units inside each head:
//   perm[h·hd + j] = π(h)·hd + σ_h(j),
// and partial merging merges whole heads (k is a multiple of head_dim). A group that `follows`
// another (the values of a block, following its queries/keys) shares the leader's head order π
// and merged heads, with its own σ_h; it is not a separate budget group.
struct PermGroup {
  std::string name;
  int64_t size = 0;
  bool fixed = false;  // input channels / class logits: identity, never merged or split
  int64_t head_dim = 0;
  int follows = -1;
  int64_t heads() const { return head_dim > 0 ? size / head_dim : size; }
};

using Layout = std::vector<int>;  // group ids along a channel axis, in order

enum class LayerKind { conv, linear, bn, channel_map, norm, param, attention };

// A layer of the network, named as in the state dict (path + ".weight", ...): conv/linear weights
// are [out, in, ...]; bn has weight, bias, running_mean, running_var over `out` (in == out);
// channel_map is a CIFAR option-A shortcut (path + ".index": out position of each in channel);
// norm is a LayerNorm (weight, bias over `out`); param is one tensor named `path` whose LAST axis
// carries `out` (ViT cls_token, pos_embed); attention is the score/value products of a ViT block
// (no weights; out = its query/key heads group, for FLOP counts).
// `out_split`: where the output axis starts a new segment (indices into `out`): a fused qkv
// layer's output [q | k | v] is three segments, each laid out [A-only | merged | B-only] in a
// merged model, so that q, k and v stay contiguous.
struct LayerSpec {
  std::string path;
  LayerKind kind = LayerKind::conv;
  Layout in, out;
  bool has_bias = false;
  std::vector<size_t> out_split;
  std::string input_norm;  // the LayerNorm whose output this layer reads (ViT qkv, fc1, head), if any
};

// A tensor whose channels carry `layout`: what activation matching correlates. `relu` = apply
// ReLU to the hooked module's output first (the model's ReLU is functional); `input` = use the
// hooked module's input instead of its output; `channels_last` = the channels are the last dim
// (ViT tokens [N, L, D]) rather than dim 1.
struct ActSite {
  std::string path;
  Layout layout;
  bool relu = false;
  bool input = false;
  bool channels_last = false;
};

struct PermSpec {
  std::string arch;
  std::vector<PermGroup> groups;
  std::vector<LayerSpec> layers;  // in forward order
  std::vector<ActSite> sites;
  int classes_group = -1;         // the logits' group
  int64_t layout_size(const Layout& l) const;
  int64_t group_offset(const Layout& l, int group) const;  // first occurrence; -1 when absent
  std::vector<int64_t> group_offsets(const Layout& l, int group) const;  // every occurrence
  int find_group(const std::string& name) const;
  std::vector<int> followers(int group) const;  // the groups whose `follows` is `group`
};

// The spec of a CIFAR ResNet (after canonicalize()), a torchvision ResNet or a ViT.
// ViT (timm names; torchvision's mapped): one residual-stream group "stream" shared by every tensor
// that reads or writes the stream (patch embedding output, cls_token, pos_embed, every norm, qkv
// inputs, proj outputs, fc1 inputs, fc2 outputs, final norm, head inputs); per block
// "blocks.N.mlp" (fc1 out, fc2 in), "blocks.N.attn.qk" (heads of the queries and keys, one
// permutation shared by q and k inside each head) and "blocks.N.attn.v" (values and the matching
// proj columns; follows qk's head order).
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
