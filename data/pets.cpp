// Oxford-IIIT Pets: see data/published.h for the format.
#include <algorithm>
#include <filesystem>

#include "data/labelled_files.h"
#include "data/published.h"
#include "data/text_table.h"

namespace fs = std::filesystem;

namespace pleas::data {

namespace {

struct PetsList {
  Table table;
  std::vector<std::string> images, breeds;  // "Abyssinian_100", "Abyssinian"
  std::vector<int64_t> labels;
};

PetsList read_pets_list(const std::string& path) {
  PetsList p{read_table(path, "Oxford-IIIT Pets", '#'), {}, {}, {}};
  for (const auto& l : p.table.lines) {
    p.table.need(l, 4, "'<image> <class id> <species> <breed id>'");
    const int64_t cid = p.table.integer(l, 1);
    if (cid < 1) p.table.fail(l, "class id " + l.fields[1] + " is not 1 or more");
    const std::string& image = l.fields[0];
    const size_t us = image.rfind('_');
    if (us == std::string::npos || us == 0)
      p.table.fail(l, "image name '" + image + "' is not '<breed>_<number>'");
    p.images.push_back(image);
    p.breeds.push_back(image.substr(0, us));
    p.labels.push_back(cid - 1);
  }
  return p;
}

}  // namespace

std::shared_ptr<const Dataset> open_pets(const std::string& root, const std::string& split) {
  require_split("Oxford-IIIT Pets", root, split, {"trainval", "train", "test"});
  const fs::path ann = fs::path(root) / "annotations";
  const bool test = split == "test";
  const PetsList mine = read_pets_list((ann / (test ? "test.txt" : "trainval.txt")).string());
  PLEAS_CHECK(!mine.images.empty(), "Oxford-IIIT Pets: ", mine.table.path, " lists no image");
  // Class names and count over both lists when the other one is there.
  std::vector<std::string> breeds = mine.breeds;
  std::vector<int64_t> labels = mine.labels;
  const fs::path other = ann / (test ? "trainval.txt" : "test.txt");
  std::error_code ec;
  if (fs::is_regular_file(other, ec)) {
    const PetsList o = read_pets_list(other.string());
    breeds.insert(breeds.end(), o.breeds.begin(), o.breeds.end());
    labels.insert(labels.end(), o.labels.begin(), o.labels.end());
  }
  const int64_t nc = *std::max_element(labels.begin(), labels.end()) + 1;
  std::vector<std::string> names = names_by_label(breeds, labels, nc);

  std::vector<std::string> paths;
  for (size_t i = 0; i < mine.images.size(); ++i) {
    paths.push_back((fs::path(root) / "images" / (mine.images[i] + ".jpg")).string());
    require_image(paths.back(), "Oxford-IIIT Pets",
                  mine.table.path + ":" + std::to_string(mine.table.lines[i].lineno));
  }
  std::vector<int64_t> my_labels = mine.labels;
  return std::make_shared<LabelledFilesDataset>(std::move(paths), std::move(my_labels), std::move(names), nc);
}

}  // namespace pleas::data
