// Tiny ImageNet (tiny-imagenet-200): see data/published.h for the format.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "data/labelled_files.h"
#include "data/published.h"
#include "data/text_table.h"

namespace fs = std::filesystem;

namespace pleas::data {

namespace {

const char* const kWho = "Tiny ImageNet";

bool is_image(const std::string& name) {
  std::string l = name;
  for (char& c : l) c = char(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& e : default_image_extensions())
    if (l.size() >= e.size() && l.compare(l.size() - e.size(), e.size(), e) == 0) return true;
  return false;
}

// train/<wnid>/images/*, each class's files sorted by name.
void list_train(const fs::path& root, const std::vector<std::string>& wnids, std::vector<std::string>& paths,
                std::vector<int64_t>& labels) {
  std::error_code ec;
  PLEAS_CHECK(fs::is_directory(root / "train", ec), kWho, " ", root.string(),
              ": no train/ folder (this copy has no training images; its labelled split is 'val')");
  for (size_t c = 0; c < wnids.size(); ++c) {
    const fs::path dir = root / "train" / wnids[c] / "images";
    PLEAS_CHECK(fs::is_directory(dir, ec), kWho, ": class ", wnids[c], " of wnids.txt has no folder ", dir.string());
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (is_image(e.path().filename().string())) files.push_back(e.path().filename().string());
    PLEAS_CHECK(!ec, kWho, ": cannot list ", dir.string(), " (", ec.message(), ")");
    PLEAS_CHECK(!files.empty(), kWho, ": ", dir.string(), " has no image files");
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      paths.push_back((dir / f).string());
      labels.push_back(int64_t(c));
    }
  }
}

// val/val_annotations.txt: "<file> <wnid> <bbox>", images in val/images/.
void list_val(const fs::path& root, const std::map<std::string, int64_t>& label_of,
              std::vector<std::string>& paths, std::vector<int64_t>& labels) {
  const Table t = read_table((root / "val" / "val_annotations.txt").string(), kWho);
  for (const auto& l : t.lines) {
    t.need(l, 2, "'<file> <wnid> <x0> <y0> <x1> <y1>'");
    auto it = label_of.find(l.fields[1]);
    if (it == label_of.end()) t.fail(l, "wnid " + l.fields[1] + " is not in wnids.txt");
    paths.push_back((root / "val" / "images" / l.fields[0]).string());
    require_image(paths.back(), kWho, t.path + ":" + std::to_string(l.lineno));
    labels.push_back(it->second);
  }
  PLEAS_CHECK(!paths.empty(), kWho, ": ", t.path, " lists no image");
}

}  // namespace

std::shared_ptr<const Dataset> open_tiny_imagenet(const std::string& root, const std::string& split) {
  PLEAS_CHECK(split != "test", kWho, " ", root, ": the test split has no labels; use 'val'");
  require_split(kWho, root, split, {"train", "val"});
  const fs::path r(root);
  const Table w = read_table((r / "wnids.txt").string(), kWho);
  std::vector<std::string> wnids;
  std::map<std::string, int64_t> label_of;
  for (const auto& l : w.lines) {
    if (l.fields.size() != 1) w.fail(l, "expected one WordNet id");
    if (!label_of.emplace(l.fields[0], int64_t(wnids.size())).second) w.fail(l, "wnid listed twice");
    wnids.push_back(l.fields[0]);
  }
  PLEAS_CHECK(!wnids.empty(), kWho, ": ", w.path, " lists no class");
  std::vector<std::string> paths;
  std::vector<int64_t> labels;
  if (split == "train") list_train(r, wnids, paths, labels);
  else list_val(r, label_of, paths, labels);
  const int64_t nc = int64_t(wnids.size());
  return std::make_shared<LabelledFilesDataset>(std::move(paths), std::move(labels), std::move(wnids), nc);
}

}  // namespace pleas::data
