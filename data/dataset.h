// Datasets of labelled images:
//   ImageFolderDataset  root/<class>/.../<file>, classes in sorted order (torchvision ImageFolder)
//   ListFileDataset     a text file of "relative/path label" lines (DomainNet's split files)
//   IdxDataset          idx3/idx1 files of MNIST and Fashion-MNIST, optionally gzipped
//   SubsetDataset       a list of indices into another dataset (per-class subsets)
// load(i) is const and thread-safe: the loader calls it from several threads.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/image.h"

namespace pleas::data {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  virtual int64_t label(size_t i) const = 0;
  virtual Image load(size_t i) const = 0;          // errors name the file
  virtual std::string source(size_t i) const = 0;  // file path (or file[index]) for messages
  virtual int64_t num_classes() const = 0;
  // Class names in label order when the dataset has them (image folders), else empty.
  virtual const std::vector<std::string>& class_names() const;
  std::vector<int64_t> labels() const;
};

// torchvision's IMG_EXTENSIONS (matched case-insensitively on the end of the file name). TIFF and
// WebP files are listed so that sample indices agree with torchvision, but stb_image cannot
// decode them: loading one is an ImageDecodeError naming the file.
const std::vector<std::string>& default_image_extensions();

// torchvision.datasets.ImageFolder(root): classes are the sorted names of root's subdirectories
// (symlinks followed), labels their positions; each class's samples are found by walking its
// folder recursively, directories visited in sorted path order and files sorted by name within a
// directory; files without an allowed extension are ignored. A missing root, a root without class
// folders or a class folder without any image file is an error naming the path.
class ImageFolderDataset : public Dataset {
 public:
  explicit ImageFolderDataset(const std::string& root,
                              std::vector<std::string> extensions = default_image_extensions());
  size_t size() const override { return paths_.size(); }
  int64_t label(size_t i) const override { return labels_.at(i); }
  Image load(size_t i) const override { return decode_image(paths_.at(i)); }
  std::string source(size_t i) const override { return paths_.at(i); }
  int64_t num_classes() const override { return int64_t(classes_.size()); }
  const std::vector<std::string>& class_names() const override { return classes_; }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
  std::vector<std::string> classes_, paths_;
  std::vector<int64_t> labels_;
};

// Lines "relative/path label" (the label is the last whitespace-separated field, so paths may
// contain spaces; blank lines are ignored); paths are relative to `root`. num_classes is
// max(label) + 1. A missing list file, a line without a label or with a label that is not a
// non-negative integer, or an empty list is an error naming the list file and line. Listed
// images are not looked for here (open_dataset_spec does). Class names come from the folders
// when the paths are `<domain>/<class>/<file>` (DomainNet, PACS) or `<class>/<file>` and every
// label lies in one folder of its own (folder_class_names in data/labelled_files.h), else none.
class ListFileDataset : public Dataset {
 public:
  ListFileDataset(const std::string& root, const std::string& list_file);
  size_t size() const override { return paths_.size(); }
  int64_t label(size_t i) const override { return labels_.at(i); }
  Image load(size_t i) const override { return decode_image(paths_.at(i)); }
  std::string source(size_t i) const override { return paths_.at(i); }
  int64_t num_classes() const override { return num_classes_; }
  const std::vector<std::string>& class_names() const override { return classes_; }

 private:
  std::vector<std::string> paths_, classes_;
  std::vector<int64_t> labels_;
  int64_t num_classes_ = 0;
};

// idx files (big-endian header: magic 0x00000803 + 3 sizes for u8 images, 0x00000801 + count
// for u8 labels), read whole into memory; gzip-compressed files (.gz) are inflated by zlib.
// Images come out grayscale (channels = 1) or replicated to RGB (channels = 3).
class IdxDataset : public Dataset {
 public:
  IdxDataset(const std::string& images_file, const std::string& labels_file, int channels = 3);
  size_t size() const override { return labels_.size(); }
  int64_t label(size_t i) const override { return labels_.at(i); }
  Image load(size_t i) const override;
  std::string source(size_t i) const override;
  int64_t num_classes() const override { return num_classes_; }
  int height() const { return rows_; }
  int width() const { return cols_; }

 private:
  std::string images_file_;
  std::vector<uint8_t> pixels_;
  std::vector<int64_t> labels_;
  int rows_ = 0, cols_ = 0, channels_ = 3;
  int64_t num_classes_ = 0;
};

// The samples `indices` of `base`, in that order; labels, names and classes are the base's.
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<size_t> indices);
  size_t size() const override { return indices_.size(); }
  int64_t label(size_t i) const override { return base_->label(indices_.at(i)); }
  Image load(size_t i) const override { return base_->load(indices_.at(i)); }
  std::string source(size_t i) const override { return base_->source(indices_.at(i)); }
  int64_t num_classes() const override { return base_->num_classes(); }
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  const std::vector<size_t>& indices() const { return indices_; }
  const std::shared_ptr<const Dataset>& base() const { return base_; }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<size_t> indices_;
};

// Per class (in label order), the samples at ranks skip .. skip + k - 1 of that class in dataset
// order, e.g. k = 200, skip = 0 for the merge data and k = 100, skip = 200 for the proxy data of
// ../shared's CIFAR training folders. A class with fewer than skip + k samples is an error.
std::shared_ptr<SubsetDataset> per_class_subset(std::shared_ptr<const Dataset> ds, size_t k, size_t skip = 0);
// Per class, k samples drawn without replacement by a seeded Fisher-Yates shuffle on
// std::mt19937_64 (both fully specified, so the subset is the same on every platform); the
// chosen samples are listed class by class in dataset order.
std::shared_ptr<SubsetDataset> random_per_class_subset(std::shared_ptr<const Dataset> ds, size_t k,
                                                       uint64_t seed);
// A permutation of 0..n-1 from the same seeded shuffle (used by the loader's shuffle).
std::vector<size_t> seeded_permutation(size_t n, uint64_t seed);

}  // namespace pleas::data
