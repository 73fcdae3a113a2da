// torchvision ResNet-18/34 (BasicBlock) and ResNet-50 (Bottleneck, stride on the 3x3 conv, v1.5),
// with torchvision's names (conv1, bn1, layerS.B.convK/bnK, layerS.B.downsample.0/1, fc).
// Stage and block widths are read from the weights, so any widths (merged models) work.
#pragma once
#include "models/model.h"

namespace pleas {

struct ResBlock {
  std::string path;
  std::vector<Conv2d> convs;     // 2 (basic) or 3 (bottleneck)
  std::vector<BatchNorm2d> bns;
  bool has_downsample = false;
  Conv2d down_conv;              // downsample.0
  BatchNorm2d down_bn;           // downsample.1
};

class ResNet : public Model {
 public:
  Conv2d conv1;
  BatchNorm2d bn1;
  std::vector<std::vector<ResBlock>> stages;
  Linear fc;
  bool bottleneck = false;
  // The resolution it is used at: metadata "image_size" when the file has it (a torchvision ResNet
  // is resolution-agnostic: global average pooling; the PACS parents run at 64 px), else 224.
  int input_size = 224;

  std::string arch() const override;
  Tensor forward(const Tensor& x, const ForwardCtx& ctx) override;
  Tensor features(const Tensor& x, const ForwardCtx& ctx);  // [N, C] after global pooling
  TensorDict state_dict() const override;
  std::vector<BatchNorm2d*> batch_norms() override;
  std::vector<Conv2d*> convs() override;
  std::vector<Linear*> linears() override { return {&fc}; }
  int image_size() const override { return input_size; }
};

}  // namespace pleas
