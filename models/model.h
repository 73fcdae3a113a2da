// A model: weights in layer structs, a forward over engine ops with named hooks, and the metadata
// (architecture, class names) that travels with its weight file.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/layers.h"

namespace pleas {

using Metadata = std::map<std::string, std::string>;

class Model {
 public:
  virtual ~Model() = default;
  virtual std::string arch() const = 0;
  // x [N,3,H,W] on the model's device -> logits [N, classes].
  virtual Tensor forward(const Tensor& x, const ForwardCtx& ctx) = 0;
  Tensor forward(const Tensor& x) { return forward(x, ForwardCtx{}); }
  virtual TensorDict state_dict() const = 0;
  virtual std::vector<BatchNorm2d*> batch_norms() { return {}; }
  virtual std::vector<Conv2d*> convs() { return {}; }
  virtual std::vector<Linear*> linears() { return {}; }
  virtual int image_size() const = 0;  // the resolution the architecture expects
  Device device() const { return device_; }

  // Learnable parameters the model executes (no BN running statistics; block-structured layers
  // count their blocks only).
  int64_t num_params();
  double macs(int64_t h, int64_t w);       // multiply-adds of one forward of one image
  int64_t num_classes();                   // size of the logits

  // Output class names (metadata "classes", comma separated); empty when unknown.
  std::vector<std::string> classes;
  Metadata metadata;
  Device device_ = Device::cpu();  // where the weights live
};

// Builds the model named by metadata "arch" (or inferred from the keys when absent) from a weight
// dictionary, strictly: missing, unexpected or mis-shaped keys are one error that lists them.
std::unique_ptr<Model> build_model(const TensorDict& weights, const Metadata& meta, Device dev,
                                   const std::string& source = "weights");
// Block structures of merged layers travel in metadata "pleas_blocks" as JSON
// {"layer1.0.conv1": [[out0, out1, in0, in1], ...], ...}.
void apply_block_metadata(Model& m, const std::string& json);
std::string block_metadata(Model& m);  // "" when no layer has blocks

// Infers the architecture name from the keys ("cifar_resnet", "resnet", "vit", "tv_vit").
std::string infer_arch(const TensorDict& weights);

// BatchNorm recomputation over a model (see layers.h).
void begin_bn_recompute(Model& m);
void finish_bn_recompute(Model& m);

std::vector<std::string> split_csv(const std::string& s);
std::string join_csv(const std::vector<std::string>& v);

// Architecture builders (models/cifar_resnet.cpp, resnet.cpp, vit.cpp).
std::unique_ptr<Model> build_cifar_resnet(const TensorDict& w, const Metadata& meta, Device dev,
                                          const std::string& source);
std::unique_ptr<Model> build_resnet(const TensorDict& w, const Metadata& meta, Device dev,
                                    const std::string& source);
std::unique_ptr<Model> build_vit(const TensorDict& w, const Metadata& meta, Device dev,
                                 const std::string& source);
// torchvision's vit_b_16 names -> timm names.
TensorDict map_torchvision_vit_names(const TensorDict& w);

}  // namespace pleas
