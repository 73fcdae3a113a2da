// Top-1 evaluation of a model on a labelled dataset, matching the model's class names (metadata
// "classes") to the dataset's class names: only images of classes the model knows are scored, and
// a prediction is correct when the predicted output's class name is the image's class. A model
// without class names must have exactly as many outputs as the dataset has classes.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "models/model.h"

namespace pleas {

struct EvalOptions {
  int64_t limit_per_class = 0;  // 0 = all images
  int64_t batch_size = 200;
  int threads = 2;
  Device device = Device::cpu();
  bool progress = true;         // a progress line on stderr
  std::vector<int64_t> outputs; // score only these logits (one head of a two-head model); empty = all
};

struct EvalResult {
  int64_t correct = 0, images = 0;
  double top1 = 0;              // percent
  double seconds = 0, images_per_s = 0;
};

// output index -> dataset label (-1 where the dataset has no such class).
std::vector<int64_t> label_map(const std::vector<std::string>& model_classes, int64_t num_outputs,
                               const data::Dataset& ds);

EvalResult evaluate(Model& m, std::shared_ptr<const data::Dataset> ds, const data::Transform& tf,
                    const EvalOptions& opt);

// Opens a dataset given on the command line: data::open_dataset_spec (data/layouts.h), i.e.
// `[LAYOUT=]PATH[:SPLIT]` for an image folder (class subfolders), an idx image file
// (`...-images-idx3-ubyte[.gz]`, labels beside it as `...-labels-idx1-ubyte[.gz]`), a list file,
// or DomainNet, CUB-200-2011, NABirds, Oxford-IIIT Pets, Stanford Dogs, Tiny ImageNet in their
// published layouts; `default_split` where the spec names no split.
std::shared_ptr<const data::Dataset> open_dataset(const std::string& spec,
                                                  const std::string& default_split = "train");

// The input pipeline a model expects: metadata "input_resize", "input_crop", "input_mean",
// "input_std" when present, else by resolution (32 px: none + ImageNet statistics, as the CIFAR
// zoo checkpoints; 224 px: resize 256, crop 224, ImageNet statistics).
data::Transform model_transform(Model& m);

}  // namespace pleas
