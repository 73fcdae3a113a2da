// Readers of image datasets in the layouts their authors publish them in. Each takes the folder
// the dataset unpacks to and a split, and returns that split's samples in the order of the
// dataset's own lists. At open time every metadata file must exist and parse, and every listed
// image must exist: otherwise an error naming the file, the line where there is one, and the
// reason (never a crash, and never an error half-way through a run). An unknown split is an
// error listing the dataset's splits. open_dataset_spec (data/layouts.h) finds the layout itself.
#pragma once
#include <memory>
#include <string>

#include "data/dataset.h"

namespace pleas::data {

// DomainNet (and PACS in its format): list files `<root>/<domain>_<split>.txt` of
// "relative/path label" lines, paths relative to <root>, e.g. `clipart/aircraft_carrier/x.jpg 0`.
// `domain_dir` is <root>/<domain> (it need not exist: only the list is read). Any split with a
// list file (DomainNet and PACS have train and test). Class names from the folders (ListFileDataset).
std::shared_ptr<const Dataset> open_domainnet(const std::string& domain_dir, const std::string& split);

// A list file of "relative/path label" lines, paths relative to the list's own folder.
std::shared_ptr<const Dataset> open_list_file(const std::string& list_file);

// CUB-200-2011 and NABirds (the same format): under <root>
//   images.txt               "<image id> <relative path>"   (paths relative to <root>/images/)
//   image_class_labels.txt   "<image id> <class id>"
//   train_test_split.txt     "<image id> <1 = train, 0 = test>"
//   classes.txt              "<class id> <class name>"      (the name may contain spaces)
// Image ids are strings (NABirds' are UUIDs). Labels are the positions of the class ids in the
// sorted list of the class ids that images have, over the whole dataset (both splits), so that
// train and test agree: CUB's ids 1..200 become 0..199; NABirds' ids are sparse (classes.txt also
// lists the parent classes of its hierarchy, which have no images), and its 555 image classes
// become 0..554 in id order. Class names are those of classes.txt. Splits: train, test.
// `name` ("CUB", "NABirds") only starts error messages.
std::shared_ptr<const Dataset> open_cub(const std::string& root, const std::string& split,
                                        const std::string& name = "CUB");

// Oxford-IIIT Pets: annotations/trainval.txt and annotations/test.txt, lines
// "<image> <class id> <species> <breed id>" (class ids 1..37; lines starting with '#' are
// comments), images images/<image>.jpg. Label = class id - 1; class names from the image names,
// the part before the last '_' ("Abyssinian", "american_bulldog"), read from both lists so that
// both splits have all 37. Splits: trainval (alias train), test.
std::shared_ptr<const Dataset> open_pets(const std::string& root, const std::string& split);

// Stanford Dogs: train_list.mat and test_list.mat (MATLAB files, read with libmatio) holding
// `file_list`, a cell array of relative paths "n02085620-Chihuahua/n02085620_5927.jpg", and
// `labels`, 1-based class numbers (doubles); images under Images/. Label = number - 1; class
// names are the folder of each path ("n02085620-Chihuahua"). Splits: train, test.
std::shared_ptr<const Dataset> open_stanford_dogs(const std::string& root, const std::string& split);

// Tiny ImageNet (tiny-imagenet-200/): wnids.txt lists the 200 WordNet ids, one a line; label =
// line index (0-based) of an image's wnid; class names are the wnids (words.txt, which maps them to
// English names, is not needed). Splits:
//   val    val/val_annotations.txt, tab-separated "<file> <wnid> <x0> <y0> <x1> <y1>", images
//          val/images/<file>
//   train  train/<wnid>/images/*.JPEG, classes in wnids.txt order, files sorted by name
// Its test split has no labels and is refused.
std::shared_ptr<const Dataset> open_tiny_imagenet(const std::string& root, const std::string& split);

}  // namespace pleas::data
