#include "data/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "data/labelled_files.h"

namespace fs = std::filesystem;

namespace pleas::data {

const std::vector<std::string>& Dataset::class_names() const {
  static const std::vector<std::string> none;
  return none;
}

std::vector<int64_t> Dataset::labels() const {
  std::vector<int64_t> l(size());
  for (size_t i = 0; i < l.size(); ++i) l[i] = label(i);
  return l;
}

const std::vector<std::string>& default_image_extensions() {
  static const std::vector<std::string> ext{".jpg", ".jpeg", ".png", ".ppm", ".bmp",
                                            ".pgm", ".tif", ".tiff", ".webp"};
  return ext;
}

// ---------------------------------------------------------------- image folders

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool has_extension(const std::string& name, const std::vector<std::string>& exts) {
  const std::string l = lower(name);
  for (const auto& e : exts)
    if (l.size() >= e.size() && l.compare(l.size() - e.size(), e.size(), e) == 0) return true;
  return false;
}

// Python's os.path.join for a relative name.
std::string join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

// All directories under `dir` (itself included), following symlinks as os.walk(followlinks=True)
// does; a symlink cycle is visited once.
void collect_dirs(const std::string& dir, std::vector<std::string>& out, std::set<fs::path>& seen) {
  std::error_code ec;
  fs::path canon = fs::canonical(dir, ec);
  if (ec || !seen.insert(canon).second) return;
  out.push_back(dir);
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::error_code ec2;
    if (e.is_directory(ec2)) collect_dirs(join(dir, e.path().filename().string()), out, seen);
  }
}

}  // namespace

ImageFolderDataset::ImageFolderDataset(const std::string& root, std::vector<std::string> extensions)
    : root_(root) {
  for (auto& e : extensions) e = lower(e);
  std::error_code ec;
  PLEAS_CHECK(fs::is_directory(root, ec), "ImageFolderDataset: ", root, ": no such directory");
  for (const auto& e : fs::directory_iterator(root, ec)) {
    std::error_code ec2;
    if (e.is_directory(ec2)) classes_.push_back(e.path().filename().string());
  }
  PLEAS_CHECK(!ec, "ImageFolderDataset: ", root, ": cannot list (", ec.message(), ")");
  PLEAS_CHECK(!classes_.empty(), "ImageFolderDataset: no class folders in ", root);
  std::sort(classes_.begin(), classes_.end());  // byte order = code point order for UTF-8
  for (size_t c = 0; c < classes_.size(); ++c) {
    // sorted(os.walk(class_dir)): directories by full path, files by name within each.
    std::vector<std::string> dirs;
    std::set<fs::path> seen;
    collect_dirs(join(root, classes_[c]), dirs, seen);
    std::sort(dirs.begin(), dirs.end());
    size_t before = paths_.size();
    for (const auto& d : dirs) {
      std::vector<std::string> files;
      for (const auto& e : fs::directory_iterator(d, ec)) {
        std::error_code ec2;
        if (!e.is_directory(ec2)) files.push_back(e.path().filename().string());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files)
        if (has_extension(f, extensions)) {
          paths_.push_back(join(d, f));
          labels_.push_back(int64_t(c));
        }
    }
    if (paths_.size() == before) {
      std::string list;
      for (const auto& e : extensions) list += (list.empty() ? "" : " ") + e;
      PLEAS_FAIL("ImageFolderDataset: class folder ", join(root, classes_[c]),
                 " has no image files (extensions: ", list, ")");
    }
  }
}

// ---------------------------------------------------------------- list files

