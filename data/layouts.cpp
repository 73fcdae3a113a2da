#include "data/layouts.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "data/published.h"

namespace fs = std::filesystem;

namespace pleas::data {

namespace {

const std::string kIdxKey = "-images-idx3-ubyte";

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}
bool file_exists(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool ends_with(const std::string& s, const std::string& e) {
  return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
}

// <root>/<name>_<split>.txt beside the folder, for DomainNet's layout.
bool has_domain_list(const fs::path& dir, const std::string& split) {
  fs::path d = dir;
  while (d.has_relative_path() && d.filename().empty()) d = d.parent_path();
  const std::string name = d.filename().string();
  if (name.empty() || name == "." || name == "..") return false;
  const fs::path root = d.has_parent_path() ? d.parent_path() : fs::path(".");
  for (const std::string& s : {split, std::string("train"), std::string("test")})
    if (!s.empty() && file_exists(root / (name + "_" + s + ".txt"))) return true;
  return false;
}

// An idx image file with its labels beside it, or MNIST's pair of files in a folder.
std::shared_ptr<const Dataset> open_idx(const std::string& path, const std::string& given_split,
                                        const std::string& split) {
  std::string images = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    PLEAS_CHECK(split == "train" || split == "test", "idx folder ", path, ": unknown split '", split,
                "' (splits: train, test)");
    const fs::path f = fs::path(path) / ((split == "train" ? "train" : "t10k") + kIdxKey);
    images = file_exists(f.string() + ".gz") ? f.string() + ".gz" : f.string();
  } else {
    PLEAS_CHECK(given_split.empty(), "dataset ", path, ": an idx file is one split already; drop ':",
                given_split, "'");
  }
  const auto pos = images.rfind(kIdxKey);
  PLEAS_CHECK(pos != std::string::npos, "dataset ", path, ": an idx image file is named *", kIdxKey, "[.gz]");
  const std::string labels = images.substr(0, pos) + "-labels-idx1-ubyte" + images.substr(pos + kIdxKey.size());
  return std::make_shared<IdxDataset>(images, labels, 3);
}

std::shared_ptr<const Dataset> open_folder(const std::string& path, const std::string& given_split) {
  if (given_split.empty()) return std::make_shared<ImageFolderDataset>(path);
  const fs::path sub = fs::path(path) / given_split;
  std::error_code ec;
  PLEAS_CHECK(fs::is_directory(sub, ec), "image folder ", path, ": unknown split '", given_split,
              "' (no subfolder ", sub.string(), ")");
  return std::make_shared<ImageFolderDataset>(sub.string());
}

}  // namespace

const std::vector<std::string>& dataset_layouts() {
  static const std::vector<std::string> l{"folder", "list", "domainnet", "cub", "nabirds",
                                          "pets", "dogs", "tinyimagenet", "idx"};
  return l;
}

DatasetSpec parse_dataset_spec(const std::string& spec) {
  DatasetSpec s;
  PLEAS_CHECK(!spec.empty(), "dataset: empty dataset spec");
  if (path_exists(spec)) {
    s.path = spec;
    return s;
  }
  std::string rest = spec;
  const size_t eq = spec.find('=');
  if (eq != std::string::npos && eq > 0 &&
      std::all_of(spec.begin(), spec.begin() + eq, [](char c) { return std::isalpha(static_cast<unsigned char>(c)); })) {
    s.layout = spec.substr(0, eq);
    const auto& known = dataset_layouts();
    if (std::find(known.begin(), known.end(), s.layout) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      PLEAS_FAIL("dataset ", spec, ": unknown layout '", s.layout, "' (layouts: ", list, ")");
    }
    rest = spec.substr(eq + 1);
  }
  const size_t colon = rest.rfind(':');
  if (!path_exists(rest) && colon != std::string::npos && colon > 0 && colon + 1 < rest.size() &&
      rest.find('/', colon) == std::string::npos) {
    s.path = rest.substr(0, colon);
    s.split = rest.substr(colon + 1);
  } else {
    s.path = rest;
  }
  PLEAS_CHECK(!s.path.empty(), "dataset ", spec, ": no path");
  return s;
}

std::string detect_layout(const std::string& path, const std::string& split) {
  if (fs::path(path).filename().string().find(kIdxKey) != std::string::npos) return "idx";
  PLEAS_CHECK(path_exists(path), "dataset ", path, ": no such file or directory");
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    if (ends_with(path, ".txt")) return "list";
    PLEAS_FAIL("dataset ", path, ": not a folder, a list file (*.txt) nor an idx file (*", kIdxKey, "[.gz])");
  }
  const fs::path d(path);
  if (path_exists(d / "images.txt") && path_exists(d / "image_class_labels.txt")) return "cub";
  if (path_exists(d / "annotations" / "trainval.txt") || path_exists(d / "annotations" / "test.txt")) return "pets";
  if (path_exists(d / "train_list.mat") || path_exists(d / "test_list.mat")) return "dogs";
  if (path_exists(d / "wnids.txt")) return "tinyimagenet";
  for (const char* f : {"train", "t10k"})
    for (const char* z : {"", ".gz"})
      if (file_exists(d / (f + kIdxKey + z))) return "idx";
  if (has_domain_list(d, split)) return "domainnet";
  return "folder";
}

std::shared_ptr<const Dataset> open_dataset_spec(const std::string& spec, const std::string& default_split) {
  const DatasetSpec s = parse_dataset_spec(spec);
  const std::string layout = s.layout.empty() ? detect_layout(s.path, s.split) : s.layout;
  const std::string split = s.split.empty() ? default_split : s.split;
  if (layout == "idx") return open_idx(s.path, s.split, split);
  if (layout == "folder") return open_folder(s.path, s.split);
  if (layout == "list") {
    PLEAS_CHECK(s.split.empty(), "dataset ", spec, ": a list file is one split already; drop ':", s.split, "'");
    return open_list_file(s.path);
  }
  if (layout == "domainnet") return open_domainnet(s.path, split);
  if (layout == "cub") return open_cub(s.path, split, "CUB");
  if (layout == "nabirds") return open_cub(s.path, split, "NABirds");
  if (layout == "pets") return open_pets(s.path, split);
  if (layout == "dogs") return open_stanford_dogs(s.path, split);
  if (layout == "tinyimagenet") return open_tiny_imagenet(s.path, split);
  PLEAS_FAIL("dataset ", spec, ": unknown layout '", layout, "'");
}

}  // namespace pleas::data
