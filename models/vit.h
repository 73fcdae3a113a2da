// Vision Transformer in timm's layout and names: patch_embed.proj (conv p x p, stride p),
// cls_token, pos_embed, blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head
// (pre-norm blocks, class token pooling). Widths (embedding, qkv, MLP hidden) are read from the
// weights, per block. Metadata:
//   num_heads   heads of every block (or head_dim); without either, embed_dim / 64 when that
//               divides (timm's Ti/S/B/L), else an error: the head count cannot be guessed
//   head_dim    width of one head: a block's head count is its qkv width / 3 / head_dim (merged
//               ViTs, whose blocks have different head counts, carry this)
//   act         gelu (erf, default) | gelu_tanh (the tanh approximation)
//   ln_eps      LayerNorm eps (default 1e-6, timm's)
//   final_norm  "none": the model has no final LayerNorm (logits = head(class token)); otherwise
//               `norm.*` must be present
//   pleas_norm_views  JSON {"blocks.0.norm1": [[in0, in1], ...], ...}: LayerNorms of a partially
//               merged ViT normalise several views of the stream (models/layers.h NormView)
#pragma once
#include "models/model.h"

namespace pleas {

struct VitBlock {
  std::string path;
  LayerNorm norm1, norm2;
  Linear qkv, proj, fc1, fc2;
  int heads = 1;  // qkv width / 3 / head_dim
};

class VisionTransformer : public Model {
 public:
  Conv2d patch_embed;
  Tensor cls_token, pos_embed;  // [1,1,D], [1,1+L,D]
  std::vector<VitBlock> blocks;
  LayerNorm norm;               // undefined weight when the model has no final norm
  Linear head;
  int64_t head_dim = 64;
  bool gelu_tanh = false;
  int img_size = 224;

  bool has_final_norm() const { return norm.weight.defined(); }
  std::string arch() const override { return "vit"; }
  Tensor forward(const Tensor& x, const ForwardCtx& ctx) override;
  Tensor features(const Tensor& x, const ForwardCtx& ctx);  // [N, D] class token after `norm`
  TensorDict state_dict() const override;
  std::vector<Conv2d*> convs() override { return {&patch_embed}; }
  std::vector<Linear*> linears() override;
  std::vector<LayerNorm*> layer_norms();
  int image_size() const override { return img_size; }
};

// Norm views as metadata JSON ("" when no LayerNorm has views) and back.
std::string norm_view_metadata(VisionTransformer& m);

}  // namespace pleas
