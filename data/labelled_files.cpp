#include "data/labelled_files.h"

#include <filesystem>
#include <map>

namespace pleas::data {

LabelledFilesDataset::LabelledFilesDataset(std::vector<std::string> paths, std::vector<int64_t> labels,
                                           std::vector<std::string> class_names, int64_t num_classes)
    : paths_(std::move(paths)), labels_(std::move(labels)), classes_(std::move(class_names)),
      num_classes_(num_classes) {
  PLEAS_CHECK(paths_.size() == labels_.size(), "LabelledFilesDataset: ", paths_.size(), " paths but ",
              labels_.size(), " labels");
  PLEAS_CHECK(classes_.empty() || int64_t(classes_.size()) == num_classes_, "LabelledFilesDataset: ",
              classes_.size(), " class names for ", num_classes_, " classes");
  for (size_t i = 0; i < labels_.size(); ++i)
    PLEAS_CHECK(labels_[i] >= 0 && labels_[i] < num_classes_, "LabelledFilesDataset: label ", labels_[i],
                " of ", paths_[i], " outside [0, ", num_classes_, ")");
}

void require_image(const std::string& path, const std::string& who, const std::string& where) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    PLEAS_FAIL(who, ": ", where, " lists image ", path, ", which does not exist");
}

void require_split(const std::string& who, const std::string& root, const std::string& split,
                   const std::vector<std::string>& splits) {
  std::string list;
  for (const auto& s : splits) {
    if (s == split) return;
    list += (list.empty() ? "" : ", ") + s;
  }
  PLEAS_FAIL(who, " ", root, ": unknown split '", split, "' (splits: ", list, ")");
}

std::vector<std::string> names_by_label(const std::vector<std::string>& names,
                                        const std::vector<int64_t>& labels, int64_t num_classes) {
  if (names.size() != labels.size() || num_classes <= 0) return {};
  std::vector<std::string> out(static_cast<size_t>(num_classes));
  std::vector<bool> seen(static_cast<size_t>(num_classes), false);
  for (size_t i = 0; i < labels.size(); ++i) {
    const int64_t l = labels[i];
    if (l < 0 || l >= num_classes || names[i].empty()) return {};
    if (!seen[size_t(l)]) {
      seen[size_t(l)] = true;
      out[size_t(l)] = names[i];
    } else if (out[size_t(l)] != names[i]) {
      return {};
    }
  }
  std::map<std::string, int64_t> owner;
  for (int64_t l = 0; l < num_classes; ++l)
    if (!seen[size_t(l)] || !owner.emplace(out[size_t(l)], l).second) return {};
  return out;
}

std::string class_folder(const std::string& relative_path) {
  std::vector<std::string> parts;
  for (const auto& p : std::filesystem::path(relative_path).lexically_normal())
    if (!p.empty() && p != "/") parts.push_back(p.string());
  if (parts.size() >= 3) return parts[1];
  if (parts.size() == 2) return parts[0];
  return {};
}

std::vector<std::string> folder_class_names(const std::vector<std::string>& relative_paths,
                                            const std::vector<int64_t>& labels, int64_t num_classes) {
  std::vector<std::string> folders;
  folders.reserve(relative_paths.size());
  for (const auto& p : relative_paths) folders.push_back(class_folder(p));
  return names_by_label(folders, labels, num_classes);
}

}  // namespace pleas::data