ListFileDataset::ListFileDataset(const std::string& root, const std::string& list_file) {
  std::ifstream in(list_file);
  PLEAS_CHECK(in.good(), "ListFileDataset: cannot open list file ", list_file);
  std::error_code ec;
  PLEAS_CHECK(fs::is_directory(root, ec), "ListFileDataset: ", root, " (root of ", list_file,
              "): no such directory");
  std::string line;
  std::vector<std::string> relative;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    size_t b = 0;
    while (b < line.size() && std::isspace(static_cast<unsigned char>(line[b]))) ++b;
    if (b == line.size()) continue;  // blank line
    size_t sep = line.find_last_of(" \t");
    PLEAS_CHECK(sep != std::string::npos && sep > b, "ListFileDataset: ", list_file, ":", lineno,
                ": expected 'relative/path label', got '", line, "'");
    const std::string tok = line.substr(sep + 1);
    int64_t label = -1;
    auto r = std::from_chars(tok.data(), tok.data() + tok.size(), label);
    PLEAS_CHECK(r.ec == std::errc() && r.ptr == tok.data() + tok.size() && label >= 0,
                "ListFileDataset: ", list_file, ":", lineno, ": label '", tok,
                "' is not a non-negative integer in '", line, "'");
    size_t e = sep;
    while (e > b && std::isspace(static_cast<unsigned char>(line[e - 1]))) --e;
    relative.push_back(line.substr(b, e - b));
    paths_.push_back((fs::path(root) / relative.back()).string());
    labels_.push_back(label);
    num_classes_ = std::max(num_classes_, label + 1);
  }
  PLEAS_CHECK(!paths_.empty(), "ListFileDataset: list file ", list_file, " has no samples");
  classes_ = folder_class_names(relative, labels_, num_classes_);
}

// ---------------------------------------------------------------- idx files

namespace {

// Whole file, inflated when gzip-compressed (zlib reads plain files unchanged).
std::vector<uint8_t> read_maybe_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  PLEAS_CHECK(f != nullptr, "IdxDataset: cannot open ", path);
  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    int n = gzread(f, buf.data(), unsigned(buf.size()));
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      PLEAS_FAIL("IdxDataset: ", path, ": read error (", msg, ")");
    }
    if (n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
  gzclose(f);
  return out;
}

uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// Checks the header "0 0 0x08 ndim" + ndim big-endian sizes and the payload length.
std::vector<uint32_t> idx_header(const std::vector<uint8_t>& b, const std::string& path, int ndim) {
  PLEAS_CHECK(b.size() >= 4 + 4 * size_t(ndim), "IdxDataset: ", path, ": too short for an idx header (",
              b.size(), " bytes)");
  PLEAS_CHECK(b[0] == 0 && b[1] == 0 && b[2] == 0x08 && b[3] == ndim, "IdxDataset: ", path,
              ": expected an unsigned-byte idx file with ", ndim, " dimensions (magic 0x0000080", ndim,
              "), got magic 0x", std::hex, be32(b.data()));
  std::vector<uint32_t> dims(ndim);
  uint64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= (dims[d] = be32(&b[4 + 4 * d]));
  PLEAS_CHECK(b.size() == 4 + 4 * size_t(ndim) + n, "IdxDataset: ", path, ": header promises ", n,
              " bytes of data, file has ", b.size() - 4 - 4 * ndim);
  return dims;
}

}  // namespace

IdxDataset::IdxDataset(const std::string& images_file, const std::string& labels_file, int channels)
    : images_file_(images_file), channels_(channels) {
  PLEAS_CHECK(channels == 1 || channels == 3, "IdxDataset: channels must be 1 or 3, got ", channels);
  pixels_ = read_maybe_gz(images_file);
  auto di = idx_header(pixels_, images_file, 3);
  std::vector<uint8_t> lb = read_maybe_gz(labels_file);
  auto dl = idx_header(lb, labels_file, 1);
  PLEAS_CHECK(di[0] == dl[0], "IdxDataset: ", images_file, " has ", di[0], " images but ", labels_file,
              " has ", dl[0], " labels");
  PLEAS_CHECK(di[1] > 0 && di[2] > 0, "IdxDataset: ", images_file, ": empty images ", di[1], "x", di[2]);
  rows_ = int(di[1]);
  cols_ = int(di[2]);
  pixels_.erase(pixels_.begin(), pixels_.begin() + 16);
  labels_.assign(lb.begin() + 8, lb.end());
  for (int64_t l : labels_) num_classes_ = std::max(num_classes_, l + 1);
}

