// CIFAR ResNet-(6n+2) of He et al. (2016), in the layout of akamaster/pytorch_resnet_cifar10:
// conv1-bn1-relu, three stages of n BasicBlocks (layer1..3), global average pool, `linear`.
// Widths are read from the weights, so widened (merged) networks use the same code. The option-A
// shortcut of a downsampling block is an explicit channel map: the block input subsampled at
// [::2, ::2], input channel c written to output channel index[c], other channels zero
// (akamaster: index[c] = c + planes/4). A weight file may carry it as `layerS.B.shortcut.index`.
#pragma once
#include "models/model.h"

namespace pleas {

struct CifarBlock {
  std::string path;  // "layer2.0"
  Conv2d conv1, conv2;
  BatchNorm2d bn1, bn2;
  bool downsample = false;  // stride-2 block with the option-A shortcut
  Tensor shortcut_index;    // i64 [in_channels] (downsample blocks only)
};

class CifarResNet : public Model {
 public:
  Conv2d conv1;
  BatchNorm2d bn1;
  std::vector<std::vector<CifarBlock>> stages;  // layer1..layer3
  Linear linear;

  std::string arch() const override;
  Tensor forward(const Tensor& x, const ForwardCtx& ctx) override;
  // Everything up to (and including) global pooling: [N, C] features before `linear`.
  Tensor features(const Tensor& x, const ForwardCtx& ctx);
  TensorDict state_dict() const override;
  std::vector<BatchNorm2d*> batch_norms() override;
  std::vector<Conv2d*> convs() override;
  std::vector<Linear*> linears() override { return {&linear}; }
  int image_size() const override { return 32; }
};

// The default option-A map: channel c -> c + (out - in) / 2.
Tensor option_a_index(int64_t in_channels, int64_t out_channels, Device dev);
Tensor cifar_block_forward(CifarBlock& b, const Tensor& x, const ForwardCtx& ctx);

}  // namespace pleas
