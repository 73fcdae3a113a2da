// Datasets named by a spec string, as every --data / --eval-data flag of the command line takes:
//   PATH                  the dataset at PATH in the layout found there (below)
//   PATH:SPLIT            one split of it: /data/CUB_200_2011:test, ../shared/data/pacs64/photo:test
//   LAYOUT=PATH[:SPLIT]   the layout named instead of detected: folder, list, domainnet, cub, nabirds,
//                         pets, dogs, tinyimagenet, idx (nabirds = cub but for the error messages)
// A spec that exists as a path as written is that path (so a path may hold ':' or '='); otherwise
// the text after its last ':' is the split when it holds no '/', and letters before a first '='
// name the layout.
//
// Detection, the first that matches:
//   a file name holding -images-idx3-ubyte    idx   (labels beside it: ...-labels-idx1-ubyte[.gz])
//   a .txt file                               list  (paths relative to the list's folder)
//   a folder with images.txt and image_class_labels.txt        cub (CUB-200-2011, NABirds)
//   a folder with annotations/trainval.txt or annotations/test.txt   pets (Oxford-IIIT Pets)
//   a folder with train_list.mat or test_list.mat                    dogs (Stanford Dogs)
//   a folder with wnids.txt                                          tinyimagenet
//   a folder with train- or t10k-images-idx3-ubyte[.gz]              idx (MNIST's names: train, test)
//   <root>/<name>, where <root>/<name>_<split>.txt (or _train, _test) exists    domainnet
//   any other folder                                                 folder (class subfolders)
// The formats and splits of the published layouts are described in data/published.h.
//
// Splits: when the spec names none, `default_split` is used; it is "train" by default, and which
// split to evaluate on is the caller's decision. An image folder, a list file and an idx file are
// a split already: without ':SPLIT' they are opened whole, exactly as before this syntax; a folder
// with ':SPLIT' is its subfolder PATH/SPLIT (root/train, root/test); a list or idx file with one
// is an error.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace pleas::data {

struct DatasetSpec {
  std::string layout;  // empty: detect
  std::string path;
  std::string split;   // empty: none given
};

// The layout names a spec may start with.
const std::vector<std::string>& dataset_layouts();

// Splits a spec into layout, path and split (no file is opened; an unknown layout is an error).
DatasetSpec parse_dataset_spec(const std::string& spec);

// The layout of the dataset at `path` (rules above); a path that does not exist is an error,
// except for an idx file name (IdxDataset reports the missing file).
std::string detect_layout(const std::string& path, const std::string& split = "");

std::shared_ptr<const Dataset> open_dataset_spec(const std::string& spec,
                                                 const std::string& default_split = "train");

}  // namespace pleas::data
