// DomainNet's list files (and a plain list file): see data/published.h.
#include <algorithm>
#include <filesystem>

#include "data/labelled_files.h"
#include "data/published.h"

namespace fs = std::filesystem;

namespace pleas::data {

namespace {

// A list file's dataset once every image it lists has been found.
std::shared_ptr<const Dataset> checked_list(const std::string& root, const std::string& list,
                                            const std::string& who) {
  auto ds = std::make_shared<ListFileDataset>(root, list);
  for (size_t i = 0; i < ds->size(); ++i) require_image(ds->source(i), who, list);
  return ds;
}

// The last component of a path, trailing slashes ignored.
fs::path last_component(const std::string& p) {
  fs::path path(p);
  while (path.has_relative_path() && path.filename().empty()) path = path.parent_path();
  return path;
}

}  // namespace

std::shared_ptr<const Dataset> open_domainnet(const std::string& domain_dir, const std::string& split) {
  const fs::path dir = last_component(domain_dir);
  const std::string domain = dir.filename().string();
  PLEAS_CHECK(!domain.empty(), "DomainNet ", domain_dir, ": expected <root>/<domain>");
  const fs::path root = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
  const fs::path list = root / (domain + "_" + split + ".txt");
  std::error_code ec;
  if (!fs::is_regular_file(list, ec)) {
    std::vector<std::string> splits;  // the lists that are there: <domain>_*.txt
    const std::string prefix = domain + "_";
    for (const auto& e : fs::directory_iterator(root, ec)) {
      const std::string f = e.path().filename().string();
      if (f.size() > prefix.size() + 4 && f.compare(0, prefix.size(), prefix) == 0 &&
          f.compare(f.size() - 4, 4, ".txt") == 0)
        splits.push_back(f.substr(prefix.size(), f.size() - prefix.size() - 4));
    }
    std::sort(splits.begin(), splits.end());
    std::string found;
    for (const auto& s : splits) found += (found.empty() ? "" : ", ") + s;
    PLEAS_FAIL("DomainNet ", domain_dir, ": no list file ", list.string(), " for split '", split,
               "' (", found.empty() ? "no " + prefix + "*.txt there" : "splits: " + found, ")");
  }
  return checked_list(root.string(), list.string(), "DomainNet");
}

std::shared_ptr<const Dataset> open_list_file(const std::string& list_file) {
  fs::path p(list_file);
  const std::string root = p.has_parent_path() ? p.parent_path().string() : std::string(".");
  return checked_list(root, list_file, "list file");
}

}  // namespace pleas::data
