// Vision Transformer in timm's layout and names: patch_embed.proj (conv p x p, stride p),
// cls_token, pos_embed, blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head
// (pre-norm blocks, GELU (erf), LayerNorm eps 1e-6, class token pooling). Widths (embedding,
// qkv, MLP hidden) are read from the weights; the number of heads comes from metadata "num_heads"
// (default: embed_dim / 64, with 3 for Ti/192).
#pragma once
#include "models/model.h"

namespace pleas {

struct VitBlock {
  std::string path;
  LayerNorm norm1, norm2;
  Linear qkv, proj, fc1, fc2;
};

class VisionTransformer : public Model {
 public:
  Conv2d patch_embed;
  Tensor cls_token, pos_embed;  // [1,1,D], [1,1+L,D]
  std::vector<VitBlock> blocks;
  LayerNorm norm;
  Linear head;
  int num_heads = 1;
  int img_size = 224;

  std::string arch() const override { return "vit"; }
  Tensor forward(const Tensor& x, const ForwardCtx& ctx) override;
  Tensor features(const Tensor& x, const ForwardCtx& ctx);  // [N, D] class token after `norm`
  TensorDict state_dict() const override;
  int image_size() const override { return img_size; }
};

}  // namespace pleas
