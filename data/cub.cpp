// CUB-200-2011 and NABirds: see data/published.h for the format.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "data/labelled_files.h"
#include "data/published.h"
#include "data/text_table.h"

namespace fs = std::filesystem;

namespace pleas::data {

namespace {

// "<image id> <value>" lines as a map; a repeated id is an error.
std::map<std::string, const TableLine*> by_image_id(const Table& t, const std::string& format) {
  std::map<std::string, const TableLine*> m;
  for (const auto& l : t.lines) {
    t.need(l, 2, format);
    if (!m.emplace(l.fields[0], &l).second) t.fail(l, "image id '" + l.fields[0] + "' listed twice");
  }
  return m;
}

}  // namespace

std::shared_ptr<const Dataset> open_cub(const std::string& root, const std::string& split,
                                        const std::string& name) {
  require_split(name, root, split, {"train", "test"});
  const fs::path r(root);
  const Table images = read_table((r / "images.txt").string(), name);
  const Table labels = read_table((r / "image_class_labels.txt").string(), name);
  const Table splits = read_table((r / "train_test_split.txt").string(), name);
  const Table classes = read_table((r / "classes.txt").string(), name);
  const auto class_of = by_image_id(labels, "'<image id> <class id>'");
  const auto train_of = by_image_id(splits, "'<image id> <is_train>'");

  // Per image of images.txt: its class id and whether it is a training image.
  struct Entry { const TableLine* line; int64_t class_id; bool train; };
  std::vector<Entry> entries;
  std::set<int64_t> used;
  for (const auto& l : images.lines) {
    images.need(l, 2, "'<image id> <relative path>'");
    const std::string& id = l.fields[0];
    auto c = class_of.find(id);
    if (c == class_of.end()) images.fail(l, "image id '" + id + "' has no line in " + labels.path);
    auto s = train_of.find(id);
    if (s == train_of.end()) images.fail(l, "image id '" + id + "' has no line in " + splits.path);
    const int64_t cid = labels.integer(*c->second, 1), is_train = splits.integer(*s->second, 1);
    if (is_train != 0 && is_train != 1) splits.fail(*s->second, "is_train must be 0 or 1");
    entries.push_back({&l, cid, is_train == 1});
    used.insert(cid);
  }
  PLEAS_CHECK(!entries.empty(), name, " ", root, ": ", images.path, " lists no image");

  // Labels: positions in the sorted ids of the classes that have images; names from classes.txt.
  std::map<int64_t, std::string> names;
  for (const auto& l : classes.lines) {
    classes.need(l, 2, "'<class id> <class name>'");
    if (!names.emplace(classes.integer(l, 0), after_first_field(l)).second)
      classes.fail(l, "class id listed twice");
  }
  std::map<int64_t, int64_t> label_of;
  std::vector<std::string> class_names;
  for (int64_t cid : used) {
    auto n = names.find(cid);
    PLEAS_CHECK(n != names.end(), name, ": class id ", cid, " of ", labels.path, " is not in ", classes.path);
    label_of[cid] = int64_t(class_names.size());
    class_names.push_back(n->second);
  }

  std::vector<std::string> paths;
  std::vector<int64_t> sample_labels;
  const std::string where_prefix = images.path + ":";
  for (const auto& e : entries) {
    if (e.train != (split == "train")) continue;
    paths.push_back((r / "images" / after_first_field(*e.line)).string());
    require_image(paths.back(), name, where_prefix + std::to_string(e.line->lineno));
    sample_labels.push_back(label_of.at(e.class_id));
  }
  PLEAS_CHECK(!paths.empty(), name, " ", root, ": no image in split '", split, "' (", splits.path, ")");
  const int64_t nc = int64_t(class_names.size());
  return std::make_shared<LabelledFilesDataset>(std::move(paths), std::move(sample_labels),
                                                std::move(class_names), nc);
}

}  // namespace pleas::data
