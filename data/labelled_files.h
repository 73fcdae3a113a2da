// A dataset given as parallel lists (image files, labels, class names): what the readers of the
// published layouts (data/published.h) build; and the two helpers they share, the check that a
// listed image exists and class names taken from folder names.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace pleas::data {

// Samples in the given order; class_names is empty or has num_classes entries (label order).
class LabelledFilesDataset : public Dataset {
 public:
  LabelledFilesDataset(std::vector<std::string> paths, std::vector<int64_t> labels,
                       std::vector<std::string> class_names, int64_t num_classes);
  size_t size() const override { return paths_.size(); }
  int64_t label(size_t i) const override { return labels_.at(i); }
  Image load(size_t i) const override { return decode_image(paths_.at(i)); }
  std::string source(size_t i) const override { return paths_.at(i); }
  int64_t num_classes() const override { return num_classes_; }
  const std::vector<std::string>& class_names() const override { return classes_; }

 private:
  std::vector<std::string> paths_;
  std::vector<int64_t> labels_;
  std::vector<std::string> classes_;
  int64_t num_classes_ = 0;
};

// Fails "<who>: <where> lists image <path>, which does not exist" when `path` is not there; the
// readers call it for every listed image when they open a dataset, so that a missing image is an
// error at open time and not in the middle of a run.
void require_image(const std::string& path, const std::string& who, const std::string& where);

// Fails "<who> <root>: unknown split '<split>' (splits: a, b)" unless `split` is one of `splits`.
void require_split(const std::string& who, const std::string& root, const std::string& split,
                   const std::vector<std::string>& splits);

// Per label 0 .. num_classes - 1, the one name its samples carry (names[i] is sample i's); empty
// when a label has no sample, its samples carry different names, or two labels share a name.
std::vector<std::string> names_by_label(const std::vector<std::string>& names,
                                        const std::vector<int64_t>& labels, int64_t num_classes);

// The class folder of a relative image path: the second component of `<domain>/<class>/.../<file>`
// (DomainNet's and PACS's lists), the first of `<class>/<file>` (Stanford Dogs); empty for a bare
// file name.
std::string class_folder(const std::string& relative_path);

// names_by_label over class_folder of each path: class names for a list file whose images lie in
// class folders, empty when the folders do not match the labels one to one.
std::vector<std::string> folder_class_names(const std::vector<std::string>& relative_paths,
                                            const std::vector<int64_t>& labels, int64_t num_classes);

}  // namespace pleas::data