Image IdxDataset::load(size_t i) const {
  PLEAS_CHECK(i < labels_.size(), "IdxDataset: index ", i, " out of range for ", labels_.size(), " images");
  const size_t hw = size_t(rows_) * cols_;
  const uint8_t* src = pixels_.data() + i * hw;
  Image img(cols_, rows_, channels_);
  if (channels_ == 1) {
    std::copy(src, src + hw, img.pixels.begin());
  } else {
    for (size_t p = 0; p < hw; ++p) img.pixels[3 * p] = img.pixels[3 * p + 1] = img.pixels[3 * p + 2] = src[p];
  }
  return img;
}

std::string IdxDataset::source(size_t i) const { return images_file_ + "[" + std::to_string(i) + "]"; }

// ---------------------------------------------------------------- subsets

SubsetDataset::SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<size_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  PLEAS_CHECK(base_ != nullptr, "SubsetDataset: null base dataset");
  for (size_t i : indices_)
    PLEAS_CHECK(i < base_->size(), "SubsetDataset: index ", i, " out of range for ", base_->size(), " samples");
}

namespace {

// Sample indices of each class, in dataset order.
std::vector<std::vector<size_t>> by_class(const Dataset& ds) {
  int64_t nc = ds.num_classes();
  std::vector<std::vector<size_t>> cls(size_t(std::max<int64_t>(nc, 0)));
  for (size_t i = 0; i < ds.size(); ++i) {
    int64_t l = ds.label(i);
    PLEAS_CHECK(l >= 0 && l < nc, "per_class_subset: label ", l, " of ", ds.source(i), " outside [0, ", nc, ")");
    cls[size_t(l)].push_back(i);
  }
  return cls;
}

std::string class_name(const Dataset& ds, size_t c) {
  const auto& names = ds.class_names();
  return c < names.size() ? std::to_string(c) + " (" + names[c] + ")" : std::to_string(c);
}

// Uniform integer in [0, bound) by rejection (no modulo bias; std::uniform_int_distribution is
// implementation-defined, this is not).
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
  uint64_t r;
  do r = rng(); while (r < threshold);
  return r % bound;
}

// Fisher-Yates: for i = n-1 .. 1 swap v[i] with v[j], j uniform in [0, i].
template <typename T>
void seeded_shuffle(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(uniform_below(rng, i))]);
}

}  // namespace

std::shared_ptr<SubsetDataset> per_class_subset(std::shared_ptr<const Dataset> ds, size_t k, size_t skip) {
  PLEAS_CHECK(ds != nullptr, "per_class_subset: null dataset");
  auto cls = by_class(*ds);
  std::vector<size_t> idx;
  for (size_t c = 0; c < cls.size(); ++c) {
    PLEAS_CHECK(cls[c].size() >= skip + k, "per_class_subset: class ", class_name(*ds, c), " has ",
                cls[c].size(), " samples, fewer than skip + k = ", skip + k);
    idx.insert(idx.end(), cls[c].begin() + skip, cls[c].begin() + skip + k);
  }
  return std::make_shared<SubsetDataset>(std::move(ds), std::move(idx));
}

std::shared_ptr<SubsetDataset> random_per_class_subset(std::shared_ptr<const Dataset> ds, size_t k,
                                                       uint64_t seed) {
  PLEAS_CHECK(ds != nullptr, "random_per_class_subset: null dataset");
  auto cls = by_class(*ds);
  std::mt19937_64 rng(seed);
  std::vector<size_t> idx;
  for (size_t c = 0; c < cls.size(); ++c) {
    PLEAS_CHECK(cls[c].size() >= k, "random_per_class_subset: class ", class_name(*ds, c), " has ",
                cls[c].size(), " samples, fewer than k = ", k);
    std::vector<size_t> v = cls[c];
    seeded_shuffle(v, rng);
    v.resize(k);
    std::sort(v.begin(), v.end());
    idx.insert(idx.end(), v.begin(), v.end());
  }
  return std::make_shared<SubsetDataset>(std::move(ds), std::move(idx));
}

std::vector<size_t> seeded_permutation(size_t n, uint64_t seed) {
  std::vector<size_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = i;
  std::mt19937_64 rng(seed);
  seeded_shuffle(p, rng);
  return p;
}

}  // namespace pleas::data
