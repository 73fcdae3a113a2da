// Data plumbing of the experiment driver: merge sets drawn from several tasks, task subsets, and
// the input pipeline for data that is not the models' own (public or synthetic images).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "models/model.h"

namespace pleas::experiment {

// Per class (label order), the first min(k, available) samples of that class in dataset order
// (PACS and DomainNet classes are unbalanced: a class with fewer images gives all it has).
std::shared_ptr<data::SubsetDataset> capped_per_class(std::shared_ptr<const data::Dataset> ds, size_t k);

// The datasets one after another (labels as they are: a shared label space); class names from
// the first that has them.
std::shared_ptr<const data::Dataset> concat(std::vector<std::shared_ptr<const data::Dataset>> parts);

// The images of `ds` whose class is one of `classes` (by name; all images when either side has
// no names), at most `per_class` of each (0 = all).
std::shared_ptr<data::SubsetDataset> task_subset(std::shared_ptr<const data::Dataset> ds,
                                                 const std::vector<std::string>& classes, size_t per_class);

// The resolution a model takes (metadata "image_size", else the architecture's).
int image_size(Model& m);
// The model's own transform, resizing (shorter side) to its resolution when it has no resize:
// for images of another size than its training data (Tiny ImageNet's 64 px for a CIFAR model).
data::Transform foreign_transform(Model& m);

}  // namespace pleas::experiment
